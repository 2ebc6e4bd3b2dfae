"""Particle-gun and simulator-realism options of the pixel simulator, shared by hepvq-simulate and
hepvq-validate (hepvq.sim.gun, hepvq.sim.realism, hepvq.sim.bigpix)."""
from __future__ import annotations

import argparse

RANGE_OPTIONS = ("--pt", "--eta")


def parse_range(text):
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX, got {text!r}") from None
    if lo > hi:
        raise argparse.ArgumentTypeError(f"expected MIN <= MAX, got {text!r}")
    return lo, hi


def join_range_values(argv):
    """'--eta -2.5,2.5' -> '--eta=-2.5,2.5' (argparse would take a value starting with '-' for an option)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in RANGE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def add_gun_options(p, default_gun=None, default_ntracks=1):
    g = p.add_argument_group("pixel particle gun (signal with truth, no pile-up) and simulator realism")
    g.add_argument("--gun", choices=["mu", "pi", "e", "jet"], default=default_gun,
                   help="particle gun instead of pile-up; jet: --ntracks pions in a cone of --cone")
    g.add_argument("--ntracks", type=int, default=default_ntracks, help="gun: tracks per event, or per jet")
    g.add_argument("--njets", type=int, default=1, help="gun jet: jets per event")
    g.add_argument("--pt", type=parse_range, default=(1.0, 100.0), help="gun: pT range MIN,MAX in GeV, log-uniform")
    g.add_argument("--eta", type=parse_range, default=(-2.5, 2.5), help="gun: eta range MIN,MAX, uniform")
    g.add_argument("--cone", type=float, default=0.1, help="gun jet: cone radius Delta R")
    g.add_argument("--multiple-scattering", action="store_true",
                   help="Highland multiple scattering in the beam pipe and the modules (default off)")
    g.add_argument("--noise-rate", type=float, default=0.0,
                   help="noise-only pixels above threshold per pixel per event, e.g. 1e-5")
    g.add_argument("--big-pixels", action="store_true",
                   help="Phase-1 double-size pixels at readout-chip edges (default off)")


def pixel_params(args, geometry="phase1") -> dict:
    """PixelSimConfig overrides from the options (only non-default ones, so plain pile-up is unchanged);
    ValueError naming the option when a value is unusable."""
    from hepvq.sim import bigpix, gun, pixel
    from hepvq.sim.geometry import get_geometry

    kw = {}
    if args.gun:
        kw.update(gun=args.gun, gun_ntracks=args.ntracks, gun_njets=args.njets, gun_pt=tuple(args.pt),
                  gun_eta=tuple(args.eta), gun_cone=args.cone)
        gun.check(pixel.PixelSimConfig().replace(**kw))
    if args.multiple_scattering:
        kw["multiple_scattering"] = True
    if args.noise_rate:
        if not 0 < args.noise_rate < 0.01:
            raise ValueError(f"--noise-rate must be in [0, 0.01), got {args.noise_rate}")
        kw["noise_rate"] = args.noise_rate
    if args.big_pixels:
        mods = get_geometry(geometry).modules
        bigpix.check_shape(mods.rows.max(), mods.cols.max())
        kw["big_pixels"] = True
    return kw
