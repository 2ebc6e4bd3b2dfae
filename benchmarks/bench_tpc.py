"""TPC INR benchmarks: the paper's Fig. 3A (MSE vs compression ratio), 3B/3C (sampling strategies), the
super-resolution study, the hybrid codec against the lossless sparse file, and amortised encode timing.

    python benchmarks/bench_tpc.py all            # every study (~15 min on 2 CPU cores)
    python benchmarks/bench_tpc.py fig3a --sectors 4 --epochs 30
    python benchmarks/bench_tpc.py sampling | superres | hybrid | rd | amortised

Results: bench_out/tpc/tpc_<study>.json and .png (--update-docs: docs/img/, the published figures; --out DIR:
DIR). Sectors come from data/tpc_sample.root
when it exists, else hepvq.sim.tpc.simulate_events, else the synthetic generator (hepvq.tpc.synthetic);
the JSON says which. Every compression ratio is given against the dense 16-bit volume (paper convention)
and against the lossless sparse ROOT file of the same hits (coordinates + ADC as uint16 jagged branches,
ZSTD level 5, counted as the compressed bytes of the TpcHit baskets).
"""
from __future__ import annotations

import argparse
import math
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench_out" / "tpc"   # main() sets it: --out, or docs/img with --update-docs
DOCS_OUT = ROOT / "docs" / "img"


def _threads():
    import torch

    torch.set_num_threads(int(os.environ.get("HEPVQ_THREADS", "2")))


