"""A quick synthetic TPC sector generator (numpy only) for tests and as a fallback of the benchmarks when
hepvq.sim.tpc is not importable: helix-like tracks crossing the 16 layers, Gaussian diffusion in phi and z,
lognormal (Landau-like) charge, 10-bit ADC, zero suppression below 64."""
from __future__ import annotations

import numpy as np

from hepvq.tpc.grid import SHAPE, THRESHOLD


def sector_volumes(n: int, *, seed: int = 0, n_tracks: int = 40, shape=SHAPE) -> np.ndarray:
    """(n, phi, z, layer) uint16 ADC volumes."""
    rng = np.random.default_rng(seed)
    P, Z, L = shape
    out = np.zeros((n, P, Z, L), dtype=np.float32)
    pp = np.arange(P, dtype=np.float32)[:, None]
    zz = np.arange(Z, dtype=np.float32)[None, :]
    for s in range(n):
        vol = out[s]
        for _ in range(rng.poisson(n_tracks)):
            phi0, z0 = rng.uniform(0, P), rng.uniform(0, Z)
            curv = rng.normal(0, 0.15)
            dphi = rng.normal(0, 1.5)
            dz = rng.normal(0, 4.0)
            q = rng.lognormal(np.log(350.0), 0.35)
            for l in range(L):
                pc = phi0 + dphi * l + curv * l * l
                zc = z0 + dz * l
                if not (-3 < pc < P + 3 and -3 < zc < Z + 3):
                    continue
                sp, sz = 0.7 + 0.02 * l, 1.0 + 0.3 * abs(dz) / 2
                lo_p, hi_p = max(0, int(pc - 4 * sp)), min(P, int(pc + 4 * sp) + 2)
                lo_z, hi_z = max(0, int(zc - 4 * sz)), min(Z, int(zc + 4 * sz) + 2)
                if lo_p >= hi_p or lo_z >= hi_z:
                    continue
                amp = q * rng.lognormal(0, 0.25)
                g = np.exp(-0.5 * ((pp[lo_p:hi_p] - pc) / sp) ** 2 - 0.5 * ((zz[:, lo_z:hi_z] - zc) / sz) ** 2)
                vol[lo_p:hi_p, lo_z:hi_z, l] += amp * g
        vol += rng.normal(0, 8.0, size=vol.shape).astype(np.float32) * (vol > 0)
    adc = np.clip(np.rint(out), 0, 1023)
    adc[adc < THRESHOLD] = 0
    return adc.astype(np.uint16)


def events(n_events: int, *, seed: int = 0, n_sectors: int = 24, n_tracks: int = 40):
    """ak.Array like hepvq.sim.tpc.simulate_events: run, luminosityBlock, event, TpcHit records."""
    import awkward as ak

    from hepvq.tpc.grid import events_from_columns, volumes_to_hits

    cols = []
    for e in range(n_events):
        vols = sector_volumes(n_sectors, seed=seed * 100003 + e, n_tracks=n_tracks)
        cols.append(volumes_to_hits(vols, np.arange(n_sectors)))
    hits = events_from_columns(cols)
    return ak.zip({"run": np.ones(n_events, np.uint32), "luminosityBlock": np.ones(n_events, np.uint32),
                   "event": np.arange(1, n_events + 1, dtype=np.uint64), "TpcHit": hits}, depth_limit=1)
