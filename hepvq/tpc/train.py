"""Training of TPC INRs (torch; `hepvq-train tpc-inr ...` dispatches to main).

    # the amortised encoder + shared decoder -> tpc_models/ (the shipped ones, data/models/tpc_amortised_*,
    # are replaced only when asked: --out-dir data/models --force)
    hepvq-train tpc-inr --amortised --mode hybrid --steps 800 --out-dir tpc_models
    # the paper's per-sector fits of the sectors of a file (batched across sectors), weights to npz
    hepvq-train tpc-inr --fit --input data/tpc_sample.root --events 1 --kind siren --width 32 --out fit.npz
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

USER_MODELS = "tpc_models"  # default output of --amortised: never the shipped data/models/


def training_volumes(n_sectors: int, seed: int = 1000, min_hits: int = 50) -> tuple[np.ndarray, str]:
    """Simulated sector volumes for training: hepvq.sim.tpc when available, else hepvq.tpc.synthetic."""
    from hepvq.tpc.grid import hits_to_volumes

    try:
        import awkward as ak

        from hepvq.sim.tpc import simulate_events
    except ImportError:
        from hepvq.tpc.synthetic import sector_volumes

        return sector_volumes(n_sectors, seed=seed, n_tracks=100), "hepvq.tpc.synthetic (n_tracks=100)"
    ev = simulate_events(max(1, n_sectors // 20 + 1), seed=seed)
    vols = []
    for i in range(len(ev)):
        h = {f: ak.to_numpy(ev.TpcHit[f][i]) for f in ("sector", "layer", "phi", "z", "adc")}
        v, _ = hits_to_volumes(h)
        vols += [x for x in v if np.count_nonzero(x) >= min_hits]
    return np.stack(vols[:n_sectors]), f"hepvq.sim.tpc.simulate_events({len(ev)}, seed={seed})"


def file_volumes(path, events: int):
    import awkward as ak
    import uproot

    from hepvq.tpc.grid import hits_to_volumes

    with uproot.open(path) as f:
        t = f["Events"]
        arr = t.arrays([b for b in t.keys() if b.startswith("TpcHit_")], entry_stop=events)
    vols, ids = [], []
    for i in range(len(arr)):
        h = {k[len("TpcHit_"):]: ak.to_numpy(arr[k][i]) for k in arr.fields}
        v, secs = hits_to_volumes(h)
        keep = [j for j in range(len(v)) if np.count_nonzero(v[j])]
        vols += [v[j] for j in keep]
        ids += [(i, int(secs[j])) for j in keep]
    return np.stack(vols), ids


def main(argv=None) -> int:
    from hepvq.cli import _common

    pos, nonneg = _common.positive_int, _common.non_negative_int
    ap = _common.parser("hepvq-train tpc-inr", __doc__)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--amortised", action="store_true", help="train the amortised encoder + shared decoder")
    g.add_argument("--fit", action="store_true", help="fit one INR per sector of --input (the paper's method)")
    ap.add_argument("--mode", choices=["hybrid", "dense"], default="hybrid",
                    help="hybrid: hit positions lossless, the INR carries the ADC; dense: INR of the whole volume")
    ap.add_argument("--steps", type=pos, default=800, help="amortised: optimiser steps")
    ap.add_argument("--sectors", type=pos, default=48, help="amortised: simulated training sectors")
    ap.add_argument("--latent-channels", type=pos, default=8, help="amortised: latent channels per sector")
    ap.add_argument("--time-limit", type=_common.positive_float, default=None,
                    help="stop training after this many seconds")
    ap.add_argument("--out-dir", default=USER_MODELS,
                    help="amortised: directory of the .pt and the encoder/decoder ONNX files (the shipped ones "
                         "are in data/models: name it explicitly, with --force, to replace them)")
    ap.add_argument("--force", action="store_true", help="replace existing output files")
    ap.add_argument("--input", help="fit: ROOT file with TpcHit branches")
    ap.add_argument("--events", type=pos, default=1, help="fit: events of --input")
    ap.add_argument("--kind", choices=["siren", "ffnet", "wire"], default="siren", help="fit: INR architecture")
    ap.add_argument("--width", type=pos, default=32, help="fit: hidden units per layer")
    ap.add_argument("--depth", type=pos, default=3, help="fit: hidden layers")
    ap.add_argument("--strategy", choices=["importance", "entropy", "random", "full"], default="importance",
                    help="fit, dense mode: voxel sampling strategy")
    ap.add_argument("--ratio", type=_common.bounded(float, 1e-6, 1.0), default=0.1,
                    help="fit: fraction of the voxels sampled per epoch")
    ap.add_argument("--epochs", type=pos, default=30, help="fit: epochs (each draws a new voxel sample)")
    ap.add_argument("--out", default="tpc_fit.npz", help="fit: npz of the fitted weights")
    ap.add_argument("--threads", type=pos, default=2, help="torch CPU threads")
    ap.add_argument("--seed", type=nonneg, default=0, help="random seed (training data, initialisation, sampling)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress bar (shown only when stderr is a terminal)")
    a = ap.parse_args(argv)
    if a.fit and not a.input:
        ap.error("--fit needs --input")
    if a.fit and not Path(a.input).is_file():
        ap.error(f"--input: no such file {a.input}")
    prefix = "tpc_amortised" if a.mode == "hybrid" else "tpc_amortised_dense"
    targets = ([Path(a.out_dir) / f"{prefix}{x}" for x in (".pt", "_encoder.onnx", "_decoder.onnx")]
               if a.amortised else [Path(a.out)])
    existing = [str(t) for t in targets if t.exists()]
    if existing and not a.force:  # refuse before minutes of training, never replace files silently
        ap.error(f"{existing[0]} exists; pass --force to replace it (or choose another --out-dir / --out)")
    import torch

    torch.set_num_threads(a.threads)
    if a.amortised:
        from hepvq.tpc import amortised as am
        from hepvq.tpc.export import amortised_parity

        vols, source = training_volumes(a.sectors, seed=1000 + a.seed)
        cfg = am.default_config(mode=a.mode, latent_channels=a.latent_channels)
        print(f"training amortised INR ({a.mode}) on {len(vols)} sectors from {source}", flush=True)
        t0 = time.perf_counter()
        model, hist = am.train(vols, cfg, steps=a.steps, seed=a.seed, time_limit=a.time_limit, quiet=a.quiet)
        out = Path(a.out_dir); out.mkdir(parents=True, exist_ok=True)
        torch.save({"config": model.cfg, "state": model.state_dict(), "source": source, "steps": len(hist),
                    "final_loss": float(np.mean(hist[-50:]))}, out / f"{prefix}.pt")
        enc, dec = out / f"{prefix}_encoder.onnx", out / f"{prefix}_decoder.onnx"
        am.export_onnx(model, enc, dec)
        print(f"trained {len(hist)} steps in {time.perf_counter() - t0:.0f}s, loss {np.mean(hist[-50:]):.3e}; "
              f"wrote {out / (prefix + '.pt')}, {enc}, {dec}; parity {amortised_parity(model, enc, dec):.2e} ADC")
        return 0
    from hepvq.models.inr import make_arch
    from hepvq.tpc.export import save_fit
    from hepvq.tpc.fit import fit_sectors, predict, reconstruct
    from hepvq.tpc.metrics import all_metrics

    vols, ids = file_volumes(a.input, a.events)
    arch = make_arch(a.kind, a.width, a.depth, seed=a.seed)
    strategy = "hits" if a.mode == "hybrid" else a.strategy
    r = fit_sectors(vols, arch, strategy=strategy, ratio=a.ratio, epochs=a.epochs, seed=a.seed, quiet=a.quiet)
    m = all_metrics(vols, reconstruct(predict(arch, r.params))) if a.mode == "dense" else {}
    save_fit(a.out, arch, [r.sector_params(s) for s in range(len(vols))], sectors=range(len(vols)))
    print(json.dumps({"sectors": len(vols), "fit_time_s": r.fit_time, "out": a.out, "ids": ids[:5], **m}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
