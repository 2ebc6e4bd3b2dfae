"""Physics summaries of simulated samples (used by tests, benchmarks/plot_simulation.py and docs/simulation.md).

    s = pixel_summary(events, truth)          # numbers a physicist checks, see keys below
    t = tpc_summary(tpc_events)
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from hepvq.sim import clusters as cl
from hepvq.sim.geometry import detid_layer, get_geometry


def landau_mpv(values, lo=None, hi=None, bins=120):
    """Most probable value: peak of a histogram smoothed with a 5-bin running mean, refined by a parabola."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size < 20:
        return float("nan")
    lo = np.percentile(v, 1) if lo is None else lo
    hi = np.percentile(v, 90) if hi is None else hi
    h, e = np.histogram(v, bins=bins, range=(lo, hi))
    hs = np.convolve(h, np.ones(5) / 5, mode="same")
    i = int(np.clip(hs.argmax(), 1, bins - 2))
    y0, y1, y2 = hs[i - 1], hs[i], hs[i + 1]
    den = y0 - 2 * y1 + y2
    off = 0.5 * (y0 - y2) / den if den != 0 else 0.0
    c = 0.5 * (e[:-1] + e[1:])
    return float(c[i] + np.clip(off, -1, 1) * (c[1] - c[0]))


def flat_hits(events, collection="PixelDigi"):
    coll = events[collection]
    counts = ak.num(coll).to_numpy()
    ev = np.repeat(np.arange(counts.size), counts)
    flat = ak.flatten(coll)
    return ev, {f: ak.to_numpy(flat[f]) for f in flat.fields}


def pixel_clusters_with_truth(events, truth=None, geometry="phase1"):
    """Cluster table of all events (``cluster_events``) and, when truth is given, for each truth crossing
    the matched cluster id (-1 if none) plus the flat truth arrays."""
    geo = get_geometry(geometry)
    tab, cid = cl.cluster_events(events.PixelDigi, electrons_per_adc=geo.electrons_per_adc)
    if truth is None:
        return tab, cid, None, None
    ev, h = flat_hits(events)
    hk = cl.module_key(ev, h["detId"])
    tev, t = flat_hits(truth, "SimHit")
    # charge centroid of a track is displaced by the Lorentz drift of the mid-plane charge
    mods = geo.modules
    mi = mods.index_of(t["detId"])
    pitch_row_um = mods.pitch_row_cm[mi] * 1e4
    shift = np.where(mods.is_disk[mi], 0.0, geo.tan_lorentz * 0.5 * geo.thickness_um / pitch_row_um)
    match = cl.match_points(hk, h["row"], h["col"], cid, cl.module_key(tev, t["detId"]), t["x"] + shift, t["y"])
    t["event"] = tev
    return tab, cid, match, t


