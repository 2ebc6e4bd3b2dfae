"""Lossless coding of the hit *positions* of one event (numpy + zstandard), for the hybrid codec.

Hits are ordered by the key ((sector * 16 + layer) * 192 + phi) * 249 + z, so that hits next to each other
in z (the drift direction, where a track's charge cluster is long) are consecutive. The gaps between
consecutive keys (key - previous key - 1; runs of adjacent hits give 0) are written as LEB128 varints and
compressed with zstd. Decoding gives the hits back in key order."""
from __future__ import annotations

import numpy as np
import zstandard

from hepvq.tpc.grid import SHAPE

_LEVEL = 19


def keys(sector, layer, phi, z, shape=SHAPE) -> np.ndarray:
    P, Z, L = shape
    return ((np.asarray(sector, np.int64) * L + np.asarray(layer, np.int64)) * P + np.asarray(phi, np.int64)) * Z \
        + np.asarray(z, np.int64)


def unkey(k: np.ndarray, shape=SHAPE):
    P, Z, L = shape
    k = np.asarray(k, np.int64)
    z = k % Z; k = k // Z
    phi = k % P; k = k // P
    layer = k % L
    sector = k // L
    return sector, layer, phi, z


def varint_bytes(values: np.ndarray) -> bytes:
    """Unsigned integers -> LEB128 varint bytes, by the compiled core (also used by hepvq.codecs.residual)."""
    import hepvq_core

    return hepvq_core.varint_bytes(np.asarray(values, dtype=np.uint64))


def varint_values(data: bytes) -> np.ndarray:
    """LEB128 varint bytes -> int64 values (inverse of varint_bytes), by the compiled core; a truncated stream
    is a DataError."""
    import hepvq_core

    return hepvq_core.varint_values(bytes(data))


def varint_bytes_reference(values: np.ndarray) -> bytes:
    """numpy varint_bytes: the test oracle of the core's."""
    v = np.asarray(values, dtype=np.uint64)
    n_bytes = np.ones(len(v), dtype=np.int64)
    t = v >> np.uint64(7)
    while t.any():
        n_bytes += t > 0
        t = t >> np.uint64(7)
    total = int(n_bytes.sum())
    buf = np.empty(total, dtype=np.uint8)
    pos = np.concatenate([[0], np.cumsum(n_bytes)[:-1]])
    rem = v.copy()
    for i in range(int(n_bytes.max(initial=0))):
        live = n_bytes > i
        byte = (rem[live] & np.uint64(0x7F)).astype(np.uint8)
        more = n_bytes[live] > i + 1
        buf[pos[live] + i] = byte | (more.astype(np.uint8) << 7)
        rem[live] = rem[live] >> np.uint64(7)
    return buf.tobytes()


def varint_values_reference(data: bytes) -> np.ndarray:
    """numpy varint_values: the test oracle of the core's."""
    b = np.frombuffer(data, dtype=np.uint8)
    if len(b) == 0:
        return np.zeros(0, np.int64)
    ends = np.flatnonzero((b & 0x80) == 0)
    starts = np.concatenate([[0], ends[:-1] + 1])
    out = np.zeros(len(ends), dtype=np.int64)
    lengths = ends - starts + 1
    for i in range(int(lengths.max())):
        live = lengths > i
        out[live] |= (b[starts[live] + i] & 0x7F).astype(np.int64) << (7 * i)
    return out


def encode(sector, layer, phi, z, shape=SHAPE) -> tuple[bytes, np.ndarray]:
    """-> (zstd-compressed varint gaps, the order that sorts the input hits into key order)."""
    k = keys(sector, layer, phi, z, shape)
    order = np.argsort(k, kind="stable")
    ks = k[order]
    gaps = np.diff(np.concatenate([[-1], ks])) - 1
    if (gaps < 0).any():
        raise ValueError("duplicate hit positions in one event cannot be coded")
    return zstandard.ZstdCompressor(level=_LEVEL).compress(varint_bytes(gaps)), order


def decode(blob: bytes, shape=SHAPE):
    """-> (sector, layer, phi, z) int64 arrays in key order."""
    gaps = varint_values(zstandard.ZstdDecompressor().decompress(bytes(blob))) if len(blob) else np.zeros(0, np.int64)
    import hepvq_core

    return unkey(hepvq_core.keys_from_gaps(gaps.view(np.uint64)), shape)


# ---------------------------------------------------------------------------------------------------------------
# format 2 (tpc_inr format 2): the positions as context-modelled streams on the core's rANS coder
# (hepvq.baselines.sparse_streams, cluster layout: plane = (sector, layer), column = phi, row = z; 8-connected
# clusters as anchor + shape), tables fitted on training
# events and shipped in data/models/tpc_coords.rans (the value stream's table: zigzag ADC residuals q)
# ---------------------------------------------------------------------------------------------------------------
TABLES_FILE = __import__("pathlib").Path(__file__).resolve().parents[2] / "data/models/tpc_coords.rans"
PLANE_LIMIT = 4096      # phi and z below this (the trained range coded directly, the rest escaped)
VALUE_ALPHABET = 4096   # zigzag residuals: |q| <= 2047


