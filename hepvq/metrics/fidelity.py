"""Fidelity of decoded hits against the input hits of the same events: the one hit matcher and the one set of
fidelity figures of hepvq, for any detector whose hits are (event, group fields, two spatial fields, adc).

    figs, residuals = compare(ref, dec, group=("detId",), spatial=("row", "col"), pitch=(100.0, 150.0))  # pixel
    figs, residuals = compare(ref, dec, group=("sector", "layer"), spatial=("phi", "z"))               # TPC

``ref`` / ``dec``: dicts of flat numpy columns with ``event`` (index within the set), the group fields, the two
spatial fields and ``adc``. Used by the pixel encoder's end-of-job report (hepvq.pixel.metrics), the TPC
encoder's (modules/tpc.py), ``hepvq-bench`` (hepvq.bench.suite) and the benchmarks.

Conventions (one for every caller):

* hits match when (event, group fields, spatial fields) are equal: recall = matched input hits / input hits,
  precision = matched decoded hits / decoded hits;
* ``adc_mae`` and ``adc_max_abs_error`` over matched hits; ``adc_mse`` over the union of input and decoded hits
  (a hit missing on one side counts with ADC 0 there; PSNR = 10 log10(adc_max^2 / MSE)); ``adc_mse_ref`` over the
  input hits only (a missed hit counts as decoded 0, extra decoded hits are not counted), likewise
  ``adc_max_abs_error_ref``;
* clusters: 8-connected in the spatial plane per (event, group) -- the one clusterer,
  hepvq.metrics.clusters.find_clusters -- of the input; each is matched to the decoded cluster that holds its
  highest-ADC matched pixel (``cluster_efficiency`` = matched fraction); cluster charge = sum of ADC; relative
  charge residual (Q_dec - Q_in) / Q_in -> ``charge_rms_rel``, ``charge_bias_rel``; charge-weighted centroid
  residual per spatial axis, ``centroid_rms_<field>`` in pitch units (``pitch``; 1 = grid units) and
  ``centroid_rms_<field>_grid`` in grid units (pixels, bins), ``centroid_rms`` / ``centroid_rms_grid`` the 2-D
  RMS sqrt(<d0^2 + d1^2>).

Everything is additive over events (``parts`` + ``summarise``), so a caller can score chunk by chunk with the
memory of one chunk.
"""
from __future__ import annotations

import numpy as np

from hepvq.metrics.clusters import find_clusters

PART_SUMS = ("n_ref", "n_dec", "n_found", "sq_union", "n_union", "sq_ref", "abs_err", "n_rcl", "n_seeds")


def _keys(ref: dict, dec: dict, group, spatial):
    """(cell keys of ref, of dec, module keys of ref, of dec): int64, equal exactly for equal coordinates."""
    mods = []
    ranks = {g: np.unique(np.concatenate([np.asarray(ref[g]), np.asarray(dec[g])]).astype(np.int64)) for g in group}
    planes = [int(max(np.max(ref[s], initial=0), np.max(dec[s], initial=0))) + 3 for s in spatial]
    out = []
    for cols in (ref, dec):
        mk = np.asarray(cols["event"]).astype(np.int64)
        for g in group:
            mk = mk * (len(ranks[g]) + 1) + np.searchsorted(ranks[g], np.asarray(cols[g]).astype(np.int64))
        key = mk
        for s, n in zip(spatial, planes):
            key = key * n + np.asarray(cols[s]).astype(np.int64) + 1
        out.append((key, mk))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def match_hits(ref_keys: np.ndarray, dec_keys: np.ndarray):
    """The one hit matcher: (found, match) with ``match[i]`` the index of the decoded hit at input hit i's cell
    (-1 where none). Keys: one int64 per hit, equal for equal coordinates (unique within each side)."""
    od = np.argsort(dec_keys, kind="stable")
    kds = dec_keys[od]
    if len(dec_keys) == 0:
        return np.zeros(len(ref_keys), bool), np.full(len(ref_keys), -1, np.int64)
    pos = np.minimum(np.searchsorted(kds, ref_keys), len(kds) - 1)
    found = kds[pos] == ref_keys
    return found, np.where(found, od[pos], -1)


