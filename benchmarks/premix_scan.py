"""Operating-point scan of the premixing validation (docs/validation.md): one table row per compressed copy.

    python benchmarks/premix_scan.py bench_out/premix        # after the commands of docs/validation.md

For every ``val_mu_<tag>/summary.json`` in the directory: bits per hit (compressed file size x 8 / hits of the
original, so the decoder in the file's metadata is included; and the encoder's zstd-1 estimate of the index
streams from ``compress_<tag>.log``), the verdict and the decoded - original differences of the criteria
(all layers; the signal-charge ones are "n/a" in summaries written before they existed). Writes ``premix_scan.json`` and ``validation_scan.png`` into the directory.
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


def _bits_estimate(log):
    if not os.path.isfile(log):
        return None
    m = re.search(r"bits per hit \(zstd-1 estimate\) ([0-9.]+)", open(log).read())
    return float(m.group(1)) if m else None


def scan(d):
    import uproot

    hits = None
    rows = []
    for name in sorted(os.listdir(d)):
        sj = os.path.join(d, name, "summary.json")
        if not (name.startswith("val_mu_") and os.path.isfile(sj)):
            continue
        tag = name[len("val_mu_"):]
        s = json.load(open(sj))
        if hits is None:
            with uproot.open(s["config"]["pileup"]) as f:
                hits = int(f["Events"]["nPixelDigi"].array(library="np").sum())
        comp = s["config"]["compressed"]
        crit = {(c["figure"], c["layers"]): c for c in s["criteria"]}
        row = {"tag": tag, "bits_per_hit_file": 8.0 * os.path.getsize(comp) / hits,
               "bits_per_hit_streams": _bits_estimate(os.path.join(d, f"compress_{tag}.log")),
               "verdict": s["verdict"], "events": s["events"],
               "worst": sorted(({"figure": k[0], "layers": k[1], "difference": c["difference"], "err": c["err"],
                                 "tolerance": c["tolerance"], "verdict": c["verdict"]} for k, c in crit.items()),
                               key=lambda c: -(abs(c["difference"]) + 2 * (c["err"] or 0)) / c["tolerance"])[:3]}
        for fig in ("efficiency", "merged_fraction", "res_core_rphi_um", "res_core_z_um") + CHARGE:
            c = crit.get((fig, "all"))      # charge criteria: summaries made before they existed lack them
            row[fig] = ({"difference": c["difference"], "err": c["err"], "verdict": c["verdict"]} if c else None)
        pd = s["pileup"]["distances"]
        row["pileup_charge_wasserstein_e"] = pd["cluster_charge_e"]["all"]["wasserstein"]["value"]
        row["pileup_adc_ks"] = pd["pixel_adc"]["all"]["ks"]["value"]
        rows.append(row)
    return rows


def main(argv=None):
    d = (argv or sys.argv[1:] or ["bench_out/premix"])[0]
    rows = scan(d)
    json.dump(rows, open(os.path.join(d, "premix_scan.json"), "w"), indent=1)
    print("| setting | bits/hit (file) | bits/hit (streams) | verdict | d eff (all) | d merged (all) | "
          "d core r-phi | d core z | d mean charge | charge W1 / mean | merged-cluster charge RMS | "
          "pile-up cluster charge W1 (e) | pile-up ADC KS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["bits_per_hit_file"]):
        f = [_cell(r[k]) for k in ("efficiency", "merged_fraction", "res_core_rphi_um", "res_core_z_um") + CHARGE]
        est = f"{r['bits_per_hit_streams']:.2f}" if r["bits_per_hit_streams"] else "n/a"
        print(f"| {r['tag']} | {r['bits_per_hit_file']:.2f} | {est} | {r['verdict']} | " + " | ".join(f)
              + f" | {r['pileup_charge_wasserstein_e']:.0f} | {r['pileup_adc_ks']:.4f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["bits_per_hit_file"])
    fig, ax = plt.subplots(figsize=(7, 4))
    for fig_name, label in (("res_core_rphi_um", "core width r-phi (rel.)"), ("res_core_z_um", "core width z (rel.)")):
        x = [r["bits_per_hit_file"] for r in rows]
        y = [100 * r[fig_name]["difference"] for r in rows]
        e = [200 * (r[fig_name]["err"] or 0) for r in rows]
        ax.errorbar(x, y, yerr=e, fmt="o-", label=label, capsize=3)
    for r in rows:
        ax.annotate(r["tag"], (r["bits_per_hit_file"], 0), textcoords="offset points", xytext=(0, 8), fontsize=7)
    ax.axhline(2.0, color="r", ls="--", lw=0.8, label="tolerance +-2 %")
    ax.axhline(-2.0, color="r", ls="--", lw=0.8)
    ax.axhline(0.0, color="0.5", lw=0.5)
    ax.set_xlabel("bits per hit (compressed file)")
    ax.set_ylabel("decoded - original, % (+-2 sigma)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "validation_scan.png"), dpi=90)
    return 0


if __name__ == "__main__":
    sys.exit(main())
