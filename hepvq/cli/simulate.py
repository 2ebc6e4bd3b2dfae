"""hepvq-simulate: make pixel (CMS-like, pile-up) or TPC (sPHENIX-like) sample files in the input schema.

    hepvq-simulate pixel --events 10 --pileup 200 --seed 1 -o data/pixel_pu200_sample.root
    hepvq-simulate pixel --gun mu --ntracks 10 --pt 1,100 --eta -2.5,2.5 --events 100 -o muons.root
    hepvq-simulate tpc --events 4 --seed 1 --sectors 0-3 -o data/tpc_sample.root [--occupancy 0.05]

Physics, validation plots and reference values: docs/simulation.md.
"""
from __future__ import annotations

import argparse
import sys
import time

import awkward as ak

from hepvq.cli import _common, _gun


def _parse_sectors(text):
    if text is None:
        return None
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    bad = [s for s in out if not 0 <= s < 24]
    if bad:
        raise argparse.ArgumentTypeError(f"sector indices must be 0..23, got {bad}")
    return tuple(out)


OCCUPANCY_RANGE = (1e-6, 0.3)  # what the help and the README state; the simulator's own limit is wider


def build_parser():
    p = _common.parser("hepvq-simulate", __doc__)
    p.add_argument("detector", choices=["pixel", "tpc"], help="which detector to simulate")
    p.add_argument("--events", "-n", type=_common.positive_int, default=10, help="number of events")
    p.add_argument("--pileup", type=_common.bounded(float, 0), default=None,
                   help="pixel: mean Poisson pile-up (default 200); tpc: pile-up collision rate in kHz "
                        "(default 100)")
    p.add_argument("--seed", type=_common.non_negative_int, default=0,
                   help="random seed; events depend only on (seed, event number)")
    p.add_argument("--first-event", type=_common.positive_int, default=1, help="number of the first event")
    p.add_argument("-o", "--output", required=True, help="output ROOT file")
    p.add_argument("--geometry", default="phase1", choices=["phase1", "phase2", "phase1_fpix"],
                   help="pixel geometry preset: phase1 (barrel), phase2 (IT-like barrel), "
                        "phase1_fpix (phase1 barrel + forward disks)")
    p.add_argument("--no-truth", action="store_true", help="pixel: do not write the Truth tree")
    p.add_argument("--occupancy", type=_common.bounded(float, *OCCUPANCY_RANGE), default=None,
                   help="tpc: target mean occupancy, 1e-6 .. 0.3 (default 0.10, the published occupancy of the "
                        "sPHENIX central Au+Au + pile-up data set, docs/simulation.md)")
    p.add_argument("--physics-only", action="store_true",
                   help="tpc: no multiplicity scaling (primaries only, ~3 %% occupancy)")
    p.add_argument("--sectors", type=_parse_sectors, default=None,
                   help="tpc: keep only these sectors, e.g. '0-5' or '0,12' (default all 24)")
    p.add_argument("--chunk", type=_common.positive_int, default=None,
                   help="events simulated at once (default pixel 10, tpc 2)")
    p.add_argument("--jobs", "-j", type=_common.positive_int, default=1,
                   help="worker processes; the output does not depend on it")
    p.add_argument("--compression", type=_compression_arg, default="ZSTD:5",
                   help="ROOT compression ALGO:LEVEL, ALGO one of zstd, lzma, zlib, lz4")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (it is shown only when stderr is a terminal)")
    _gun.add_gun_options(p)
    return p


_ALGOS = ("zstd", "lzma", "zlib", "lz4")


def _compression_arg(text):
    algo, _, level = text.partition(":")
    if algo.lower() not in _ALGOS or not (level or "5").isdigit():
        raise argparse.ArgumentTypeError(f"expected ALGO:LEVEL with ALGO one of {', '.join(_ALGOS)}, got {text!r}")
    return text


def _compression(text):
    import uproot

    algo, _, level = text.partition(":")
    algos = {"zstd": uproot.ZSTD, "lzma": uproot.LZMA, "zlib": uproot.ZLIB, "lz4": uproot.LZ4}
    if algo.lower() not in algos:
        raise SystemExit(f"hepvq-simulate: unknown compression {algo!r}; choose from {sorted(algos)}")
    return algos[algo.lower()](int(level or 5))


def main(argv=None):
    from hepvq.framework.signals import Terminated, terminate_on_signals

    try:
        with terminate_on_signals():  # SIGTERM / SIGHUP: the temporary output is removed (SimWriter)
            return _main(argv)
    except Terminated as sig:
        print(f"hepvq-simulate: {sig}", file=sys.stderr)
        return 128 + sig.signum
    except KeyboardInterrupt:
        print("hepvq-simulate: interrupted", file=sys.stderr)
        return 130


def _main(argv=None):
    p = build_parser()
    args = p.parse_args(_gun.join_range_values(list(sys.argv[1:] if argv is None else argv)))
    if args.detector == "pixel" and (args.occupancy is not None or args.sectors is not None or args.physics_only):
        p.error("--occupancy, --sectors and --physics-only are tpc options")
    from tqdm import tqdm

    from hepvq.sim.io import SimWriter

    comp = _compression(args.compression)
    t0 = time.perf_counter()
    n_hits = 0
    bar = tqdm(total=args.events, unit="ev", disable=True if args.quiet else None, file=sys.stderr, desc=args.detector)
    try:
        if args.detector == "pixel":
            from hepvq.sim import pixel

            mu = 200.0 if args.pileup is None else args.pileup
            extra = _gun.pixel_params(args, args.geometry)
            mu = 0.0 if args.gun else mu
            chunk = args.chunk or 10
            with SimWriter(args.output, "PixelDigi", None if args.no_truth else "SimHit", comp) as w:
                for events, truth, _ in pixel.iter_chunks(args.events, pileup=mu, seed=args.seed,
                                                           geometry=args.geometry, first_event=args.first_event,
                                                           chunk=chunk, jobs=args.jobs, **extra):
                    w.write(events, truth)
                    n_hits += int(ak.sum(ak.num(events.PixelDigi)))
                    bar.update(len(events))
            what = (f"pixel {args.geometry} gun {args.gun} x {args.ntracks}" if args.gun
                    else f"pixel {args.geometry} PU {mu:g}")
        else:
            from hepvq.sim import tpc

            params = {}
            if args.pileup is not None:
                params["pileup_rate_khz"] = args.pileup
            if args.sectors is not None:
                params["sectors"] = args.sectors
            if args.physics_only:
                params["physics_only"] = True
            chunk = args.chunk or 2
            with SimWriter(args.output, "TpcHit", None, comp) as w:
                for events, _ in tpc.iter_chunks(args.events, seed=args.seed, occupancy=args.occupancy,
                                                 first_event=args.first_event, chunk=chunk, jobs=args.jobs,
                                                 **params):
                    w.write(events)
                    n_hits += int(ak.sum(ak.num(events.TpcHit)))
                    bar.update(len(events))
            what = "tpc" + (f" occupancy {args.occupancy:g}" if args.occupancy is not None else
                            " (physics only)" if args.physics_only else " (default occupancy 0.10)")
    except (ValueError, TypeError) as exc:
        bar.close()
        print(f"hepvq-simulate: error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    dt = time.perf_counter() - t0
    print(f"hepvq-simulate: {args.events} events ({what}) -> {args.output}: {n_hits} hits "
          f"({n_hits / args.events:.0f}/event), {dt:.1f} s, {args.events / dt:.2f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
