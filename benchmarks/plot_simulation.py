"""Validation plots of the pixel and TPC simulators -> bench_out/sim/sim_*.png and sim_summary.json
(--update-docs: docs/img/, the published plots).

    python benchmarks/plot_simulation.py                    # 20 PU-200 pixel events, 3 TPC events (~1 min)
    python benchmarks/plot_simulation.py --pixel-events 50 --tpc-events 5

Every plot carries the published reference value it is compared with (see docs/simulation.md).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import awkward as ak
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hepvq.sim import pixel, tpc  # noqa: E402
from hepvq.sim import validation as V  # noqa: E402
from hepvq.sim.geometry import PHASE1, detid_layer  # noqa: E402

# Reference values (docs/simulation.md, "References")
# Phase-1 TDR (CERN-LHCC-2012-016) design pixel hit rates at 2e34 cm^-2 s^-1, 25 ns (PU ~ 50), MHz/cm^2,
# scaled linearly to the simulated pile-up; approximate values, see the doc.
TDR_HIT_RATE_MHZ_CM2 = np.array([580.0, 120.0, 58.0, 32.0])
TDR_PU = 50.0
REF_MPV_KE = (21.0, 22.0)          # CMS cluster charge MPV, normal incidence (JINST 9 (2014) P10009; 16 (2021) P02027)
REF_TPC_OCC = 0.108                # published occupancy of the seed paper's sPHENIX data set (arXiv:2310.15026)


def _save(fig, outdir, name):
    path = os.path.join(outdir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("wrote", path)


def pixel_plots(n_events, pileup, seed, outdir, realism=None):
    t0 = time.perf_counter()
    events, truth = pixel.simulate_events(n_events, pileup=pileup, seed=seed, **(realism or {}))
    dt = time.perf_counter() - t0
    s = V.pixel_summary(events, truth)
    geo = PHASE1
    layers = np.arange(1, 5)
    module_area_cm2 = np.array([L.width_cm * L.length_cm for L in geo.layers])
    ref_hits = TDR_HIT_RATE_MHZ_CM2 * 1e6 * 25e-9 * (pileup / TDR_PU) * module_area_cm2

    # 1. occupancy by layer
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].bar(layers - 0.2, s["hits_per_module"], 0.4, label="simulated pixels (hits) / module")
    ax[0].bar(layers + 0.2, s["clusters_per_module"], 0.4, label="simulated clusters / module")
    ax[0].plot(layers - 0.2, ref_hits, "k_", ms=30, mew=2,
               label=f"Phase-1 TDR design hit rate x PU {pileup:g}/{TDR_PU:g}")
    ax[0].set_yscale("log")
    ax[0].set_xticks(layers)
    ax[0].set_xlabel("barrel layer (r = 2.9, 6.8, 10.9, 16.0 cm)")
    ax[0].set_ylabel("per module per bunch crossing")
    ax[0].set_title(f"Phase-1 BPix, PU {pileup:g}: hits and clusters per module")
    ax[0].legend(fontsize=8)
    ax[1].bar(layers, 100 * s["occupancy"], 0.6, color="C2")
    ax[1].plot(layers, 100 * ref_hits / (160 * 416), "k_", ms=30, mew=2, label="TDR hit rate (scaled)")
    for i, v in enumerate(s["occupancy"]):
        ax[1].text(layers[i], 100 * v, f"{100 * v:.3f}%", ha="center", va="bottom", fontsize=8)
    ax[1].set_xticks(layers)
    ax[1].set_xlabel("barrel layer")
    ax[1].set_ylabel("pixel occupancy [%]")
    ax[1].set_title("fraction of pixels above threshold")
    ax[1].legend(fontsize=8)
    _save(fig, outdir, "sim_pixel_occupancy.png")

    # 2. cluster size vs eta
    e = s["eta_edges"]
    mid = 0.5 * (e[:-1] + e[1:])
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(mid, s["size_y_vs_eta"], "o-", label="cluster length in columns (z), simulated")
    ax.plot(mid, s["expected_size_y"], "k--", label=r"expected $1 + 285\,\mu m\,|\sinh\eta|\,/\,150\,\mu m$")
    ax.plot(mid, s["size_x_vs_eta"], "s-", label="cluster width in rows (r-phi), simulated")
    ax.axhline(1 + 0.4 * 285 / 100, color="C1", ls=":", label=r"expected rows $\approx 1 + \tan\theta_L\,T/p_x$ = 2.1")
    ax.set_xlabel("|eta| of the track (pT > 1 GeV, clusters matched to one crossing)")
    ax.set_ylabel("mean cluster size [pixels]")
    ax.set_title("Cluster size vs pseudorapidity (Phase-1 barrel)")
    ax.legend(fontsize=8)
    _save(fig, outdir, "sim_pixel_cluster_size_eta.png")

    # 3. cluster charge
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    bins = np.arange(0, 80, 1.0)
    ax.hist(s["norm_charge"] / 1e3, bins, histtype="step", density=True, lw=1.5,
            label=f"all |eta|, MPV {s['norm_charge_mpv_e'] / 1e3:.1f} ke, mean {s['norm_charge_mean_e'] / 1e3:.1f} ke")
    ax.hist(s["norm_charge_central"] / 1e3, bins, histtype="step", density=True, lw=1.5,
            label=f"|eta| < 0.5, MPV {s['norm_charge_mpv_central_e'] / 1e3:.1f} ke")
    ax.axvspan(*REF_MPV_KE, color="grey", alpha=0.3, label="CMS measured MPV 21-22 ke")
    ax.set_xlabel("cluster charge x cos(incidence) [ke]  (ADC x 135 e)")
    ax.set_ylabel("normalised")
    ax.set_title("Cluster charge, tracks pT > 1 GeV (Landau peak)")
    ax.legend(fontsize=8)
    _save(fig, outdir, "sim_pixel_cluster_charge.png")

    # 4. ADC spectrum per pixel, by layer
    ev, h = V.flat_hits(events)
    lay = detid_layer(h["detId"])
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for li in range(1, 5):
        ax.hist(h["adc"][lay == li], np.arange(0, 257), histtype="step", density=True, label=f"layer {li}")
    ax.axvline(1600 / 135, color="grey", ls=":", label="threshold L1 (1.6 ke)")
    ax.axvline(1200 / 135, color="k", ls=":", label="threshold L2-4 (1.2 ke)")
    ax.set_yscale("log")
    ax.set_xlabel("pixel ADC (135 e / count, 8 bit, saturates at 255)")
    ax.set_ylabel("normalised")
    ax.set_title(f"Pixel ADC spectrum ({100 * s['adc_saturated_fraction']:.1f} % saturated)")
    ax.legend(fontsize=8)
    _save(fig, outdir, "sim_pixel_adc.png")

    # 5. module display: busiest layer-1 module of event 0 and a layer-4 module
    d0 = events.PixelDigi[0]
    det = ak.to_numpy(d0.detId)
    fig, ax = plt.subplots(2, 1, figsize=(10, 5.2))
    for k, li in enumerate((1, 4)):
        ids, cnt = np.unique(det[detid_layer(det) == li], return_counts=True)
        did = ids[cnt.argmax()]
        sel = det == did
        img = np.zeros((160, 416))
        img[ak.to_numpy(d0.row)[sel], ak.to_numpy(d0.col)[sel]] = ak.to_numpy(d0.adc)[sel]
        im = ax[k].imshow(np.ma.masked_equal(img, 0), aspect="auto", origin="lower", cmap="viridis",
                          interpolation="nearest", vmin=0, vmax=255)
        ax[k].set_title(f"layer {li} module detId {did}: {sel.sum()} pixels (busiest of event 1)", fontsize=9)
        ax[k].set_ylabel("row (r-phi)")
        fig.colorbar(im, ax=ax[k], label="ADC")
    ax[1].set_xlabel("column (z)")
    _save(fig, outdir, "sim_pixel_module_display.png")

    summary = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in s.items()
               if k not in ("norm_charge", "norm_charge_central")}
    summary["reference_hits_per_module_tdr_scaled"] = ref_hits.tolist()
    summary["seconds"] = dt
    summary["pileup"] = pileup
    return summary


def tpc_plots(n_events, seed, outdir):
    t0 = time.perf_counter()
    events = tpc.simulate_events(n_events, seed=seed)
    dt = time.perf_counter() - t0
    s = V.tpc_summary(events)
    s_phys = V.tpc_summary(tpc.simulate_events(n_events, seed=seed, physics_only=True))
    # occupancy scan
    targets = np.array([1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 0.1])
    got = []
    for i, o in enumerate(targets):
        ev = tpc.simulate_events(2, seed=seed + 100 + i, occupancy=float(o))
        got.append(V.tpc_summary(ev)["occupancy"])
    got = np.array(got)

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(np.arange(16), 100 * s["occupancy_per_layer"], "o-", label="simulated (default, central Au+Au + PU)")
    ax[0].axhline(100 * REF_TPC_OCC, color="k", ls="--",
                  label="sPHENIX Au+Au + pile-up data set: 10.8 % (Huang et al. 2023)")
    ax[0].plot(np.arange(16), 100 * s_phys["occupancy_per_layer"], "s:", color="C1",
               label="physics_only=True (no multiplicity scaling)")
    ax[0].set_xlabel("layer (outer group, r = 60.6 .. 77 cm)")
    ax[0].set_ylabel("occupancy [%]")
    ax[0].set_ylim(0, None)
    ax[0].set_title(f"TPC occupancy per layer (mean {100 * s['occupancy']:.1f} %)")
    ax[0].legend(fontsize=8)
    ax[1].loglog(targets, got, "o", label="simulated")
    ax[1].loglog([1e-6, 0.2], [1e-6, 0.2], "k--", label="requested")
    ax[1].set_xlabel("requested occupancy (--occupancy)")
    ax[1].set_ylabel("obtained occupancy")
    ax[1].set_title("Occupancy control (seed paper range 1e-6 .. 10 %)")
    ax[1].legend(fontsize=8)
    _save(fig, outdir, "sim_tpc_occupancy.png")

    ev, h = V.flat_hits(events, "TpcHit")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.hist(h["adc"], np.arange(0, 1025, 4), histtype="step", lw=1.5)
    ax.axvline(tpc.ZS_THRESHOLD, color="r", ls=":", label="zero suppression (64)")
    ax.set_yscale("log")
    ax.set_xlabel("ADC (10 bit)")
    ax.set_ylabel("voxels / 4 ADC")
    ax.set_title(f"TPC ADC spectrum: min {s['adc_min']}, median {s['adc_median']:.0f}, "
                 f"{100 * s['adc_saturated_fraction']:.1f} % at 1023", fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, outdir, "sim_tpc_adc.png")

    vol = tpc.dense_sector(events.TpcHit[0], 0)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    im = ax[0].imshow(vol[:, :, 8], aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=600,
                      interpolation="nearest")
    ax[0].set_xlabel("z bin (0 = central membrane)")
    ax[0].set_ylabel("phi pad in sector")
    ax[0].set_title("sector 0, layer 8, event 1")
    fig.colorbar(im, ax=ax[0], label="ADC")
    im = ax[1].imshow(vol[:, 120:126, :].max(axis=1).T, aspect="auto", origin="lower", cmap="magma", vmin=0,
                      vmax=600, interpolation="nearest")
    ax[1].set_xlabel("phi pad in sector")
    ax[1].set_ylabel("layer")
    ax[1].set_title("sector 0, z bins 120-125 (max): track stubs through the 16 layers", fontsize=9)
    fig.colorbar(im, ax=ax[1], label="ADC")
    _save(fig, outdir, "sim_tpc_sector_display.png")

    summary = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
    summary["occupancy_physics_only"] = s_phys["occupancy"]
    summary["occupancy_scan_requested"] = targets.tolist()
    summary["occupancy_scan_obtained"] = got.tolist()
    summary["seconds"] = dt
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pixel-events", type=int, default=20)
    p.add_argument("--pileup", type=float, default=200.0)
    p.add_argument("--tpc-events", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--multiple-scattering", action="store_true", help="pixel: simulator realism switch (off)")
    p.add_argument("--noise-rate", type=float, default=0.0, help="pixel: noise-only pixels per pixel per event")
    p.add_argument("--big-pixels", action="store_true", help="pixel: double-size ROC-edge pixels (off)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--outdir", default="bench_out/sim", help="directory of the plots and sim_summary.json")
    where.add_argument("--update-docs", action="store_true", help="write docs/img/ (the published plots)")
    args = p.parse_args(argv)
    if args.update_docs:
        args.outdir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "img")
    os.makedirs(args.outdir, exist_ok=True)
    realism = {"multiple_scattering": args.multiple_scattering, "noise_rate": args.noise_rate,
               "big_pixels": args.big_pixels}
    out = {"pixel": pixel_plots(args.pixel_events, args.pileup, args.seed, args.outdir, realism),
           "tpc": tpc_plots(args.tpc_events, args.seed, args.outdir),
           "command": "python benchmarks/plot_simulation.py " + " ".join(argv or [])}
    path = os.path.join(args.outdir, "sim_summary.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=float)
    print("wrote", path)


if __name__ == "__main__":
    main()
