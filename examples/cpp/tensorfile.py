"""Read and write the tensor files of examples/cpp/hepvq_encode (numpy only), and make the encoder's inputs
from real DIGIs:

    python examples/cpp/tensorfile.py patches data/pixel_pu200_sample.root x.bin mask.bin [--events 1]

writes the multi-hit 4 x 8 patches of the first events, as the pixel_vq encoder sees them: x = each patch's
ADC divided by its total charge (float32, N x 32), mask = 1 where a pixel is hit (float32, N x 32).

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


def digi_patches(path, events: int = 1, patch_rows: int = 4, patch_cols: int = 8):
    """(x, mask) of the multi-hit patches of the first `events` events of a DIGI file (needs hepvq)."""
    from hepvq.pixel import patches as P
    from hepvq.pixel.train import read_digis

    p = P.extract(P.flatten(read_digis(path, events)), patch_rows, patch_cols)[0]
    adc = p.adc[p.nhit >= 2].astype(np.float64)  # single hits carry no charge sharing to quantise
    return (adc / adc.sum(1, keepdims=True)).astype(np.float32), (adc > 0).astype(np.float32)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="make hepvq_encode input tensors from a DIGI file")
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("patches", help="x.bin and mask.bin of real multi-hit patches")
    pp.add_argument("digis", help="ROOT file in the input schema (Events/PixelDigi_*)")
    pp.add_argument("x", help="output tensor file of charge fractions")
    pp.add_argument("mask", help="output tensor file of hit masks")
    pp.add_argument("--events", type=int, default=1, help="events to take (default 1)")
    a = ap.parse_args(argv)
    x, mask = digi_patches(a.digis, a.events)
    write_tensor(a.x, x)
    write_tensor(a.mask, mask)
    print(f"wrote {a.x} and {a.mask}: {len(x)} patches of {x.shape[1]} pixels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
