"""How many bits per hit must any codec spend on PU-200 pixel DIGIs that keeps positions exact?

An estimate for one model family (not a theorem), stream by stream, measured on the benchmark's test events
(bench_out/pixel/test.root, written by ``python benchmarks/bench_pixel.py data``; falls back to
data/pixel_pu200_sample.root):

* cluster positions: each module's cluster anchors (first pixel of each 8-connected cluster) are a set of n
  distinct pixels among N = rows x cols: log2 C(N, n) bits -- the exact cost of the set when clusters are
  placed independently and uniformly, which is what pile-up does to first approximation;
* which modules are hit and how many clusters each holds: log2 C(n_modules, n_hit) per event + the cost of
  the cluster count given the layer;
* cluster shapes: the pixel SET relative to the cluster corner (exact set hash), given the module's layer
  and ring along z (the context the shipped model uses);
* charge: the cluster charge quantised on a log scale with the step that gives 5 % RMS (the charge goal:
  step = 0.05 sqrt(12) in ln), given the cluster size;
* charge sharing inside the cluster (needed for the centroid goal, a 2-D RMS of 0.1 px, i.e. 0.1/sqrt(2) px
  per axis): the centroid relative to the cluster's corner quantised with step 0.1/sqrt(2) sqrt(12) px per
  axis, given the shape.
The fitted streams (counts, shapes, charge, centroid) are costed two ways: plug-in on the same data (optimistic:
rare shapes look free) and HELD-OUT, the cross-entropy of tables fitted on the other half of the events
(two-fold over events, Krichevsky-Trofimov smoothing), which is what a codec shipping fitted tables would pay.
The held-out total is the headline. It assumes an ideal entropy coder, independent clusters and no per-file
model cost: an estimate for this model family, not a theorem. The ROOT ZSTD-5 size of the same events is
measured in the same run, so the ratios are self-consistent.

The recall >= 0.99 goal lets a codec drop 1 % of the hits: the estimate also gives the largest saving that
allows, by dropping the clusters with the highest cost per hit first (isolated pixels, which pay a whole
anchor for one hit).

    python benchmarks/pixel_info_bound.py [--events 200] [--input bench_out/pixel/test.root] [--update-docs]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def plugin_entropy_bits(context: np.ndarray, symbol: np.ndarray) -> np.ndarray:
    """Per item, -log2 p(symbol | context) with the empirical (plug-in) conditional distribution."""
    _, ci = np.unique(context, return_inverse=True)
    _, si = np.unique(symbol, return_inverse=True)
    joint = ci.astype(np.int64) * (si.max() + 1) + si
    _, ji, jc = np.unique(joint, return_inverse=True, return_counts=True)
    _, cc = np.unique(ci, return_counts=True)
    return -np.log2(jc[ji] / cc[ci])


def heldout_bits(context: np.ndarray, symbol: np.ndarray, fold: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Per item, -log2 q(symbol | context) with q fitted on the OTHER fold (two-fold cross-fitting).

    q(s|c) = (n(c, s) + alpha q0(s)) / (n(c) + alpha), q0(s) = (n(s) + 1/2) / (N + K/2): a Krichevsky-Trofimov
    marginal over the K symbols seen in either fold, so a symbol never seen in training still costs a finite,
    honest amount (the plug-in estimate on the same data makes rare symbols look free)."""
    _, ci = np.unique(context, return_inverse=True)
    _, si = np.unique(symbol, return_inverse=True)
    n_ctx, n_sym = int(ci.max()) + 1 if len(ci) else 0, int(si.max()) + 1 if len(si) else 0
    bits = np.empty(len(ci))
    for f in np.unique(fold):
        train, test = fold != f, fold == f
        ns = np.bincount(si[train], minlength=n_sym).astype(np.float64)
        q0 = (ns + 0.5) / (ns.sum() + 0.5 * n_sym)
        nc = np.bincount(ci[train], minlength=n_ctx).astype(np.float64)
        keys = ci.astype(np.int64) * n_sym + si
        uk, kc = np.unique(keys[train], return_counts=True)
        tk = keys[test]
        pos = np.clip(np.searchsorted(uk, tk), 0, max(len(uk) - 1, 0))
        ncs = np.where((len(uk) > 0) & (uk[pos] == tk), kc[pos], 0) if len(uk) else np.zeros(len(tk))
        q = (ncs + alpha * q0[si[test]]) / (nc[ci[test]] + alpha)
        bits[test] = -np.log2(q)
    return bits


