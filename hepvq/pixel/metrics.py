"""Fidelity and rate metrics for pixel DIGIs (numpy only, vectorised), with the pixel names of the figures of
hepvq.metrics.fidelity (the one matcher and set of fidelity figures of hepvq):

* hit recall / precision: a hit is found when the decoded hits hold the same (event, detId, row, col);
* ADC MAE over the found hits;
* cluster charge resolution: clusters (8-connected) of the *input*; each is matched to the decoded cluster
  that holds its seed pixel (the highest-ADC pixel of the input cluster that survived); relative charge
  error (Q_dec - Q_in) / Q_in -> RMS and bias; unmatched clusters count in ``cluster_efficiency``;
* cluster centroid residual: charge-weighted centroid of the matched decoded cluster minus that of the input
  cluster, per axis in pixels; the headline ``centroid_rms_px`` is the 2-D RMS sqrt(<dr^2 + dc^2>), and
  ``centroid_rms_um`` uses the pitches (CMS Phase-1: 100 um rows, 150 um columns);
* bits per hit and compression ratio from byte counts.
"""
from __future__ import annotations

import numpy as np

from hepvq.metrics import fidelity as F
from hepvq.pixel import patches as P

PITCH_ROW_UM = 100.0
PITCH_COL_UM = 150.0


GROUP, SPATIAL = ("detId",), ("row", "col")


def _cols(h: P.Hits) -> dict:
    return {"event": h.event, "detId": h.det, "row": h.row, "col": h.col, "adc": h.adc}


def _pixel_figures(f: dict) -> dict:
    """The pixel names of hepvq.metrics.fidelity's figures (centroids in pixels and in um)."""
    keep = ("hits_in", "hits_out", "recall", "precision", "adc_mae", "adc_max_abs_error", "clusters",
            "cluster_efficiency", "charge_rms_rel", "charge_bias_rel")
    out = {k: f[k] for k in keep}
    out.update({"centroid_rms_row_px": f["centroid_rms_row_grid"], "centroid_rms_col_px": f["centroid_rms_col_grid"],
                "centroid_rms_px": f["centroid_rms_grid"], "centroid_rms_um": f["centroid_rms"]})
    return out


def compare(ref: P.Hits, dec: P.Hits, rows=P.DEFAULT_MODULE_ROWS, cols=P.DEFAULT_MODULE_COLS,
            pitch_row_um=PITCH_ROW_UM, pitch_col_um=PITCH_COL_UM) -> dict:
    """All fidelity figures of decoded hits against the input hits of the same events (hepvq.metrics.fidelity;
    ``rows``/``cols`` are kept for the callers, the module size is not needed)."""
    figs, _ = F.compare(_cols(ref), _cols(dec), GROUP, SPATIAL, (pitch_row_um, pitch_col_um))
    return _pixel_figures(figs)


def compare_aligned(ref: P.Hits, dec: P.Hits, cluster: np.ndarray, pitch_row_um=PITCH_ROW_UM,
                    pitch_col_um=PITCH_COL_UM) -> dict:
    """compare() for decoded hits at exactly the input positions, in the same order (lossless-position mode):
    ``cluster`` gives each hit's input cluster, so nothing is searched or re-clustered."""
    p = F.aligned_parts(_cols(ref), dec.adc, cluster, SPATIAL, (pitch_row_um, pitch_col_um))
    return _pixel_figures(F.summarise(p))


def bits_per_hit(n_bytes: float, n_hits: int) -> float:
    return 8.0 * n_bytes / max(n_hits, 1)


def compression_ratio(bytes_in: float, bytes_out: float) -> float:
    return float(bytes_in) / max(float(bytes_out), 1.0)


def entropy_bits(values: np.ndarray) -> float:
    """Total bits an ideal static (order-0) entropy coder needs for the values."""
    if len(values) == 0:
        return 0.0
    _, c = np.unique(values, return_counts=True)
    p = c / c.sum()
    return float(-(c * np.log2(p)).sum())