def parts(ref: dict, dec: dict, group, spatial, pitch=(1.0, 1.0), ref_clusters=None) -> dict:
    """The additive parts of the figures for one set of events: sums and per-cluster residual arrays.

    ``ref_clusters``: the input's cluster id per hit when the caller already has it (else clustered here)."""
    kr, kd, mr, md = _keys(ref, dec, group, spatial)
    found, match = match_hits(kr, kd)
    a_ref = np.asarray(ref["adc"], np.float64)
    a_dec = np.asarray(dec["adc"], np.float64)
    dec_matched = np.zeros(len(kd), bool)
    dec_matched[match[found]] = True
    err = a_dec[match[found]] - a_ref[found]
    s0, s1 = spatial
    rlab = find_clusters(mr, ref[s0], ref[s1]) if ref_clusters is None else np.asarray(ref_clusters, np.int64)
    dlab = find_clusters(md, dec[s0], dec[s1])
    n_rcl = int(rlab.max()) + 1 if len(rlab) else 0
    n_dcl = int(dlab.max()) + 1 if len(dlab) else 0
    q_r = np.bincount(rlab, a_ref, minlength=n_rcl)
    q_d = np.bincount(dlab, a_dec, minlength=n_dcl)
    c_r = [np.bincount(rlab, a_ref * np.asarray(ref[s], np.float64), minlength=n_rcl) / np.maximum(q_r, 1e-12)
           for s in spatial]
    c_d = [np.bincount(dlab, a_dec * np.asarray(dec[s], np.float64), minlength=n_dcl) / np.maximum(q_d, 1e-12)
           for s in spatial]
    # seed of each input cluster: its highest-ADC matched hit
    cand = np.flatnonzero(found)
    cand = cand[np.lexsort((-a_ref[cand], rlab[cand]))]
    first = np.ones(len(cand), bool)
    first[1:] = rlab[cand][1:] != rlab[cand][:-1]
    seeds = cand[first]
    i_r, i_d = rlab[seeds], dlab[match[seeds]]
    return {"n_ref": len(kr), "n_dec": len(kd), "n_found": int(found.sum()),
            "sq_union": float(np.sum(err ** 2) + np.sum(a_ref[~found] ** 2) + np.sum(a_dec[~dec_matched] ** 2)),
            "n_union": len(kr) + int((~dec_matched).sum()),
            "sq_ref": float(np.sum(err ** 2) + np.sum(a_ref[~found] ** 2)),
            "abs_err": float(np.abs(err).sum()), "max_abs_err": int(np.abs(err).max(initial=0)),
            "max_abs_err_ref": int(max(np.abs(err).max(initial=0), np.abs(a_ref[~found]).max(initial=0))),
            "n_rcl": n_rcl, "n_seeds": len(seeds),
            "rel": (q_d[i_d] - q_r[i_r]) / np.maximum(q_r[i_r], 1e-12),
            "d0": c_d[0][i_d] - c_r[0][i_r], "d1": c_d[1][i_d] - c_r[1][i_r], "pitch": tuple(pitch),
            "spatial": tuple(spatial)}


def aligned_parts(ref: dict, dec_adc: np.ndarray, cluster: np.ndarray, spatial, pitch=(1.0, 1.0)) -> dict:
    """parts() for decoded hits at exactly the input positions, in the same order (lossless positions): the
    input cluster of each hit is given, so nothing is searched or re-clustered.

    ADCs and spatial fields are integers (pixel DIGIs): the per-hit weights of the cluster sums are exact in
    float64 and go through one reused buffer (a fresh 8 MB temporary per sum costs more than the sum), and the
    ADC error sums are integer sums, equal to the float sums of parts() (exact below 2^53)."""
    a_ref = np.asarray(ref["adc"], np.int64)
    a_dec = np.asarray(dec_adc, np.int64)
    n = len(a_ref)
    cluster = np.asarray(cluster, np.int64)
    ncl = int(cluster.max()) + 1 if n else 0
    weights = np.empty(n, np.float64)

    def cluster_sum(adc, field=None):
        """Per-cluster sum of adc (times field): the same float64 weights as adc * field in float64."""
        if field is None:
            np.copyto(weights, adc)
        else:
            np.multiply(adc, field, out=weights)
        return np.bincount(cluster, weights, minlength=ncl)

    q_r, q_d = cluster_sum(a_ref), cluster_sum(a_dec)
    q_r_or_1, q_d_or_1 = np.where(q_r > 0, q_r, 1.0), np.where(q_d > 0, q_d, 1.0)
    d = [cluster_sum(a_dec, ref[s]) / q_d_or_1 - cluster_sum(a_ref, ref[s]) / q_r_or_1 for s in spatial]
    err = np.subtract(a_dec, a_ref, out=weights.view(np.int64))  # in the weights' memory: no fresh 8 MB
    sq_err = float(np.dot(err, err))
    abs_err = np.abs(err, out=err)
    max_abs_err = int(abs_err.max(initial=0))
    return {"n_ref": n, "n_dec": n, "n_found": n, "sq_union": sq_err, "n_union": n,
            "sq_ref": sq_err, "abs_err": float(abs_err.sum()),
            "max_abs_err": max_abs_err, "max_abs_err_ref": max_abs_err,
            "n_rcl": ncl, "n_seeds": ncl,
            "rel": (q_d - q_r) / q_r_or_1, "d0": d[0], "d1": d[1], "pitch": tuple(pitch),
            "spatial": tuple(spatial)}


