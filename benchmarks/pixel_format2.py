"""pixel_vq format 2 against format 1 and the sparse baseline on held-out simulated PU-200 events.

    python benchmarks/pixel_format2.py                       # 200 held-out events (seed 2026), every method
    python benchmarks/pixel_format2.py --events 20 --only f1,fine
    python benchmarks/pixel_format2.py --update-docs         # + the table in docs/pixel.md ('Format 2')

The test file is made by ``hepvq-simulate pixel --seed 2026`` with the shipped sample's realism switches
(multiple scattering, noise pixels, big pixels; the sample has seed 1; the format-2 tables are fitted on the
shipped sample). Each method is a real
``hepvq-run python_cfg/premix_compress_cfg.py`` job (ZSTD-5), its file decoded by ``hepvq.open`` and compared
with the input (hepvq.pixel.metrics.compare, per chunk of 20 events, cluster-weighted RMS). Sizes: the Events
tree (baskets of every branch + the TTree record) and the whole file (+ per-file metadata: decoder, settings,
tables, cfg). Writes bench_out/format2/ (files, results.json, table.md)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench_out" / "format2"
COMPRESS = str(REPO / "python_cfg" / "premix_compress_cfg.py")
DOC = REPO / "docs" / "pixel.md"
BEGIN, END = "<!-- pixel_format2 begin -->", "<!-- pixel_format2 end -->"

# the realism switches of the shipped sample (README, "Sample data and simulators")
SIM_SWITCHES = ["--multiple-scattering", "--noise-rate", "1e-5", "--big-pixels"]
METHODS = {
    "f1": ("pixel_vq format 1 (shipped, integer branches)", ["pixelVQ.format=1"]),
    "fine": ("pixel_vq format 2, operatingPoint=fine", ["pixelVQ.format=2", "pixelVQ.operatingPoint=fine"]),
    "default": ("pixel_vq format 2, operatingPoint=default", ["pixelVQ.format=2", "pixelVQ.operatingPoint=default"]),
    "coarse": ("pixel_vq format 2, operatingPoint=coarse", ["pixelVQ.format=2", "pixelVQ.operatingPoint=coarse"]),
    "sparse4log": ("pixel_sparse 4-bit log ADC, format 2 (rANS)", {"adcBits": 4, "mode": "log", "format": 2}),
    # ADC error bounds: format 1's corrections product in both formats
    "f1_b2": ("pixel_vq format 1, adcErrorBound=2", ["pixelVQ.format=1", "pixelVQ.adcErrorBound=2"]),
    "fine_b2": ("pixel_vq format 2 fine, adcErrorBound=2",
                ["pixelVQ.format=2", "pixelVQ.operatingPoint=fine", "pixelVQ.adcErrorBound=2"]),
    "f1_b0": ("pixel_vq format 1, adcErrorBound=0 (lossless)",
               ["pixelVQ.format=1", "pixelVQ.adcErrorBound=0"]),
    "fine_b0": ("pixel_vq format 2 fine, adcErrorBound=0 (lossless)",
                ["pixelVQ.format=2", "pixelVQ.operatingPoint=fine", "pixelVQ.adcErrorBound=0"]),
}


def sparse_cfg(path: Path, src: str, out: str, params: dict) -> str:
    args = ", ".join(f"{k}=cms.{'string' if isinstance(v, str) else 'int32'}({v!r})" for k, v in params.items())
    path.write_text(f"""import hepvq.config as cms
process = cms.Process("SPARSE")
process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring({src!r}),
                            collections=cms.untracked.vstring("PixelDigi"))
process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(20))
process.pixelSparse = cms.EDProducer("PixelDigiSparseEncoder", {args})
process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string({out!r}),
                               outputCommands=cms.untracked.vstring("drop *", "keep pixelSparse*"),
                               compressionAlgorithm=cms.untracked.string("ZSTD"),
                               compressionLevel=cms.untracked.int32(5))