# ---------------------------------------------------------------------------------------------- data
def load_sectors(n: int, seed: int = 0, min_hits: int = 100):
    """n sector volumes (n, 192, 249, 16) uint16 and a description of where they come from."""
    from hepvq.tpc.grid import hits_to_volumes

    sample = ROOT / "data" / "tpc_sample.root"
    events, source = None, None
    if sample.is_file():
        import uproot

        with uproot.open(sample) as f:
            t = f["Events"]
            arr = t.arrays([b for b in t.keys() if b.startswith("TpcHit_")], entry_stop=8)
        import awkward as ak

        events = [{k[len("TpcHit_"):]: ak.to_numpy(arr[k][i]) for k in arr.fields} for i in range(len(arr))]
        source = f"data/tpc_sample.root (first {len(events)} events)"
    else:
        try:
            from hepvq.sim.tpc import simulate_events

            ev = simulate_events(max(1, n // 12 + 1), seed=seed)
            import awkward as ak

            events = [{f: ak.to_numpy(ev.TpcHit[f][i]) for f in ("sector", "layer", "phi", "z", "adc")} for i in range(len(ev))]
            source = f"hepvq.sim.tpc.simulate_events({len(ev)}, seed={seed})"
        except ImportError:
            from hepvq.tpc.synthetic import sector_volumes

            v = sector_volumes(n, seed=seed, n_tracks=100)
            return v, "hepvq.tpc.synthetic.sector_volumes(n_tracks=100) (simulator not available)"
    vols = []
    for h in events:
        v, _ = hits_to_volumes(h)
        vols += [x for x in v if np.count_nonzero(x) >= min_hits]
        if len(vols) >= n:
            break
    return np.stack(vols[:n]), source


def occupancy(vols) -> float:
    return float(np.count_nonzero(vols) / vols.size)


def lossless_root_bytes(vols) -> int:
    """Compressed bytes of the TpcHit branches (+ counter) of a ROOT file holding these sectors' hits as one
    event per sector (uint16 jagged branches, ZSTD level 5), like the simulator's sample file."""
    import uproot

    from hepvq.tpc.grid import events_from_columns, volumes_to_hits

    cols = []
    for s, v in enumerate(vols):   # sorted by (sector, layer, phi, z) like the simulator's files
        c = volumes_to_hits(v[None], [s])
        o = np.lexsort((c["z"], c["phi"], c["layer"]))
        cols.append({k: a[o] for k, a in c.items()})
    hits = events_from_columns(cols)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "sparse.root"
        with uproot.recreate(path, compression=uproot.ZSTD(5)) as f:
            t = f.mktree("Events", {"event": np.uint64, "TpcHit": hits.type.content})
            t.extend({"event": np.arange(len(cols), dtype=np.uint64), "TpcHit": hits})
        with uproot.open(path) as f:
            t = f["Events"]
            return int(sum(t[b].compressed_bytes for b in t.keys() if "TpcHit" in b))


def refresh_sparse(name: str, n: int, seed: int) -> None:
    """Recompute the lossless sparse reference of a saved study (same sectors) and its ratios."""
    path = OUT / f"tpc_{name}.json"
    res = json.loads(path.read_text())
    vols, _ = load_sectors(n, seed=seed)
    sparse = lossless_root_bytes(vols)
    res["lossless_sparse_root_bytes"] = sparse
    if "bits_per_hit" in res:
        res["bits_per_hit"]["lossless_root"] = 8 * sparse / res["hits"]
    for r in res["rows"]:
        r["cr_sparse"] = sparse / r["bytes"]
    path.write_text(json.dumps(res, indent=1, default=float))


def sector_hits(vols):
    """The sectors' hits as one event (jagged TpcHit records), as the shipped codec sees an event."""
    from hepvq.tpc.grid import events_from_columns, volumes_to_hits

    return events_from_columns([volumes_to_hits(vols, np.arange(len(vols)))])


def to_vols(dec, like):
    """Decoded TpcHit records (one event, all sectors) -> sector volumes shaped like ``like``."""
    import awkward as ak

    rec = np.zeros_like(like)
    d = {f: ak.to_numpy(ak.flatten(dec[f])).astype(np.int64) for f in ("sector", "layer", "phi", "z", "adc")}
    rec[d["sector"], d["phi"], d["z"], d["layer"]] = d["adc"]
    return rec


def run_codec(codec, vols):
    """The shipped codec on the sectors: (payload bytes of its products, decoded volumes, encode seconds, the
    encode's report)."""
    from hepvq.metrics.size import products_payload_bytes

    hits = sector_hits(vols)
    t0 = time.perf_counter()
    prod, report = codec.encode(hits)
    enc = time.perf_counter() - t0
    return products_payload_bytes(prod), to_vols(codec.decode(prod), vols), enc, report


def dense_bytes(vols) -> int:
    return int(vols.size * 2)


def metrics_row(orig, rec) -> dict:
    from hepvq.tpc.metrics import all_metrics

    return all_metrics(orig, rec)


# ---------------------------------------------------------------------------------------------- peers
def sz3_roundtrip(vol: np.ndarray, abs_err: float):
    from pysz import sz, szConfig, szErrorBoundMode

    a = vol.astype(np.float32)
    cfg = szConfig(a.shape)
    cfg.errorBoundMode = szErrorBoundMode.ABS
    cfg.absErrorBound = float(abs_err)
    comp, _ = sz.compress(a, cfg)
    dec, _ = sz.decompress(comp, np.float32, a.shape)
    return len(comp.tobytes()), dec


def zfp_roundtrip(vol: np.ndarray, rate: float):
    import zfpy

    a = vol.astype(np.float32)
    comp = zfpy.compress_numpy(a, rate=rate)
    return len(comp), zfpy.decompress_numpy(comp)


def post(rec_float):
    from hepvq.tpc.fit import reconstruct

    return reconstruct(np.asarray(rec_float, np.float32))


# ---------------------------------------------------------------------------------------------- fig 3A
def study_fig3a(args):
    _threads()
    from hepvq.models.inr import make_arch, n_params
    from hepvq.tpc.fit import fit_sectors, predict

    vols, source = load_sectors(args.sectors, seed=1)
    dense, sparse = dense_bytes(vols), lossless_root_bytes(vols)
    res = {"source": source, "sectors": len(vols), "occupancy": occupancy(vols), "dense_bytes": dense,
           "lossless_sparse_root_bytes": sparse, "mse_all_zero": float(np.mean(vols.astype(np.float64) ** 2)),
           "settings": {"strategy": args.strategy, "ratio": args.ratio, "epochs": args.epochs, "batch": 8192,
                        "depth": 3, "quant": "fp16"}, "rows": []}

    def add(method, size, rec, extra=None):
        m = metrics_row(vols, rec)
        row = {"method": method, "bytes": int(size), "cr_dense": dense / size, "cr_sparse": sparse / size, **m, **(extra or {})}
        res["rows"].append(row)
        print(f"{method:28s} CR dense {row['cr_dense']:8.1f} sparse {row['cr_sparse']:6.2f}  MSE {m['mse']:9.2f} "
              f"nzMSE {m['mse_nonzero']:9.0f} rec {m['recall']:.3f} prec {m['precision']:.3f}", flush=True)

    for kind in args.kinds.split(","):
        for width in [int(w) for w in args.widths.split(",")]:
            arch = make_arch(kind, width, 3)
            r = fit_sectors(vols, arch, strategy=args.strategy, ratio=args.ratio, epochs=args.epochs, batch_size=8192)
            params16 = [p.half().float() for p in r.params]
            rec = post(predict(arch, params16))
            add(f"{kind}-w{width}", len(vols) * 2 * n_params(arch), rec, {"fit_time_s": r.fit_time, "params": n_params(arch)})
    am = amortised_runtime("dense")
    if am is not None:     # the shipped codec (tpc_inr, amortised, dense): its products, its decode
        from hepvq.tpc.codec import TpcInrCodec

        size, rec, enc, _rep = run_codec(TpcInrCodec(method="amortised", mode="dense", amortised=am, quant="int8"), vols)
        add("amortised (tpc_inr dense int8)", size, rec, {"encode_s": enc})
    for eb in [2, 8, 32, 64, 128, 256]:
        size, recs = 0, []
        for v in vols:
            n, d = sz3_roundtrip(v, eb)
            size += n; recs.append(d)
        add(f"SZ3 abs={eb}", size, post(np.stack(recs)))
    for rate in [0.25, 0.5, 1, 2, 4]:
        size, recs = 0, []
        for v in vols:
            n, d = zfp_roundtrip(v, rate)
            size += n; recs.append(d)
        add(f"ZFP rate={rate}", size, post(np.stack(recs)))
    save("fig3a", res)
    plot_fig3a(res)


def plot_fig3a(res):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = {}
    for r in res["rows"]:
        g = r["method"].split("-w")[0].split(" ")[0]
        groups.setdefault(g, []).append(r)
    for ax, key, lab in ((axes[0], "cr_dense", "compression ratio vs dense 16-bit volume"),
                         (axes[1], "cr_sparse", "compression ratio vs lossless sparse ROOT file")):
        for g, rows in groups.items():
            rows = sorted(rows, key=lambda r: r[key])
            ax.plot([r[key] for r in rows], [r["mse"] for r in rows], "o-", label=g)
        ax.axhline(res["mse_all_zero"], color="gray", ls=":", label="all-zero volume")
        if key == "cr_sparse":
            ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel(lab); ax.set_ylabel("MSE (ADC^2, after 64 threshold)")
        ax.legend(fontsize=7)
    fig.suptitle(f"TPC Fig. 3A reproduction: {res['sectors']} sectors, occupancy {100 * res['occupancy']:.2f}%", fontsize=9)
    fig.tight_layout(); fig.savefig(OUT / "tpc_fig3a.png", dpi=110); plt.close(fig)


# ---------------------------------------------------------------------------------------------- fig 3B/C
def study_sampling(args):
    _threads()
    from hepvq.models.inr import make_arch
    from hepvq.tpc.fit import fit_sectors, predict
    from hepvq.tpc.sampling import n_samples

    vols, source = load_sectors(args.sectors, seed=2)
    arch = make_arch("siren", args.width, 3)
    res = {"source": source, "sectors": len(vols), "occupancy": occupancy(vols), "arch": arch,
           "settings": {"epochs": args.epochs, "batch": 8192, "eps": "auto (zeros get half the draws)",
                        "mix": 0.5, "protocol": "same epochs of ratio x N draws for every strategy; cosine LR "
                        "over each fit's own steps"}, "rows": []}
    ratios = [float(r) for r in args.ratios.split(",")]
    strategies = ("importance", "importance_unbiased", "importance_mixture", "entropy", "random")
    plan = [("full", 1.0)] + [(s, r) for s in strategies for r in ratios]
    for strat, ratio in plan:
        r = fit_sectors(vols, arch, strategy=strat, ratio=ratio, epochs=args.epochs, batch_size=8192)
        pred = predict(arch, r.params)
        m = metrics_row(vols, post(pred))
        raw = float(np.mean((np.clip(pred, 0, 1023) - vols) ** 2))
        n = vols[0].size
        steps = args.epochs * math.ceil((n if strat == "full" else n_samples(n, ratio)) / 8192)
        row = {"strategy": strat, "ratio": ratio, "fit_time_s": r.fit_time, "steps": steps, "mse_raw": raw, **m}
        res["rows"].append(row)
        print(f"{strat:10s} {ratio:5.2f}  fit {r.fit_time:6.1f}s {steps:5d} steps  MSE {m['mse']:8.2f} raw {raw:8.2f} nzMSE {m['mse_nonzero']:8.0f} "
              f"rec {m['recall']:.3f} prec {m['precision']:.3f}", flush=True)
    save("sampling", res)
    plot_sampling(res)


def plot_sampling(res):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = [r for r in res["rows"] if r["strategy"] == "full"][0]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key, lab in ((axes[0], "mse", "MSE after 64 threshold"), (axes[1], "mse_raw", "MSE of raw INR output"),
                         (axes[2], "fit_time_s", "fit time [s]")):
        for s in ("importance", "importance_unbiased", "importance_mixture", "entropy", "random"):
            rows = [r for r in res["rows"] if r["strategy"] == s]
            if not rows:
                continue
            ax.plot([r["ratio"] for r in rows], [r[key] for r in rows], "o-", label=s)
        ax.axhline(full[key], color="k", ls="--", label="full data")
        if key != "fit_time_s":
            ax.axhline(1.1 * full[key], color="k", ls=":", lw=0.8, label="full data + 10 %")
        ratios = sorted({r["ratio"] for r in res["rows"] if r["strategy"] != "full"})
        ax.set_xscale("log"); ax.set_xlabel("sampling ratio"); ax.set_ylabel(lab); ax.legend(fontsize=8)
        ax.set_xticks(ratios); ax.set_xticklabels([f"{r:g}" for r in ratios]); ax.minorticks_off()
        if key != "fit_time_s":
            ax.set_yscale("log")
    fig.suptitle(f"TPC Fig. 3B/3C: SIREN w{res['arch']['width']}x3 on {res['sectors']} sectors, "
                 f"{res['settings']['epochs']} epochs", fontsize=9)
    fig.tight_layout(); fig.savefig(OUT / "tpc_sampling.png", dpi=110); plt.close(fig)


# ---------------------------------------------------------------------------------------------- super-resolution
def study_superres(args):
    _threads()
    from scipy.ndimage import map_coordinates

    from hepvq.models.inr import make_arch
    from hepvq.tpc.fit import fit_sectors, predict
    from hepvq.tpc.grid import grid_indices

    vols, source = load_sectors(args.sectors, seed=3)
    res = {"source": source, "sectors": len(vols), "occupancy": occupancy(vols), "rows": [],
           "settings": {"arch": f"siren w{args.width}x3", "strategy": args.strategy, "ratio": args.ratio,
                        "epochs": args.epochs}}
    arch = make_arch("siren", args.width, 3)
    full_idx = grid_indices()
    for step, name in (((1, 1, 1), "(192,249,16) x1"), ((2, 2, 1), "(96,125,16) x4"), ((2, 2, 2), "(96,125,8) x8")):
        r = fit_sectors(vols, arch, strategy=args.strategy, ratio=args.ratio, epochs=args.epochs, batch_size=8192, step=step)
        rec = post(predict(arch, r.params))
        m = metrics_row(vols, rec)
        res["rows"].append({"train_grid": name, "method": "SIREN", "fit_time_s": r.fit_time, **m})
        print(f"SIREN  train {name:18s} MSE {m['mse']:8.2f} nzMSE {m['mse_nonzero']:8.0f} rec {m['recall']:.3f} prec {m['precision']:.3f}", flush=True)
        if step != (1, 1, 1):
            # peer: trilinear interpolation of the subsampled volume back to the full grid
            sub = vols[:, ::step[0], ::step[1], ::step[2]].astype(np.float32)
            c = (full_idx / np.array(step, np.float32)).T
            lin = np.stack([map_coordinates(s, c, order=1, mode="nearest").reshape(vols.shape[1:]) for s in sub])
            m2 = metrics_row(vols, post(lin))
            res["rows"].append({"train_grid": name, "method": "trilinear", **m2})
            print(f"trilin train {name:18s} MSE {m2['mse']:8.2f} nzMSE {m2['mse_nonzero']:8.0f} rec {m2['recall']:.3f} prec {m2['precision']:.3f}", flush=True)
        if step == (2, 2, 1):
            save_slice(vols[0], rec[0], "tpc_superres_slice.png", f"SIREN trained on {name}, evaluated on (192,249,16)")
    save("superres", res)


def save_slice(orig, rec, fname, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layer = int(np.argmax(np.count_nonzero(orig, axis=(0, 1))))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, v, t in ((axes[0], orig, "original"), (axes[1], rec, "reconstruction")):
        ax.imshow(v[:, :, layer], aspect="auto", origin="lower", vmin=0, vmax=600, cmap="viridis")
        ax.set_title(f"{t}, layer {layer}"); ax.set_xlabel("z"); ax.set_ylabel("phi")
    fig.suptitle(title, fontsize=9); fig.tight_layout(); fig.savefig(OUT / fname, dpi=100); plt.close(fig)


# ---------------------------------------------------------------------------------------------- hybrid codec
def study_hybrid(args):
    _threads()
    import zstandard

    from hepvq.models.inr import make_arch
    from hepvq.tpc import coords as coordcode
    from hepvq.tpc.grid import volumes_to_hits

    vols, source = load_sectors(args.sectors, seed=4)
    n_hits = int(np.count_nonzero(vols))
    dense, sparse = dense_bytes(vols), lossless_root_bytes(vols)
    zc = zstandard.ZstdCompressor(level=19)
    h = volumes_to_hits(vols, np.arange(len(vols)))
    # the positions as the shipped codec stores them (format 2: rANS with the shipped tables), for every peer
    cblob, order = coordcode.encode_rans(h["sector"], h["layer"], h["phi"], h["z"], coordcode.load_tables())
    cbytes = len(cblob)
    adc = h["adc"][order].astype(np.int64)
    s_, l_, p_, z_ = (h[f][order].astype(np.int64) for f in ("sector", "layer", "phi", "z"))
    adc_lossless = len(zc.compress(adc.astype("<u2").tobytes()))
    res = {"source": source, "sectors": len(vols), "hits": n_hits, "occupancy": occupancy(vols), "dense_bytes": dense,
           "lossless_sparse_root_bytes": sparse, "coords_bytes": cbytes, "adc_lossless_zstd_bytes": adc_lossless,
           "bits_per_hit": {"lossless_root": 8 * sparse / n_hits, "coords": 8 * cbytes / n_hits,
                            "adc_zstd": 8 * adc_lossless / n_hits},
           "settings": {"strategy": "hits", "ratio": args.ratio, "epochs": args.epochs, "batch": 4096}, "rows": []}
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=1), flush=True)

    def add(method, value_bytes, rec_adc, extra=None):
        rec = np.zeros_like(vols)
        rec[s_, p_, z_, l_] = np.clip(np.rint(rec_adc), 64, 1023).astype(np.uint16)
        m = metrics_row(vols, rec)
        size = cbytes + value_bytes
        row = {"method": method, "bytes": size, "value_bytes": value_bytes, "bits_per_hit": 8 * size / n_hits,
               "cr_dense": dense / size, "cr_sparse": sparse / size, **m, **(extra or {})}
        res["rows"].append(row)
        print(f"{method:30s} {row['bits_per_hit']:5.2f} b/hit CR dense {row['cr_dense']:7.1f} sparse {row['cr_sparse']:5.2f} "
              f"hitMSE {m['mse_nonzero']:8.1f} ratioErr {m['neighbour_ratio_error']:.3f} rec {m['recall']:.3f}", flush=True)

    add("coords + lossless ADC (zstd)", adc_lossless, adc)
    for q in (16, 64, 128, 256):   # peer: uniform requantisation of ADC, zstd
        codes = np.rint((adc - 64) / q).astype(np.int64)
        add(f"coords + ADC requant q={q}", len(zc.compress(codes.astype(np.uint8).tobytes())), codes * q + 64)
    try:   # the strongest peer: hepvq.baselines.sparse (delta + entropy coded keys, requantised values)
        from hepvq.baselines.sparse import decode_sparse, encode_sparse

        for bits in (None, 4, 3, 2, 1):
            for mode in (("linear", "log") if bits else ("linear",)):
                blob = encode_sparse([s_, l_, p_, z_], adc, value_bits=bits, value_min=64, value_max=1023, mode=mode)
                keys_back, vals, _ = decode_sparse(blob)
                kb = coordcode.keys(*keys_back)
                vals_sorted = np.asarray(vals, np.float64)[np.argsort(kb)]
                # sizes include the coordinates: report as value_bytes = total - our coords (so bytes = total)
                add(f"baselines.sparse {'lossless' if bits is None else f'{bits}-bit {mode}'}", len(blob) - cbytes,
                    vals_sorted, {"total_bytes_own_coords": len(blob)})
    except ImportError:
        pass
    from hepvq.tpc.codec import TpcInrCodec

    def add_codec(method, codec, extra=None):
        """A row of the shipped codec: its products' bytes (coordinates included) and its decode."""
        size, rec, enc, report = run_codec(codec, vols)
        m = metrics_row(vols, rec)
        row = {"method": method, "bytes": size, "value_bytes": size - cbytes, "bits_per_hit": 8 * size / n_hits,
               "cr_dense": dense / size, "cr_sparse": sparse / size, **m, "encode_s": enc,
               "fit_time_s": report["fit_time_s"], **(extra or {})}
        res["rows"].append(row)
        print(f"{method:30s} {row['bits_per_hit']:5.2f} b/hit CR dense {row['cr_dense']:7.1f} sparse "
              f"{row['cr_sparse']:5.2f} hitMSE {m['mse_nonzero']:8.1f} ratioErr {m['neighbour_ratio_error']:.3f} "
              f"rec {m['recall']:.3f}", flush=True)

    for width in [int(w) for w in args.widths.split(",")]:
        arch = make_arch("siren", width, 3)
        for qmode in ("int8", "fp16"):
            add_codec(f"hybrid SIREN w{width} {qmode}", TpcInrCodec(
                method="fit", mode="hybrid", arch=arch, quant=qmode,
                fit={"ratio": args.ratio, "epochs": args.epochs, "batch_size": 4096}))
    am = amortised_runtime("hybrid")
    if am is not None:
        add_codec("hybrid amortised int8", TpcInrCodec(method="amortised", mode="hybrid", amortised=am, quant="int8"))
    save("hybrid", res)
    plot_hybrid(res)


def plot_hybrid(res):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    groups = (("coords + ADC requant", "s-", lambda m: m.startswith("coords + ADC requant")),
              ("baselines.sparse linear", "d-", lambda m: m.startswith("baselines.sparse") and "log" not in m),
              ("baselines.sparse log", "v-", lambda m: m.startswith("baselines.sparse") and "log" in m),
              ("hybrid SIREN int8", "o-", lambda m: m.startswith("hybrid SIREN") and "int8" in m),
              ("hybrid SIREN fp16", "o:", lambda m: m.startswith("hybrid SIREN") and "fp16" in m),
              ("hybrid amortised", "^", lambda m: m.startswith("hybrid amortised")),
              ("coords + lossless", "*", lambda m: m.startswith("coords + lossless")))
    for key, mk, sel in groups:
        rows = sorted([r for r in res["rows"] if sel(r["method"])], key=lambda r: r["cr_sparse"])
        if rows:
            ax.plot([r["cr_sparse"] for r in rows], [max(r["mse_nonzero"], 0.1) for r in rows], mk, label=key)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("compression ratio vs lossless sparse ROOT file (same hits)"); ax.set_ylabel("MSE on hits (ADC^2)")
    ax.set_yscale("log"); ax.legend(fontsize=8)
    ax.set_title(f"hybrid codec (lossless positions, recall = precision = 1): {res['sectors']} sectors", fontsize=9)
    fig.tight_layout(); fig.savefig(OUT / "tpc_hybrid.png", dpi=110); plt.close(fig)


# ---------------------------------------------------------------------------------------------- rate-distortion
def study_rd(args):
    """The shipped codec (amortised hybrid, with and without an ADC error bound) against SZ3, ZFP and the sparse
    baseline on one rate-distortion plane: whole-volume MSE and MSE on hits vs compression ratio.  Every
    tpc_inr row runs the real codec (TpcInrCodec.encode -> products -> decode)."""
    import awkward as ak

    from hepvq.codecs import residual
    from hepvq.metrics.size import products_payload_bytes
    from hepvq.tpc import coords as coordcode
    from hepvq.tpc.codec import TpcInrCodec
    from hepvq.tpc.grid import events_from_columns, volumes_to_hits

    vols, source = load_sectors(args.sectors, seed=4)
    n_hits = int(np.count_nonzero(vols))
    dense, sparse = dense_bytes(vols), lossless_root_bytes(vols)
    res = {"source": source, "sectors": len(vols), "hits": n_hits, "occupancy": occupancy(vols), "dense_bytes": dense,
           "lossless_sparse_root_bytes": sparse, "mse_all_zero": float(np.mean(vols.astype(np.float64) ** 2)),
           "rows": []}

    def add(method, family, size, rec, extra=None):
        m = metrics_row(vols, rec)
        row = {"method": method, "family": family, "bytes": int(size), "bits_per_hit": 8 * size / n_hits,
               "cr_dense": dense / size, "cr_sparse": sparse / size, **m, **(extra or {})}
        res["rows"].append(row)
        print(f"{method:34s} {row['bits_per_hit']:6.2f} b/hit CR sparse {row['cr_sparse']:5.2f} MSE {m['mse']:8.1f} "
              f"hitMSE {m['mse_nonzero']:8.1f} rec {m['recall']:.3f} prec {m['precision']:.3f}", flush=True)

    h = volumes_to_hits(vols, np.arange(len(vols)))
    hits = events_from_columns([h])   # all sectors in one event, as the codec sees an event

    def to_vols(dec):
        rec = np.zeros_like(vols)
        d = {f: ak.to_numpy(ak.flatten(dec[f])).astype(np.int64) for f in ("sector", "layer", "phi", "z", "adc")}
        rec[d["sector"], d["phi"], d["z"], d["layer"]] = d["adc"]
        return rec

    am = amortised_runtime("hybrid")
    bounds = [int(b) for b in args.bounds.split(",")]
    if am is not None:
        for b in [-1] + bounds:
            codec = TpcInrCodec(method="amortised", mode="hybrid", amortised=am, adc_error_bound=b)
            t0 = time.perf_counter()
            prod = codec.encode(hits).products
            enc = time.perf_counter() - t0
            # byte streams + the main product (uint8 sector + uint32 nbytes per coded sector)
            size = products_payload_bytes(prod)
            add("tpc_inr hybrid amortised" + ("" if b < 0 else f" B={b}"), "tpc_inr (amortised INR + residuals)",
                size, to_vols(codec.decode(prod)), {"adc_error_bound": b, "encode_s": enc})
    # the same coordinates and residual coder with a constant prediction (64): plain error-bounded requantisation
    # the positions as the shipped codec stores them (format 2: rANS with the shipped tables), for every peer
    cblob, order = coordcode.encode_rans(h["sector"], h["layer"], h["phi"], h["z"], coordcode.load_tables())
    adc = h["adc"][order].astype(np.int64)
    s_, l_, p_, z_ = (h[f][order].astype(np.int64) for f in ("sector", "layer", "phi", "z"))
    for b in bounds:
        q = residual.quantise(adc - 64, b)
        rec = np.zeros_like(vols)
        rec[s_, p_, z_, l_] = np.clip(residual.apply(np.full(len(q), 64), q, b), 64, 1023)
        add(f"coords + bounded requant B={b}", "coords + requant (no INR)", len(cblob) + len(residual.pack(q)), rec)
    from hepvq.baselines.sparse import decode_sparse, encode_sparse

    for bits in (None, 6, 5, 4, 3, 2, 1):
        blob = encode_sparse([s_, l_, p_, z_], adc, value_bits=bits, value_min=64, value_max=1023, mode="linear")
        keys_back, vals, _ = decode_sparse(blob)
        rec = np.zeros_like(vols)
        kb = [np.asarray(k, np.int64) for k in keys_back]
        rec[kb[0], kb[2], kb[3], kb[1]] = np.clip(np.rint(np.asarray(vals, np.float64)), 64, 1023)
        add(f"baselines.sparse {'lossless' if bits is None else f'{bits}-bit linear'}", "sparse baseline", len(blob), rec)
    for eb in (1, 4, 16, 32, 64, 128, 256):
        size, recs = 0, []
        for v in vols:
            n, d = sz3_roundtrip(v, eb)
            size += n; recs.append(d)
        add(f"SZ3 abs={eb}", "SZ3", size, post(np.stack(recs)))
    for rate in (0.25, 0.5, 1, 2, 4, 8):
        size, recs = 0, []
        for v in vols:
            n, d = zfp_roundtrip(v, rate)
            size += n; recs.append(d)
        add(f"ZFP rate={rate}", "ZFP", size, post(np.stack(recs)))
    save("rd", res)
    plot_rd(res)


def plot_rd(res):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    styles = {"tpc_inr (amortised INR + residuals)": "o-", "coords + requant (no INR)": "s--",
              "sparse baseline": "d-", "SZ3": "^-", "ZFP": "v-"}
    for ax, key, lab in ((axes[0], "mse", "MSE over the whole volume (ADC^2)"),
                         (axes[1], "mse_nonzero", "MSE on the input hits (ADC^2)")):
        for fam, mk in styles.items():
            rows = sorted([r for r in res["rows"] if r["family"] == fam], key=lambda r: r["cr_sparse"])
            if not rows:
                continue
            x = [r["cr_sparse"] for r in rows]
            y = [max(r[key], 0.05) for r in rows]
            line, = ax.plot(x, y, mk, label=fam, ms=5)
            low = [(a, b) for a, b, r in zip(x, y, rows) if r["recall"] < 0.95]
            if low:   # recall below the 0.95: open markers
                ax.plot(*zip(*low), "o", ms=10, mfc="none", mec=line.get_color(), lw=0)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log"); ax.set_yscale("log")
        ax.set_xticks([0.2, 0.5, 1, 2, 4, 8])
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("compression ratio vs lossless sparse ROOT file (same hits)"); ax.set_ylabel(lab)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"TPC rate-distortion, {res['sectors']} sectors ({res['hits']} hits, occupancy "
                 f"{100 * res['occupancy']:.1f}%); circled: hit recall < 0.95", fontsize=9)
    fig.tight_layout(); fig.savefig(OUT / "tpc_rd.png", dpi=110); plt.close(fig)


