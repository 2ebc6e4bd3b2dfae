"""hepvq-validate: physics validation of compressed pile-up by premixing (docs/validation.md).

    hepvq-validate premix --pileup ORIG.root --compressed COMP.root --out DIR
    hepvq-validate premix --pileup pu.root --compressed pu_vq.root --gun jet --ntracks 8 --cone 0.05 --events 200 --out v/

Simulates particle-gun signal events with truth (hepvq-simulate's gun), mixes each with the same entry of the
original pile-up (any file in the input schema: PixelDigi_detId/row/col/adc) and of the compressed pile-up
(decoded through hepvq.open), reconstructs (8-connected clusters, centroid CPE with Lorentz correction) and
compares signal hit efficiency, merged-cluster fraction, position resolution, cluster charge and size, and the
pile-up's own distributions, every difference with a bootstrap-over-events uncertainty. Writes DIR/summary.json,
DIR/report.md and PNG plots; exit status 0 when every criterion passes, 1 otherwise.
"""
from __future__ import annotations

import os
import sys

from hepvq.cli import _common, _gun


def _window(text):
    import argparse

    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RPHI_UM,Z_UM, got {text!r}") from None
    if a <= 0 or b <= 0:
        raise argparse.ArgumentTypeError(f"window sizes must be > 0, got {text!r}")
    return a, b


def build_parser():
    p = _common.parser("hepvq-validate", __doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_common.Parser)
    q = sub.add_parser("premix", help="premixing validation of compressed pixel pile-up",
                       description=__doc__, formatter_class=_common.HelpFormatter)
    q.add_argument("--pileup", required=True, help="original pile-up DIGIs (ROOT file in the input schema)")
    q.add_argument("--compressed", required=True, help="the same events compressed by hepvq (read with hepvq.open)")
    q.add_argument("--out", required=True, help="output directory (summary.json, report.md, PNG plots)")
    q.add_argument("--events", type=_common.positive_int, default=None,
                   help="events to use (default: every entry of the shorter file)")
    q.add_argument("--geometry", default="phase1", choices=["phase1", "phase2", "phase1_fpix"],
                   help="pixel geometry of the pile-up file (pitches, thresholds, gain, Lorentz angle)")
    q.add_argument("--seed", type=_common.non_negative_int, default=1, help="random seed of the signal events")
    q.add_argument("--chunk", type=_common.positive_int, default=10, help="events processed at once")
    q.add_argument("--bootstrap", type=_common.bounded(int, 20), default=200, help="bootstrap replicas")
    q.add_argument("--window", type=_window, default=(500.0, 1000.0),
                   help="efficiency window |residual| < RPHI_UM,Z_UM")
    q.add_argument("--force", action="store_true", help="overwrite an existing summary.json in --out")
    q.add_argument("--quiet", "-q", action="store_true", help="no progress bar (shown only on a terminal)")
    _gun.add_gun_options(q, default_gun="mu", default_ntracks=10)
    return p, q


def _check(args, q):
    """Every argument problem before any work, as one usage line."""
    for opt, path in (("--pileup", args.pileup), ("--compressed", args.compressed)):
        if not os.path.isfile(path):
            q.error(f"{opt} {path}: no such file")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        q.error(f"--out {args.out}: exists and is not a directory")
    if os.path.isfile(os.path.join(args.out, "summary.json")) and not args.force:
        q.error(f"--out {args.out}: holds a summary.json already (use --force to overwrite)")
    if args.ntracks < 1 or args.njets < 1:
        q.error("--ntracks and --njets must be >= 1")
    try:
        gun = _gun.pixel_params(args, args.geometry)
    except ValueError as err:
        q.error(str(err))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        q.error("matplotlib is needed for the plots: pip install 'hepvq[bench]'")
    return gun


def main(argv=None):
    p, q = build_parser()
    args = p.parse_args(_gun.join_range_values(list(sys.argv[1:] if argv is None else argv)))
    gun = _check(args, q)
    from tqdm import tqdm

    from hepvq.errors import HepvqError
    from hepvq.validation import premix, report

    os.makedirs(args.out, exist_ok=True)
    bar = tqdm(total=args.events, unit="ev", desc="premix", file=sys.stderr,
               disable=True if args.quiet else None)
    try:
        summary, acc = premix.run_study(args.pileup, args.compressed, args.events, gun, args.geometry, args.seed,
                                        args.chunk, args.bootstrap, args.window, progress=bar.update)
    except (HepvqError, ValueError, OSError) as err:
        bar.close()
        print(f"hepvq-validate: error: {err}", file=sys.stderr)
        return 2
    bar.close()
    files = report.plots(summary, acc, args.out)
    report.write_json(summary, os.path.join(args.out, "summary.json"))
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report.markdown(summary, files))
    fails = [c for c in summary["criteria"] if c["verdict"] != "pass"]
    print(f"hepvq-validate: {summary['events']} events -> {args.out}/summary.json, report.md, {len(files)} plots; "
          f"verdict {summary['verdict']} ({len(summary['criteria']) - len(fails)}/{len(summary['criteria'])} "
          "criteria pass)")
    return 0 if summary["verdict"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
