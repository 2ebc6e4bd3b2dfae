"""Error-bounded residuals, shared by the codecs that offer an ADC error bound (pixel_vq corrections,
tpc_inr residuals): a residual r = target - prediction is stored as q = round(r / (2B + 1)), so that
prediction + q (2B + 1) is within B of the target (integers: an odd step never ties), and B = 0 is lossless.

Streams of q (pack / unpack) are zigzag-mapped LEB128 varints, compressed with the smaller of zstd and LZMA2
(hepvq.baselines.sparse.compress_stream: LZMA's literal contexts pick up runs of similar residuals).
pack_rans / unpack_rans (tpc_inr format 2) code them on the core's rANS coder instead, with contexts from the
hits' positions and tables that adapt within the event: 5.61 instead of 6.32 bits/hit at bound 2 (docs/tpc.md)."""
from __future__ import annotations

import numpy as np


def mode_text(bound: int) -> str:
    """What an encoder's ADC figures mean, for its end-of-job line (next to max |ADC error|)."""
    if bound == 0:
        return "lossless (adcErrorBound=0)"
    if bound > 0:
        return f"bounded: |ADC error| <= {bound} (adcErrorBound={bound})"
    return "lossy ADC (no error bound; adcErrorBound=-1)"


def step(bound: int) -> int:
    if bound < 0:
        raise ValueError(f"an ADC error bound must be >= 0, got {bound}")
    return 2 * int(bound) + 1


def quantise(residual: np.ndarray, bound: int) -> np.ndarray:
    """Integer residuals -> int64 multiples q of the step with |residual - q step| <= bound."""
    return np.rint(np.asarray(residual, np.float64) / step(bound)).astype(np.int64)


def apply(prediction: np.ndarray, q: np.ndarray, bound: int) -> np.ndarray:
    return np.asarray(prediction, np.int64) + np.asarray(q, np.int64) * step(bound)


def pack(q: np.ndarray) -> bytes:
    from hepvq.baselines.sparse import compress_stream
    from hepvq.tpc.coords import varint_bytes

    import hepvq_core

    q = np.asarray(q, np.int64)
    return compress_stream(varint_bytes(hepvq_core.zigzag(q))) if len(q) else b""


def unpack(blob: bytes) -> np.ndarray:
    from hepvq.baselines.sparse import decompress_stream
    from hepvq.tpc.coords import varint_values

    if not len(blob):
        return np.zeros(0, np.int64)
    import hepvq_core

    return hepvq_core.unzigzag(varint_values(decompress_stream(bytes(blob))).view(np.uint64))


def pack_rans(q: np.ndarray, plane_keys, col, row, tables) -> bytes:
    """Format 2 (tpc_inr format 2): the zigzag residuals as the value stream of hepvq.baselines.sparse_streams
    on the core's rANS coder, contexts from the hit positions (which must be in (plane, col, row) order, as the
    coordinate stream decodes them); the tables adapt within the event to the predictor's residuals.

    Layout: b"" (no hits), b"\x00" (all residuals zero: an exact predictor), or b"\x01" + the rANS bytes.
    By the compiled core (core/src/sparse_streams.cpp), byte for byte pack_rans_reference's."""
    from hepvq.baselines import sparse_streams_core

    core = sparse_streams_core.core_tables(tables)
    if core is None:
        return pack_rans_reference(q, plane_keys, col, row, tables)
    import hepvq_core

    return hepvq_core.sparse_pack_residuals(np.asarray(q, np.int64), np.asarray(plane_keys, np.int64),
                                            np.asarray(col, np.int64), np.asarray(row, np.int64), core)


def pack_rans_reference(q: np.ndarray, plane_keys, col, row, tables) -> bytes:
    """numpy pack_rans: the test oracle of the core's."""
    from hepvq.baselines import sparse_streams

    z = sparse_streams.zigzag(q)
    if not z.size:
        return b""
    if not z.any():
        return b"\x00"
    if int(z.max()) >= tables.value_alphabet:
        raise ValueError(f"residual {int(np.abs(q).max())} beyond the tables' range (|q| < {tables.value_alphabet // 2})")
    return b"\x01" + sparse_streams.encode_values(plane_keys, col, row, z, tables)


def unpack_rans(blob: bytes, plane_keys, col, row, tables, what: str = "residuals") -> np.ndarray:
    """Inverse of pack_rans given the decoded positions (in (plane, col, row) order), by the compiled core
    (core/src/sparse_streams.cpp, shared with the C++ reader); unpack_rans_reference is its numpy oracle."""
    from hepvq.baselines import sparse_streams_core

    if sparse_streams_core.core_tables(tables) is None:
        return unpack_rans_reference(blob, plane_keys, col, row, tables, what)
    return sparse_streams_core.unpack_residuals(blob, plane_keys, col, row, tables, what)


def unpack_rans_reference(blob: bytes, plane_keys, col, row, tables, what: str = "residuals") -> np.ndarray:
    """numpy unpack_rans: the test oracle of the core's."""
    from hepvq.baselines import sparse_streams
    from hepvq.errors import DataError

    blob = bytes(blob)
    n = len(np.asarray(col))
    if not blob or blob == b"\x00":
        if not blob and n:
            raise DataError(f"{what}: no residual bytes for {n} hits")
        return np.zeros(n, np.int64)
    if blob[0] != 1:
        raise DataError(f"{what}: unknown residual stream kind {blob[0]}")
    return sparse_streams.unzigzag(sparse_streams.decode_values(blob[1:], plane_keys, col, row, tables, what))
