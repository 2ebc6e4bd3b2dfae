"""Quality metrics of a TPC reconstruction (numpy only), on dense ADC volumes (..., phi, z, layer).

- ``mse`` / ``psnr`` on ADC over every voxel (PSNR with peak 1023);
- ``mse_nonzero``: MSE over the voxels that are hits in the original;
- hit ``precision`` / ``recall`` after re-applying the 64 ADC threshold to the reconstruction;
- ``neighbour_ratio_error``: relative error of the charge ratio between neighbouring pads (phi +- 1, same z and
  layer, both hits in the original), mean |r_rec - r_orig| / r_orig with r = adc(phi+1) / adc(phi): the
  quantity position interpolation between pads relies on (paper appendix A).
"""
from __future__ import annotations

import numpy as np

from hepvq.tpc.grid import ADC_MAX, THRESHOLD


def mse(orig, rec) -> float:
    d = np.asarray(orig, np.float64) - np.asarray(rec, np.float64)
    return float(np.mean(d * d))


def psnr(orig, rec, peak: float = ADC_MAX) -> float:
    m = mse(orig, rec)
    return float("inf") if m == 0 else float(10 * np.log10(peak * peak / m))


def mse_nonzero(orig, rec) -> float:
    o = np.asarray(orig)
    nz = o > 0
    if not nz.any():
        return 0.0
    d = o[nz].astype(np.float64) - np.asarray(rec)[nz].astype(np.float64)
    return float(np.mean(d * d))


def hit_precision_recall(orig, rec, threshold: int = THRESHOLD) -> tuple[float, float]:
    o = np.asarray(orig) >= threshold
    r = np.asarray(rec) >= threshold
    tp = int(np.count_nonzero(o & r))
    n_rec, n_orig = int(np.count_nonzero(r)), int(np.count_nonzero(o))
    return (tp / n_rec if n_rec else 1.0), (tp / n_orig if n_orig else 1.0)


def neighbour_ratio_error(orig, rec, axis: int = -3) -> float:
    """Mean relative error of adc[i+1]/adc[i] along `axis` (phi by default), over pairs of original hits."""
    o = np.asarray(orig, np.float64)
    r = np.clip(np.asarray(rec, np.float64), 1.0, None)
    a0 = np.take(o, np.arange(o.shape[axis] - 1), axis=axis)
    a1 = np.take(o, np.arange(1, o.shape[axis]), axis=axis)
    b0 = np.take(r, np.arange(r.shape[axis] - 1), axis=axis)
    b1 = np.take(r, np.arange(1, r.shape[axis]), axis=axis)
    both = (a0 > 0) & (a1 > 0)
    if not both.any():
        return 0.0
    ro = a1[both] / a0[both]
    rr = b1[both] / b0[both]
    return float(np.mean(np.abs(rr - ro) / ro))


def all_metrics(orig, rec) -> dict:
    p, r = hit_precision_recall(orig, rec)
    return {"mse": mse(orig, rec), "psnr": psnr(orig, rec), "mse_nonzero": mse_nonzero(orig, rec),
            "precision": p, "recall": r, "neighbour_ratio_error": neighbour_ratio_error(orig, rec)}