def plane_keys(sector, layer, shape=SHAPE) -> np.ndarray:
    return np.asarray(sector, np.int64) * shape[2] + np.asarray(layer, np.int64)


def load_tables(src=None):
    """StreamTables from bytes, a file, or the shipped default (None); ModelError naming the file when damaged."""
    from pathlib import Path

    from hepvq.baselines.sparse_streams import StreamTables
    from hepvq.errors import ModelError

    if isinstance(src, StreamTables):
        return src
    if isinstance(src, (bytes, bytearray)):
        return StreamTables.from_bytes(bytes(src), "tpc_inr coordinate tables")
    p = Path(TABLES_FILE if src is None else src)
    if not p.is_file():
        raise ModelError(f"tpc_inr format 2: tables file {p} does not exist (fit one with "
                         "python -m hepvq.baselines.sparse_streams tpc)")
    return StreamTables.from_bytes(p.read_bytes(), f"tpc_inr coordinate tables {p}")


def encode_rans(sector, layer, phi, z, tables, shape=SHAPE, *, reference: bool = False) -> tuple[bytes, np.ndarray]:
    """Format 2 of encode: -> (rANS position streams, the order that sorts the input hits into key order); the
    streams by the compiled core (core/src/sparse_streams.cpp), byte for byte numpy's (reference=True: the numpy
    oracle, sparse_streams.encode_event)."""
    from hepvq.baselines import sparse_streams
    from hepvq.baselines.sparse_streams_core import core_tables

    k = keys(sector, layer, phi, z, shape)
    order = np.argsort(k, kind="stable")
    if k.size > 1 and (np.diff(k[order]) == 0).any():
        raise ValueError("duplicate hit positions in one event cannot be coded")
    pk = plane_keys(sector, layer, shape)
    core = None if reference else core_tables(tables)
    if core is None:
        return sparse_streams.encode_event(pk, phi, z, None, tables), order
    import hepvq_core

    return hepvq_core.sparse_encode_event(pk, np.asarray(phi, np.int64), np.asarray(z, np.int64), None, core), order


def decode_rans(blob: bytes, tables, shape=SHAPE, what: str = "tpc_inr coords"):
    """Format 2 of decode: -> (sector, layer, phi, z) int64 arrays in key order, by the compiled core
    (core/src/sparse_streams.cpp, what the C++ reader runs too); decode_rans_reference is its numpy oracle."""
    from hepvq.baselines.sparse_streams_core import core_tables

    core = core_tables(tables)
    if core is None:
        return decode_rans_reference(blob, tables, shape, what)
    import hepvq_core

    P, Z, L = shape
    return hepvq_core.tpc_decode_coords(bytes(blob), core, P, Z, L, what)


def decode_rans_reference(blob: bytes, tables, shape=SHAPE, what: str = "tpc_inr coords"):
    """numpy decode_rans: the test oracle of the core's."""
    from hepvq.baselines import sparse_streams

    pk, phi, z, _ = sparse_streams.decode_event(bytes(blob), tables, with_value=False, what=what)
    P, Z, L = shape
    if pk.size and (int(pk.min()) < 0 or int(pk.max()) >= 256 * L or int(phi.max()) >= P or int(z.max()) >= Z):
        from hepvq.errors import DataError

        raise DataError(f"{what}: decoded positions outside the {P} x {Z} x {L} sector grid")
    return pk // L, pk % L, phi, z


def fit_tables(path, entries=None):
    """tpc_inr format-2 tables fitted on the TpcHit events of a ROOT file: positions, and for the residual
    stream the lossless residuals against the threshold prediction (zigzag(ADC - threshold)), what a sector
    without INR code stores; within an event the coder adapts to the sharper residuals of a good predictor."""
    import uproot

    from hepvq.baselines import sparse_streams
    from hepvq.tpc.grid import THRESHOLD

    with uproot.open(str(path)) as f:
        start, stop = (None, None) if entries is None else entries
        a = f["Events"].arrays(["TpcHit_sector", "TpcHit_layer", "TpcHit_phi", "TpcHit_z", "TpcHit_adc"],
                               library="np", entry_start=start, entry_stop=stop)
    events = [(plane_keys(a["TpcHit_sector"][e], a["TpcHit_layer"][e]), a["TpcHit_phi"][e].astype(np.int64),
               a["TpcHit_z"][e].astype(np.int64),
               sparse_streams.zigzag(a["TpcHit_adc"][e].astype(np.int64) - THRESHOLD))
              for e in range(len(a["TpcHit_adc"]))]
    return sparse_streams.fit(events, n_cols=PLANE_LIMIT, n_rows=PLANE_LIMIT, value_alphabet=VALUE_ALPHABET,
                              kind="tpc_inr", adapt_period=ADAPT[0], adapt_strength=ADAPT[1], layout="clusters",
                              n_classes=4, max_shapes=1024)  # 24 KB of tables for the same bits/hit as 45 KB


ADAPT = (256, 256)  # the residual stream adapts to the event's predictor and bound (static: 7.95 bits/hit at bound 2)
