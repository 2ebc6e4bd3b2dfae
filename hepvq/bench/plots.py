"""Figures of hepvq-bench (matplotlib, Agg): rate-distortion per detector, cluster residual histograms, event
displays (original vs decoded)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hepvq.bench.suite import Result, Sample
from hepvq.detectors import DETECTORS
from hepvq.extras import require

FAMILY_STYLE = {
    "root": ("tab:gray", "s"), "raw+zstd": ("tab:brown", "D"), "raw+xz": ("tab:brown", "d"),
    "sparse": ("tab:blue", "o"), "sz3": ("tab:orange", "^"), "zfp": ("tab:green", "v"),
    "pixel_vq": ("tab:red", "*"), "pixel_sparse": ("tab:purple", "P"), "tpc_inr": ("tab:red", "*"),
}


def _plt():
    mpl = require("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rate_distortion(sample: Sample, results: list[Result], path) -> Path:
    """Two panels: bits/hit vs ADC RMSE, and bits/hit vs cluster charge RMS; lossless methods as a floor row."""
    plt = _plt()
    rs = [r for r in results if r.detector == sample.detector]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    floor = {"adc_rmse": 0.05, "charge_rms_rel": 1e-4}
    for ax, key, label in ((axes[0], "adc_rmse", "ADC RMSE (union of hits)"),
                           (axes[1], "charge_rms_rel", "cluster charge RMS (relative)")):
        seen = set()
        by_family: dict[str, list] = {}
        for r in rs:  # one curve per family and requantisation mode (linear / log are different curves)
            by_family.setdefault((r.family, " log" in r.setting), []).append(r)
        for (fam, _log), group in by_family.items():
            color, marker = FAMILY_STYLE.get(fam, ("black", "x"))
            pts = sorted(((8 * r.nbytes / sample.n_hits, max(r.metrics.get(key, np.nan), floor[key]), r) for r in group),
                         key=lambda p: p[0])
            x = [p[0] for p in pts]
            y = [p[1] for p in pts]
            ax.plot(x, y, marker=marker, color=color, ls="-" if len(pts) > 1 and fam in ("sparse", "sz3", "zfp") else "none", ms=8,
                    label=fam if fam not in seen else None)
            seen.add(fam)
            for xi, yi, r in pts:
                if r.lossless:  # they all sit on the floor line: the legend and the table name them
                    continue
                txt = r.setting.replace(" linear", "").replace(" (fast)", "")
                if r.metrics.get("recall", 1) < 0.999:
                    txt += f"\nrecall {r.metrics['recall']:.3f}"
                if r.metrics.get("precision", 1) < 0.999:
                    txt += f"\nprecision {r.metrics['precision']:.3f}"
                ax.annotate(txt, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
        ax.axhline(floor[key], color="k", lw=0.5, ls=":")
        ax.text(0.01, floor[key], " lossless", transform=ax.get_yaxis_transform(),
                fontsize=7, va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("bits per hit (log)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{sample.detector}: rate vs distortion, {sample.n_events} events, {sample.n_hits:,} hits "
                 "(lower left is better; SZ3/ZFP after re-thresholding)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def residuals(sample: Sample, results: list[Result], path, max_methods: int = 5) -> Path:
    """Histograms of per-cluster relative charge residual and centroid residual of the lossy methods."""
    plt = _plt()
    d = DETECTORS[sample.detector]
    s0, s1 = d["spatial"]
    lossy = [r for r in results if r.detector == sample.detector and not r.lossless and len(r.residuals.get("charge_rel", []))]
    # a spread of methods: each family's middle setting
    chosen, fams = [], {}
    for r in lossy:
        fams.setdefault(r.family, []).append(r)
    for fam, group in fams.items():
        chosen.append(group[len(group) // 2])
    chosen = chosen[:max_methods]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    unit = "um" if d["unit"] == "um" else ("pads" if s0 == "phi" else "")
    specs = [("charge_rel", "(Q_out - Q_in) / Q_in", 0.5), (f"d{s0}", f"centroid residual {s0} ({unit})", None),
             (f"d{s1}", f"centroid residual {s1} ({'um' if d['unit'] == 'um' else 'time bins'})", None)]
    for ax, (key, label, lim) in zip(axes, specs):
        vals = [r.residuals[key] for r in chosen]
        if lim is None:
            allv = np.concatenate([v for v in vals if len(v)]) if vals else np.zeros(1)
            lim = float(np.quantile(np.abs(allv), 0.99)) or 1.0
        bins = np.linspace(-lim, lim, 81)
        for r, v in zip(chosen, vals):
            color, _ = FAMILY_STYLE.get(r.family, ("black", "x"))
            rms = np.sqrt(np.mean(v ** 2)) if len(v) else np.nan
            ax.hist(np.clip(v, -lim, lim), bins=bins, histtype="step", color=color, lw=1.4,
                    label=f"{r.name} (RMS {rms:.3g})")
        ax.set_yscale("log")
        ax.set_xlabel(label + " (overflow in end bins)")
        ax.set_ylabel("clusters")
        ax.legend(fontsize=7)
    fig.suptitle(f"{sample.detector}: cluster residuals (input clusters matched through their seed hit)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _image(cols, detector, event, group_values, plane):
    d = DETECTORS[detector]
    s0, s1 = d["spatial"]
    m = cols["event"] == event
    for g, v in zip(d["group"], group_values):
        m &= cols[g] == v
    img = np.zeros(plane, np.float32)
    img[cols[s0][m].astype(np.int64), cols[s1][m].astype(np.int64)] = cols["adc"][m]
    return img


def event_display(sample: Sample, results: list[Result], path, max_methods: int = 4) -> Path:
    """The busiest module (pixel) / sector-layer (TPC) of event 0: original and decoded by a few methods."""
    plt = _plt()
    d = DETECTORS[sample.detector]
    c = sample.cols
    m0 = c["event"] == 0
    keys = np.stack([c[g][m0].astype(np.int64) for g in d["group"]], axis=1)
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    group_values = tuple(uniq[np.argmax(counts)])
    img0 = _image(c, sample.detector, 0, group_values, d["plane"])
    s0, s1 = d["spatial"]
    nz = np.nonzero(img0)
    # crop to the occupied region (with a margin) so that clusters are visible
    lo0, hi0 = max(nz[0].min() - 3, 0), min(nz[0].max() + 4, d["plane"][0])
    lo1, hi1 = max(nz[1].min() - 3, 0), min(nz[1].max() + 4, d["plane"][1])
    if sample.detector == "pixel":  # a window of at most 60 x 120 pixels around the densest part
        c0, c1 = int(np.median(nz[0])), int(np.median(nz[1]))
        lo0, hi0 = max(c0 - 30, 0), min(c0 + 30, d["plane"][0])
        lo1, hi1 = max(c1 - 60, 0), min(c1 + 60, d["plane"][1])
    lossy = [r for r in results if r.detector == sample.detector and not r.lossless and r.decoded is not None]
    chosen, fams = [], {}
    for r in lossy:
        fams.setdefault(r.family, []).append(r)
    for fam, group in fams.items():
        chosen.append(group[-1])  # the coarsest setting shows the artefacts
    chosen = chosen[:max_methods]
    n = 1 + len(chosen)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n + 1, 6.4), squeeze=False, layout="constrained")
    vmax = float(d["adc_max"]) if sample.detector == "pixel" else 400.0
    panels = [("original", img0)] + [(r.name, _image(r.decoded, sample.detector, 0, group_values, d["plane"]))
                                      for r in chosen]
    for i, (title, img) in enumerate(panels):
        crop = img[lo0:hi0, lo1:hi1]
        ax = axes[0, i]
        im = ax.imshow(np.ma.masked_equal(crop, 0), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=vmax,
                       extent=(lo1, hi1, lo0, hi0), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(s1)
        ax.set_ylabel(s0)
        ax2 = axes[1, i]
        if i == 0:
            ax2.axis("off")
            ax2.text(0.02, 0.5, f"event 0, {', '.join(f'{g}={v}' for g, v in zip(d['group'], group_values))}\n"
                     f"{int(np.count_nonzero(img0))} hits in this {'module' if sample.detector == 'pixel' else 'layer'}\n"
                     "lower row: decoded - original\n(red: hit lost or ADC too low,\n blue: hit added or ADC too high)",
                     fontsize=8, va="center")
            continue
        diff = (img - img0)[lo0:hi0, lo1:hi1]
        lim = max(float(np.abs(diff).max()), 1.0)
        ax2.imshow(np.ma.masked_equal(diff, 0), origin="lower", aspect="auto", cmap="coolwarm_r", vmin=-lim,
                   vmax=lim, extent=(lo1, hi1, lo0, hi0), interpolation="nearest")
        ax2.set_title(f"difference (max |d| {lim:.0f})", fontsize=8)
        ax2.set_xlabel(s1)
    fig.colorbar(im, ax=axes[0, -1], shrink=0.9, label="ADC")
    fig.suptitle(f"{sample.detector} event display: original vs decoded (coarsest setting of each family)", fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def all_figures(samples: list[Sample], results: list[Result], directory) -> dict:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for s in samples:
        out[(s.detector, "rd")] = rate_distortion(s, results, directory / f"bench_rd_{s.detector}.png")
        out[(s.detector, "residuals")] = residuals(s, results, directory / f"bench_residuals_{s.detector}.png")
        out[(s.detector, "display")] = event_display(s, results, directory / f"bench_display_{s.detector}.png")
    return out
