"""Weight (and latent) quantisation: the bytes that go into the compressed file.

modes: ``fp32``; ``fp16``; ``int8`` = symmetric per-tensor ("per-layer": one scale for each weight matrix and
one for each bias vector) scale s = max|w| / 127, stored as float32 ahead of the int8 values.
numpy only (used on the decode path)."""
from __future__ import annotations

import numpy as np

MODES = ("fp32", "fp16", "int8")


def blob_size(shapes: list[tuple[int, ...]], mode: str) -> int:
    n = sum(int(np.prod(s)) for s in shapes)
    if mode == "fp32":
        return 4 * n
    if mode == "fp16":
        return 2 * n
    if mode == "int8":
        return 4 * len(shapes) + n
    raise ValueError(f"unknown quantisation '{mode}'; known: {', '.join(MODES)}")


def pack(tensors: list[np.ndarray], mode: str) -> bytes:
    tensors = [np.asarray(t, dtype=np.float32) for t in tensors]
    if mode == "fp32":
        return b"".join(t.astype("<f4").tobytes() for t in tensors)
    if mode == "fp16":
        return b"".join(t.astype("<f2").tobytes() for t in tensors)
    if mode == "int8":
        scales = np.array([max(float(np.abs(t).max(initial=0.0)), 1e-30) / 127.0 for t in tensors], dtype="<f4")
        q = [np.clip(np.rint(t / s), -127, 127).astype(np.int8) for t, s in zip(tensors, scales)]
        return scales.tobytes() + b"".join(a.tobytes() for a in q)
    raise ValueError(f"unknown quantisation '{mode}'; known: {', '.join(MODES)}")


def unpack(blob: bytes, shapes: list[tuple[int, ...]], mode: str) -> list[np.ndarray]:
    blob = bytes(blob)
    if len(blob) != blob_size(shapes, mode):
        raise ValueError(f"quantised blob has {len(blob)} bytes, expected {blob_size(shapes, mode)} for {mode}")
    out, o = [], 0
    if mode == "int8":
        scales = np.frombuffer(blob, dtype="<f4", count=len(shapes))
        o = 4 * len(shapes)
        for s, sc in zip(shapes, scales):
            n = int(np.prod(s))
            out.append((np.frombuffer(blob, dtype=np.int8, count=n, offset=o).astype(np.float32) * sc).reshape(s))
            o += n
        return out
    dt, w = ("<f4", 4) if mode == "fp32" else ("<f2", 2)
    for s in shapes:
        n = int(np.prod(s))
        out.append(np.frombuffer(blob, dtype=dt, count=n, offset=o).astype(np.float32).reshape(s))
        o += n * w
    return out


def roundtrip(tensors: list[np.ndarray], mode: str) -> list[np.ndarray]:
    return unpack(pack(tensors, mode), [np.shape(t) for t in tensors], mode)
