"""Training of the pixel_vq codec (``hepvq-train pixel-vq`` / ``hepvq-train pixel-vqvae``).

What is learned from data:
* the table of frequent occupancy shapes (the most frequent masks; rarer ones escape to an explicit mask);
* the charge model on the charge-fraction vectors of multi-hit patches: classical VQ (masked k-means),
  residual VQ (k-means stage after stage on the residuals) or a VQ-VAE (hepvq.models.vqvae).
The total-charge grid is fixed by ``--charge-step`` (relative step of the log grid).

Output: a checkpoint (torch.save of a dict) that ``hepvq-export pixel-vq`` turns into a model directory
(codec.json + encoder.onnx + decoder.onnx); ``--export DIR`` does both in one go.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import awkward as ak
import numpy as np

from hepvq.errors import InputError
from hepvq.extras import require
from hepvq.pixel import patches as P
from hepvq.pixel.codec import FORMAT, FORMAT_VERSION, charge_levels

log = logging.getLogger("hepvq.pixel.train")


# ---- data -------------------------------------------------------------------------------------------------
def read_digis(path, max_events: int = -1, tree: str = "Events", prefix: str = "PixelDigi") -> ak.Array:
    """Jagged DIGI records from a ROOT file in the input schema (uproot only; no framework needed)."""
    import uproot

    try:
        f = uproot.open(path)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot open: {err}", file=str(path)) from err
    if tree not in f:
        raise InputError("no such tree", file=str(path), tree=tree)
    t = f[tree]
    names = [f"{prefix}_{x}" for x in P.FIELDS]
    missing = [n for n in names if n not in t]
    if missing:
        raise InputError(f"missing branches {', '.join(missing)}", file=str(path), tree=tree)
    stop = None if max_events is None or max_events < 0 else max_events
    arr = t.arrays(names, entry_stop=stop)
    return ak.zip({x: arr[f"{prefix}_{x}"] for x in P.FIELDS})


def simulate(n_events: int, pileup: int = 200, seed: int = 0) -> ak.Array:
    from hepvq.sim.pixel import simulate_events

    events, _truth = simulate_events(n_events, pileup=pileup, seed=seed)
    return events["PixelDigi"] if "PixelDigi" in ak.fields(events) else events


def load_hits(args) -> ak.Array:
    if args.input:
        hits = [read_digis(p, args.max_events) for p in args.input]
        return ak.concatenate(hits) if len(hits) > 1 else hits[0]
    return simulate(args.simulate, args.pileup, args.seed)


# ---- preparation ------------------------------------------------------------------------------------------
def prepare(hits: ak.Array, patch_rows=4, patch_cols=8, module_rows=P.DEFAULT_MODULE_ROWS,
            module_cols=P.DEFAULT_MODULE_COLS, n_shapes=255, charge_step=0.06, adc_max=None, max_patches=400_000,
            seed=0):
    """Codec settings (shape table, charge grid, ranges) and the training vectors (x, mask) of multi-hit patches."""
    h = P.flatten(hits)
    if len(h) == 0:
        raise InputError("no pixel DIGIs in the training data")
    if adc_max is None:
        adc_max = int(2 ** int(np.ceil(np.log2(int(h.adc.max()) + 1))) - 1)
    P.check_range(h, module_rows, module_cols, adc_max)
    p, *_ = P.extract(h, patch_rows, patch_cols, module_rows, module_cols)
    masks, counts = np.unique(p.mask, return_counts=True)
    top = np.argsort(-counts, kind="stable")[:n_shapes]
    top = top[counts[top] >= 2]
    shapes = masks[top]
    covered = counts[top].sum() / counts.sum()
    levels = charge_levels(charge_step, adc_max * patch_rows * patch_cols)
    settings = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "patch_rows": patch_rows, "patch_cols": patch_cols,
        "module_rows": module_rows, "module_cols": module_cols,
        "adc_min": int(max(1, h.adc.min())), "adc_max": adc_max,
        "charge_step": charge_step, "charge_levels": levels.tolist(),
        "shapes": [int(s) for s in shapes],
        # CMS TrackerTopology barrel detId: layer (4 bits @20) and module along z (6 bits @2)
        "shape_context": {"bitfields": [[20, 15], [2, 63]], "keys": []},
        "training": {"hits": int(len(h)), "events": int(h.n_events), "patches": int(len(p)),
                     "shape_coverage": float(covered)},
    }
    nh = p.nhit
    multi = nh >= 2
    adc = p.adc[multi].astype(np.float64)
    x = (adc / adc.sum(1, keepdims=True)).astype(np.float32)
    m = (p.adc[multi] > 0).astype(np.float32)
    if len(x) > max_patches:
        pick = np.random.default_rng(seed).choice(len(x), max_patches, replace=False)
        x, m = x[pick], m[pick]
    log.info("training data: %d hits, %d patches (%d multi-hit), %d shapes cover %.2f%% of patches",
             len(h), len(p), int(multi.sum()), len(shapes), 100 * covered)
    return settings, x, m


# ---- fitting ----------------------------------------------------------------------------------------------
def fit_vq(x, m, codebook_size=256, stages=1, iters=25, seed=0, quiet=True) -> dict:
    torch = require("torch")
    from hepvq.models import vq

    t0 = time.time()
    xt, mt = torch.from_numpy(x), torch.from_numpy(m)
    sizes = list(codebook_size) if isinstance(codebook_size, (list, tuple)) else [int(codebook_size)] * stages
    books = vq.residual_kmeans(xt, sizes, None, mt, iters=iters, seed=seed, quiet=quiet)
    stages = len(books)
    info = {"seconds": time.time() - t0}
    r = xt.clone()
    for s, cb in enumerate(books):
        idx = vq.assign(r, cb, mt)
        info[f"perplexity_stage{s}"] = vq.perplexity(idx, len(cb))
        r = r - cb[idx] * mt
        info[f"rmse_after_stage{s}"] = float(((r * mt) ** 2).sum(1).mean().sqrt())
    kind = "vq" if stages == 1 else "rvq"
    return {"kind": kind, "codebooks": [cb.clone() for cb in books], "codebook_size": int(books[0].shape[0]),
            "codebook_sizes": [int(cb.shape[0]) for cb in books], "stages": stages, "train_info": info}


def fit_vqvae(x, m, rows, cols, num_codes=512, dim=8, steps=3000, batch=512, lr=3e-4, ema=True, kmeans_init=True,
              dead_code_threshold=0.5, seed=0, log_every=500, quiet=True) -> dict:
    torch = require("torch")
    from hepvq.progress import bar as progress_bar

    from hepvq.models.vqvae import PatchVQVAE

    g = torch.Generator().manual_seed(seed)
    model = PatchVQVAE(rows, cols, num_codes, dim, ema=ema, kmeans_init=kmeans_init,
                       dead_code_threshold=dead_code_threshold, seed=seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    xt, mt = torch.from_numpy(x), torch.from_numpy(m)
    n = len(xt)
    t0 = time.time()
    history = []
    model.train()
    bar = progress_bar(total=steps, desc="VQ-VAE", unit="step", quiet=quiet)
    for step in range(steps):
        idx = torch.randint(n, (min(batch, n),), generator=g)
        xb, mb = xt[idx], mt[idx]
        if step == 0 and kmeans_init:  # initialise the codebook on a large first batch
            with torch.no_grad():
                model.vq._init(model.encode(xt[:min(n, 8192)], mt[:min(n, 8192)]))
        y, codes, vq_loss = model(xb, mb)
        rec = (((y - xb) * mb) ** 2).sum(1).mean()
        loss = rec + vq_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.update(1)
        if step % 20 == 0:
            bar.set_postfix(rec=f"{rec.item():.4g}", perplexity=f"{model.vq.last_perplexity:.0f}")
        if step % log_every == 0 or step == steps - 1:
            history.append({"step": step, "rec": rec.item(), "vq": vq_loss.item(),
                            "perplexity": model.vq.last_perplexity, "dead_restarted": model.vq.last_dead})
            log.info("vqvae step %d: rec %.5f vq %.5f perplexity %.1f", step, rec.item(), vq_loss.item(),
                     model.vq.last_perplexity)
    bar.close()
    model.eval()
    with torch.no_grad():
        sub = slice(0, min(n, 50000))
        y, codes, _ = model(xt[sub], mt[sub])
        from hepvq.models.vq import perplexity

        info = {"seconds": time.time() - t0, "perplexity": perplexity(codes, num_codes),
                "active_codes": int(torch.unique(codes).numel()),
                "rmse": float((((y - xt[sub]) * mt[sub]) ** 2).sum(1).mean().sqrt()), "history": history}
    config = {"rows": rows, "cols": cols, "num_codes": num_codes, "dim": dim, "ema": ema, "kmeans_init": kmeans_init,
              "dead_code_threshold": dead_code_threshold}
    return {"kind": "vqvae", "state_dict": model.state_dict(), "config": config, "codebook_size": num_codes,
            "stages": 1, "train_info": info}


def train(hits, kind="rvq", patch_rows=4, patch_cols=8, codebook_size=256, stages=2, charge_step=0.06, n_shapes=255,
          module_rows=P.DEFAULT_MODULE_ROWS, module_cols=P.DEFAULT_MODULE_COLS, adc_max=None, iters=25, seed=0,
          vqvae_steps=3000, vqvae_options=None, context_ranks=True, selection=None, quiet=True) -> dict:
    """Settings + fitted charge model: the checkpoint dict that export.export_model() turns into ONNX files."""
    settings, x, m = prepare(hits, patch_rows, patch_cols, module_rows, module_cols, n_shapes, charge_step, adc_max,
                             seed=seed)
    if kind in ("vq", "rvq"):
        if kind == "vq":
            codebook_size = codebook_size[0] if isinstance(codebook_size, (list, tuple)) else codebook_size
        model = fit_vq(x, m, codebook_size, 1 if kind == "vq" else stages, iters=iters, seed=seed, quiet=quiet)
    elif kind == "vqvae":
        model = fit_vqvae(x, m, patch_rows, patch_cols, num_codes=codebook_size, steps=vqvae_steps, seed=seed,
                          **(vqvae_options or {}))
    else:
        raise ValueError(f"unknown pixel charge model kind {kind!r} (vq, rvq, vqvae)")
    if selection:
        model["selection"] = dict(selection)
    ckpt = {"settings": settings, "model": model}
    if context_ranks:
        ckpt["settings"]["ranks"] = fit_ranks(ckpt, hits)
    return ckpt


def fit_ranks(ckpt: dict, hits: ak.Array, max_events: int = 20) -> dict:
    """Context-rank tables (per shape code: charge index and each stage's VQ code by frequency), measured by
    running the exported codec itself on the training events."""
    import tempfile

    from hepvq.pixel.codec import PixelVQCodec
    from hepvq.pixel.export import export_model

    plain = {"settings": {k: v for k, v in ckpt["settings"].items() if k != "ranks"}, "model": ckpt["model"]}
    with tempfile.TemporaryDirectory(prefix=".hepvq-tmp-ranks-") as tmp:
        codec = PixelVQCodec.from_directory(export_model(plain, tmp))
        _h, _p, shape, _mask, charge, codes, multi = codec._symbols(hits[:max_events])[:7]
    ranks, keys = _rank_tables(codec, shape, charge, codes, multi, _p.det)
    ckpt["settings"]["shape_context"] = dict(ckpt["settings"].get("shape_context") or {}, keys=keys)
    return ranks


def _rank_tables(codec, shape, charge, codes, multi, det, min_patches: int = 300):
    """Rank tables (see PixelVQCodec._to_ranks) and the shape-context keys with enough training patches."""
    from hepvq.pixel.codec import encode_table, rank_table

    n_ctx = codec.escape + 1
    ranks = {"charge": encode_table(rank_table(shape, charge, n_ctx, len(codec.levels)))}
    for s, k in enumerate(codec.codebook_sizes):
        ranks[f"c{s}"] = encode_table(rank_table(shape[multi], codes[:, s], n_ctx, k))
    keys = []
    if codec.ctx_bitfields:
        key = np.zeros(len(det), dtype=np.int64)
        for shift, mask in codec.ctx_bitfields:
            key = key * (mask + 1) + ((det.astype(np.int64) >> shift) & mask)
        u, c = np.unique(key, return_counts=True)
        keys = [int(k) for k in u[c >= min_patches]]
        karr = np.asarray(keys, dtype=np.int64)
        pos = np.minimum(np.searchsorted(karr, key), max(len(karr) - 1, 0))
        ctx = np.where(karr[pos] == key, pos + 1, 0) if len(karr) else np.zeros(len(key), dtype=np.int64)
        ranks["shape"] = encode_table(rank_table(ctx, shape, len(keys) + 1, codec.escape + 1))
    return ranks, keys


def calibrate_directory(model_dir, hits: ak.Array, max_events: int = 20) -> None:
    """Add (or refresh) the context-rank tables of an exported model directory from `hits`."""
    from hepvq.pixel.codec import SETTINGS_FILE, PixelVQCodec

    path = Path(model_dir) / SETTINGS_FILE
    settings = json.loads(path.read_text())
    settings.pop("ranks", None)
    path.write_text(json.dumps(settings, indent=1, sort_keys=True))
    codec = PixelVQCodec.from_directory(model_dir)
    _h, p, shape, _mask, charge, codes, multi = codec._symbols(hits[:max_events])[:7]
    if not codec.ctx_bitfields:
        codec.ctx_bitfields = [(20, 15), (2, 63)]
    settings["ranks"], keys = _rank_tables(codec, shape, charge, codes, multi, p.det)
    settings["shape_context"] = {"bitfields": [list(b) for b in codec.ctx_bitfields], "keys": keys}
    path.write_text(json.dumps(settings, indent=1, sort_keys=True))


# ---- command line -----------------------------------------------------------------------------------------
def _parser(prog, vqvae: bool):
    from hepvq.cli import _common

    pos, nonneg, posf = _common.positive_int, _common.non_negative_int, _common.positive_float
    ap = _common.parser(prog, __doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", nargs="+", help="ROOT file(s) with Events/PixelDigi_* branches")
    src.add_argument("--simulate", type=pos, metavar="N", help="simulate N PU events with hepvq.sim.pixel")
    ap.add_argument("--pileup", type=nonneg, default=200, help="--simulate: mean pile-up")
    ap.add_argument("--max-events", type=int, default=-1, help="--input: events read per file (-1 = all)")
    ap.add_argument("--patch", type=_patch_arg, default="4x8", help="patch ROWSxCOLS")
    if vqvae:
        ap.add_argument("--codebook-size", type=pos, default=512, help="VQ-VAE codebook entries")
        ap.add_argument("--steps", type=pos, default=3000, help="optimiser steps (~0.35 s each on 2 cores)")
        ap.add_argument("--dim", type=pos, default=8, help="latent (code) dimension")
        ap.add_argument("--lr", type=posf, default=3e-4, help="Adam learning rate")
        ap.add_argument("--no-ema", action="store_true", help="codebook loss instead of EMA updates (seed recipe)")
        ap.add_argument("--no-kmeans-init", action="store_true", help="random codebook instead of k-means init")
        ap.add_argument("--dead-code-threshold", type=_common.bounded(float, 0), default=0.5,
                        help="codes used less than this (EMA count) are restarted on batch vectors")
    else:
        ap.add_argument("--codebook-size", type=_sizes_arg, default="256",
                        help="codes per stage: one size for every stage, or a comma list (e.g. 256,16; sets --stages)")
        ap.add_argument("--stages", type=pos, default=1, help="residual VQ stages (1 = classical VQ, the shipped model)")
        ap.add_argument("--iters", type=pos, default=25, help="k-means iterations per stage")
        ap.add_argument("--centroid-topk", type=pos, default=8,
                        help="encoder picks among the k nearest codes the one with the best decoded centroid (1: off)")
        ap.add_argument("--centroid-lambda", type=_common.bounded(float, 0), default=0.3,
                        help="weight of the fraction error against the centroid error in that choice")
    ap.add_argument("--charge-step", type=_common.bounded(float, 1e-3, 1.0), default=0.10,
                    help="relative step of the total-charge log grid")
    ap.add_argument("--shapes", type=_common.bounded(int, 1, 65535), default=255,
                    help="size of the frequent-shape table")
    ap.add_argument("--adc-max", type=pos, default=None, help="largest ADC (default: from the data, 2^k - 1)")
    ap.add_argument("--seed", type=nonneg, default=0, help="random seed (sampling, k-means, initialisation)")
    ap.add_argument("--threads", type=pos, default=2, help="torch CPU threads")
    ap.add_argument("--output", "-o", default="pixel_vq.pt", help="checkpoint file")
    ap.add_argument("--export", metavar="DIR", help="also write the ONNX model directory DIR")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress bar (shown only when stderr is a terminal)")
    return ap


def _patch_arg(text):
    import argparse

    try:
        r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 4x8, got {text!r}") from None
    if r < 1 or c < 1 or r * c > 64:
        raise argparse.ArgumentTypeError(f"rows and cols >= 1 and rows*cols <= 64, got {text!r}")
    return text


def _sizes_arg(text):
    import argparse

    try:
        sizes = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 256 or 256,16, got {text!r}")
    return text


def _parse_patch(text):
    r, c = (int(v) for v in text.lower().split("x"))
    return r, c


def _run(argv, vqvae: bool):
    prog = "hepvq-train pixel-vqvae" if vqvae else "hepvq-train pixel-vq"
    ap = _parser(prog, vqvae)
    args = ap.parse_args(argv)
    missing = [f for f in (args.input or []) if not Path(f).is_file()]
    if missing:
        ap.error(f"--input: no such file {missing[0]}")
    torch = require("torch")  # after parsing: --help and usage errors stay fast
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    pr, pc = _parse_patch(args.patch)
    hits = load_hits(args)
    if vqvae:
        opts = {"dim": args.dim, "lr": args.lr, "ema": not args.no_ema, "kmeans_init": not args.no_kmeans_init,
                "dead_code_threshold": args.dead_code_threshold, "quiet": args.quiet}
        ckpt = train(hits, "vqvae", pr, pc, args.codebook_size, 1, args.charge_step, args.shapes, adc_max=args.adc_max,
                     seed=args.seed, vqvae_steps=args.steps, vqvae_options=opts)
    else:
        sizes = [int(v) for v in str(args.codebook_size).split(",") if v.strip()]
        stages = len(sizes) if len(sizes) > 1 else args.stages
        kind = "vq" if stages == 1 else "rvq"
        ckpt = train(hits, kind, pr, pc, sizes if len(sizes) > 1 else sizes[0], stages, args.charge_step, args.shapes,
                     adc_max=args.adc_max, iters=args.iters, seed=args.seed,
                     selection={"centroid_topk": args.centroid_topk, "centroid_lambda": args.centroid_lambda},
                     quiet=args.quiet)
    torch.save(ckpt, args.output)
    info = {k: v for k, v in ckpt["model"]["train_info"].items() if k != "history"}
    print(f"wrote {args.output}: {json.dumps(info)}")
    if args.export:
        from hepvq.pixel.export import export_model

        out = export_model(ckpt, args.export)
        print(f"exported {out}")
    return 0


def main(argv=None):
    return _run(argv, vqvae=False)


def main_vqvae(argv=None):
    return _run(argv, vqvae=True)


def main_tables(argv=None):
    """hepvq-train pixel-vq-tables: fit pixel_vq format-2 rANS tables (one file per operating point) of a model
    directory on DIGIs; no torch needed."""
    from hepvq.cli import _common
    from hepvq.pixel import format2 as F

    ap = _common.parser("hepvq-train pixel-vq-tables", main_tables.__doc__.split(";")[0])
    ap.add_argument("--model", required=True, help="pixel_vq model directory (codec.json, encoder.onnx, decoder.onnx); "
                    "the tables are written into it as format2_<point>.tables")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", nargs="+", help="ROOT file(s) with Events/PixelDigi_* branches")
    src.add_argument("--simulate", type=_common.positive_int, metavar="N", help="simulate N PU events")
    ap.add_argument("--pileup", type=_common.non_negative_int, default=200, help="--simulate: mean pile-up")
    ap.add_argument("--seed", type=_common.non_negative_int, default=0, help="--simulate: random seed")
    ap.add_argument("--max-events", type=int, default=-1, help="--input: events read per file (-1 = all)")
    ap.add_argument("--points", default=",".join(F.OPERATING_POINTS),
                    help=f"comma list of operating points (known: {', '.join(F.OPERATING_POINTS)})")
    ap.add_argument("--iterations", type=_common.non_negative_int, default=2,
                    help="rate-aware re-encodings of the training events after the first fit")
    ap.add_argument("--adapt-period", type=_common.non_negative_int, default=0,
                    help="rANS adaptation within an event every N symbols of a context (0: static tables)")
    ap.add_argument("--extra-shapes", type=_common.non_negative_int, default=F.EXTRA_SHAPES,
                    help="most frequent escaped shapes of the input added to the model's shape table (0: none)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    points = [x.strip() for x in args.points.split(",") if x.strip()]
    bad = [x for x in points if x not in F.OPERATING_POINTS]
    if bad or not points:
        ap.error(f"--points: unknown operating point {bad[0] if bad else ''!r} (known: {', '.join(F.OPERATING_POINTS)})")
    missing = [f for f in (args.input or []) if not Path(f).is_file()]
    if missing:
        ap.error(f"--input: no such file {missing[0]}")
    if not Path(args.model).is_dir():
        ap.error(f"--model: no such directory {args.model}")
    hits = load_hits(args)
    source = " ".join(args.input) if args.input else f"simulate {args.simulate} (seed {args.seed})"
    for point in points:
        blob = F.fit_tables(args.model, hits, point, iterations=args.iterations, adapt_period=args.adapt_period,
                            extra_shapes=args.extra_shapes, source=source, quiet=args.quiet)
        path = F.tables_path(args.model, point)
        path.write_bytes(blob)
        print(f"wrote {path} ({len(blob)} bytes; operating point {point}: {F.OPERATING_POINTS[point]['what']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def checkpoint_from_directory(model_dir) -> dict:
    """Rebuild a classical/residual VQ checkpoint from an exported model directory (codebooks from the decoder
    ONNX), e.g. to re-export it with other encoder settings."""
    torch = require("torch")
    onnx = require("onnx")
    from onnx import numpy_helper

    from hepvq.pixel.codec import DECODER_FILE, SETTINGS_FILE

    d = Path(model_dir)
    settings = json.loads((d / SETTINGS_FILE).read_text())
    model = settings.pop("model")
    if model["kind"] not in ("vq", "rvq"):
        raise ValueError(f"{d}: only vq/rvq models can be rebuilt from their ONNX files, not {model['kind']}")
    init = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(d / DECODER_FILE)).graph.initializer}
    books = [torch.from_numpy(init[f"book{s}"].copy()) for s in range(int(model["stages"]))]
    return {"settings": settings, "model": {"kind": model["kind"], "codebooks": books,
                                            "codebook_size": int(books[0].shape[0]),
                                            "codebook_sizes": [int(b.shape[0]) for b in books],
                                            "stages": len(books), "train_info": model.get("train_info", {})}}