process.p = cms.Path(process.pixelSparse)
process.e = cms.EndPath(process.out)
""")
    return str(path)


def tree_bytes(path) -> dict:
    f = uproot.open(path)
    t = f["Events"]
    branches = {b.name: int(b.compressed_bytes) for b in t.branches}
    events = sum(branches.values()) + int(f.key("Events").data_compressed_bytes)
    return {"events_tree": events, "file": os.path.getsize(path), "branches": branches}


def fidelity(test: str, comp: str, n: int, step: int = 20) -> dict:
    import hepvq
    from hepvq.pixel import metrics as M
    from hepvq.pixel import patches as P

    r = hepvq.open(comp)
    t = uproot.open(test)["Events"]
    sums = {"hits": 0, "recall": 0.0, "precision": 0.0, "adc_mae": 0.0, "clusters": 0, "charge": 0.0,
            "centroid": 0.0}
    t0 = time.perf_counter()
    dec_s = 0.0
    for start in range(0, n, step):
        stop = min(n, start + step)
        src = t.arrays([f"PixelDigi_{k}" for k in P.FIELDS], entry_start=start, entry_stop=stop)
        ref = P.flatten(ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS}))
        t1 = time.perf_counter()
        got = r.arrays(start, stop).PixelDigi
        dec_s += time.perf_counter() - t1
        m = M.compare(ref, P.flatten(got))
        nh, ncl = len(ref), m["clusters"]
        sums["hits"] += nh
        for k in ("recall", "precision", "adc_mae"):
            sums[k] += m[k] * nh
        sums["clusters"] += ncl
        sums["charge"] += m["charge_rms_rel"] ** 2 * ncl
        sums["centroid"] += m["centroid_rms_px"] ** 2 * ncl
    hw, cw = max(sums["hits"], 1), max(sums["clusters"], 1)
    return {"hits": sums["hits"], "recall": sums["recall"] / hw, "precision": sums["precision"] / hw,
            "adc_mae": sums["adc_mae"] / hw, "charge_rms": float(np.sqrt(sums["charge"] / cw)),
            "centroid_rms_px": float(np.sqrt(sums["centroid"] / cw)), "decode_s": dec_s,
            "compare_s": time.perf_counter() - t0 - dec_s}


def run_method(name: str, test: str, n: int) -> dict:
    from hepvq.cli.run import run

    what, spec = METHODS[name]
    out = OUT / f"{name}.root"
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if isinstance(spec, dict):
        cfg = sparse_cfg(OUT / f"{name}_cfg.py", test, str(out), spec)
        run([cfg, f"maxEvents={n}", "--no-progress"])
    else:
        run([COMPRESS, f"inputFiles={test}", f"outputFile={out}", f"maxEvents={n}", "pixelVQ.validate=False",
             "--no-progress", *spec])
    enc_s = time.perf_counter() - t0
    res = {"method": what, "events": n, "encode_job_s": enc_s, **tree_bytes(out), **fidelity(test, str(out), n)}
    res["load"] = f"{load0:.0f}-{os.getloadavg()[0]:.0f}"  # 1-min load average at the start and the end
    res["bits_per_hit_events"] = 8 * res["events_tree"] / res["hits"]
    res["bits_per_hit_file"] = 8 * res["file"] / res["hits"]
    return res


def stream_rows(results: dict) -> list[str]:
    """Per-stream bits/hit (Events-tree baskets, counters included) of format 1 and each format-2 point."""
    rows = []
    for name, r in results.items():
        if not name.startswith(("f1", "fine", "default", "coarse")):
            continue
        groups: dict[str, int] = {}
        for b, v in r["branches"].items():
            if not b.startswith(("pixelVQ", "npixelVQ")):
                continue
            key = b.removeprefix("n").removeprefix("pixelVQ_").removeprefix("pixelVQ")  # a counter with its branch
            if key in ("nmod", "ncl", "npatch", "crc", ""):  # format 2's per-event counts (ncl: not s_ncl)
                key = "counts, crc"
            key = key.removeprefix("s_")
            groups[key] = groups.get(key, 0) + v
        rows.append(f"| {name} | " + ", ".join(f"{k} {8 * v / r['hits']:.3f}" for k, v in
                                               sorted(groups.items(), key=lambda kv: -kv[1])) + " |")
    return rows


def table(results: dict, load: str) -> str:
    ref = results.get("f1")
    lines = [f"{next(iter(results.values()))['events']} held-out events ({next(iter(results.values()))['hits']} "
             f"hits), {load}; load column: 1-min load average at the start and the end of each method's run.", "",
             "| method | bits/hit (Events tree) | bits/hit (whole file) | vs format 1 | recall | cluster charge RMS "
             "| centroid RMS [px] | ADC MAE | encode job [s] | decode [s] | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        vs = f"{r['bits_per_hit_events'] / ref['bits_per_hit_events']:.3f}" if ref else "-"
        lines.append(f"| {r['method']} | **{r['bits_per_hit_events']:.3f}** | {r['bits_per_hit_file']:.3f} | {vs} | "
                     f"{r['recall']:.4f} | {100 * r['charge_rms']:.2f} % | {r['centroid_rms_px']:.4f} | "
                     f"{r['adc_mae']:.2f} | {r['encode_job_s']:.1f} | {r['decode_s']:.1f} | {r.get('load', '?')} |")
    lines += ["", "Per-stream bits/hit in the Events tree (ROOT baskets; largest first):", "",
              "| file | streams |", "|---|---|"] + stream_rows(results)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", help="held-out DIGI file (default: bench_out/format2/test<N>.root, simulated if absent)")
    ap.add_argument("--events", type=int, default=200, help="events of the test file (and simulated)")
    ap.add_argument("--only", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    ap.add_argument("--update-docs", action="store_true", help="rewrite the table in docs/pixel.md")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    test = args.test or str(OUT / f"test{args.events}.root")
    if not Path(test).is_file():
        subprocess.run(["hepvq-simulate", "pixel", "--events", str(args.events), "--pileup", "200", "--seed", "2026",
                        *SIM_SWITCHES, "--no-truth", "--quiet", "-o", test], check=True)
    n = min(args.events, uproot.open(test)["Events"].num_entries)
    path = OUT / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    results = {k: v for k, v in results.items() if v.get("events") == n}
    for name in [x for x in args.only.split(",") if x]:
        if name not in METHODS:
            ap.error(f"--only: unknown method {name!r}")
        print(f"[pixel_format2] {name}: {METHODS[name][0]}", file=sys.stderr)
        results[name] = run_method(name, test, n)
        path.write_text(json.dumps(results, indent=1))
    results = {k: results[k] for k in METHODS if k in results}
    load = f"{os.cpu_count()} cores"
    text = table(results, load)
    (OUT / "table.md").write_text(text + "\n")
    print(text)
    if args.update_docs:
        doc = DOC.read_text()
        if BEGIN not in doc or END not in doc:
            raise SystemExit(f"{DOC}: markers {BEGIN} / {END} missing")
        head, rest = doc.split(BEGIN, 1)
        DOC.write_text(head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
