"""Operating-point scan of the premixing validation (docs/validation.md): one table row per compressed copy.

    python benchmarks/premix_scan.py bench_out/premix_scan2        # after the commands of docs/validation.md

For every ``val_mu_<tag>/summary.json`` in the directory (a symbolic link to another study's is fine): the
events validated, bits per hit over those events' hits (the whole compressed file x 8, so the decoder in its
metadata is included; the Events tree alone; and the encoder's own stream figure from ``compress_<tag>.log``:
the zstd-1 estimate in format 1, the rANS streams in format 2), the verdict and the decoded - original
differences of the criteria (all layers; the signal-charge ones are "n/a" in summaries written before they
existed), and the criterion nearest its tolerance.  Writes ``premix_scan.json`` and ``validation_scan.png``
(every criterion's |difference| + 2 sigma over its tolerance against bits per hit: below 1 passes) into the
directory.
"""
from __future__ import annotations

import json
import os
import re
import sys

import numpy as np


CHARGE = ("charge_mean_rel", "charge_w1_rel", "merged_charge_rms_rel")


def _cell(d):
    return "n/a" if d is None else f"{100 * d['difference']:+.3f} ± {100 * (d['err'] or 0):.3f} %"


# what each tag of the scan is (docs/validation.md); an unknown tag is shown as it is
LABELS = {
    "default": "format 1, shipped model (`pixelVQ.format=1`)", "default50": "format 1, shipped model (`pixelVQ.format=1`)",
    "f2fine": "format 2, operatingPoint=fine", "f2default": "format 2, operatingPoint=default (**the main job's default**)",
    "f2coarse": "format 2, operatingPoint=coarse",
    "f2fine14": "format 2, fine of 9010e93 (0.10 / mu 0.0025 / lambda 0.1 / top 64; replaced)",
    "f2fc": "format 2, operatingPoint=fine since c26d47f (0.10 / mu 0.0025 / lambda 0.1 / top 32)",
    "f2t2": "format 2, scan point t2 (0.16 / mu 0.0135 / lambda 0.1 / top 64; not shipped)",
    "f2fa": "format 2, scan point fa (0.10 / mu 0.003 / lambda 0.3 / top 64; not shipped)",
    "f2fb": "format 2, scan point fb (0.10 / mu 0.0025 / lambda 0.2 / top 64; not shipped)",
    "f2t2b": "format 2, scan point t2b (0.16 / mu 0.015 / lambda 0.3 / top 16; proposed, not shipped)",
    "b-1": "format 1, shipped model (first study)", "b0": "format 1, adcErrorBound=0 (lossless)",
    "lossypos": "format 1, losslessPositions=False",
    "b8": "format 1, adcErrorBound=8", "b4": "format 1, adcErrorBound=4", "b2": "format 1, adcErrorBound=2",
    "top1": "format 1, shipped codebook and rank tables, centroid-aware choice off (top-1)",
    "top1r": "format 1, retrained, centroid-aware choice off (--centroid-topk 1)",
    "cs0.3": "format 1, retrained, charge step 0.3", "cs0.6": "format 1, retrained, charge step 0.6",
    "cb128": "format 1, retrained, 128 codes", "cb512": "format 1, retrained, 512 codes",
    "rvq256x16": "format 1, retrained, residual VQ 256 + 16 codes (2 stages)",
}
CRITERIA = ("efficiency", "merged_fraction", "res_core_rphi_um", "res_core_z_um") + CHARGE


def _bits_estimate(log):
    """The encoder's own bits per hit: zstd-1 estimate of the index branches (format 1), rANS streams (format 2)."""
    if not os.path.isfile(log):
        return None
    m = re.search(r"bits per hit \((?:zstd-1 estimate|rANS streams)\) ([0-9.]+)", open(log).read())
    return float(m.group(1)) if m else None


def _hits(pileup, events, cache={}):
    """Hits of the first ``events`` entries of the pile-up file (what the validated compressed copy holds)."""
    import uproot

    if pileup not in cache:
        with uproot.open(pileup) as f:
            cache[pileup] = np.cumsum(f["Events"]["nPixelDigi"].array(library="np").astype(np.int64))
    return int(cache[pileup][events - 1])


def _tree_bytes(path):
    import uproot

    with uproot.open(path) as f:
        t = f["Events"]
        return sum(int(t[k].compressed_bytes) for k in t.keys(recursive=False))


