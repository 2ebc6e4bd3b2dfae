"""Operating-point scan of pixel_vq format 2 (issue 14 targets): encode-time settings that need no retraining.

    python benchmarks/pixel_op_scan.py --events 50 --points 0.10:0.002,0.11:0.004,0.14:0.01
    python benchmarks/pixel_op_scan.py --events 200 --points 0.11:0.004 --streams

A point is ``charge_step:mu[:lambda[:topk]]`` (lambda: the fraction-error weight of the rate-aware code
choice, the shipped model's 0.3; topk: how many nearest codes it weighs, format2.RATE_TOPK = 16; both are
encode-time only: the decoder decodes whichever code was chosen). For each point the format-2 tables are fitted as ``hepvq-train pixel-vq-tables`` fits
the shipped ones (format2.fit_tables: the shipped 10-event sample, 2 rate-aware refits; cached under --out), then
the held-out events are encoded in chunks of 20 by ``PixelVQFormat2.encode(..., validate=True)``: bits per hit of
the stored products (stream bytes + counts + unknown detIds, format2.products_bytes: what the encoder module reports;
ROOT's baskets add ~0.005 bits/hit) and the fidelity of the decoded hits (recall, cluster charge RMS, 2-D
centroid RMS; cluster-weighted over the chunks, as benchmarks/pixel_format2.py). ``--streams``: bits per hit
of each stream. Held-out events: ``hepvq-simulate pixel --seed 2026`` with the shipped sample's realism switches
(the test set of docs/pixel.md and docs/validation.md), simulated into --test if absent.
``--peer 5,6``: the peer instead (pixel_sparse format 2 on the same rANS coder, ADC requantised to that many log
bits; its tables refit per precision with ``python -m hepvq.baselines.sparse_streams pixel
data/pixel_pu200_sample.root --adc-bits B``, cached under --out), its blob bytes per hit and decoded fidelity.
Results go to <out>/scan.json (one entry per point and event count; re-runs reuse them)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = Path(os.environ.get("HEPVQ_SCAN_MODEL", REPO / "data" / "models" / "pixel_vq"))
FIT_INPUT = REPO / "data" / "pixel_pu200_sample.root"
SIM_SWITCHES = ["--multiple-scattering", "--noise-rate", "1e-5", "--big-pixels"]
CHUNK = 20


def parse_point(text: str) -> tuple[float, float, float | None, int | None]:
    parts = [float(v) for v in text.split(":")]
    if len(parts) not in (2, 3, 4):
        raise ValueError(f"point {text!r}: want charge_step:mu[:lambda[:topk]]")
    lam = parts[2] if len(parts) >= 3 and parts[2] >= 0 else None  # -1: the model's
    return parts[0], parts[1], lam, (int(parts[3]) if len(parts) == 4 else None)


def key(step, mu, lam, topk=None) -> str:
    return (f"cs{step:g}_mu{mu:g}" + ("" if lam is None else f"_lam{lam:g}")
            + ("" if topk is None else f"_top{topk}"))


def codec_for(step, mu, lam, topk, out: Path, fit_hits):
    """A PixelVQFormat2 at (step, mu, lambda, topk), its tables fitted (or read from the cache)."""
    from hepvq.pixel import format2 as F

    name = key(step, mu, lam, topk)
    F.OPERATING_POINTS[name] = {"charge_step": step, "mu": mu, "what": "scan point",
                                **({} if lam is None else {"rate_lambda": lam}),
                                **({} if topk is None else {"rate_topk": topk})}
    path = out / f"{name}.tables"
    fit_s = 0.0
    if not path.is_file():
        t0 = time.process_time()
        path.write_bytes(F.fit_tables(MODEL, fit_hits(), name, source=str(FIT_INPUT)))
        fit_s = time.process_time() - t0
    codec = F.PixelVQFormat2.from_directory(MODEL, operating_point=name, tables=path.read_bytes())
    return codec, fit_s


def measure(codec, hits, streams: bool) -> dict:
    from hepvq.pixel import format2 as F

    n = len(hits)
    tot = {"bytes": 0, "hits": 0, "clusters": 0, "charge2": 0.0, "centroid2": 0.0, "recall": 0.0}
    per_stream: dict[str, int] = {}
    t0 = time.process_time()
    for start in range(0, n, CHUNK):
        chunk = hits[start:min(n, start + CHUNK)]
        products, report = codec.encode(chunk, start, validate=True)  # report["fidelity"]: the decoder's figures
        tot["bytes"] += F.products_bytes(products)
        add_fidelity(tot, report["fidelity"])
        if streams:
            import awkward as ak

            for k, v in products.items():
                if k.startswith("s_") or k == "fardet":
                    per_stream[k.removeprefix("s_")] = per_stream.get(k.removeprefix("s_"), 0) + \
                        ak.to_numpy(ak.flatten(v, axis=None)).nbytes
    res = summary(tot, n, t0)
    if streams:
        res["streams"] = {k: 8 * v / max(tot["hits"], 1) for k, v in sorted(per_stream.items(), key=lambda kv: -kv[1])}
    return res


def measure_peer(bits: int, hits, out: Path) -> dict:
    """The peer at `bits` log ADC bits: blob bytes per hit and the decoded hits' figures, chunks of CHUNK events."""
    import awkward as ak

    from hepvq.pixel import metrics as M
    from hepvq.pixel import patches as P
    from hepvq.pixel.codec import PixelSparseCodec

    tables = out / f"sparse_tables_{bits}bit.rans"
    if not tables.is_file():
        subprocess.run([sys.executable, "-m", "hepvq.baselines.sparse_streams", "pixel", str(FIT_INPUT), "-o",
                        str(tables), "--adc-bits", str(bits)], check=True)
    codec = PixelSparseCodec(bits, format=2, tables=str(tables))
    n = len(hits)
    tot = {"bytes": 0, "hits": 0, "clusters": 0, "charge2": 0.0, "centroid2": 0.0, "recall": 0.0}
    t0 = time.process_time()
    for start in range(0, n, CHUNK):
        chunk = hits[start:min(n, start + CHUNK)]
        products = codec.encode(chunk, start).products
        tot["bytes"] += sum(ak.to_numpy(ak.flatten(v[f] if f else v, axis=None)).nbytes
                            for v in products.values() for f in (ak.fields(v) or [None]))
        add_fidelity(tot, M.compare(P.flatten(chunk), P.flatten(codec.decode(products))))
    return summary(tot, n, t0)