# ---------------------------------------------------------------------------------------------- amortised timing
def amortised_runtime(kind: str):
    from hepvq.tpc.amortised_rt import AmortisedRuntime

    d = ROOT / "data" / "models"
    suffix = "" if kind == "hybrid" else "_dense"
    enc, dec = d / f"tpc_amortised{suffix}_encoder.onnx", d / f"tpc_amortised{suffix}_decoder.onnx"
    if not (enc.is_file() and dec.is_file()):
        print(f"(no {enc.name}: skipping the amortised {kind} model)")
        return None
    return AmortisedRuntime.load(encoder=enc, decoder=dec)


def study_amortised(args):
    from hepvq.runtime.session import load_model

    vols, source = load_sectors(8, seed=5)
    rows = {}
    d = ROOT / "data" / "models"
    for threads in (1, 2):
        m = load_model(d / "tpc_amortised_encoder.onnx", intra_op_threads=threads)
        v = vols.astype(np.float32)
        for batch in (1, 8):
            m.run({"volume": v[:batch]}, batch_size=batch)
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < 3.0:
                m.run({"volume": v[:batch]}, batch_size=batch); n += batch
            rows[f"threads={threads} batch={batch}"] = 1000 * (time.perf_counter() - t0) / n
            print(f"amortised encoder, onnxruntime CPU threads={threads} batch={batch}: {rows[f'threads={threads} batch={batch}']:.2f} ms/sector", flush=True)
    save("amortised", {"source": source, "ms_per_sector": rows, "cpu": os.cpu_count()})