def scan(d):
    rows = []
    for name in sorted(os.listdir(d)):
        sj = os.path.join(d, name, "summary.json")
        if not (name.startswith("val_mu_") and os.path.isfile(sj)):
            continue
        tag = name[len("val_mu_"):]
        s = json.load(open(sj))
        hits = _hits(s["config"]["pileup"], s["events"])
        comp = s["config"]["compressed"]
        crit = {(c["figure"], c["layers"]): c for c in s["criteria"]}
        row = {"tag": tag, "setting": LABELS.get(tag, tag), "events": s["events"], "hits": hits,
               "bits_per_hit_file": 8.0 * os.path.getsize(comp) / hits,
               "bits_per_hit_tree": 8.0 * _tree_bytes(comp) / hits,
               "bits_per_hit_streams": _bits_estimate(os.path.join(d, f"compress_{tag}.log")),
               "verdict": s["verdict"],
               "worst": sorted(({"figure": k[0], "layers": k[1], "difference": c["difference"], "err": c["err"],
                                 "tolerance": c["tolerance"], "verdict": c["verdict"]} for k, c in crit.items()),
                               key=lambda c: -(abs(c["difference"]) + 2 * (c["err"] or 0)) / c["tolerance"])[:3]}
        for fig in CRITERIA:
            c = crit.get((fig, "all"))      # charge criteria: summaries made before they existed lack them
            row[fig] = ({"difference": c["difference"], "err": c["err"], "verdict": c["verdict"],
                         "tolerance": c["tolerance"]} if c else None)
        pd = s["pileup"]["distances"]
        row["pileup_charge_wasserstein_e"] = pd["cluster_charge_e"]["all"]["wasserstein"]["value"]
        row["pileup_adc_ks"] = pd["pixel_adc"]["all"]["ks"]["value"]
        rows.append(row)
    return rows


def _used(c):
    """|difference| + 2 sigma over the tolerance: below 1 passes, above 1 with |difference| - 2 sigma too fails."""
    return (abs(c["difference"]) + 2 * (c["err"] or 0)) / c["tolerance"]


def main(argv=None):
    d = (argv or sys.argv[1:] or ["bench_out/premix_scan2"])[0]
    rows = scan(d)
    json.dump(rows, open(os.path.join(d, "premix_scan.json"), "w"), indent=1)
    print("| setting | events | bits/hit (file) | bits/hit (Events tree) | bits/hit (encoder) | verdict | d eff (all) | "
          "d merged (all) | d core r-phi | d core z | d mean charge | charge W1 / mean | merged-cluster charge RMS | "
          "nearest its tolerance |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["bits_per_hit_tree"]):
        f = [_cell(r[k]) for k in CRITERIA]
        est = f"{r['bits_per_hit_streams']:.2f}" if r["bits_per_hit_streams"] else "n/a"
        w = r["worst"][0]
        print(f"| {r['setting']} | {r['events']} | {r['bits_per_hit_file']:.2f} | {r['bits_per_hit_tree']:.2f} | {est} | "
              f"{r['verdict']} | " + " | ".join(f) + f" | {w['figure']} ({w['layers']}): {_used(w):.2f} of it |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["bits_per_hit_tree"])
    fig, ax = plt.subplots(figsize=(10.5, 4.8))
    names = {"efficiency": "efficiency", "merged_fraction": "merged fraction", "res_core_rphi_um": "core width r-phi",
             "res_core_z_um": "core width z", "charge_mean_rel": "mean signal charge",
             "charge_w1_rel": "signal charge W1", "merged_charge_rms_rel": "merged-cluster charge RMS"}
    floor = 1e-3   # a difference of exactly 0 +- 0 (identical clusters) is drawn here
    for i, fig_name in enumerate(CRITERIA):
        pts = [(x + 0.08 * (i - 3), _used(r[fig_name])) for x, r in enumerate(rows) if r[fig_name]]
        ax.plot([p[0] for p in pts], [max(p[1], floor) for p in pts], ls="none", ms=5, alpha=0.85,
                label=names[fig_name], marker="osD^v<>"[i])
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['tag']}\n{r['bits_per_hit_tree']:.2f} b/hit\n{r['events']} ev" for r in rows], fontsize=6.5)
    ax.axhline(1.0, color="r", ls="--", lw=0.8, label="tolerance")
    ax.set_yscale("log")
    ax.set_ylim(floor / 1.3, 5)
    ax.set_xlabel("setting (cheapest first; bits per hit of the compressed file's Events tree, events validated)")
    ax.set_ylabel("(|decoded - original| + 2 sigma) / tolerance")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(os.path.join(d, "validation_scan.png"), dpi=90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
