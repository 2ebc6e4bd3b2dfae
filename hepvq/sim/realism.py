"""Switchable detector effects of the pixel simulator (off by default; docs/simulation.md validates each).

* ``scatter``: multiple Coulomb scattering with the Highland formula (PDG RPP, "Passage of particles through
  matter", eq. 34.15): theta0 = 13.6 MeV / (beta c p) sqrt(x/X0) (1 + 0.038 ln(x / (X0 beta^2))), thin
  scatterers at the beam pipe and at every module a track crosses (x/X0 scaled by the path through it).
  First-order model on top of the analytic helix: each scatterer kicks the direction by two independent
  Gaussian angles (transverse plane / r-z plane); the kicks displace every later crossing of the same track
  by sum_i theta_i (s - s_i) (s = path length) and tilt its direction; which modules are crossed is not
  changed (displacements are microns to tens of microns).
* ``noise_pixels``: pixels that fire on noise alone, Poisson(rate x pixels) per event, uniform over the
  detector, charge from the Gaussian tail above threshold (threshold + exponential of mean sigma^2/threshold).

Both draw from their own per-event generators, so switching one on does not change the other random numbers.
"""
from __future__ import annotations

import numpy as np

MS_STREAM, NOISE_STREAM = 0x4D53, 0x4E4F


def _rng(seed, event, stream):
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(event) & 0xFFFFFFFFFFFF, stream])


def highland(p_gev, beta, x_x0):
    """theta0 (rad) of the plane-projected scattering angle for unit charge."""
    x = np.maximum(np.asarray(x_x0, np.float64), 1e-12)
    return 0.0136 / (beta * p_gev) * np.sqrt(x) * (1.0 + 0.038 * np.log(x / beta ** 2))


def scatter(ev, t, a, tr, R, cot_a, cot_b, event_numbers, seed, cfg):
    """(du_cm, dv_cm, dcot_a, dcot_b) per crossing (crossing order) from scattering before each crossing."""
    nc = t.size
    if nc == 0:
        z = np.zeros(0)
        return z, z, z, z
    eta, pt, mass = tr["eta"], tr["pt"], tr["mass"]
    ch = np.cosh(eta)
    p = pt * ch
    beta = p / np.sqrt(p ** 2 + mass ** 2)
    s_cross = R[t] * a * ch[t]
    x_cross = cfg.layer_x0 * np.sqrt(1.0 + cot_a ** 2 + cot_b ** 2)
    trk = np.unique(t)
    a_bp = 2.0 * np.arcsin(np.minimum(cfg.beampipe_r_cm / (2.0 * R[trk]), 1.0))
    s_bp = R[trk] * a_bp * ch[trk]
    # all scatterers: beam pipe (one per track) + crossings; sorted by (track, path length)
    st = np.concatenate([trk, t])
    ss = np.concatenate([s_bp, s_cross])
    sx = np.concatenate([cfg.beampipe_x0 * ch[trk], x_cross])
    is_cross = np.concatenate([np.full(trk.size, -1), np.arange(nc)])
    order = np.lexsort((ss, st))
    st, ss, sx, is_cross = st[order], ss[order], sx[order], is_cross[order]
    theta0 = highland(p[st], beta[st], sx)
    # per-event generators, in event order (tracks are numbered in event order)
    sev = tr["ev"][st]
    counts = np.bincount(sev, minlength=len(event_numbers))
    g = np.concatenate([_rng(seed, event_numbers[i], MS_STREAM).normal(size=(int(counts[i]), 2))
                        for i in range(len(event_numbers))]) * theta0[:, None]
    # exclusive cumulative sums within each track: kicks strictly before each scatterer
    first = np.ones(st.size, bool)
    first[1:] = st[1:] != st[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(st.size), 0))
    out = []
    for k in range(2):
        c1 = np.cumsum(g[:, k]) - g[:, k]
        c2 = np.cumsum(g[:, k] * ss) - g[:, k] * ss
        ang = c1 - c1[start]
        disp = ss * ang - (c2 - c2[start])
        out.append((ang, disp))
    sel = is_cross >= 0
    idx = is_cross[sel]
    ang1 = np.empty(nc)
    ang2 = np.empty(nc)
    d1 = np.empty(nc)
    d2 = np.empty(nc)
    ang1[idx], d1[idx] = out[0][0][sel], out[0][1][sel]
    ang2[idx], d2[idx] = out[1][0][sel], out[1][1][sel]
    # project onto the module plane: a displacement perpendicular to the track moves the crossing by d / cos
    # of the incidence angle in that plane; a direction change d(theta) changes cot by d(theta) / cos^2
    return (d1 * np.sqrt(1 + cot_a ** 2), d2 * np.sqrt(1 + cot_b ** 2),
            ang1 * (1 + cot_a ** 2), ang2 * (1 + cot_b ** 2))


def noise_pixels(event_numbers, seed, mods, geo, rate, rows, cols):
    """(event index, module index, row, col, adc) of noise-only fired pixels; rows/cols per module (readout)."""
    npix = (rows * cols).astype(np.float64)
    cum = np.cumsum(npix)
    parts = []
    for i, evn in enumerate(event_numbers):
        rng = _rng(seed, evn, NOISE_STREAM)
        n = rng.poisson(rate * cum[-1])
        m = np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), cum.size - 1)
        r = np.floor(rng.random(n) * rows[m]).astype(np.int64)
        c = np.floor(rng.random(n) * cols[m]).astype(np.int64)
        thr = mods.threshold_e[m]
        q = thr + rng.exponential(geo.noise_e ** 2 / thr)
        parts.append((np.full(n, i, np.int64), m.astype(np.int64), r, c, q))
    ev, m, r, c, q = (np.concatenate([p[k] for p in parts]) for k in range(5))
    adc = np.clip(np.floor(q / geo.electrons_per_adc), 1, geo.adc_max).astype(np.uint16)
    return ev, m, r, c, adc
