"""Particle gun for the pixel simulator: signal events with truth, no pile-up.

    pixel.simulate_events(100, gun="mu", gun_ntracks=10, gun_pt=(1, 100), gun_eta=(-2.5, 2.5))
    pixel.simulate_events(100, gun="jet", gun_ntracks=8, gun_cone=0.05)       # 8 pions in a narrow cone

One primary vertex per event (z ~ N(0, beam sigma z), x, y ~ N(0, beam sigma xy)). ``mu``/``pi``/``e``:
``gun_ntracks`` tracks, pT log-uniform in ``gun_pt``, eta uniform in ``gun_eta``, phi uniform, charge +-1.
``jet``: ``gun_njets`` axes (eta uniform in ``gun_eta``, phi uniform), each with ``gun_ntracks`` charged pions
uniform in the disc Delta R < ``gun_cone`` around it, pT log-uniform in ``gun_pt`` (so clusters overlap:
what premixing validation needs). Each event's random stream depends only on (seed, event number).
"""
from __future__ import annotations

import numpy as np

from hepvq.sim import physics as ph

MASSES = {"mu": 0.1056584, "pi": 0.1395702, "e": 0.000511, "jet": 0.1395702}


def check(cfg):
    """ValueError naming the parameter when the gun settings are unusable."""
    if cfg.gun not in MASSES:
        raise ValueError(f"gun must be one of {sorted(MASSES)}, got {cfg.gun!r}")
    lo, hi = (float(x) for x in cfg.gun_pt)
    if not 0 < lo <= hi:
        raise ValueError(f"gun_pt must be 0 < min <= max GeV, got {tuple(cfg.gun_pt)}")
    elo, ehi = (float(x) for x in cfg.gun_eta)
    if not elo <= ehi:
        raise ValueError(f"gun_eta must be min <= max, got {tuple(cfg.gun_eta)}")
    if int(cfg.gun_ntracks) < 1 or int(cfg.gun_njets) < 1:
        raise ValueError("gun_ntracks and gun_njets must be >= 1")
    if not 0 <= float(cfg.gun_cone) < 1.5:
        raise ValueError(f"gun_cone must be in [0, 1.5), got {cfg.gun_cone}")


def generate(event_numbers, seed, geo, cfg):
    """Track table (same keys as the pile-up generator) and the per-event generators."""
    check(cfg)
    lo, hi = np.log(float(cfg.gun_pt[0])), np.log(float(cfg.gun_pt[1]))
    elo, ehi = float(cfg.gun_eta[0]), float(cfg.gun_eta[1])
    jet = cfg.gun == "jet"
    n = int(cfg.gun_ntracks) * (int(cfg.gun_njets) if jet else 1)
    out = {k: [] for k in ("ev", "vtx", "x0", "y0", "z0", "pt", "eta", "phi", "q", "mass", "death_u")}
    rngs = []
    for iev, evn in enumerate(event_numbers):
        rng = ph.event_rng(seed, evn)
        rngs.append(rng)
        zv = rng.normal(0.0, geo.beam_sigma_z_cm)
        xv, yv = rng.normal(0.0, geo.beam_sigma_xy_cm, 2)
        if jet:
            nj = int(cfg.gun_njets)
            ax_eta = rng.uniform(elo, ehi, nj)
            ax_phi = rng.uniform(-np.pi, np.pi, nj)
            r = float(cfg.gun_cone) * np.sqrt(rng.random(n))
            ang = rng.uniform(-np.pi, np.pi, n)
            j = np.repeat(np.arange(nj), int(cfg.gun_ntracks))
            eta = ax_eta[j] + r * np.cos(ang)
            phi = np.mod(ax_phi[j] + r * np.sin(ang) + np.pi, 2 * np.pi) - np.pi
        else:
            eta = rng.uniform(elo, ehi, n)
            phi = rng.uniform(-np.pi, np.pi, n)
        out["ev"].append(np.full(n, iev, np.int64))
        out["vtx"].append(np.zeros(n, np.int64))
        out["x0"].append(np.full(n, xv))
        out["y0"].append(np.full(n, yv))
        out["z0"].append(np.full(n, zv))
        out["eta"].append(eta)
        out["pt"].append(np.exp(rng.uniform(lo, hi, n)))
        out["phi"].append(phi)
        out["q"].append(np.where(rng.random(n) < 0.5, -1.0, 1.0))
        out["mass"].append(np.full(n, MASSES[cfg.gun]))
        out["death_u"].append(rng.exponential(1.0, n))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}, rngs
