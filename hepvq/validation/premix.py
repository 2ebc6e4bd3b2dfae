"""The premixing study: the same signal events reconstructed with no pile-up, the original pile-up and the
decoded pile-up; figures with paired bootstrap-over-events uncertainties and pass/fail criteria.

    summary, data = run_study("pu.root", "pu_vq.root", n_events=200, gun={"gun": "mu", "gun_ntracks": 10})

Signal event i (particle gun, hepvq.sim.gun, event number i + 1) is mixed with pile-up entry i of both files
(hepvq.validation.mixing), clustered and matched to its truth (hepvq.validation.reco). The criteria compare
decoded with original pile-up (docs/validation.md): |change of signal hit efficiency| < 0.1 % absolute,
|relative change of the position resolution (robust core width)| < 2 % in r-phi and in z, |change of the
merged-cluster fraction| < 0.2 % absolute; each per layer and for all layers together; and, for all layers
together, the signal cluster charge: |relative change of the mean| < 0.5 %, Wasserstein-1 distance between the
charge distributions < 0.5 % of the mean, RMS of the per-cluster relative charge change of the signal clusters
that pile-up merges into < 3 % (the pixel_vq fidelity goal for the pile-up's own clusters). A criterion *passes*
when |difference| + 2 sigma < tolerance (shown to be inside), *fails* when |difference| - 2 sigma > tolerance
(shown to be outside), and is *inconclusive* otherwise (more events needed).
"""
from __future__ import annotations

import numpy as np

from hepvq.errors import InputError
from hepvq.metrics import stats as S
from hepvq.validation.mixing import Hits, geometry_threshold_adc, mix
from hepvq.validation.reco import SignalRef, pileup_clusters, restrict_to_modules

CASES = ("none", "original", "decoded")
DIFFS = (("original", "none"), ("decoded", "none"), ("decoded", "original"))
TOLERANCES = {"efficiency": 0.001, "res_core_rphi_um": 0.02, "res_core_z_um": 0.02, "merged_fraction": 0.002,
              # signal cluster charge (docs/validation.md, "Charge criterion"), judged for all layers together:
              # relative change of the mean, distance between the charge distributions over the mean, and the
              # RMS of the per-cluster relative charge change of the signal clusters pile-up merges into
              "charge_mean_rel": 0.005, "charge_w1_rel": 0.005, "merged_charge_rms_rel": 0.03}
ALL_LAYERS_ONLY = ("charge_mean_rel", "charge_w1_rel", "merged_charge_rms_rel")
RELATIVE = ("res_core_rphi_um", "res_core_z_um", "res_rms_rphi_um", "res_rms_z_um")
# charge figures that are already relative (fractions of the charge), computed for a pair of cases
CHARGE_FIGURES = ("charge_mean_rel", "charge_median_rel", "charge_w1_rel", "merged_charge_bias_rel",
                  "merged_charge_rms_rel")
SIGNAL_CHARGE_EDGES = np.append(np.arange(0.0, 400001.0, 500.0), np.inf)   # electrons
PU_VARIABLES = {   # name -> (column, bin edges); integer variables use unit bins centred on the integers
    "cluster_charge_e": ("charge", np.append(np.arange(0.0, 200001.0, 1000.0), np.inf)),
    "cluster_npix": ("npix", np.append(np.arange(0.5, 80.5, 1.0), np.inf)),
    "cluster_size_x": ("size_x", np.append(np.arange(0.5, 40.5, 1.0), np.inf)),
    "cluster_size_y": ("size_y", np.append(np.arange(0.5, 80.5, 1.0), np.inf)),
}
ADC_EDGES = np.arange(-0.5, 257.0, 1.0)
DIGI_BRANCHES = ("PixelDigi_detId", "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc")


def _layer_names(layers):
    return {int(v): (f"L{int(v)}" if v > 0 else "FPix") for v in np.unique(layers)}