def add_fidelity(tot: dict, m: dict) -> None:
    """Accumulate one chunk's fidelity figures: recall weighted by hits, squared RMS by clusters."""
    nh, ncl = int(m["hits_in"]), int(m["clusters"])
    tot["hits"] += nh
    tot["clusters"] += ncl
    tot["recall"] += m["recall"] * nh
    tot["charge2"] += m["charge_rms_rel"] ** 2 * ncl
    tot["centroid2"] += m["centroid_rms_px"] ** 2 * ncl


def summary(tot: dict, n_events: int, t0: float) -> dict:
    """Bits per hit and the whole sample's fidelity from the accumulated chunks."""
    h, c = max(tot["hits"], 1), max(tot["clusters"], 1)
    return {"events": n_events, "hits": tot["hits"], "bits_per_hit": 8 * tot["bytes"] / h,
            "recall": tot["recall"] / h, "charge_rms": float(np.sqrt(tot["charge2"] / c)),
            "centroid_rms_px": float(np.sqrt(tot["centroid2"] / c)), "encode_cpu_s": time.process_time() - t0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", default="", help="comma list of charge_step:mu[:lambda[:topk]]")
    ap.add_argument("--peer", default="", help="comma list of the peer's log ADC bits (pixel_sparse format 2)")
    ap.add_argument("--events", type=int, default=50, help="held-out events encoded (first N of --test)")
    ap.add_argument("--test", default=str(REPO / "bench_out" / "format2" / "test200.root"),
                    help="held-out DIGIs (200 events simulated with seed 2026 if absent)")
    ap.add_argument("--out", default=str(REPO / "bench_out" / "opscan"), help="tables cache and scan.json")
    ap.add_argument("--streams", action="store_true", help="also bits per hit of each stream")
    args = ap.parse_args(argv)
    from hepvq.pixel.train import read_digis

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not Path(args.test).is_file():
        subprocess.run(["hepvq-simulate", "pixel", "--events", "200", "--pileup", "200", "--seed", "2026",
                        *SIM_SWITCHES, "--no-truth", "--quiet", "-o", args.test], check=True)
    hits = read_digis(args.test, args.events)
    fit_cache = {}

    def fit_hits():
        if "h" not in fit_cache:
            fit_cache["h"] = read_digis(FIT_INPUT)
        return fit_cache["h"]

    path = out / "scan.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    for bits in [int(x) for x in args.peer.split(",") if x.strip()]:
        k = f"peer{bits}@{len(hits)}"
        if k not in results:
            results[k] = dict(measure_peer(bits, hits, out), peer_bits=bits, load=os.getloadavg()[0])
            path.write_text(json.dumps(results, indent=1))
        r = results[k]
        print(f"peer {bits}-bit log ADC  events {r['events']}  bits/hit {r['bits_per_hit']:.3f}  charge RMS "
              f"{100 * r['charge_rms']:.2f} %  centroid {r['centroid_rms_px']:.4f} px  recall {r['recall']:.4f}", flush=True)
    for text in [x for x in args.points.split(",") if x.strip()]:
        step, mu, lam, topk = parse_point(text)
        k = f"{key(step, mu, lam, topk)}@{len(hits)}"
        if k in results and (not args.streams or "streams" in results[k]):
            r = results[k]
        else:
            codec, fit_s = codec_for(step, mu, lam, topk, out, fit_hits)
            r = dict(measure(codec, hits, args.streams), charge_step=step, mu=mu, lam=lam, topk=topk, fit_cpu_s=fit_s,
                     load=os.getloadavg()[0])
            results[k] = r
            path.write_text(json.dumps(results, indent=1))
        line = (f"step {step:.3f} mu {mu:.4f} lam {lam if lam is not None else 0.3:.2f}  topk {topk or 16}  events {r['events']}  "
                f"bits/hit {r['bits_per_hit']:.3f}  charge RMS {100 * r['charge_rms']:.2f} %  centroid "
                f"{r['centroid_rms_px']:.4f} px  recall {r['recall']:.4f}  (encode {r['encode_cpu_s']:.0f} s CPU)")
        if "streams" in r:
            line += "\n    " + ", ".join(f"{s} {v:.3f}" for s, v in r["streams"].items())
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
