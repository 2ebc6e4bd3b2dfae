"""Plots and the markdown table of benchmarks/bench_pixel.py (reads bench_out/pixel/results.json)."""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STYLE = {"vq": ("o", "lightsteelblue", "classical VQ, nearest code"), "rvq": ("s", "lightgreen", "residual VQ, nearest code"),
         "vq-c": ("o", "tab:blue", "classical VQ, centroid-aware code choice"),
         "rvq-c": ("s", "tab:green", "residual VQ, centroid-aware code choice"),
         "vqvae": ("^", "tab:purple", "VQ-VAE"), "sparse": ("D", "tab:orange", "sparse + requantised ADC"),
         "sz3": ("v", "tab:red", "SZ3 (dense modules)"), "zfp": ("<", "tab:brown", "ZFP (dense modules)"),
         "lossless": ("*", "black", "lossless ROOT")}


def rows(results):
    out = []
    ref = next(r for r in results["lossless"] if r["method"] == "ROOT ZSTD-5")
    ref_bph = 8 * ref["bytes"] / ref["hits"]
    ref1 = next(r for r in results["lossless"] if r["method"] == "ROOT ZSTD-1")
    ref1_bph = 8 * ref1["bytes"] / ref1["hits"]
    n_main = results["main_set"]["events"]
    for group in ("lossless", "vq", "sparse", "dense"):
        items = results.get(group, [])
        items = items.values() if isinstance(items, dict) else items
        for r in items:
            bph = 8 * r["bytes"] / r["hits"]
            if r["method"].endswith("-c") and not r["family"].endswith("-c"):
                r = {**r, "family": r["family"] + "-c"}
            out.append({**r, "bph": bph, "ratio": ref_bph / bph, "ratio_zstd1": ref1_bph / bph,
                        "events": r.get("events", n_main)})
    return out


def table(rs) -> str:
    lines = ["| method | events | bits/hit | ratio vs ROOT ZSTD-5 | ratio vs ZSTD-1 | recall | precision | ADC MAE "
             "| cluster charge RMS | centroid RMS [px] | centroid RMS [um] |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rs:
        lines.append(f"| {r['method']} | {r['events']} | {r['bph']:.2f} | {r['ratio']:.2f} | {r['ratio_zstd1']:.2f} "
                     f"| {r.get('recall', float('nan')):.4f} | {r.get('precision', float('nan')):.4f} "
                     f"| {r.get('adc_mae', float('nan')):.2f} | {100 * r.get('charge_rms_rel', float('nan')):.2f}% "
                     f"| {r.get('centroid_rms_px', float('nan')):.4f} | {r.get('centroid_rms_um', float('nan')):.1f} |")
    return "\n".join(lines)


def plots(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = {}
    for f in sorted(Path(args.out).glob("results*.json")):  # results.json, results_peers.json, ...
        for k, v in json.loads(f.read_text()).items():
            if isinstance(v, dict) and isinstance(res.get(k), dict):
                res[k].update(v)
            elif k not in res or k != "main_set":
                res[k] = v
    rs = rows(res)
    img = REPO / "docs" / "img" if getattr(args, "update_docs", False) else Path(args.out) / "img"
    img.mkdir(parents=True, exist_ok=True)
    panels = [("centroid_rms_px", "cluster centroid RMS residual [pixel]", 0.1, "pixel_rd_centroid.png"),
              ("charge_rms_rel", "cluster charge RMS error (relative)", 0.05, "pixel_rd_charge.png"),
              ("recall", "hit recall", 0.99, "pixel_rd_recall.png")]
    for key, label, target, fname in panels:
        fig, ax = plt.subplots(figsize=(7, 4.6))
        for fam, (marker, color, name) in STYLE.items():
            floor = target / 100 if key != "recall" else None
            pts = sorted([(r["ratio"], (max(r.get(key), floor) if floor else r.get(key))) for r in rs
                          if r["family"] == fam and r.get(key) is not None], key=lambda p: p[0])
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label=name,
                    linestyle="-" if fam not in ("lossless",) else "none")
            for r in rs:
                if r["family"] == fam and fam in ("vq-c", "rvq-c", "vqvae", "sparse") and r.get(key) is not None:
                    yv = max(r[key], target / 100) if key != "recall" else r[key]
                    ax.annotate(r["method"].replace("sparse ", ""), (r["ratio"], yv), fontsize=6,
                                xytext=(3, 3), textcoords="offset points")
        ax.axhline(target, color="gray", linestyle=":", linewidth=1)
        ax.axvline(4.0, color="gray", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        if key == "recall":
            ax.set_ylim(min(0.5, min(r.get("recall", 1) for r in rs) - 0.02), 1.01)
        else:
            ax.set_yscale("log")
            ax.text(0.07, target / 100 * 1.25, "lossless (exact) drawn at target/100", fontsize=6)
        ax.set_xlabel("compression ratio vs the same DIGIs in ROOT (ZSTD-5)")
        ax.set_ylabel(label)
        ax.set_title(f"pixel DIGIs, PU 200: {label} vs compression ratio", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
        fig.tight_layout()
        fig.savefig(img / fname, dpi=110)
        plt.close(fig)
        print(f"wrote {img / fname}")
    # where the bits go, for the main model
    vq = res.get("vq", {})
    if vq:
        name = args.only or ("vq256" if "vq256" in vq else next(iter(vq)))
        streams = vq[name]["streams"]
        nh = vq[name]["hits"]
        fig, ax = plt.subplots(figsize=(7, 3.6))
        keys = [k for k in streams if streams[k] > 0.005]
        ax.barh(keys, [streams[k] for k in keys], color="tab:blue")
        ax.set_xlabel("ideal static entropy [bits/hit]")
        ax.set_title(f"{name}: where the bits go (total file {8 * vq[name]['bytes'] / nh:.2f} bits/hit)", fontsize=9)
        fig.tight_layout()
        fig.savefig(img / "pixel_streams.png", dpi=110)
        plt.close(fig)
    (Path(args.out) / "table.md").write_text(table(rs) + "\n")
    print(table(rs))