def shape_hashes(lab: np.ndarray, rel_r: np.ndarray, rel_c: np.ndarray, n_cl: int, rows: int, cols: int) -> np.ndarray:
    """One 64-bit hash per cluster of its pixel SET relative to the cluster corner.

    Each (row, col) offset gets its own random 64-bit word and a cluster's hash is their sum mod 2^64, so two
    different sets collide only by chance (~2^-64). (The first version summed a row word and a column word
    per pixel: the diagonals {(0,0),(1,1)} and {(0,1),(1,0)} hashed equal.)"""
    table = np.random.default_rng(7).integers(1, 2**63, size=rows * cols, dtype=np.int64).astype(np.uint64)
    pix = table[rel_r.astype(np.int64) * cols + rel_c.astype(np.int64)]
    out = np.zeros(n_cl, np.uint64)
    np.add.at(out, lab, pix)                     # uint64 addition wraps: a sum mod 2^64
    return out


def log2_binom(n, k) -> np.ndarray:
    n, k = np.asarray(n, np.float64), np.asarray(k, np.float64)
    lg = np.vectorize(math.lgamma)
    return (lg(n + 1) - lg(k + 1) - lg(n - k + 1)) / math.log(2)


def root_zstd5_bits(hits, n_hits: int) -> float:
    """Bits per hit of the same DIGIs written by uproot with ZSTD-5 (the peer the ratios are quoted against),
    measured in this run on exactly the events the estimate uses."""
    import tempfile

    import uproot
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "digis.root"
        with uproot.recreate(out, compression=uproot.ZSTD(5)) as f:
            f["Events"] = {"PixelDigi": hits}
        return out.stat().st_size * 8 / n_hits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(ROOT / "bench_out" / "pixel" / "test.root"),
                    help="DIGI file (falls back to data/pixel_pu200_sample.root when missing)")
    ap.add_argument("--events", type=int, default=200, help="events to use (at most)")
    ap.add_argument("--update-docs", action="store_true",
                    help="write docs/img/pixel_info_bound.json instead of bench_out/pixel_info_bound.json")
    ap.add_argument("--out", default=None, help="write the JSON here instead (overrides --update-docs)")
    args = ap.parse_args(argv)
    import awkward as ak
    import uproot

    from hepvq.pixel import patches as P
    from hepvq.sim.geometry import all_detids, decode_detid

    path = Path(args.input)
    if not path.is_file():
        path = ROOT / "data" / "pixel_pu200_sample.root"
    t = uproot.open(path)["Events"]
    arr = t.arrays([f"PixelDigi_{f}" for f in ("detId", "row", "col", "adc")], entry_stop=args.events)
    hits = ak.zip({f: arr[f"PixelDigi_{f}"] for f in ("detId", "row", "col", "adc")})
    h = P.flatten(hits)
    n_ev, n_hits = len(hits), len(h)
    if n_ev < 2:
        sys.exit(f"pixel_info_bound: {path} has {n_ev} event(s); the held-out estimate needs at least 2")
    rows, cols = P.DEFAULT_MODULE_ROWS, P.DEFAULT_MODULE_COLS
    order, lab = P.cluster_labels(h, rows, cols)
    ev, det = h.event[order], h.det[order].astype(np.int64)
    r, c, adc = h.row[order].astype(np.int64), h.col[order].astype(np.int64), h.adc[order].astype(np.int64)
    n_cl = int(lab.max()) + 1
    first = np.full(n_cl, len(lab)); np.minimum.at(first, lab, np.arange(len(lab)))
    size = np.bincount(lab, minlength=n_cl)
    charge = np.bincount(lab, weights=adc, minlength=n_cl)
    cl_ev, cl_det = ev[first], det[first]
    fold = cl_ev % 2                                    # two-fold cross-fitting over events
    r0 = np.full(n_cl, 10**9); np.minimum.at(r0, lab, r)
    c0 = np.full(n_cl, 10**9); np.minimum.at(c0, lab, c)
    layer, _ladder, module = decode_detid(cl_det)
    layer, module = np.asarray(layer, np.int64), np.asarray(module, np.int64)
    # positions: per (event, module) set of anchors (exact combinatorial cost, nothing fitted)
    mod_key = cl_ev * (1 << 32) + cl_det
    um, mi, n_per_mod = np.unique(mod_key, return_inverse=True, return_counts=True)
    pos_bits_mod = log2_binom(rows * cols, n_per_mod)
    pos_bits_cluster = (pos_bits_mod / n_per_mod)[mi]       # spread evenly over the module's clusters
    n_modules = len(all_detids())
    mods_per_ev = np.bincount((um >> 32).astype(np.int64), minlength=n_ev)
    which_modules = float(log2_binom(n_modules, mods_per_ev).sum())
    mod_layer = np.asarray(decode_detid(um & 0xFFFFFFFF)[0], np.int64)
    mod_fold = (um >> 32).astype(np.int64) % 2
    # the fitted streams, each as (context, symbol, fold) so both estimators see the same symbols
    rel_r, rel_c = r - r0[lab], c - c0[lab]
    shape_hash = shape_hashes(lab, rel_r, rel_c, n_cl, rows, cols)
    ring = np.abs(module - 4.5).astype(np.int64)
    step = 0.05 * math.sqrt(12.0)                       # charge: 5 % RMS on a log scale
    qbin = np.floor(np.log(np.maximum(charge, 1.0)) / step).astype(np.int64)
    # centroid: the goal is a 2-D RMS of 0.1 px, i.e. 0.1/sqrt(2) px per axis
    cstep = 0.1 / math.sqrt(2.0) * math.sqrt(12.0)
    cr = np.bincount(lab, weights=adc * rel_r, minlength=n_cl) / charge
    cc = np.bincount(lab, weights=adc * rel_c, minlength=n_cl) / charge
    cent = np.floor(cr / cstep).astype(np.int64) * 100003 + np.floor(cc / cstep).astype(np.int64)
    streams = {"clusters per module (given layer)": (mod_layer, n_per_mod, mod_fold, None),
               "cluster shapes (given layer and ring)": (layer * 16 + ring, shape_hash, fold, "cluster"),
               "cluster charge at 5% RMS (given size)": (np.minimum(size, 32), qbin, fold, "cluster"),
               "centroid at 0.1 px 2-D RMS (given shape)": (shape_hash, cent, fold, "cluster")}
    root_bits = root_zstd5_bits(hits, n_hits)
    res = {"input": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path), "events": n_ev,
           "hits": n_hits, "clusters": n_cl, "hits_per_cluster": n_hits / n_cl,
           "distinct_shapes": int(len(np.unique(shape_hash))),
           "root_zstd5_bits_per_hit": root_bits, "goal_4x_bits_per_hit": root_bits / 4,
           "what_it_is": "an estimate for one model family (independent clusters; plug-in or held-out conditional "
                         "tables of the listed contexts; ideal entropy coder; no per-file model cost), not a theorem"}
    for name, estimator in (("held_out", "held-out two-fold cross-entropy"), ("plug_in", "plug-in on the same data")):
        per_cluster = pos_bits_cluster.copy()
        table = {"cluster positions (log2 C(N, n) per module)": float(pos_bits_cluster.sum()) / n_hits,
                 "which modules": which_modules / n_hits}
        fixed = which_modules
        for label, (ctx, sym, f, per) in streams.items():
            bits = heldout_bits(ctx, sym, f) if name == "held_out" else plugin_entropy_bits(ctx, sym)
            table[label] = float(bits.sum()) / n_hits
            if per == "cluster":
                per_cluster += bits
            else:
                fixed += float(bits.sum())
        total = float(per_cluster.sum()) + fixed
        # dropping up to 1 % of the hits (recall >= 0.99): the most expensive clusters per hit first
        o = np.argsort(-(per_cluster / size))
        dropped_hits = np.cumsum(size[o])
        k = int(np.searchsorted(dropped_hits, 0.01 * n_hits, side="right"))
        saved = float(per_cluster[o[:k]].sum())
        res[name] = {"estimator": estimator, "bits_per_hit": table, "total_bits_per_hit": total / n_hits,
                     "max_ratio_exact_positions": root_bits / (total / n_hits),
                     "recall_0.99": {"clusters_dropped": k, "hits_dropped": int(dropped_hits[k - 1]) if k else 0,
                                     "single_pixel_fraction_of_dropped":
                                         float(np.mean(size[o[:k]] == 1)) if k else 0.0,
                                     "total_bits_per_hit": (total - saved) / n_hits,
                                     "max_ratio": root_bits / ((total - saved) / n_hits)}}
    res["command"] = "python benchmarks/pixel_info_bound.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = Path(args.out) if args.out else ROOT / ("docs/img" if args.update_docs else "bench_out") / "pixel_info_bound.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
