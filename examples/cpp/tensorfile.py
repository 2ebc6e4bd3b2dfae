"""Read and write the tensor files of examples/cpp/hepvq_encode (numpy only).

tensor file = magic[4] + uint32 version (1) + uint32 ndim + int64 shape[ndim] + row-major data, little-endian;
magic b"HVQF" holds float32, b"HVQI" holds int64.
"""
from __future__ import annotations

import struct

import numpy as np

_MAGIC = {b"HVQF": np.dtype("<f4"), b"HVQI": np.dtype("<i8")}


def write_tensor(path, array) -> None:
    a = np.asarray(array)
    magic = b"HVQI" if a.dtype.kind in "iu" else b"HVQF"
    a = np.ascontiguousarray(a, dtype=_MAGIC[magic])
    with open(path, "wb") as f:
        f.write(magic + struct.pack("<II", 1, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape))
        f.write(a.tobytes())


def read_tensor(path) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic not in _MAGIC:
        raise ValueError(f"{path}: not a hepvq tensor file")
    version, ndim = struct.unpack_from("<II", data, 4)
    if version != 1:
        raise ValueError(f"{path}: unsupported version {version}")
    shape = struct.unpack_from(f"<{ndim}q", data, 12)
    return np.frombuffer(data, dtype=_MAGIC[magic], offset=12 + 8 * ndim).reshape(shape)
