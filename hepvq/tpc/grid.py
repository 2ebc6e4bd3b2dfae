"""TPC sector geometry and the coordinate convention shared by fitting (torch) and decoding (numpy).

A sector is a dense volume (phi, z, layer) = (192, 249, 16) of 10-bit ADC, zero-suppressed below 64.
An event has 24 sectors (12 phi sectors x 2 z halves). INR inputs are coordinates normalised per axis to
[-1, 1] on the *full* grid: voxel index i of an axis with n bins maps to 2 i / (n - 1) - 1, so that a
coarser grid (super-resolution training) or fractional indices (continuous reconstruction) are just other
points of the same function. Values are ADC / 1023.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

SHAPE = (192, 249, 16)          # (phi, z, layer)
N_SECTORS = 24
ADC_MAX = 1023.0
THRESHOLD = 64


def normalise(idx, shape=SHAPE) -> np.ndarray:
    """Integer or fractional voxel indices (..., 3) -> float32 coordinates in [-1, 1]^3."""
    idx = np.asarray(idx, dtype=np.float32)
    n = np.asarray(shape, dtype=np.float32)
    return (2.0 * idx / (n - 1.0) - 1.0).astype(np.float32)


def grid_indices(shape=SHAPE, step=(1, 1, 1)) -> np.ndarray:
    """All voxel indices (N, 3) of the full grid (or every step-th along each axis), C order."""
    axes = [np.arange(0, n, s) for n, s in zip(shape, step)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1).astype(np.int32)


def grid_coords(shape=SHAPE, step=(1, 1, 1)) -> np.ndarray:
    return normalise(grid_indices(shape, step), shape)


def hits_to_volumes(hits, sectors=None, n_sectors: int = N_SECTORS, shape=SHAPE):
    """One event's hits (record array with sector, layer, phi, z, adc) -> (volumes (k, *shape) uint16,
    sector ids (k,)). `sectors`: which sectors to return (default: every sector 0..n_sectors-1)."""
    sec = np.asarray(hits["sector"], dtype=np.int64)
    sectors = np.arange(n_sectors) if sectors is None else np.asarray(sectors, dtype=np.int64)
    vol = np.zeros((len(sectors),) + tuple(shape), dtype=np.uint16)
    pos = np.full(max(n_sectors, int(sec.max(initial=0)) + 1), -1)
    pos[sectors] = np.arange(len(sectors))
    k = pos[sec]
    ok = k >= 0
    vol[k[ok], np.asarray(hits["phi"])[ok], np.asarray(hits["z"])[ok], np.asarray(hits["layer"])[ok]] = \
        np.asarray(hits["adc"])[ok]
    return vol, sectors


def volumes_to_hits(volumes, sectors, threshold: int = THRESHOLD) -> dict:
    """Dense (k, *shape) ADC volumes -> columns of hits with adc >= threshold, sorted by (sector, phi, z, layer)."""
    vol = np.asarray(volumes)
    k, p, z, l = np.nonzero(vol >= threshold)
    return {"sector": np.asarray(sectors)[k].astype(np.uint16), "layer": l.astype(np.uint16),
            "phi": p.astype(np.uint16), "z": z.astype(np.uint16), "adc": vol[k, p, z, l].astype(np.uint16)}


def events_from_columns(columns: list[dict]) -> ak.Array:
    """Per-event column dicts -> jagged TpcHit records in the input schema (uint16 fields)."""
    fields = ("sector", "layer", "phi", "z", "adc")
    counts = np.array([len(c["adc"]) for c in columns], dtype=np.int64)
    contents = {f: (np.concatenate([np.asarray(c[f], dtype=np.uint16) for c in columns])
                    if len(columns) else np.zeros(0, np.uint16)) for f in fields}
    flat = ak.zip({f: ak.Array(contents[f]) for f in fields})
    return ak.unflatten(flat, counts)


CONTEXT_FEATURES = 3


def box_sum(a: np.ndarray, r: tuple[int, int, int]) -> np.ndarray:
    """Sum of `a` (P, Z, L) over the box [-r, r] around every voxel (zero padding), via cumulative sums."""
    out = np.asarray(a, dtype=np.float32)
    for axis, rad in enumerate(r):
        if rad == 0:
            continue
        n = out.shape[axis]
        pad = [(0, 0)] * 3
        pad[axis] = (rad + 1, rad)
        c = np.cumsum(np.pad(out, pad), axis=axis)
        hi = np.take(c, np.arange(2 * rad + 1, 2 * rad + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = hi - lo
    return out


def mask_context(mask: np.ndarray) -> np.ndarray:
    """Hit-mask context of every voxel of one sector (P, Z, L) -> (P, Z, L, 3) float32: the fraction of hits in
    the 3x3 and 5x5 (phi, z) neighbourhoods of the same layer and in the 3x3x3 neighbourhood. The hybrid
    codec's decoder knows the hit positions exactly, so these cost nothing to transmit; a hit in the middle
    of a cluster carries more charge than one at its edge."""
    m = np.asarray(mask, dtype=np.float32)
    return np.stack([box_sum(m, (1, 1, 0)) / 9, box_sum(m, (2, 2, 0)) / 25, box_sum(m, (1, 1, 1)) / 27], axis=-1)