def read_pileup(path, entry_start, entry_stop, tree="Events"):
    """Hits and event numbers of entries [start, stop) of a file in the input schema."""
    import awkward as ak
    import uproot

    try:
        t = uproot.open(path)[tree]
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"{path}: cannot read tree '{tree}': {err}") from None
    missing = [b for b in DIGI_BRANCHES if b not in t.keys()]
    if missing:
        raise InputError(f"{path}: tree '{tree}' has no branch {missing[0]} (needs {', '.join(DIGI_BRANCHES)})")
    names = list(DIGI_BRANCHES) + (["event"] if "event" in t.keys() else [])
    a = t.arrays(names, entry_start=entry_start, entry_stop=entry_stop)
    counts = ak.to_numpy(ak.num(a["PixelDigi_detId"]))
    ev = np.repeat(np.arange(counts.size), counts)
    h = Hits.from_arrays(ev, *(ak.to_numpy(ak.flatten(a[b])) for b in DIGI_BRANCHES))
    events = ak.to_numpy(a["event"]).astype(np.int64) if "event" in names else None
    return h, events


def read_decoded(reader, entry_start, entry_stop, path="?"):
    import awkward as ak

    a = reader.arrays(entry_start, entry_stop)
    if "PixelDigi" not in a.fields:
        raise InputError(f"{path}: hepvq.open gives no PixelDigi collection (decoded: {a.fields})")
    d = a["PixelDigi"]
    counts = ak.to_numpy(ak.num(d))
    ev = np.repeat(np.arange(counts.size), counts)
    flat = ak.flatten(d)
    h = Hits.from_arrays(ev, *(ak.to_numpy(flat[f]) for f in ("detId", "row", "col", "adc")))
    events = ak.to_numpy(a["event"]).astype(np.int64) if "event" in a.fields else None
    return h, events


def simulate_signal(start, n, seed, geometry, gun: dict):
    """Gun events with event numbers start+1 .. start+n: (Hits, truth columns)."""
    import awkward as ak

    from hepvq.sim import pixel

    ev, tr = pixel.simulate_events(n, pileup=0, seed=seed, geometry=geometry, first_event=start + 1,
                                   chunk=n, **gun)
    d = ev.PixelDigi
    counts = ak.to_numpy(ak.num(d))
    flat = ak.flatten(d)
    h = Hits.from_arrays(np.repeat(np.arange(counts.size), counts),
                         *(ak.to_numpy(flat[f]) for f in ("detId", "row", "col", "adc")))
    s = tr.SimHit
    tc = ak.to_numpy(ak.num(s))
    fs = ak.flatten(s)
    truth = {"ev": np.repeat(np.arange(tc.size), tc), "det": ak.to_numpy(fs.detId).astype(np.int64),
             "x": ak.to_numpy(fs.x), "y": ak.to_numpy(fs.y)}
    return h, truth


class Accumulator:
    """Per-crossing columns of the three cases and per-event histograms of the two pile-up versions."""

    def __init__(self, geo):
        self.geo = geo
        self.cross = {c: [] for c in CASES}
        self.pu_hist = {k: {v: [] for v in list(PU_VARIABLES) + ["adc", "occupancy"]} for k in ("original", "decoded")}
        self.pu_hits = {"original": 0, "decoded": 0}
        mods = geo.modules
        self.group = np.where(mods.layer >= 0, (mods.layer + 1) * 100 + mods.module + 1, 0)
        self.groups = np.unique(self.group)

    def add_crossings(self, case, cols, ev_offset):
        cols = dict(cols)
        cols["ev"] = cols["ev"] + ev_offset
        self.cross[case].append(cols)

    def add_pileup(self, which, h: Hits, gain, n_ev):
        mods = self.geo.modules
        c = pileup_clusters(h, gain, self.geo)
        layers = np.arange(0, 6)
        for name, (col, edges) in PU_VARIABLES.items():
            # (n_ev, layers 0..5, bins): layer 5 = all
            hist = np.zeros((n_ev, layers.size, len(edges) - 1))
            b = np.clip(np.searchsorted(edges, c[col], side="right") - 1, 0, len(edges) - 2)
            np.add.at(hist, (c["ev"], np.minimum(c["layer"], 4), b), 1.0)
            hist[:, 5] = hist[:, :5].sum(axis=1)
            self.pu_hist[which][name].append(hist)
        self.pu_hist[which]["adc"].append(S.histograms(h.ev, h.adc, ADC_EDGES, n_ev))
        gi = np.searchsorted(self.groups, self.group[mods.index_of(h.det.astype(np.uint32))]) if len(h) else \
            np.zeros(0, np.int64)
        occ = np.zeros((n_ev, self.groups.size))
        np.add.at(occ, (h.ev, gi), 1.0)
        self.pu_hist[which]["occupancy"].append(occ)
        self.pu_hits[which] += len(h)

    def columns(self, case):
        parts = self.cross[case]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def pileup(self, which, name):
        return np.concatenate(self.pu_hist[which][name], axis=0)


