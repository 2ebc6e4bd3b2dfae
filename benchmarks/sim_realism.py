"""Validation of the pixel simulator's switchable realism (docs/simulation.md, "Realism switches").

    python benchmarks/sim_realism.py            # ~30 s on one core; prints the table of docs/simulation.md

1. Multiple scattering: muons of fixed pT at |eta| < 0.05, simulated with and without scattering (same seed,
   so the same tracks): RMS of the r-phi displacement of the crossings per layer against the Highland
   prediction summed over the scatterers before that layer (beam pipe + inner layers, lever arms r_k - r_i).
2. Noise pixels: extra fired pixels per event against rate x number of pixels.
3. Big pixels: hits per big row (column) over hits per normal row (column) of a uniform muon sample:
   2 for single-pixel clusters (twice the area), between 1 and 2 for wider clusters.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from hepvq.sim import gun, pixel, realism
from hepvq.sim.geometry import PHASE1


def multiple_scattering(pt=1.0, n_events=60):
    kw = dict(seed=11, gun="mu", gun_ntracks=40, gun_pt=(pt, pt), gun_eta=(-0.05, 0.05))
    _, t0 = pixel.simulate_events(n_events, **kw)
    _, t1 = pixel.simulate_events(n_events, multiple_scattering=True, **kw)
    a, b = ak.flatten(t0.SimHit), ak.flatten(t1.SimHit)
    layer = (ak.to_numpy(a.detId) >> 20) & 0xF
    dx = ak.to_numpy(b.x) - ak.to_numpy(a.x)
    du = (np.mod(dx + 80.0, 160.0) - 80.0) * 100.0   # periodic: a crossing scattered off re-enters (160 rows)
    cfg = pixel.PixelSimConfig()
    beta = pt / np.hypot(pt, gun.MASSES["mu"])
    r = [L.radius_cm for L in PHASE1.layers]
    rows = []
    for k in range(2, 5):
        terms = [(realism.highland(pt, beta, cfg.beampipe_x0) * (r[k - 1] - cfg.beampipe_r_cm)) ** 2]
        terms += [(realism.highland(pt, beta, cfg.layer_x0) * (r[k - 1] - r[i])) ** 2 for i in range(k - 1)]
        rows.append((k, float(np.std(du[layer == k])), 1e4 * float(np.sqrt(sum(terms)))))
    return rows


def noise(rate=1e-5, n_events=10):
    kw = dict(seed=12, gun="mu", gun_ntracks=5)
    e0, _ = pixel.simulate_events(n_events, **kw)
    e1, _ = pixel.simulate_events(n_events, noise_rate=rate, **kw)
    extra = ak.to_numpy(ak.num(e1.PixelDigi) - ak.num(e0.PixelDigi))
    return float(extra.mean()), rate * len(PHASE1.modules) * 160 * 416


def big_pixels(n_events=40):
    e, _ = pixel.simulate_events(n_events, seed=13, gun="mu", gun_ntracks=50, gun_pt=(5, 100), gun_eta=(-0.5, 0.5),
                                 big_pixels=True)
    d = ak.flatten(e.PixelDigi)
    row, col = ak.to_numpy(d.row), ak.to_numpy(d.col)
    fr, fc = float(np.isin(row, (79, 80)).mean()), float(np.isin(col % 52, (0, 51)).mean())
    # hits per big row (column) over hits per normal one: 2 for single-pixel clusters, less for wider ones
    return fr, (fr / 2) / ((1 - fr) / 158), fc, (fc / 16) / ((1 - fc) / 400)


def main():
    print("multiple scattering, 1 GeV muons, eta ~ 0: layer, RMS r-phi displacement (um), Highland (um)")
    for k, got, exp in multiple_scattering(1.0):
        print(f"  L{k}  {got:7.1f}  {exp:7.1f}  ratio {got / exp:.3f}")
    got, exp = noise()
    print(f"noise pixels at 1e-5 per pixel: {got:.1f} per event, expected {exp:.1f}")
    fr, er, fc, ec = big_pixels()
    print(f"big pixels: hits in big rows {fr:.4f}, per big row / per normal row {er:.2f}; big columns {fc:.4f}, "
          f"per big column / per normal column {ec:.2f}")


if __name__ == "__main__":
    main()