def pixel_summary(events, truth=None, geometry="phase1"):
    """Dict of pixel observables:

    hits_per_module[layer], clusters_per_module[layer], occupancy[layer] (fraction of pixels fired),
    hits_per_event, adc_mean, adc_saturated_fraction, cluster_charge_mpv_e (all clusters, ke as electrons),
    and with truth: matched_fraction, norm_charge_mpv_e / norm_charge_mean_e (clusters matched to exactly one
    crossing with pT > 1 GeV, charge x cos(incidence)), size_y_vs_eta / size_x_vs_eta (mean cluster length in
    columns / rows in |eta| bins of 0.5, same selection), expected_size_y (1 + T |sinh eta| / pitch_col),
    centroid_residual_row_um / _col_um (rms of charge centroid - truth position, |eta| < 1.5).
    """
    geo = get_geometry(geometry)
    mods = geo.modules
    n_ev = len(events)
    ev, h = flat_hits(events)
    lay = detid_layer(h["detId"])
    nmod = np.bincount(mods.layer + 1, minlength=geo.n_layers + 1)[1:]
    npix = np.array([L.rows * L.cols for L in geo.layers])
    hits_layer = np.bincount(lay, minlength=geo.n_layers + 1)[1:] / max(n_ev, 1)
    tab, cid, match, t = pixel_clusters_with_truth(events, truth, geo)
    clay = detid_layer(tab["detId"])
    cl_layer = np.bincount(clay, minlength=geo.n_layers + 1)[1:] / max(n_ev, 1)
    out = {
        "events": n_ev,
        "hits_per_event": float(h["adc"].size / max(n_ev, 1)),
        "hits_per_module": hits_layer / nmod,
        "clusters_per_module": cl_layer / nmod,
        "occupancy": hits_layer / nmod / npix,
        "adc_mean": float(h["adc"].mean()) if h["adc"].size else float("nan"),
        "adc_saturated_fraction": float(np.mean(h["adc"] >= geo.adc_max)) if h["adc"].size else 0.0,
        "cluster_charge_mpv_e": landau_mpv(tab["charge"], 0, 100000),
        "cluster_size_mean": float(tab["n_pix"].mean()) if tab["n_pix"].size else float("nan"),
    }
    if truth is not None:
        ok = match >= 0
        out["matched_fraction"] = float(ok.mean()) if ok.size else float("nan")
        m = match[ok]
        u, cnt = np.unique(m, return_counts=True)
        single = cnt[np.searchsorted(u, m)] == 1
        ca, cb = t["cotAlpha"][ok], t["cotBeta"][ok]
        eta, pt = t["eta"][ok], t["pt"][ok]
        sel = single & (pt > 1.0) & ~mods.is_disk[mods.index_of(t["detId"][ok])]
        qn = tab["charge"][m] / np.sqrt(1 + ca**2 + cb**2)
        out["norm_charge"] = qn[sel]
        out["norm_charge_mpv_e"] = landau_mpv(qn[sel], 0, 60000)
        out["norm_charge_mean_e"] = float(qn[sel].mean()) if sel.any() else float("nan")
        central = sel & (np.abs(eta) < 0.5)
        out["norm_charge_central"] = qn[central]
        out["norm_charge_mpv_central_e"] = landau_mpv(qn[central], 0, 60000)
        edges = np.arange(0, 3.01, 0.5)
        ae = np.abs(eta)
        b = np.digitize(ae, edges) - 1
        sy, sx = tab["size_y"][m], tab["size_x"][m]
        out["eta_edges"] = edges
        out["size_y_vs_eta"] = np.array([sy[sel & (b == i)].mean() if np.any(sel & (b == i)) else np.nan
                                         for i in range(edges.size - 1)])
        out["size_x_vs_eta"] = np.array([sx[sel & (b == i)].mean() if np.any(sel & (b == i)) else np.nan
                                         for i in range(edges.size - 1)])
        L0 = geo.layers[0]
        mid = 0.5 * (edges[:-1] + edges[1:])
        out["expected_size_y"] = 1 + geo.thickness_um * np.abs(np.sinh(mid)) / L0.pitch_col_um
        # cluster centroid vs truth position (+ Lorentz shift of the mid-plane charge): resolution-like check
        mi = mods.index_of(t["detId"][ok])
        prow = mods.pitch_row_cm[mi] * 1e4
        pcol = mods.pitch_col_cm[mi] * 1e4
        shift = np.where(mods.is_disk[mi], 0.0, geo.tan_lorentz * 0.5 * geo.thickness_um / prow)
        rsel = sel & (np.abs(eta) < 1.5) & ~mods.is_disk[mi]
        dx = (tab["row"][m] - (t["x"][ok] + shift)) * prow
        dy = (tab["col"][m] - t["y"][ok]) * pcol
        out["centroid_residual_row_um"] = float(np.std(dx[rsel])) if rsel.any() else float("nan")
        out["centroid_residual_col_um"] = float(np.std(dy[rsel])) if rsel.any() else float("nan")
        out["centroid_bias_row_um"] = float(np.mean(dx[rsel])) if rsel.any() else float("nan")
        out["looper_fraction"] = float(np.mean(t["looper"]))
        out["crossings_per_event"] = float(t["detId"].size / max(n_ev, 1))
    return out


def tpc_summary(events):
    """Dict of TPC observables: occupancy per event, per layer and per sector (mean over events), ADC
    statistics, and the zero-suppression check."""
    from hepvq.sim import tpc

    ev, h = flat_hits(events, "TpcHit")
    n_ev = len(events)
    occ_ev = np.bincount(ev, minlength=n_ev) / tpc.N_VOXELS
    per_layer = np.bincount(h["layer"], minlength=tpc.N_LAYERS) / (n_ev * tpc.N_SECTORS * tpc.N_PHI * tpc.N_Z)
    per_sector = np.bincount(h["sector"], minlength=tpc.N_SECTORS) / (n_ev * tpc.N_VOXELS_SECTOR)
    adc = h["adc"]
    return {
        "events": n_ev,
        "occupancy_per_event": occ_ev,
        "occupancy": float(occ_ev.mean()),
        "occupancy_per_layer": per_layer,
        "occupancy_per_sector": per_sector,
        "adc_min": int(adc.min()) if adc.size else None,
        "adc_max": int(adc.max()) if adc.size else None,
        "adc_median": float(np.median(adc)) if adc.size else float("nan"),
        "adc_saturated_fraction": float(np.mean(adc >= tpc.ADC_MAX)) if adc.size else 0.0,
        "hits_per_event": float(adc.size / max(n_ev, 1)),
    }
