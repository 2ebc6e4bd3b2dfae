"""Fidelity and rate metrics for pixel DIGIs (numpy only, vectorised).

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

from hepvq.pixel import patches as P

PITCH_ROW_UM = 100.0
PITCH_COL_UM = 150.0


def _pixel_key(h: P.Hits, det_rank, rows, cols):
    return ((h.event * (len(det_rank) + 1) + np.searchsorted(det_rank, h.det)) * rows + h.row) * cols + h.col


def cluster_table(h: P.Hits, rows=P.DEFAULT_MODULE_ROWS, cols=P.DEFAULT_MODULE_COLS):
    """Per-hit cluster label (in the order of h) and per-cluster charge, centroid row/col, size, seed hit."""
    order, lab = P.cluster_labels(h, rows, cols)
    label = np.empty(len(h), dtype=np.int64)
    label[order] = lab
    n = int(lab.max()) + 1 if len(lab) else 0
    w = h.adc.astype(np.float64)
    q = np.bincount(label, w, minlength=n)
    qs = np.where(q > 0, q, 1.0)
    crow = np.bincount(label, w * h.row, minlength=n) / qs
    ccol = np.bincount(label, w * h.col, minlength=n) / qs
    size = np.bincount(label, minlength=n)
    # seed: highest ADC hit of each cluster
    o = np.lexsort((-w, label))
    first = np.ones(len(o), dtype=bool)
    first[1:] = label[o][1:] != label[o][:-1]
    seed = o[first]
    return label, {"charge": q, "row": crow, "col": ccol, "size": size, "seed": seed}


def compare(ref: P.Hits, dec: P.Hits, rows=P.DEFAULT_MODULE_ROWS, cols=P.DEFAULT_MODULE_COLS,
            pitch_row_um=PITCH_ROW_UM, pitch_col_um=PITCH_COL_UM) -> dict:
    """All fidelity figures of decoded hits against the input hits of the same events."""
    det_rank = np.unique(np.concatenate([ref.det, dec.det]))
    kr = _pixel_key(ref, det_rank, rows, cols)
    kd = _pixel_key(dec, det_rank, rows, cols)
    od = np.argsort(kd, kind="stable")
    kd_sorted = kd[od]
    pos = np.minimum(np.searchsorted(kd_sorted, kr), max(len(kd) - 1, 0))
    found = (kd_sorted[pos] == kr) if len(kd) else np.zeros(len(kr), dtype=bool)
    match = np.where(found, od[pos], -1)  # index into dec for each ref hit
    n_found = int(found.sum())
    out = {
        "hits_in": int(len(ref)), "hits_out": int(len(dec)),
        "recall": n_found / max(len(ref), 1),
        "precision": n_found / max(len(dec), 1) if len(dec) else 1.0,
        "adc_mae": float(np.abs(ref.adc[found] - dec.adc[match[found]]).mean()) if n_found else float("nan"),
        "adc_max_abs_error": int(np.abs(ref.adc[found] - dec.adc[match[found]]).max()) if n_found else 0,
    }
    rlab, rc = cluster_table(ref, rows, cols)
    dlab, dc = cluster_table(dec, rows, cols)
    n_cl = len(rc["charge"])
    # seed of each ref cluster among its surviving hits: highest input ADC with a match
    cand = np.flatnonzero(found)
    o = np.lexsort((-ref.adc[cand], rlab[cand]))
    cand = cand[o]
    first = np.ones(len(cand), dtype=bool)
    first[1:] = rlab[cand][1:] != rlab[cand][:-1]
    seeds = cand[first]
    matched_ref = rlab[seeds]
    matched_dec = dlab[match[seeds]]
    q_in = rc["charge"][matched_ref]
    q_out = dc["charge"][matched_dec]
    rel = (q_out - q_in) / q_in
    dr = dc["row"][matched_dec] - rc["row"][matched_ref]
    dcl = dc["col"][matched_dec] - rc["col"][matched_ref]
    out.update({
        "clusters": n_cl,
        "cluster_efficiency": len(seeds) / max(n_cl, 1),
        "charge_rms_rel": float(np.sqrt(np.mean(rel ** 2))) if len(rel) else float("nan"),
        "charge_bias_rel": float(np.mean(rel)) if len(rel) else float("nan"),
        "centroid_rms_row_px": float(np.sqrt(np.mean(dr ** 2))) if len(dr) else float("nan"),
        "centroid_rms_col_px": float(np.sqrt(np.mean(dcl ** 2))) if len(dr) else float("nan"),
        "centroid_rms_px": float(np.sqrt(np.mean(dr ** 2 + dcl ** 2))) if len(dr) else float("nan"),
        "centroid_rms_um": float(np.sqrt(np.mean((dr * pitch_row_um) ** 2 + (dcl * pitch_col_um) ** 2)))
        if len(dr) else float("nan"),
    })
    return out


def compare_aligned(ref: P.Hits, dec: P.Hits, cluster: np.ndarray, pitch_row_um=PITCH_ROW_UM,
                    pitch_col_um=PITCH_COL_UM) -> dict:
    """compare() for decoded hits at exactly the input positions, in the same order (lossless-position mode):
    ``cluster`` gives each hit's input cluster, so nothing is searched or re-clustered."""
    n = len(ref)
    out = {"hits_in": n, "hits_out": len(dec), "recall": 1.0, "precision": 1.0}
    err = dec.adc - ref.adc
    out["adc_mae"] = float(np.abs(err).mean()) if n else float("nan")
    out["adc_max_abs_error"] = int(np.abs(err).max()) if n else 0
    ncl = int(cluster.max()) + 1 if n else 0
    wr, wd = ref.adc.astype(np.float64), dec.adc.astype(np.float64)
    qr = np.bincount(cluster, wr, minlength=ncl)
    qd = np.bincount(cluster, wd, minlength=ncl)
    qrs, qds = np.where(qr > 0, qr, 1.0), np.where(qd > 0, qd, 1.0)
    dr = np.bincount(cluster, wd * ref.row, minlength=ncl) / qds - np.bincount(cluster, wr * ref.row, minlength=ncl) / qrs
    dc = np.bincount(cluster, wd * ref.col, minlength=ncl) / qds - np.bincount(cluster, wr * ref.col, minlength=ncl) / qrs
    rel = (qd - qr) / qrs
    nan = float("nan")
    out.update({
        "clusters": ncl, "cluster_efficiency": 1.0,
        "charge_rms_rel": float(np.sqrt(np.mean(rel ** 2))) if ncl else nan,
        "charge_bias_rel": float(np.mean(rel)) if ncl else nan,
        "centroid_rms_row_px": float(np.sqrt(np.mean(dr ** 2))) if ncl else nan,
        "centroid_rms_col_px": float(np.sqrt(np.mean(dc ** 2))) if ncl else nan,
        "centroid_rms_px": float(np.sqrt(np.mean(dr ** 2 + dc ** 2))) if ncl else nan,
        "centroid_rms_um": float(np.sqrt(np.mean((dr * pitch_row_um) ** 2 + (dc * pitch_col_um) ** 2))) if ncl else nan,
    })
    return out


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