def _metric_replicas(W, cols, sel, n_ev):
    """Replicas (B,) of every signal figure for the crossings ``sel``."""
    ev = cols["ev"][sel]
    eff = cols["efficient"][sel]
    one = np.ones(ev.size)
    pe = S.per_event
    out = {"crossings": np.full(W.shape[0], float(ev.size)),
           "efficiency": S.ratio(W, pe(ev, eff, n_ev), pe(ev, one, n_ev)),
           "merged_fraction": S.ratio(W, pe(ev, cols["merged"][sel], n_ev), pe(ev, eff, n_ev))}
    e = eff.astype(bool)
    ev_e = ev[e]
    for name, col in (("rphi", "res_x"), ("z", "res_y")):
        r = cols[col][sel][e]
        out[f"res_rms_{name}_um"] = S.rms(W, ev_e, r, n_ev)
        out[f"res_core_{name}_um"] = S.core_width(W, ev_e, r)
    n_e = pe(ev_e, np.ones(ev_e.size), n_ev)
    for name, col in (("cluster_charge_mean_e", "charge"), ("cluster_npix_mean", "npix"),
                      ("cluster_size_x_mean", "size_x"), ("cluster_size_y_mean", "size_y")):
        out[name] = S.ratio(W, pe(ev_e, cols[col][sel][e], n_ev), n_e)
    return out


def _charge_replicas(W, a, b, sel, n_ev):
    """Replicas (B,) of the signal-cluster charge figures of case ``a`` against case ``b`` (same crossings):

    * charge_mean_rel, charge_median_rel: relative change of the mean / median charge of the efficient
      crossings' clusters, (a - b) / b;
    * charge_w1_rel: Wasserstein-1 distance between the two charge distributions over b's mean charge;
    * merged_charge_bias_rel, merged_charge_rms_rel: per crossing efficient in both cases whose cluster in
      ``b`` is merged (holds pixels not its own) while it is not without pile-up, the relative charge change
      (Q_a - Q_b) / Q_b: its mean and RMS (the clusters pile-up touches, where a charge error can act)."""
    pe = S.per_event
    out = {}
    ea, eb = a["efficient"][sel].astype(bool), b["efficient"][sel].astype(bool)
    ev = a["ev"][sel]
    qa, qb = a["charge"][sel], b["charge"][sel]
    ma = S.ratio(W, pe(ev[ea], qa[ea], n_ev), pe(ev[ea], np.ones(int(ea.sum())), n_ev))
    mb = S.ratio(W, pe(ev[eb], qb[eb], n_ev), pe(ev[eb], np.ones(int(eb.sum())), n_ev))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["charge_mean_rel"] = (ma - mb) / mb
        meda = S.weighted_quantiles(W, ev[ea], qa[ea], (0.5,))[:, 0]
        medb = S.weighted_quantiles(W, ev[eb], qb[eb], (0.5,))[:, 0]
        out["charge_median_rel"] = (meda - medb) / medb
        ha = S.histograms(ev[ea], qa[ea], SIGNAL_CHARGE_EDGES, n_ev)
        hb = S.histograms(ev[eb], qb[eb], SIGNAL_CHARGE_EDGES, n_ev)
        fin = SIGNAL_CHARGE_EDGES.copy()
        fin[-1] = fin[-2] + (fin[-2] - fin[-3])
        w1, _ = S.binned_distances(W, ha, hb, fin)
        out["charge_w1_rel"] = w1 / mb
        both = ea & eb & b["merged_pu"][sel]
        rel = np.where(both, (qa - qb) / np.where(both, qb, 1.0), 0.0)[both]
        n = pe(ev[both], np.ones(rel.size), n_ev)
        # no merged cluster in a replica: nothing pile-up's charge could change there (0, not undefined)
        out["merged_charge_bias_rel"] = np.nan_to_num(S.ratio(W, pe(ev[both], rel, n_ev), n))
        out["merged_charge_rms_rel"] = np.nan_to_num(np.sqrt(S.ratio(W, pe(ev[both], rel ** 2, n_ev), n)))
    out["merged_crossings"] = np.full(W.shape[0], float(both.sum()))
    return out


