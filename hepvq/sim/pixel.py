"""CMS-like pixel DIGI simulator with Poisson pile-up of minimum-bias pp collisions.

``simulate_events(n_events, pileup=200, seed=0, geometry="phase1") -> (events, truth)``

Chain (everything vectorised over all tracks / crossings / charge segments of a chunk of events):

1. Pile-up: N_coll ~ Poisson(pileup); vertices z ~ N(0, 4.5 cm), x, y ~ N(0, 15 um).
2. Each collision: N_ch ~ negative binomial (mean dN/deta(0) = 5.5 x integral of the dN/deta shape over
   |eta| < 3.2, k = 1.5); eta from the dN/deta shape, pT from a Tsallis spectrum (<pT> = 0.50 GeV),
   uniform phi, charge +-1, pi/K/p masses (for beta gamma in dE/dx).
3. Helices in B = 3.8 T.  Crossings with each layer cylinder (two per turn), refined exactly onto the flat
   ladder planes (nearest ladder and its neighbours, so overlaps give two hits).  A track keeps looping
   until it leaves the barrel in z, reaches ``max_turns`` or "dies": tracks with 2R > 1.29 m (pT > ~0.74 GeV)
   reach the calorimeter and never return; tracks that loop through the strip tracker survive each extra
   half-turn with mean ``survival_halfturns_tracker`` (nuclear interactions, energy loss); loopers contained
   inside the pixel volume (pT < ~0.1 GeV) with ``survival_halfturns_pixel``.
4. Charge: straight path through the 285 um sensor split into segments (<= 1/3 pixel of projected length,
   >= 4 in depth); each segment gets a Landau-distributed charge, and the segments' Landau parameters are
   chosen so that their sum is the Landau of the full path (stable law): MPV from the Bichsel/PDG formula
   with its thickness and beta-gamma dependence, 21.5 ke for a relativistic track at normal incidence,
   FWHM ~ 7.5 ke.  Each segment's tail is cut at 20 ke (energetic delta electrons leave the segment or
   the sensor), which gives mean/MPV ~ 1.17 (mean ~ 25 ke).
5. Drift to the pixel side: Lorentz shift tan(theta_L) = 0.40 x drift distance along the row (r-phi)
   direction, Gaussian diffusion sigma = 7 um x sqrt(drift / thickness), charge sharing between the pixel
   and its nearest neighbours (erf of the distance to the pixel edge).
6. Per pixel: sum, Gaussian noise (120 e), threshold (1.6 ke layer 1, 1.2 ke layers 2-4), ADC =
   min(floor(q / 135 e), 255).  Noise-only pixels above threshold (> 10 sigma) are neglected.

Hits are sorted by (detId, row, col) within each event.  Truth (tree ``Truth``): one entry per simulated
module crossing (see ``TRUTH_FIELDS``); local x/y are in pixel units (row, col as floats, at the sensor
mid-plane, before the Lorentz shift).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import awkward as ak
import numpy as np
from scipy.special import erfc

from hepvq.sim import physics as ph
from hepvq.sim.geometry import PixelGeometry, get_geometry

DIGI_FIELDS = ("detId", "row", "col", "adc")
TRUTH_FIELDS = {
    "detId": "module detId (uint32)",
    "x": "local row coordinate at the sensor mid-plane, pixel units (float32; row index = floor(x))",
    "y": "local column coordinate at the sensor mid-plane, pixel units (float32; col index = floor(y))",
    "cotAlpha": "tan of the local direction: d(row direction) / d(normal), CMS cot(alpha)",
    "cotBeta": "d(col direction) / d(normal), CMS cot(beta) (~ sinh(eta) for barrel tracks)",
    "charge": "deposited charge in the sensor, electrons (before noise/threshold)",
    "pt": "track transverse momentum, GeV",
    "eta": "track pseudorapidity",
    "phi": "track phi at the vertex",
    "looper": "True when the crossing happens after the track turned by more than pi (curling back)",
    "turn": "half-turn index of the crossing along the helix (0 = outgoing leg)",
    "track": "track index within the event",
    "vertex": "pile-up collision index within the event",
}


@dataclass
class PixelSimConfig:
    pileup: float = 200.0
    dndeta0: float = 5.5           # CMS 13 TeV inelastic, |eta| < 0.5
    nbd_k: float = 1.5
    eta_max: float = 3.2
    tsallis_n: float = 6.6
    tsallis_T: float = 0.142
    max_turns: int = 5              # full turns followed at most
    survival_halfturns_tracker: float = 1.5
    survival_halfturns_pixel: float = 6.0
    r_calorimeter_cm: float = 129.0  # ECAL inner radius: tracks with 2R above it are absorbed
    segment_e_max: float = 20000.0  # tail cut of each segment's Landau, electrons (-> mean/MPV ~ 1.17)
    landau_width_factor: float = 1.25
    segments_per_pitch: float = 3.0
    max_segments: int = 400
    max_path_cm: float = 2.0
    gain_spread: float = 0.0
    # particle gun instead of pile-up (hepvq/sim/gun.py): "" = minimum-bias pile-up; mu, pi, e or jet
    gun: str = ""
    gun_ntracks: int = 1            # tracks per event (mu/pi/e) or per jet (jet)
    gun_njets: int = 1              # jets per event (jet)
    gun_pt: tuple = (1.0, 100.0)    # GeV, log-uniform
    gun_eta: tuple = (-2.5, 2.5)    # uniform (of the track, or of the jet axis)
    gun_cone: float = 0.1           # jet: tracks uniform in Delta R < cone around the axis
    # realism switches (off by default, so existing samples are unchanged; docs/simulation.md)
    multiple_scattering: bool = False   # Highland, thin scatterers (beam pipe + each crossed module)
    layer_x0: float = 0.015             # material of one module at normal incidence, fraction of X0
    beampipe_x0: float = 0.0023         # 0.8 mm Be (X0 = 35.3 cm)
    beampipe_r_cm: float = 2.2
    noise_rate: float = 0.0             # noise-only pixels above threshold, per pixel per event
    big_pixels: bool = False            # ROC-edge pixels twice as wide (hepvq/sim/bigpix.py)

    def replace(self, **kw):
        d = dict(self.__dict__)
        for k, v in kw.items():
            if k not in d:
                raise TypeError(f"unknown pixel simulation parameter {k!r}; known: {sorted(d)}")
            d[k] = v
        return PixelSimConfig(**d)


# ----------------------------------------------------------------------------------------------
TIMERS: dict = {}
_LAST = [0.0]


def _tick(name):
    """Accumulate CPU time per stage in TIMERS (read by benchmarks/bench_sim.py)."""
    now = time.process_time()
    if name is not None:
        TIMERS[name] = TIMERS.get(name, 0.0) + now - _LAST[0]
    _LAST[0] = now


def _generate_tracks(event_numbers, seed, geo: PixelGeometry, cfg: PixelSimConfig):
    if cfg.gun:
        from hepvq.sim import gun

        return gun.generate(event_numbers, seed, geo, cfg)
    tsallis = _tsallis(cfg.tsallis_n, cfg.tsallis_T)
    mean_n = cfg.dndeta0 * ph.eta_integral("pp", cfg.eta_max)
    out = {k: [] for k in ("ev", "vtx", "x0", "y0", "z0", "pt", "eta", "phi", "q", "mass", "death_u")}
    rngs = []
    for iev, evn in enumerate(event_numbers):
        rng = ph.event_rng(seed, evn)
        rngs.append(rng)
        ncoll = rng.poisson(cfg.pileup) if cfg.pileup > 0 else 0
        zv = rng.normal(0.0, geo.beam_sigma_z_cm, ncoll)
        xv = rng.normal(0.0, geo.beam_sigma_xy_cm, ncoll)
        yv = rng.normal(0.0, geo.beam_sigma_xy_cm, ncoll)
        p = cfg.nbd_k / (cfg.nbd_k + mean_n)
        nch = rng.negative_binomial(cfg.nbd_k, p, ncoll) if ncoll else np.zeros(0, np.int64)
        vtx = np.repeat(np.arange(ncoll), nch)
        n = vtx.size
        out["ev"].append(np.full(n, iev, np.int64))
        out["vtx"].append(vtx)
        out["x0"].append(xv[vtx])
        out["y0"].append(yv[vtx])
        out["z0"].append(zv[vtx])
        out["eta"].append(ph.sample_eta(rng, n, "pp", cfg.eta_max))
        out["pt"].append(np.maximum(tsallis.sample(rng, n), 1e-3))
        out["phi"].append(rng.uniform(-np.pi, np.pi, n))
        out["q"].append(np.where(rng.random(n) < 0.5, -1.0, 1.0))
        out["mass"].append(ph.sample_species_mass(rng, n))
        out["death_u"].append(rng.exponential(1.0, n))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}, rngs


_TSALLIS = {}


def _tsallis(n, T):
    key = (n, T)
    if key not in _TSALLIS:
        _TSALLIS[key] = ph.TsallisPt(n, T)
    return _TSALLIS[key]


def _find_crossings(tr, geo: PixelGeometry, cfg: PixelSimConfig):
    """Crossings of all tracks with all modules: dict of flat arrays (one entry per crossing)."""
    mods = geo.modules
    R = ph.helix_radius_cm(tr["pt"], geo.bfield_t)
    xc, yc, h = ph.helix_centres(tr["x0"], tr["y0"], tr["phi"], tr["q"], R)
    sh = np.sinh(tr["eta"])
    r_pix = max(L.radius_cm for L in geo.layers) + 2.0
    # turning angle at which the track disappears
    mean_half = np.where(2 * R < r_pix, cfg.survival_halfturns_pixel, cfg.survival_halfturns_tracker)
    a_death = np.where(2 * R > cfg.r_calorimeter_cm, np.pi, np.pi * (1.0 + mean_half * tr["death_u"]))
    a_death = np.minimum(a_death, 2 * np.pi * cfg.max_turns)

    res = {k: [] for k in ("trk", "mod", "a")}
    for li, L in enumerate(geo.layers):
        a1, a2, ok = ph.helix_cylinder_phases(xc, yc, h, R, L.radius_cm, tr["phi"])
        idx0 = np.nonzero(ok)[0]
        if idx0.size == 0:
            continue
        zmax = geo.half_length_cm(li) + 0.5
        cand_t, cand_a = [], []
        for m in range(cfg.max_turns):
            for a in (a1[idx0] + 2 * np.pi * m, a2[idx0] + 2 * np.pi * m):
                z = tr["z0"][idx0] + R[idx0] * a * sh[idx0]
                keep = (a < a_death[idx0]) & (np.abs(z) < zmax)
                cand_t.append(idx0[keep])
                cand_a.append(a[keep])
            # stop early when nothing can cross any more
            if not np.any(np.abs(tr["z0"][idx0] + R[idx0] * (a1[idx0] + 2 * np.pi * (m + 1)) * sh[idx0]) < zmax):
                break
        t = np.concatenate(cand_t)
        a = np.concatenate(cand_a)
        if t.size == 0:
            continue
        x, y, _, _ = ph.helix_position(xc[t], yc[t], h[t], R[t], tr["phi"][t], tr["z0"][t], sh[t], a)
        nlad = L.n_ladders
        k0 = np.rint(np.arctan2(y, x) * nlad / (2 * np.pi)).astype(np.int64)
        off = mods.layer_offset[li]
        for dk in (-1, 0, 1):
            lad = np.mod(k0 + dk, nlad)
            phiL = 2 * np.pi * lad / nlad
            dist = L.radius_cm + np.where(lad % 2 == 0, -L.stagger_cm, L.stagger_cm)
            nx, ny = np.cos(phiL), np.sin(phiL)
            ap, okp = ph.circle_plane_phase(xc[t], yc[t], h[t], R[t], tr["phi"][t], a, nx, ny, dist)
            okp &= (np.abs(ap - a) < 0.6) & (ap > 0) & (ap < a_death[t])
            px, py, pz, _ = ph.helix_position(xc[t], yc[t], h[t], R[t], tr["phi"][t], tr["z0"][t], sh[t], ap)
            u = -ny * px + nx * py
            okp &= np.abs(u) < 0.5 * L.width_cm * _big_scale(cfg, L)[0]
            mz = np.floor(pz / L.module_pitch_z_cm + 0.5 * L.n_modules_z).astype(np.int64)
            okp &= (mz >= 0) & (mz < L.n_modules_z)
            zc = (mz - 0.5 * (L.n_modules_z - 1)) * L.module_pitch_z_cm
            okp &= np.abs(pz - zc) < 0.5 * L.length_cm * _big_scale(cfg, L)[1]
            sel = np.nonzero(okp)[0]
            res["trk"].append(t[sel])
            res["mod"].append(off + lad[sel] * L.n_modules_z + mz[sel])
            res["a"].append(ap[sel])
    if geo.disk_rings:
        _disk_crossings(tr, geo, R, xc, yc, h, sh, a_death, res, cfg)
    if not res["trk"]:
        return {"trk": np.zeros(0, np.int64), "mod": np.zeros(0, np.int64), "a": np.zeros(0)}, (R, xc, yc, h, sh)
    trk = np.concatenate(res["trk"])
    mod = np.concatenate(res["mod"])
    a = np.concatenate(res["a"])
    # de-duplicate (a grazing track near its turning point can map both cylinder solutions to one plane hit)
    ev = tr["ev"][trk]
    order = np.lexsort((np.round(a, 6), mod, trk, ev))
    trk, mod, a = trk[order], mod[order], a[order]
    if trk.size > 1:
        dup = np.zeros(trk.size, bool)
        dup[1:] = (trk[1:] == trk[:-1]) & (mod[1:] == mod[:-1]) & (np.abs(a[1:] - a[:-1]) < 1e-6)
        trk, mod, a = trk[~dup], mod[~dup], a[~dup]
    return {"trk": trk, "mod": mod, "a": a}, (R, xc, yc, h, sh)


def _big_scale(cfg, sensor):
    """(width, length) factors of the sensor with big pixels (162 x 432 pitches instead of 160 x 416)."""
    if not cfg.big_pixels:
        return 1.0, 1.0
    from hepvq.sim import bigpix

    vr, vc = bigpix.virtual_shape(sensor.rows, sensor.cols)
    return vr / sensor.rows, vc / sensor.cols


def _disk_crossings(tr, geo: PixelGeometry, R, xc, yc, h, sh, a_death, res, cfg=None):
    """Crossings with the flat forward-disk panels (planes z = const: one crossing per plane at most)."""
    mods = geo.modules
    dmask = mods.is_disk
    planes = np.unique(mods.zc_cm[dmask])
    nz = np.nonzero(np.abs(sh) > 1e-9)[0]
    for zp in planes:
        a = (zp - tr["z0"][nz]) / (R[nz] * sh[nz])
        ok = (a > 0) & (a < a_death[nz])
        t = nz[ok]
        a = a[ok]
        if t.size == 0:
            continue
        x, y, _, _ = ph.helix_position(xc[t], yc[t], h[t], R[t], tr["phi"][t], tr["z0"][t], sh[t], a)
        r = np.hypot(x, y)
        phi = np.arctan2(y, x)
        sel_plane = np.nonzero(dmask & (mods.zc_cm == zp))[0]   # modules of this plane, detId order
        for ring_i, ring in enumerate(geo.disk_rings):
            in_ring = sel_plane[(mods.dist_cm[sel_plane] == ring.r_center_cm)]
            if in_ring.size == 0:
                continue
            fw, fl = _big_scale(cfg, ring) if cfg is not None else (1.0, 1.0)
            half_w, half_l = 0.5 * ring.width_cm * fw, 0.5 * ring.length_cm * fl
            near = np.nonzero(np.abs(r - ring.r_center_cm) < half_l + 0.5)[0]
            if near.size == 0:
                continue
            phi0 = mods.phi[in_ring[0]]
            nb = ring.n_blades
            k0 = np.rint((phi[near] - phi0) * nb / (2 * np.pi)).astype(np.int64)
            for dk in (-1, 0, 1):
                k = np.mod(k0 + dk, nb)
                mi = in_ring[k]
                phib = mods.phi[mi]
                cb, sb = np.cos(phib), np.sin(phib)
                u = -sb * x[near] + cb * y[near]
                v = cb * x[near] + sb * y[near] - ring.r_center_cm
                okm = (np.abs(u) < half_w) & (np.abs(v) < half_l)
                sel = np.nonzero(okm)[0]
                res["trk"].append(t[near[sel]])
                res["mod"].append(mi[sel])
                res["a"].append(a[near[sel]])


def _simulate_chunk(event_numbers, seed, geo: PixelGeometry, cfg: PixelSimConfig):
    _tick(None)
    mods = geo.modules
    n_ev = len(event_numbers)
    tr, rngs = _generate_tracks(event_numbers, seed, geo, cfg)
    _tick("gen")
    cr, (R, xc, yc, h, sh) = _find_crossings(tr, geo, cfg)
    _tick("crossings")
    t, m, a = cr["trk"], cr["mod"], cr["a"]
    ev = tr["ev"][t]
    # order crossings by (event, module) -- already by (event, track); re-sort by event, module, track
    order = np.lexsort((a, t, m, ev))
    t, m, a, ev = t[order], m[order], a[order], ev[order]
    nc = t.size

    # local frame
    phiL = mods.phi[m]
    nx, ny = np.cos(phiL), np.sin(phiL)
    px, py, pz, phit = ph.helix_position(xc[t], yc[t], h[t], R[t], tr["phi"][t], tr["z0"][t], sh[t], a)
    u0 = -ny * px + nx * py
    v0 = pz - mods.zc_cm[m]
    ch = np.cosh(tr["eta"][t])
    tu = np.sin(phit - phiL) / ch
    tw = np.cos(phit - phiL) / ch
    tv = np.tanh(tr["eta"][t])
    tanL = np.full(nc, geo.tan_lorentz)
    if geo.disk_rings:
        # disk panels: rows along r-phi (u = e_phi of the blade), cols along r (v = e_r), normal n = u x v = -z;
        # flat blades -> no Lorentz drift (E and B both along z)
        dk = np.nonzero(mods.is_disk[m])[0]
        u0[dk] = -ny[dk] * px[dk] + nx[dk] * py[dk]
        v0[dk] = nx[dk] * px[dk] + ny[dk] * py[dk] - mods.dist_cm[m[dk]]
        tu[dk] = np.sin(phit[dk] - phiL[dk]) / ch[dk]
        tv[dk] = np.cos(phit[dk] - phiL[dk]) / ch[dk]
        tw[dk] = -np.tanh(tr["eta"][t[dk]])
        tanL[dk] = 0.0
    T = geo.thickness_um * 1e-4
    tw_min = T / cfg.max_path_cm
    tw = np.where(np.abs(tw) < tw_min, np.where(tw < 0, -tw_min, tw_min), tw)
    cot_a = tu / tw
    cot_b = tv / tw
    if cfg.multiple_scattering:
        from hepvq.sim import realism

        du, dv, dca, dcb = realism.scatter(ev, t, a, tr, R, cot_a, cot_b, event_numbers, seed, cfg)
        u0, v0, cot_a, cot_b = u0 + du, v0 + dv, cot_a + dca, cot_b + dcb
    # sensor extent in pitches: with big pixels charge is shared on a regular 162 x 432 grid, then merged
    rows_m, cols_m = mods.rows[m], mods.cols[m]
    if cfg.big_pixels:
        from hepvq.sim import bigpix

        bigpix.check_shape(np.unique(mods.rows).max(), np.unique(mods.cols).max())
        vr, vc = bigpix.virtual_shape()
        rows_m, cols_m = np.full(nc, vr), np.full(nc, vc)
    if cfg.multiple_scattering:
        # a crossing scattered off its sensor re-enters from the opposite edge: it stands for the neighbouring
        # module of the layer (which modules are crossed is not changed), so that the hits of low-pT tracks,
        # displaced by millimetres, are not lost and the layer occupancies stay those of the tracks
        hu, hv = 0.5 * rows_m * mods.pitch_row_cm[m], 0.5 * cols_m * mods.pitch_col_cm[m]
        u0 = np.mod(u0 + hu, 2 * hu) - hu
        v0 = np.mod(v0 + hv, 2 * hv) - hv
    path_um = geo.thickness_um * np.sqrt(1 + cot_a**2 + cot_b**2)
    p = tr["pt"][t] * ch
    bg = p / tr["mass"][t]
    mpv, scale = ph.silicon_landau(path_um, bg, mpv_ref_e=geo.mpv_e, t_ref_um=geo.thickness_um,
                                   width_factor=cfg.landau_width_factor)

    pu = mods.pitch_row_cm[m]
    pv = mods.pitch_col_cm[m]
    span_u = T * np.abs(cot_a - tanL) + 0.5 * T * tanL
    span_v = T * np.abs(cot_b)
    nseg = np.ceil(cfg.segments_per_pitch * np.maximum(span_u / pu, span_v / pv)).astype(np.int64)
    nseg = np.clip(nseg, 4, cfg.max_segments)
    _tick("local")

    # segments
    cidx = np.repeat(np.arange(nc), nseg)
    start = np.cumsum(nseg) - nseg
    j = np.arange(cidx.size) - start[cidx]
    ns = nseg[cidx].astype(np.float64)
    w = T * ((j + 0.5) / ns - 0.5)              # depth, -T/2 .. T/2
    drift = 0.5 * T - w                          # electrons collected on the w = +T/2 side
    us = u0[cidx] + w * cot_a[cidx] + tanL[cidx] * drift
    vs = v0[cidx] + w * cot_b[cidx]
    sig = np.maximum(geo.diffusion_um * 1e-4 * np.sqrt(drift / T), 1e-7)
    _tick("segments")

    # Landau charges: draw per event from that event's generator (chunk invariance)
    seg_ev = ev[cidx]
    counts = np.bincount(seg_ev, minlength=n_ev)
    c_tot = scale
    loc_tot = mpv - ph.LANDAU_MODE * c_tot
    loc_s = ph.landau_sum_loc(loc_tot, c_tot, nseg.astype(np.float64))
    c_s = c_tot / nseg
    x_max = ((cfg.segment_e_max - loc_s) / c_s)[cidx]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    xs = np.concatenate([ph.landau_standard(rngs[i], int(counts[i]), x_max[bounds[i]:bounds[i + 1]])
                         for i in range(n_ev)]) if cidx.size else np.zeros(0)
    q = np.maximum(loc_s[cidx] + c_s[cidx] * xs, 0.0)
    dep = np.bincount(cidx, weights=q, minlength=nc)
    _tick("landau")

    # charge sharing with the nearest neighbour in each direction
    rows = rows_m[cidx]
    cols = cols_m[cidx]
    uu = (us + 0.5 * rows * pu[cidx]) / pu[cidx]
    vv = (vs + 0.5 * cols * pv[cidx]) / pv[cidx]
    iu = np.floor(uu).astype(np.int64)
    iv = np.floor(vv).astype(np.int64)
    fu = uu - iu
    fv = vv - iv
    s2u = sig * math.sqrt(2) / pu[cidx]
    s2v = sig * math.sqrt(2) / pv[cidx]
    # weight of the nearest neighbour pixel: Gaussian tail beyond the nearest pixel edge (erfc only near edges)
    nseg_tot = cidx.size
    du_edge = np.minimum(fu, 1 - fu)
    dv_edge = np.minimum(fv, 1 - fv)
    wu = np.zeros(nseg_tot)
    wv = np.zeros(nseg_tot)
    near = np.nonzero(du_edge < 3.0 * s2u)[0]
    wu[near] = 0.5 * erfc(du_edge[near] / s2u[near])
    near = np.nonzero(dv_edge < 3.0 * s2v)[0]
    wv[near] = 0.5 * erfc(dv_edge[near] / s2v[near])
    du = np.where(fu < 0.5, -1, 1)
    dv = np.where(fv < 0.5, -1, 1)
    _tick("sharing")

    m_seg = m[cidx]
    parts_i, parts_r, parts_c, parts_q = [np.arange(nseg_tot)], [iu], [iv], [q * (1 - wu) * (1 - wv)]
    for sel_w, rr, cc, ww in ((wu, iu + du, iv, wu * (1 - wv)), (wv, iu, iv + dv, (1 - wu) * wv),
                              (wu * wv, iu + du, iv + dv, wu * wv)):
        idx = np.nonzero(q * sel_w > 1.0)[0]
        parts_i.append(idx)
        parts_r.append(rr[idx])
        parts_c.append(cc[idx])
        parts_q.append(q[idx] * ww[idx])
    E_s = np.concatenate(parts_i)
    E_r = np.concatenate(parts_r)
    E_c = np.concatenate(parts_c)
    E_q = np.concatenate(parts_q)
    keep = (E_q > 1.0) & (E_r >= 0) & (E_c >= 0) & (E_r < rows[E_s]) & (E_c < cols[E_s])
    E_r, E_c, E_q, E_s = E_r[keep], E_c[keep], E_q[keep], E_s[keep]
    if cfg.big_pixels:
        E_r, E_c = bigpix.virtual_to_readout(E_r, E_c)
    E_m = m_seg[E_s]
    E_ev = seg_ev[E_s]
    _tick("entries")
    key = (E_ev << 44) | (E_m << 28) | (E_r << 14) | E_c
    order = np.argsort(key, kind="stable")
    key = key[order]
    Eq = E_q[order]
    if key.size:
        first = np.concatenate([[True], key[1:] != key[:-1]])
        starts = np.nonzero(first)[0]
        pk = key[starts]
        pq = np.add.reduceat(Eq, starts)
    else:
        pk = np.zeros(0, np.int64)
        pq = np.zeros(0)
    p_ev = pk >> 44
    p_m = (pk >> 28) & 0xFFFF
    p_r = (pk >> 14) & 0x3FFF
    p_c = pk & 0x3FFF
    _tick("aggregate")
    # noise, threshold, ADC (per-event generators)
    pcounts = np.bincount(p_ev, minlength=n_ev)
    noise = np.concatenate([rngs[i].normal(0.0, geo.noise_e, int(pcounts[i])) for i in range(n_ev)]) \
        if pk.size else np.zeros(0)
    qn = pq + noise
    if cfg.gain_spread > 0:
        gains = np.concatenate([rngs[i].normal(1.0, cfg.gain_spread, int(pcounts[i])) for i in range(n_ev)])
        qn = qn * gains
    fired = qn >= mods.threshold_e[p_m]
    adc = np.clip(np.floor(qn / geo.electrons_per_adc), 1, geo.adc_max).astype(np.uint16)
    p_ev, p_m, p_r, p_c, adc = p_ev[fired], p_m[fired], p_r[fired], p_c[fired], adc[fired]
    if cfg.noise_rate > 0:
        p_ev, p_m, p_r, p_c, adc = _add_noise_pixels(p_ev, p_m, p_r, p_c, adc, event_numbers, seed, geo, cfg)
    _tick("digitise")
    nhit = np.bincount(p_ev, minlength=n_ev)
    digis = ak.zip({
        "detId": ak.unflatten(mods.detid[p_m].astype(np.uint32), nhit),
        "row": ak.unflatten(p_r.astype(np.uint16), nhit),
        "col": ak.unflatten(p_c.astype(np.uint16), nhit),
        "adc": ak.unflatten(adc, nhit),
    })
    # truth
    ncr = np.bincount(ev, minlength=n_ev)
    turn = np.floor(a / np.pi).astype(np.int64)
    tx = (u0 + 0.5 * rows_m * pu) / pu
    ty = (v0 + 0.5 * cols_m * pv) / pv
    if cfg.big_pixels:   # truth in readout coordinates: floor(x) is still the row index
        tx, ty = bigpix.phys_to_readout(tx, ty)
    truth_cols = {
        "detId": mods.detid[m].astype(np.uint32),
        "x": _round(tx, 1 / 128),
        "y": _round(ty, 1 / 128),
        "cotAlpha": _trunc(cot_a),
        "cotBeta": _trunc(cot_b),
        "charge": _round(dep, 10.0),
        "pt": _trunc(tr["pt"][t]),
        "eta": _trunc(tr["eta"][t]),
        "phi": _trunc(tr["phi"][t]),
        "looper": turn >= 1,
        "turn": turn.astype(np.int16),
        "track": (t - np.searchsorted(tr["ev"], ev)).astype(np.int32),
        "vertex": tr["vtx"][t].astype(np.int32),
    }
    truth = ak.zip({k: ak.unflatten(v, ncr) for k, v in truth_cols.items()})
    _tick("output")
    stats = {"tracks": int(tr["pt"].size), "crossings": int(nc), "segments": int(cidx.size)}
    return digis, truth, stats


def _add_noise_pixels(p_ev, p_m, p_r, p_c, adc, event_numbers, seed, geo, cfg):
    """Merge noise-only fired pixels (hepvq.sim.realism) into the sorted hits; a pixel that already fired keeps
    its signal ADC (the coincidence is ~occupancy x rate)."""
    from hepvq.sim import realism

    mods = geo.modules
    n_ev, n_m, n_r, n_c, n_adc = realism.noise_pixels(event_numbers, seed, mods, geo, cfg.noise_rate,
                                                      mods.rows, mods.cols)
    k_sig = (p_ev << 44) | (p_m << 28) | (p_r << 14) | p_c
    k_noi = (n_ev << 44) | (n_m << 28) | (n_r << 14) | n_c
    k = np.concatenate([k_sig, k_noi])
    a = np.concatenate([adc, n_adc])
    order = np.argsort(k, kind="stable")      # stable: the signal entry comes first for equal keys
    k, a = k[order], a[order]
    first = np.ones(k.size, bool)
    first[1:] = k[1:] != k[:-1]
    k, a = k[first], a[first]
    return k >> 44, (k >> 28) & 0xFFFF, (k >> 14) & 0x3FFF, k & 0x3FFF, a


def _round(x, step):
    """float32 on a fixed grid (compresses well; step 1/128 pixel = 0.8 um (rows) / 1.2 um (cols) for x, y; 10 e for charges)."""
    return (np.rint(np.asarray(x) / step) * step).astype(np.float32)


def _trunc(x, bits: int = 10):
    """float32 keeping ``bits`` mantissa bits (relative precision 2^-bits ~ 1e-3): compresses much better."""
    a = np.asarray(x, dtype=np.float32).copy()
    a.view(np.uint32)[...] &= np.uint32((0xFFFFFFFF << (23 - bits)) & 0xFFFFFFFF)
    return a


def _ids(event_numbers, run):
    ev = np.asarray(event_numbers, dtype=np.uint64)
    return (np.full(ev.size, run, np.uint32), np.ones(ev.size, np.uint32), ev)


def _chunk_task(args):
    evn, seed, geometry, cfg, run = args
    geo = get_geometry(geometry)
    digis, truth, stats = _simulate_chunk(evn, seed, geo, cfg)
    r, lb, e = _ids(evn, run)
    events = ak.zip({"run": r, "luminosityBlock": lb, "event": e, "PixelDigi": digis}, depth_limit=1)
    tru = ak.zip({"run": r, "luminosityBlock": lb, "event": e, "SimHit": truth}, depth_limit=1)
    return events, tru, stats


def iter_chunks(n_events, pileup=200.0, seed=0, geometry="phase1", first_event=1, chunk=10, run=1, jobs=1,
                **params):
    """Yield (events, truth, stats) chunk by chunk: identical content to one-shot ``simulate_events``.

    ``jobs > 1`` simulates chunks in that many worker processes (results still come in event order and are
    identical: each event's random stream depends only on (seed, event number))."""
    get_geometry(geometry)
    cfg = PixelSimConfig().replace(pileup=float(pileup), **params)
    tasks = ((events, seed, geometry, cfg, run) for events in ph.event_chunks(n_events, first_event, chunk))
    yield from ph.run_chunk_tasks(_chunk_task, tasks, jobs)


def simulate_events(n_events, pileup=200.0, seed=0, geometry="phase1", first_event=1, chunk=10, run=1,
                    **params):
    """Simulate ``n_events`` bunch crossings with Poisson(pileup) minimum-bias collisions.

    Returns ``(events, truth)``: ``events`` has fields run, luminosityBlock, event, PixelDigi (jagged records
    detId, row, col, adc; sorted by (detId, row, col)); ``truth`` has run, luminosityBlock, event and SimHit
    (jagged records, fields in ``TRUTH_FIELDS``).  Event numbers are first_event, first_event+1, ...; each
    event's random stream depends only on (seed, event number), so any chunking gives the same events.
    Extra keyword arguments override ``PixelSimConfig`` fields.
    """
    parts = list(iter_chunks(n_events, pileup, seed, geometry, first_event, chunk, run, **params))
    if not parts:
        raise ValueError("n_events must be >= 1")
    return ak.concatenate([p[0] for p in parts]), ak.concatenate([p[1] for p in parts])
