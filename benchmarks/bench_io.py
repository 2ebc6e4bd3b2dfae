"""I/O overhead of the framework: `hepvq-run python_cfg/copy_cfg.py` vs a plain uproot read+write.

    python benchmarks/bench_io.py [--input data/pixel_pu200_sample.root] [--events 100] [--repeat 3]

The input sample is replicated (event numbers renumbered) to --events events in a temporary directory,
written like the sample (uproot, ZSTD(1)). Both jobs run as fresh processes (interpreter start-up counted
on both sides), read every branch and write the same branches with the same compression (ZSTD(1), the
RootOutputModule default); the best of --repeat runs is kept. Prints a JSON summary with the ratio
hepvq / uproot (goal <= 1.3)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PLAIN = r"""
import sys, awkward as ak, numpy as np, uproot
src, dst = sys.argv[1], sys.argv[2]
with uproot.open(src) as f:
    t = f["Events"]
    names = [b.name for b in t.branches]
    arrays = t.arrays(names, how=dict)
counters = {n for n in names if n.startswith("n") and any(m.startswith(n[1:] + "_") for m in names)}
data, groups = {}, {}
for n in names:
    if n in counters:
        continue
    if "_" in n:
        p, field = n.split("_", 1)
        groups.setdefault(p, {})[field] = arrays[n]
    else:
        data[n] = arrays[n]
for p, fields in groups.items():
    data[p] = ak.zip(fields)
with uproot.recreate(dst, compression=uproot.ZSTD(1)) as out:
    tree = out.mktree("Events", {k: (v.type.content if isinstance(v, ak.Array) and v.ndim > 1 else
                                     np.dtype(ak.to_numpy(v).dtype)) for k, v in data.items()})
    tree.extend(data)
"""


def make_input(sample: str, n_events: int, path: str) -> int:
    import awkward as ak
    import numpy as np
    import uproot

    with uproot.open(sample) as f:
        t = f["Events"]
        names = [b.name for b in t.branches]
        arrays = t.arrays(names, how=dict)
    n0 = len(arrays["event"])
    reps = -(-n_events // n0)
    data, groups = {}, {}
    for n in names:
        if n.startswith("n") and any(m.startswith(n[1:] + "_") for m in names):
            continue
        if "_" in n:
            p, field = n.split("_", 1)
            groups.setdefault(p, {})[field] = ak.concatenate([arrays[n]] * reps)[:n_events]
        else:
            data[n] = np.concatenate([ak.to_numpy(arrays[n])] * reps)[:n_events]
    data["event"] = np.arange(1, n_events + 1, dtype=np.uint64)
    for p, fields in groups.items():
        data[p] = ak.zip(fields)
    with uproot.recreate(path, compression=uproot.ZSTD(1)) as out:
        tree = out.mktree("Events", {k: (v.type.content if isinstance(v, ak.Array) else v.dtype)
                                     for k, v in data.items()})
        step = 20
        for i in range(0, n_events, step):
            tree.extend({k: v[i:i + step] for k, v in data.items()})
    return os.path.getsize(path)


def timed(cmd, cwd) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONWARNINGS="ignore"))
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(REPO / "data" / "pixel_pu200_sample.root"))
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=1000, help="options.chunkSize of the hepvq job")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "input.root")
        size = make_input(args.input, args.events, src)
        plain_out, hepvq_out = os.path.join(d, "plain.root"), os.path.join(d, "hepvq.root")
        plain_cmd = [sys.executable, "-c", PLAIN, src, plain_out]
        hepvq_cmd = [sys.executable, "-m", "hepvq.cli.run", str(REPO / "python_cfg" / "copy_cfg.py"),
                     f"inputFiles={src}", f"outputFile={hepvq_out}", f"options.chunkSize={args.chunk_size}",
                     "--no-progress"]
        plain_t, hepvq_t = [], []
        for _ in range(args.repeat):  # interleaved, so that load changes hit both
            plain_t.append(timed(plain_cmd, d))
            hepvq_t.append(timed(hepvq_cmd, d))
        startup = min(timed([sys.executable, "-c", "import uproot, awkward"], d) for _ in range(args.repeat))
        # the same two jobs inside this process (no interpreter start-up, no imports): framework overhead only
        import logging

        from hepvq.cli.run import main as hepvq_main

        for name in ("hepvq.report", "hepvq.io", "hepvq.framework"):
            logging.getLogger(name).disabled = True

        plain_in, hepvq_in = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            saved, sys.argv = sys.argv, ["plain", src, plain_out]
            try:
                exec(PLAIN, {})
            finally:
                sys.argv = saved
            plain_in.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            if hepvq_main(hepvq_cmd[3:]) != 0:
                raise SystemExit("hepvq-run failed")
            hepvq_in.append(time.perf_counter() - t0)
        result = {
            "input": args.input, "events": args.events, "input_bytes": size,
            "plain_uproot_s": min(plain_t), "hepvq_run_s": min(hepvq_t),
            "ratio": min(hepvq_t) / min(plain_t),
            "python_startup_s": startup,
            "plain_uproot_in_process_s": min(plain_in), "hepvq_in_process_s": min(hepvq_in),
            "ratio_in_process": min(hepvq_in) / min(plain_in),
            "plain_output_bytes": os.path.getsize(plain_out), "hepvq_output_bytes": os.path.getsize(hepvq_out),
            "command": " ".join(["python", "benchmarks/bench_io.py"] + (argv if argv is not None else sys.argv[1:])),
        }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
