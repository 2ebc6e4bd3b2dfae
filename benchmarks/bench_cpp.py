"""C++ decode speed (cpp/build/hepvq_bench) against a TTreeReader read of the raw DIGIs of the same events.

    python benchmarks/bench_cpp.py                    # shipped sample, pixel_vq B=-1 and B=2, 5 runs each
    python benchmarks/bench_cpp.py --events 4 --runs 3 --modes vq

Compresses the first --events events of the input with python_cfg/premix_compress_cfg.py (validate off) into
a temporary directory, builds the tools (cpp/build.sh) and runs `hepvq_bench COMPRESSED RAW --runs N`: decode
and raw read interleaved in one process, medians of wall time (file opening and model set-up included in the
decode; ROOT's one-off start-up is paid before the first run of either). Prints a markdown table
(docs/cpp.md has the figures)."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = {"vq": ["pixelVQ.format=1"], "vq_b2": ["pixelVQ.format=1", "pixelVQ.adcErrorBound=2"],
         "vq_b0": ["pixelVQ.format=1", "pixelVQ.adcErrorBound=0"], "vq_f2": ["pixelVQ.format=2"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(REPO / "data" / "pixel_pu200_sample.root"))
    ap.add_argument("--events", type=int, default=-1, help="events of the input to use (-1: all)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--modes", default="vq,vq_b2", help=f"comma list of {', '.join(MODES)}")
    args = ap.parse_args(argv)
    build = subprocess.run(["bash", str(REPO / "cpp" / "build.sh")], capture_output=True, text=True,
                           env={**os.environ, "PYTHON": sys.executable})
    if build.returncode:
        sys.exit(f"bench_cpp: cpp/build.sh failed: {build.stderr.strip()[-500:]}")
    bench = Path(build.stdout.strip().splitlines()[-1]) / "hepvq_bench"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.root"
        subprocess.run(["hepvq-run", str(REPO / "python_cfg" / "copy_cfg.py"), f"inputFiles={args.input}",
                        f"outputFile={raw}", f"maxEvents={args.events}", "out.compressionLevel=5", "--no-progress"], check=True,
                       capture_output=True)
        for mode in args.modes.split(","):
            comp = Path(tmp) / f"{mode}.root"
            subprocess.run(["hepvq-run", str(REPO / "python_cfg" / "premix_compress_cfg.py"), f"inputFiles={raw}",
                            f"outputFile={comp}", "pixelVQ.validate=False", *MODES[mode], "--no-progress"],
                           check=True, capture_output=True)
            out = subprocess.run([str(bench), str(comp), str(raw), "--runs", str(args.runs)], check=True,
                                 capture_output=True, text=True).stdout
            dec = re.search(r"decode .*?: ([\d.]+) ms, (\d+) hits, ([\d.]+) M hits/s", out)
            rd = re.search(r"TTreeReader .*?: ([\d.]+) ms, (\d+) hits, ([\d.]+) M hits/s", out)
            ratio = re.search(r"ratio decode / raw read: ([\d.]+)", out)
            cpu = re.search(r"CPU time .*?decode ([\d.]+) ms, raw read ([\d.]+) ms", out)
            rows.append((mode, int(dec.group(2)), float(dec.group(1)), float(dec.group(3)), float(rd.group(1)),
                         float(rd.group(3)), float(ratio.group(1)), comp.stat().st_size, raw.stat().st_size,
                         float(cpu.group(1)), float(cpu.group(2))))
    print(f"{args.runs} runs, median wall time, input {args.input} ({args.events if args.events > 0 else 'all'} events)")
    print("| file | hits | C++ decode [ms] | M hits/s | TTreeReader raw read [ms] | M hits/s | wall ratio | "
          "CPU decode / raw [ms] | CPU ratio | compressed / raw file bytes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m, n, d, dh, r, rh, q, cb, rb, cd, cr in rows:
        print(f"| {m} | {n} | {d:.0f} | {dh:.2f} | {r:.0f} | {rh:.2f} | {q:.2f} | {cd:.0f} / {cr:.0f} | {cd / cr:.2f} | "
              f"{cb / 1e6:.2f} / {rb / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