def verdict(value, err, tol):
    if not np.isfinite(value):
        return "inconclusive"
    e = err if np.isfinite(err) else np.inf
    if abs(value) + 2 * e < tol:
        return "pass"
    if abs(value) - 2 * e > tol:
        return "fail"
    return "inconclusive"


def summarise(acc: Accumulator, n_ev, n_boot=200, seed=12345) -> dict:
    W = S.bootstrap_weights(n_ev, n_boot, seed)
    cols = {c: acc.columns(c) for c in CASES}
    for c in CASES:     # merged by pile-up: merged in this case, not without pile-up
        cols[c]["merged_pu"] = cols[c]["merged"].astype(bool) & ~cols["none"]["merged"].astype(bool)
    names = _layer_names(cols["none"]["layer"])
    groups = {**{nm: cols["none"]["layer"] == v for v, nm in names.items()},
              "all": np.ones(cols["none"]["layer"].size, bool)}
    reps = {c: {g: _metric_replicas(W, cols[c], sel, n_ev) for g, sel in groups.items()} for c in CASES}
    out = {"events": n_ev, "bootstrap_replicas": n_boot,
           "cases": {c: {g: {k: S.summarise(v) for k, v in reps[c][g].items()} for g in groups} for c in CASES},
           "differences": {}, "criteria": []}
    for a, b in DIFFS:
        key = f"{a}-{b}"
        out["differences"][key] = {}
        for g in groups:
            d = {}
            for k in reps[a][g]:
                if k == "crossings":
                    continue
                ra, rb = reps[a][g][k], reps[b][g][k]
                with np.errstate(invalid="ignore", divide="ignore"):
                    d[k] = S.summarise((ra - rb) / rb if k in RELATIVE else ra - rb)
                d[k]["relative"] = k in RELATIVE
            for k, v in _charge_replicas(W, cols[a], cols[b], groups[g], n_ev).items():
                if k == "merged_crossings":     # a count, not a difference
                    out.setdefault("merged_crossings", {}).setdefault(key, {})[g] = int(v[0])
                    continue
                d[k] = S.summarise(v)
                d[k]["relative"] = k in CHARGE_FIGURES
            out["differences"][key][g] = d
    for g in groups:
        for k, tol in TOLERANCES.items():
            if k in ALL_LAYERS_ONLY and g != "all":
                continue
            d = out["differences"]["decoded-original"][g][k]
            out["criteria"].append({"figure": k, "layers": g, "difference": d["value"], "err": d["err"],
                                    "relative": k in RELATIVE or k in CHARGE_FIGURES, "tolerance": tol,
                                    "verdict": verdict(d["value"], d["err"], tol)})
    verdicts = {c["verdict"] for c in out["criteria"]}
    out["verdict"] = "fail" if "fail" in verdicts else ("inconclusive" if "inconclusive" in verdicts else "pass")
    out["pileup"] = _pileup_distances(acc, W)
    return out


def _pileup_distances(acc, W):
    out = {"hits": dict(acc.pu_hits), "distances": {}, "occupancy_ratio": {}}
    lay = {0: "FPix", 1: "L1", 2: "L2", 3: "L3", 4: "L4", 5: "all"}
    for name, (_, edges) in PU_VARIABLES.items():
        ho, hd = acc.pileup("original", name), acc.pileup("decoded", name)
        fin = edges.copy()
        fin[-1] = fin[-2] + (fin[-2] - fin[-3])
        out["distances"][name] = {}
        for li, ln in lay.items():
            if ho[:, li].sum() == 0 and hd[:, li].sum() == 0:
                continue
            w, ks = S.binned_distances(W, ho[:, li], hd[:, li], fin)
            mo, md = (W @ (ho[:, li] @ _centres(fin))) / (W @ ho[:, li].sum(1)), \
                (W @ (hd[:, li] @ _centres(fin))) / (W @ hd[:, li].sum(1))
            out["distances"][name][ln] = {"wasserstein": S.summarise(w), "ks": S.summarise(ks),
                                          "mean_original": float(mo[0]), "mean_decoded": float(md[0]),
                                          "mean_difference": S.summarise(md - mo)}
    ho, hd = acc.pileup("original", "adc"), acc.pileup("decoded", "adc")
    w, ks = S.binned_distances(W, ho, hd, ADC_EDGES)
    out["distances"]["pixel_adc"] = {"all": {"wasserstein": S.summarise(w), "ks": S.summarise(ks)}}
    oo, od = acc.pileup("original", "occupancy"), acc.pileup("decoded", "occupancy")
    for gi, g in enumerate(acc.groups):
        if oo[:, gi].sum() == 0 and od[:, gi].sum() == 0:
            continue
        nm = "FPix" if g == 0 else f"L{g // 100}_ring{g % 100}"
        with np.errstate(invalid="ignore", divide="ignore"):
            out["occupancy_ratio"][nm] = S.summarise(S.ratio(W, od[:, gi], oo[:, gi]))
    return out