def merge(items: list[dict]) -> dict:
    """Several parts() as one (sums added, residual arrays concatenated)."""
    if not items:
        raise ValueError("no parts to merge")
    out = {k: sum(p[k] for p in items) for k in PART_SUMS}
    for k in ("max_abs_err", "max_abs_err_ref"):
        out[k] = max(p[k] for p in items)
    for k in ("rel", "d0", "d1"):
        out[k] = np.concatenate([p[k] for p in items])
    out["pitch"], out["spatial"] = items[0]["pitch"], items[0]["spatial"]
    return out


def summarise(p: dict, adc_max: float | None = None) -> dict:
    """The figures (module docstring) from parts() or merge()."""
    nan = float("nan")
    s0, s1 = p["spatial"]
    rel, d0, d1 = p["rel"], p["d0"], p["d1"]
    mse = p["sq_union"] / max(p["n_union"], 1)
    out = {"hits_in": int(p["n_ref"]), "hits_out": int(p["n_dec"]),
           "recall": p["n_found"] / max(p["n_ref"], 1),
           "precision": p["n_found"] / p["n_dec"] if p["n_dec"] else 1.0,
           "adc_mae": p["abs_err"] / p["n_found"] if p["n_found"] else nan,
           "adc_max_abs_error": int(p["max_abs_err"]),
           "adc_mse": float(mse), "adc_rmse": float(np.sqrt(mse)),
           "adc_mse_ref": p["sq_ref"] / max(p["n_ref"], 1), "adc_max_abs_error_ref": int(p["max_abs_err_ref"]),
           "clusters": int(p["n_rcl"]), "cluster_efficiency": p["n_seeds"] / max(p["n_rcl"], 1)}
    if adc_max is not None:
        out["psnr_db"] = float("inf") if mse == 0 else float(10 * np.log10(adc_max * adc_max / mse))
    has = len(rel) > 0
    p0, p1 = p["pitch"]

    def rms(x):
        return float(np.sqrt(np.mean(x))) if has else nan

    out.update({
        "charge_rms_rel": rms(rel ** 2), "charge_bias_rel": float(np.mean(rel)) if has else nan,
        f"centroid_rms_{s0}": rms((d0 * p0) ** 2), f"centroid_rms_{s1}": rms((d1 * p1) ** 2),
        "centroid_rms": rms((d0 * p0) ** 2 + (d1 * p1) ** 2),
        f"centroid_rms_{s0}_grid": rms(d0 ** 2), f"centroid_rms_{s1}_grid": rms(d1 ** 2),
        "centroid_rms_grid": rms(d0 ** 2 + d1 ** 2),
    })
    return out


def compare(ref: dict, dec: dict, group, spatial, pitch=(1.0, 1.0), adc_max=None, ref_clusters=None):
    """(figures, residual arrays {charge_rel, d<s0>, d<s1>} in pitch units) of decoded hits against the input."""
    p = parts(ref, dec, group, spatial, pitch, ref_clusters)
    return summarise(p, adc_max), residuals(p)


def residuals(p: dict) -> dict:
    s0, s1 = p["spatial"]
    return {"charge_rel": p["rel"], f"d{s0}": p["d0"] * p["pitch"][0], f"d{s1}": p["d1"] * p["pitch"][1]}
