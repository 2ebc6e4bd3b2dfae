"""summary.json, PNG plots and report.md of a premixing study (hepvq.validation.premix)."""
from __future__ import annotations

import json
import math
import os

import numpy as np

from hepvq.validation.premix import CASES, PU_VARIABLES

COLORS = {"none": "0.4", "original": "tab:blue", "decoded": "tab:orange"}


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _clean(o):
    """NaN/inf -> None so that the JSON is strict."""
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(summary, path):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(_clean(json.loads(json.dumps(summary, default=_json_default))), f, indent=1)
    os.replace(tmp, path)


def plots(summary, acc, out_dir, prefix="validation_"):
    """Write the PNG plots; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []

    def save(fig, name):
        p = os.path.join(out_dir, f"{prefix}{name}.png")
        fig.tight_layout()
        fig.savefig(p, dpi=90)
        plt.close(fig)
        files.append(os.path.basename(p))

    groups = [g for g in summary["cases"]["none"] if g != "all"] + ["all"]
    x = np.arange(len(groups))
    # 1. efficiency and merged fraction per layer, three cases
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, fig_name, label in ((axes[0], "efficiency", "signal hit efficiency"),
                                (axes[1], "merged_fraction", "merged-cluster fraction")):
        for i, c in enumerate(CASES):
            v = [summary["cases"][c][g][fig_name] for g in groups]
            ax.errorbar(x + (i - 1) * 0.15, [d["value"] for d in v], yerr=[d["err"] or 0 for d in v], fmt="o",
                        color=COLORS[c], label=f"{c} pile-up")
        ax.set_xticks(x, groups)
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    save(fig, "efficiency_merged")
    # 2. residuals, all layers
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, col, lim, label in ((axes[0], "res_x", 150, "r-phi residual (um)"), (axes[1], "res_y", 300, "z residual (um)")):
        for c in CASES:
            d = acc.columns(c)
            r = d[col][d["efficient"]]
            ax.hist(r, bins=np.linspace(-lim, lim, 121), histtype="step", color=COLORS[c], label=f"{c} pile-up")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.legend(fontsize=8)
    save(fig, "residuals")
    # 3. signal cluster charge and size
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, col, bins, label in ((axes[0], "charge", np.linspace(0, 150e3, 76), "signal cluster charge (e)"),
                                 (axes[1], "size_x", np.arange(0.5, 12.5), "signal cluster size x (rows)"),
                                 (axes[2], "size_y", np.arange(0.5, 30.5), "signal cluster size y (cols)")):
        for c in CASES:
            d = acc.columns(c)
            ax.hist(d[col][d["efficient"]], bins=bins, histtype="step", color=COLORS[c], label=f"{c} pile-up")
        ax.set_xlabel(label)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    save(fig, "signal_clusters")
    # 4. pile-up itself: original vs decoded distributions
    names = list(PU_VARIABLES) + ["adc"]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6))
    for ax, name in zip(axes, names):
        edges = PU_VARIABLES[name][1] if name in PU_VARIABLES else np.arange(-0.5, 257.0, 1.0)
        fin = edges[np.isfinite(edges)]
        for which, color in (("original", COLORS["original"]), ("decoded", COLORS["decoded"])):
            h = acc.pileup(which, name)
            h = h[:, 5].sum(0) if h.ndim == 3 else h.sum(0)
            ax.stairs(h[:fin.size - 1], fin, color=color, label=which)
        ax.set_yscale("log")
        ax.set_xlabel(f"pile-up {name}")
        ax.legend(fontsize=8)
    save(fig, "pileup_distributions")
    # 5. occupancy ratio decoded / original per layer and ring
    occ = summary["pileup"]["occupancy_ratio"]
    if occ:
        fig, ax = plt.subplots(figsize=(10, 3.4))
        k = list(occ)
        ax.errorbar(np.arange(len(k)), [occ[n]["value"] for n in k], yerr=[occ[n]["err"] or 0 for n in k], fmt="o")
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.set_xticks(np.arange(len(k)), k, rotation=90, fontsize=7)
        ax.set_ylabel("pixels decoded / original")
        save(fig, "occupancy_ratio")
    # 6. criteria: differences decoded - original with 2 sigma, against the tolerance
    crit = summary["criteria"]
    fig, ax = plt.subplots(figsize=(10, 4))
    ys = np.arange(len(crit))
    vals = [c["difference"] / c["tolerance"] for c in crit]
    errs = [2 * (c["err"] or 0) / c["tolerance"] for c in crit]
    col = [{"pass": "tab:green", "fail": "tab:red"}.get(c["verdict"], "tab:gray") for c in crit]
    ax.errorbar(vals, ys, xerr=errs, fmt="none", ecolor=col)
    ax.scatter(vals, ys, c=col, s=12, zorder=3)
    ax.axvline(-1, color="k", ls="--", lw=0.8)
    ax.axvline(1, color="k", ls="--", lw=0.8)
    ax.set_yticks(ys, [f"{c['figure']} {c['layers']}" for c in crit], fontsize=6)
    ax.set_xlabel("(decoded - original) / tolerance, +-2 sigma")
    save(fig, "criteria")
    return files


def _fmt(d, pct=False, rel=False):
    if d is None or d.get("value") is None or not np.isfinite(d["value"]):
        return "n/a"
    v, e = d["value"], d.get("err")
    e = e if e is not None and np.isfinite(e) else float("nan")
    if pct or rel:
        return f"{100 * v:+.3f} ± {100 * e:.3f} %" if rel or pct else ""
    return f"{v:.4g} ± {e:.2g}"


def markdown(summary, files) -> str:
    cfg = summary["config"]
    lines = [f"# Premixing validation: {os.path.basename(cfg['compressed'])} vs {os.path.basename(cfg['pileup'])}",
             "",
             f"{summary['events']} events, signal gun {cfg['gun']}, geometry {cfg['geometry']}, "
             f"{summary['bootstrap_replicas']} bootstrap replicas over events. **Verdict: {summary['verdict']}** "
             "(pass: |difference| + 2 sigma < tolerance for every criterion; fail: |difference| - 2 sigma > "
             "tolerance for one; inconclusive otherwise).", "",
             "| figure | layers | decoded - original | tolerance | verdict |", "|---|---|---|---|---|"]
    for c in summary["criteria"]:
        diff = {"value": c["difference"], "err": c["err"]}
        tol = f"{100 * c['tolerance']:.1f} %" + (" rel" if c["relative"] else " abs")
        lines.append(f"| {c['figure']} | {c['layers']} | {_fmt(diff, pct=True)} | {tol} | {c['verdict']} |")
    lines += ["", "Signal figures per case (all layers):", "",
              "| figure | no pile-up | original | decoded |", "|---|---|---|---|"]
    for k in summary["cases"]["none"]["all"]:
        lines.append(f"| {k} | " + " | ".join(_fmt(summary["cases"][c]["all"][k]) for c in CASES) + " |")
    lines += ["", "Signal cluster charge (all layers; relative figures, docs/validation.md \"Charge criterion\"):", "",
              "| figure | original - none | decoded - original |", "|---|---|---|"]
    for k in ("charge_mean_rel", "charge_median_rel", "charge_w1_rel", "merged_charge_bias_rel",
              "merged_charge_rms_rel"):
        lines.append(f"| {k} | " + " | ".join(_fmt(summary["differences"][p]["all"].get(k), rel=True)
                                             for p in ("original-none", "decoded-original")) + " |")
    m = summary.get("merged_crossings", {}).get("decoded-original", {}).get("all")
    if m is not None:
        lines.append(f"\nmerged_*: the {m} crossings efficient with both pile-up versions whose "
                     "cluster pile-up merges into (merged with the original pile-up, not without pile-up).")
    lines += ["", "Pile-up alone, decoded vs original (all layers): Wasserstein-1 and KS statistic", "",
              "| variable | Wasserstein | KS | mean original | mean decoded |", "|---|---|---|---|---|"]
    for name, per in summary["pileup"]["distances"].items():
        d = per.get("all")
        if d:
            lines.append(f"| {name} | {_fmt(d['wasserstein'])} | {_fmt(d['ks'])} | "
                         f"{d.get('mean_original', float('nan')):.5g} | {d.get('mean_decoded', float('nan')):.5g} |")
    lines += [""] + [f"![{f}]({f})" for f in files]
    return "\n".join(lines) + "\n"