def save(name, obj):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"tpc_{name}.json").write_text(json.dumps(obj, indent=1, default=float))


def refresh(argv=None):
    """python benchmarks/bench_tpc.py refresh: recompute the lossless sparse reference of saved studies."""
    for name, n, seed, plot in (("fig3a", None, 1, plot_fig3a), ("hybrid", None, 4, plot_hybrid)):
        path = OUT / f"tpc_{name}.json"
        if path.exists():
            refresh_sparse(name, json.loads(path.read_text())["sectors"], seed)
            plot(json.loads(path.read_text()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", choices=["fig3a", "sampling", "superres", "hybrid", "rd", "amortised", "all", "refresh"])
    ap.add_argument("--sectors", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--ratio", type=float, default=None)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--widths", default=None)
    ap.add_argument("--kinds", default="siren,wire,ffnet")
    ap.add_argument("--strategy", default="importance_unbiased", help="fig3a / superres: sampling strategy")
    ap.add_argument("--ratios", default="0.01,0.02,0.05,0.1,0.2,0.5")
    ap.add_argument("--bounds", default="128,64,32,16,8,2,0", help="rd: ADC error bounds of the tpc_inr rows")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--out", default=None, help="directory of the JSON and PNG results (default bench_out/tpc)")
    where.add_argument("--update-docs", action="store_true", help="write docs/img/ (the published figures)")
    args = ap.parse_args(argv)
    global OUT
    OUT = DOCS_OUT if args.update_docs else Path(args.out) if args.out else OUT
    if args.study == "refresh":
        return refresh()
    defaults = {"fig3a": dict(sectors=4, epochs=30, ratio=0.1, widths="16,32,64"),
                "sampling": dict(sectors=4, epochs=12, ratio=0.1, widths="32"),
                "superres": dict(sectors=2, epochs=40, ratio=0.1, widths="64", width=64),
                "hybrid": dict(sectors=4, epochs=100, ratio=0.02, widths="32,64,128"),
                "rd": dict(sectors=2, epochs=0, ratio=0.0, widths=""),
                "amortised": dict(sectors=8, epochs=0, ratio=0.0, widths="")}
    for study in (defaults if args.study == "all" else [args.study]):
        a = argparse.Namespace(**vars(args))
        for k, v in defaults[study].items():
            if getattr(args, k) is None or (k == "width" and study == "superres" and args.width == 32):
                setattr(a, k, v)
        t0 = time.perf_counter()
        print(f"=== {study} ===", flush=True)
        {"fig3a": study_fig3a, "sampling": study_sampling, "superres": study_superres, "hybrid": study_hybrid,
         "rd": study_rd, "amortised": study_amortised}[study](a)
        print(f"=== {study}: {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