def _centres(edges):
    return 0.5 * (edges[1:] + edges[:-1])


def run_study(pileup_path, compressed_path, n_events=None, gun=None, geometry="phase1", seed=1, chunk=10,
              n_boot=200, window_um=None, progress=None, tree="Events"):
    """Run the study on a pile-up file and its compressed copy; returns (summary dict, Accumulator)."""
    import uproot

    import hepvq

    try:
        n_orig = uproot.open(pileup_path)[tree].num_entries
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"{pileup_path}: cannot read tree '{tree}': {err}") from None
    reader = hepvq.open(compressed_path)
    n = min(n_orig, reader.num_entries) if n_events is None else int(n_events)
    if n > n_orig or n > reader.num_entries:
        raise InputError(f"--events {n}: {pileup_path} has {n_orig} entries and {compressed_path} "
                         f"{reader.num_entries}")

    def original(a, b):
        return read_pileup(pileup_path, a, b, tree)

    def decoded(a, b):
        return read_decoded(reader, a, b, compressed_path)

    summary, acc = study(original, decoded, n, gun, geometry, seed, chunk, n_boot, window_um, progress,
                         names=(str(pileup_path), str(compressed_path)))
    return summary, acc


def study(original, decoded, n, gun=None, geometry="phase1", seed=1, chunk=10, n_boot=200, window_um=None,
          progress=None, names=("original", "decoded")):
    """The study on two pile-up sources: callables (start, stop) -> (Hits, event numbers or None)."""
    from hepvq.sim.geometry import get_geometry
    from hepvq.validation.reco import WINDOW_UM

    gun = dict(gun or {"gun": "mu", "gun_ntracks": 10})
    geo = get_geometry(geometry)
    gain, adc_max = geo.electrons_per_adc, geo.adc_max
    thr = geometry_threshold_adc(geo)
    big = bool(gun.get("big_pixels", False))
    acc = Accumulator(geo)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        k = stop - start
        pu_o, evn_o = original(start, stop)
        pu_d, evn_d = decoded(start, stop)
        if evn_o is not None and evn_d is not None and not np.array_equal(evn_o, evn_d):
            i = int(np.nonzero(evn_o != evn_d)[0][0])
            raise InputError(f"{names[1]}: entry {start + i} is event {evn_d[i]}, but {names[0]} has "
                             f"event {evn_o[i]} there: not a compressed copy of the same events")
        for h, nm in ((pu_o, names[0]), (pu_d, names[1])):
            try:
                thr(h.det.astype(np.uint32))
            except ValueError as err:
                raise InputError(f"{nm}: {err} for the pixel geometry '{geo.name}' (see --geometry)") from None
        sig, truth = simulate_signal(start, k, seed, geometry, gun)
        ref = SignalRef(sig, truth, geo, gain, big)
        for case, pu in (("none", Hits.empty()), ("original", pu_o), ("decoded", pu_d)):
            mixed, _ = mix(sig, restrict_to_modules(pu, sig), gain, adc_max, thr)
            acc.add_crossings(case, ref.reconstruct(mixed, window_um or WINDOW_UM), start)
        acc.add_pileup("original", pu_o, gain, k)
        acc.add_pileup("decoded", pu_d, gain, k)
        if progress is not None:
            progress(k)
    summary = summarise(acc, n, n_boot)
    summary["config"] = {"pileup": names[0], "compressed": names[1], "geometry": geometry,
                         "gun": {k: (list(v) if isinstance(v, tuple) else v) for k, v in gun.items()},
                         "signal_seed": seed, "gain_e_per_adc": gain, "adc_max": adc_max,
                         "window_um": list(window_um or WINDOW_UM), "tolerances": TOLERANCES}
    return summary, acc
