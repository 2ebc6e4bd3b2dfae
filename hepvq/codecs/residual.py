"""Error-bounded residuals, shared by the codecs that offer an ADC error bound (pixel_vq corrections,
tpc_inr residuals): a residual r = target - prediction is stored as q = round(r / (2B + 1)), so that
prediction + q (2B + 1) is within B of the target (integers: an odd step never ties), and B = 0 is lossless.

Streams of q are zigzag-mapped LEB128 varints, compressed with the smaller of zstd and LZMA2
(hepvq.baselines.sparse.compress_stream: LZMA's literal contexts pick up runs of similar residuals)."""
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
