"""Dense-array peers: SZ3 (``pysz``) and ZFP (``zfpy``), error-bounded lossy compressors for floating-point
arrays, applied to detector data made dense (a pixel module image, a TPC sector volume).

Scoring caveat -- read before quoting numbers: SZ3 and ZFP reconstruct an error-bounded approximation
everywhere, so where the data were zero (the vast majority of a sparse detector) they return many small
non-zero values (|x| <= the error bound).  Counted as hits, these would destroy the hit precision; a
detector would never produce them because its readout applies a zero-suppression threshold.  We
therefore re-apply the same threshold to the reconstruction (``apply_threshold``) before any figure is
computed, in ``hepvq-bench`` and in docs/RESULTS.md.  The compressed size is the size of the SZ3/ZFP
stream alone (shape and dtype are assumed known to the reader).
"""
from __future__ import annotations

import numpy as np

from hepvq.extras import require


def _as_float(array) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32)
    return np.ascontiguousarray(a)


def sz3_roundtrip(array, abs_error: float) -> tuple[np.ndarray, int]:
    """Compress `array` (float32/float64, any of 1-4 dims; integers are converted to float32) with SZ3 in
    absolute-error-bound mode -> (reconstruction with the input's float dtype and shape, compressed bytes)."""
    pysz = require("pysz")
    a = _as_float(array)
    if a.size == 0:
        return a.copy(), 0
    cfg = pysz.szConfig(a.shape)
    cfg.errorBoundMode = pysz.szErrorBoundMode.ABS
    cfg.absErrorBound = float(abs_error)
    compressed, _ratio = pysz.sz.compress(a, cfg)
    recon, _cfg = pysz.sz.decompress(compressed, a.dtype, a.shape)
    return np.asarray(recon).reshape(a.shape), int(np.asarray(compressed).nbytes)


def zfp_roundtrip(array, tolerance: float | None = None, rate: float | None = None,
                  precision: int | None = None) -> tuple[np.ndarray, int]:
    """Compress `array` (float32/float64, 1-4 dims) with ZFP -> (reconstruction, compressed bytes).

    Give exactly one of tolerance (fixed-accuracy: absolute error bound), rate (fixed-rate: bits per
    value) or precision (fixed-precision: bit planes).  The header zfpy writes (shape, mode) is counted."""
    zfpy = require("zfpy")
    given = [x is not None for x in (tolerance, rate, precision)]
    if sum(given) != 1:
        raise ValueError("zfp_roundtrip needs exactly one of tolerance, rate, precision")
    a = _as_float(array)
    if a.size == 0:
        return a.copy(), 0
    kwargs = {}
    if tolerance is not None:
        kwargs["tolerance"] = float(tolerance)
    elif rate is not None:
        kwargs["rate"] = float(rate)
    else:
        kwargs["precision"] = int(precision)
    compressed = zfpy.compress_numpy(a, **kwargs)
    recon = zfpy.decompress_numpy(compressed)
    return np.asarray(recon).reshape(a.shape), len(compressed)


def apply_threshold(recon, threshold: float) -> np.ndarray:
    """Zero-suppress a reconstruction: values below `threshold` (the detector's readout threshold) become 0.

    Do this before scoring SZ3/ZFP output -- see the module docstring."""
    r = np.asarray(recon)
    return np.where(r >= threshold, r, np.zeros((), dtype=r.dtype))


def to_dense(keys, values, shape, dtype=np.float32) -> np.ndarray:
    """Scatter hits (integer coordinate arrays, one per axis, already offset to start at 0) into a dense array
    (duplicates are summed)."""
    out = np.zeros(shape, dtype=dtype)
    np.add.at(out, tuple(np.asarray(k, dtype=np.int64) for k in keys), np.asarray(values, dtype=dtype))
    return out


def from_dense(array, threshold: float = 0.0):
    """Hits of a dense array: (list of coordinate arrays, values) of the entries >= threshold (> 0 if 0)."""
    a = np.asarray(array)
    mask = a >= threshold if threshold > 0 else a > 0
    idx = np.nonzero(mask)
    return list(idx), a[idx]
