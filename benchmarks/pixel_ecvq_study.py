"""Study (issue 14): how much would an entropy-constrained refinement of the pixel_vq codebook save on the code stream?

    python benchmarks/pixel_ecvq_study.py [--point default] [--events 20] [--iterations 6] [--mus 0.004,0.007,0.01,0.015]

Starts from the shipped codebook and the operating point's tables, then repeats on the shipped 10-event sample
(the tables' fitting events): the rate-aware code choice of format 2 (the core's VQSearch.search_rate, top 16,
the model's lambda, the point's mu) under the current code table, a new code table from those choices (counts per
code context, 4 pseudo-counts spread like the codes' overall frequencies), and each code's vector moved to the
masked mean of the fractions it was chosen for (masked k-means; pixels no patch of the code has keep their value).
After some iterations the codebook is evaluated on held-out events (the first --events of
bench_out/format2/test200.root, simulated with seed 2026 as benchmarks/pixel_op_scan.py does if absent) at several
mu: the code stream's ideal code length per hit under the refit table (what rANS writes within ~0.001) against the
patch-level centroid RMS and fraction MSE of the decoded fractions (clipped code on the patch's mask, normalised;
the decoder's fractions before ADC rounding). Compare the codebooks at equal patch centroid RMS. Nothing is
written: the shipped model stays as it is; this measures the lever before anyone retrains and re-ships it."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEST = REPO / "bench_out" / "format2" / "test200.root"
SIM_SWITCHES = ["--multiple-scattering", "--noise-rate", "1e-5", "--big-pixels"]


class CodeData:
    """Fractions, masks and code contexts of the multi-hit patches of some events, as PixelVQFormat2._symbols
    computes them."""

    def __init__(self, codec, hits):
        import hepvq_core

        from hepvq.pixel import patches as P
        from hepvq.pixel.codec import quantise_charge

        h, p, order, hit_patch, slot = codec._extract(hits, 0, dense_adc=False)
        shape, mask = codec.shape_index(p.mask)
        total, nhit, x = hepvq_core.patch_fractions_hits(mask, codec.size, hit_patch, slot, order, h.adc, 2)
        multi = np.asarray(nhit) >= 2
        self.ctx = np.asarray(codec.ctx.code(shape[multi], np.asarray(nhit)[multi].astype(np.int64),
                                             quantise_charge(total, codec.levels)[multi]), dtype=np.int64)
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        self.mask = np.asarray(mask[multi], dtype=np.uint64)
        self.dense = P.mask_to_dense(self.mask, codec.size).astype(np.float64)
        self.n_hits = len(h.row)


def choose(codec, cb, bits, mu, d: CodeData) -> np.ndarray:
    import hepvq_core

    from hepvq.pixel.fastsearch import TOL

    search = hepvq_core.VQSearch(np.ascontiguousarray(cb), 16, codec._fast.lam, codec.pc, TOL)
    search.set_rate(np.ascontiguousarray(bits), float(mu))
    return np.asarray(search.search_rate(d.x, d.mask, d.ctx, 2)[0], dtype=np.int64)


def code_table_bits(idx, ctx, n_ctx, k) -> np.ndarray:
    """bits(code | context) of a table fitted to the choices, smoothed toward the codes' overall frequencies"""
    counts = np.zeros((n_ctx, k))
    np.add.at(counts, (ctx, idx), 1)
    overall = counts.sum(0) + 1
    w = counts + 4 * overall / overall.sum()
    return np.log2(w.sum(1, keepdims=True) / w)


def refine(cb, idx, d: CodeData) -> np.ndarray:
    """Each code's vector -> masked mean of the fractions chosen for it."""
    num = np.zeros(cb.shape)
    den = np.zeros(cb.shape)
    np.add.at(num, idx, d.x.astype(np.float64))
    np.add.at(den, idx, d.dense)
    return np.where(den > 0, num / np.maximum(den, 1e-12), cb)


def figures(codec, cb, bits, mu, d: CodeData) -> dict:
    idx = choose(codec, cb, bits, mu, d)
    f = np.maximum(cb[idx], 0) * d.dense
    f /= np.maximum(f.sum(1, keepdims=True), 1e-12)
    x = d.x.astype(np.float64)
    slot = np.arange(cb.shape[1])
    pos_r, pos_c = np.floor(slot / codec.pc), np.remainder(slot, codec.pc)
    er, ec = (f - x) @ pos_r, (f - x) @ pos_c
    return {"code_bits_per_hit": float(bits[d.ctx, idx].sum() / d.n_hits),
            "patch_centroid_rms_px": float(np.sqrt(np.mean(er ** 2 + ec ** 2))),
            "fraction_mse": float(np.mean(((f - x) ** 2).sum(1)))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--point", default="default", help="shipped operating point (its mu trains, its tables start)")
    ap.add_argument("--events", type=int, default=20, help="held-out events evaluated")
    ap.add_argument("--iterations", type=int, default=6, help="refinement iterations (evaluated at 2, 4, ... and the last)")
    ap.add_argument("--mus", default="0.004,0.007,0.01,0.015,0.02,0.03", help="mu values of the evaluation")
    args = ap.parse_args(argv)
    from hepvq.pixel import format2 as F
    from hepvq.pixel.train import read_digis

    if not TEST.is_file():
        TEST.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["hepvq-simulate", "pixel", "--events", "200", "--pileup", "200", "--seed", "2026",
                        *SIM_SWITCHES, "--no-truth", "--quiet", "-o", str(TEST)], check=True)
    codec = F.PixelVQFormat2.from_directory(REPO / "data" / "models" / "pixel_vq", operating_point=args.point)
    fit = CodeData(codec, read_digis(REPO / "data" / "pixel_pu200_sample.root"))
    test = CodeData(codec, read_digis(TEST, args.events))
    mus = [float(v) for v in args.mus.split(",") if v.strip()]
    cb = codec._fast.cb.copy()
    bits = np.ascontiguousarray(codec.rate_bits()[0], dtype=np.float64)
    n_ctx = bits.shape[0]

    def report(label):
        for m in mus:
            r = figures(codec, cb, bits, m, test)
            print(f"{label:28s} mu {m:<6g} code {r['code_bits_per_hit']:.4f} bits/hit  patch centroid RMS "
                  f"{r['patch_centroid_rms_px']:.4f} px  fraction MSE {r['fraction_mse']:.5f}", flush=True)

    print(f"point {args.point} (training mu {codec.mu}); {len(fit.x)} fitting / {len(test.x)} held-out multi-hit patches, "
          f"{test.n_hits} held-out hits")
    report("shipped codebook")
    shipped_bits = bits
    bits = code_table_bits(choose(codec, cb, bits, codec.mu, fit), fit.ctx, n_ctx, cb.shape[0])
    report("shipped codebook, table refit")  # the same table fitting as the refined codebooks get
    bits = shipped_bits
    for it in range(1, args.iterations + 1):
        idx = choose(codec, cb, bits, codec.mu, fit)
        bits = code_table_bits(idx, fit.ctx, n_ctx, cb.shape[0])
        cb = refine(cb, idx, fit)
        if it % 2 == 0 or it == args.iterations:
            report(f"refined, iteration {it}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
