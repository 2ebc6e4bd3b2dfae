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
