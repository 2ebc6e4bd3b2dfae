"""hepvq-bench: every compressor of the project and its peers on the same simulated samples, in one run.

    hepvq-bench                      # full: all events of the shipped samples -> bench_out/
    hepvq-bench --update-docs        # the same, written to docs/RESULTS.md + docs/figures/ (the published tables)
    hepvq-bench --quick              # CI-sized: 64 modules of 4 pixel events, 2 TPC sectors, one setting per peer
    hepvq-bench --quick --out /tmp/b --json /tmp/b/results.json

Peers: ROOT (ZSTD/LZMA), zstd/xz of the raw columns, the sparse delta-coded baseline (lossless and 4/5/6-bit
ADC), SZ3 and ZFP (zero suppression re-applied before scoring); hepvq codecs pixel_vq / pixel_sparse / tpc_inr
when present. pixel_vq runs the shipped models only (data/models/pixel_vq) unless --model / --all-models say
otherwise, so that a model trained into data/models/ never leaks into the published tables. Codec sizes are
reported with and without their per-file metadata (decoder ONNX, tables: tens of kB, whatever the file size).
Definitions of every figure: hepvq/bench/suite.py.
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from hepvq.cli import _common

REPO = Path(__file__).resolve().parents[2]
DETECTORS = ("pixel", "tpc")
# quick mode: ~130 k pixel hits (the 64 busiest-layer modules of 4 events) and ~135 k TPC hits (2 sectors of one
# event), enough for a per-hit figure that means something next to a codec's tens of kB of per-file metadata,
# while SZ3/ZFP on the dense module images stay within CI time
QUICK_EVENTS = {"pixel": 4, "tpc": 1}
QUICK_GROUPS = {"pixel": 64, "tpc": 2}


def _detectors(text):
    import argparse

    dets = [d.strip() for d in text.split(",") if d.strip()]
    bad = [d for d in dets if d not in DETECTORS]
    if bad or not dets:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(DETECTORS)}, got {text!r}")
    return dets


def build_parser():
    p = _common.parser("hepvq-bench", __doc__)
    p.add_argument("--quick", action="store_true",
                   help="small CI run: 64 modules of %s pixel events, 2 sectors of %s TPC event, one setting per peer"
                        % (QUICK_EVENTS["pixel"], QUICK_EVENTS["tpc"]))
    p.add_argument("--pixel", default=str(REPO / "data" / "pixel_pu200_sample.root"), help="pixel sample file")
    p.add_argument("--tpc", default=str(REPO / "data" / "tpc_sample.root"), help="TPC sample file")
    p.add_argument("--detectors", type=_detectors, default="pixel,tpc", help="comma-separated subset of pixel,tpc")
    p.add_argument("--events", type=_common.positive_int, default=None,
                   help="events per sample (default: all; quick: %s pixel, %s TPC)"
                        % (QUICK_EVENTS["pixel"], QUICK_EVENTS["tpc"]))
    p.add_argument("--models", default=str(REPO / "data" / "models"), help="directory of the models")
    p.add_argument("--model", action="append", metavar="NAME",
                   help="pixel_vq model directory in --models to run (repeatable; default: the shipped pixel_vq)")
    p.add_argument("--all-models", action="store_true",
                   help="run every pixel_vq model directory in --models (yours too), not only the shipped one")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--out", default=None, help="output directory for RESULTS.md and figures/ (default bench_out/)")
    out.add_argument("--update-docs", action="store_true",
                     help="write the published docs/RESULTS.md and docs/figures/ (full runs only)")
    p.add_argument("--json", default=None, help="also write the table rows as JSON here")
    p.add_argument("--no-codecs", action="store_true", help="peers only (skip hepvq's own codecs)")
    p.add_argument("--no-figures", action="store_true", help="tables only, no PNG figures")
    p.add_argument("--tpc-fit", action="store_true",
                   help="also run tpc_inr with per-sector fitting (torch; minutes per event)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar (shown only when stderr is a terminal)")
    return p


def _check(p, args):
    """Refuse bad combinations and missing inputs before any work."""
    if args.update_docs and (args.quick or args.events or args.all_models or args.model):
        p.error("--update-docs publishes the full run with the shipped models: no --quick, --events, --model, "
                "--all-models")
    if args.model and args.all_models:
        p.error("give --model or --all-models, not both")
    models = Path(args.models)
    for name in args.model or []:
        if not (models / name / "codec.json").is_file():
            p.error(f"--model {name}: no {models / name / 'codec.json'}")


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if isinstance(args.detectors, str):
        args.detectors = _detectors(args.detectors)
    _check(p, args)
    from hepvq.bench import suite
    from hepvq.errors import HepvqError

    t0 = time.perf_counter()
    out = REPO / "docs" if args.update_docs else Path(args.out) if args.out else Path("bench_out")
    pixel_models = "all" if args.all_models else (args.model or suite.SHIPPED_PIXEL_MODELS)
    samples = []
    try:
        for det in args.detectors:
            path = Path(getattr(args, det))
            if not path.is_file():
                print(f"hepvq-bench: no {det} sample at {path} (make one with hepvq-simulate {det}); skipping {det}",
                      file=sys.stderr)
                continue
            events = args.events if args.events is not None else (QUICK_EVENTS[det] if args.quick else None)
            groups = QUICK_GROUPS[det] if args.quick else None
            samples.append(suite.load_sample(det, path, events, max_groups=groups))
        if not samples:
            raise HepvqError("no sample to run on")
        results, skipped = suite.run_suite(samples, quick=args.quick, models_dir=args.models,
                                           with_codecs=not args.no_codecs, tpc_fit=args.tpc_fit,
                                           pixel_models=pixel_models, quiet=args.quiet)
        figures = {}
        if not args.no_figures:
            from hepvq.bench.plots import all_figures

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
