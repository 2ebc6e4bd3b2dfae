"""hepvq-bench: every compressor of the project and its peers on the same simulated samples, in one run.

    hepvq-bench                      # full: all events of the shipped samples -> docs/RESULTS.md + docs/figures/
    hepvq-bench --quick              # CI-sized: 1 event, 64 pixel modules, 2 TPC sectors, one setting per peer
    hepvq-bench --quick --out /tmp/b --json /tmp/b/results.json

Peers: ROOT (ZSTD/LZMA), zstd/xz of the raw columns, the sparse delta-coded baseline (lossless and 4/5/6-bit
ADC), SZ3 and ZFP (zero suppression re-applied before scoring); hepvq codecs pixel_vq / pixel_sparse / tpc_inr
when present. Definitions of every figure: hepvq/baselines/suite.py.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build_parser():
    p = argparse.ArgumentParser(prog="hepvq-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small CI run (< 60 s)")
    p.add_argument("--pixel", default=str(REPO / "data" / "pixel_pu200_sample.root"), help="pixel sample file")
    p.add_argument("--tpc", default=str(REPO / "data" / "tpc_sample.root"), help="TPC sample file")
    p.add_argument("--detectors", default="pixel,tpc", help="comma-separated subset of pixel,tpc")
    p.add_argument("--events", type=int, default=None, help="events per sample (default: all; quick: 1)")
    p.add_argument("--models", default=str(REPO / "data" / "models"), help="directory of shipped models")
    p.add_argument("--out", default=None,
                   help="output directory: RESULTS.md and figures/ (default docs/, quick mode: bench_out/)")
    p.add_argument("--json", default=None, help="also write the table rows as JSON here")
    p.add_argument("--no-codecs", action="store_true", help="peers only (skip hepvq's own codecs)")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--tpc-fit", action="store_true",
                   help="also run tpc_inr with per-sector fitting (torch; minutes per event)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from hepvq.baselines import suite
    from hepvq.errors import HepvqError

    t0 = time.perf_counter()
    out = Path(args.out) if args.out else (REPO / ("bench_out" if args.quick else "docs"))
    events = args.events if args.events is not None else (1 if args.quick else None)
    samples = []
    try:
        for det in [d.strip() for d in args.detectors.split(",") if d.strip()]:
            if det not in suite.DETECTORS:
                raise HepvqError(f"unknown detector '{det}' (pixel, tpc)")
            path = Path(getattr(args, det))
            if not path.is_file():
                print(f"hepvq-bench: no {det} sample at {path} (make one with hepvq-simulate {det}); skipping {det}",
                      file=sys.stderr)
                continue
            groups = (64 if det == "pixel" else 2) if args.quick else None
            samples.append(suite.load_sample(det, path, events, max_groups=groups))
        if not samples:
            raise HepvqError("no sample to run on")
        results, skipped = suite.run_suite(samples, quick=args.quick, models_dir=args.models,
                                           with_codecs=not args.no_codecs, tpc_fit=args.tpc_fit)
        figures = {}
        if not args.no_figures:
            from hepvq.baselines.plots import all_figures

            figures = all_figures(samples, results, out / "figures")
        argv_text = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        command = ("hepvq-bench " + argv_text).strip()
        report = suite.write_report(out / "RESULTS.md", samples, results, skipped, command=command, figures=figures,
                                    elapsed=time.perf_counter() - t0, quick=args.quick)
        if args.json:
            rows = [r.row(next(s for s in samples if s.detector == r.detector)) for r in results]
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"rows": rows, "skipped": skipped}, indent=1, default=float))
    except HepvqError as err:
        print(f"hepvq-bench: error: {err}", file=sys.stderr)
        return 1
    print(f"hepvq-bench: wrote {out / 'RESULTS.md'} ({len(report.splitlines())} lines)"
          + (f" and {len(figures)} figures in {out / 'figures'}" if figures else "")
          + f" in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
