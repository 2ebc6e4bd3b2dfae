"""Particle gun and the switchable realism of the pixel simulator (hepvq.sim.gun, realism, bigpix)."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from hepvq.cli import simulate as sim_cli
from hepvq.sim import bigpix, gun, pixel, realism
from hepvq.sim.geometry import PHASE1


def _tracks(n_events, **kw):
    cfg = pixel.PixelSimConfig().replace(pileup=0.0, **kw)
    return gun.generate(np.arange(1, n_events + 1), 3, PHASE1, cfg)[0]


def test_gun_tracks_have_the_asked_pt_eta_and_multiplicity():
    tr = _tracks(50, gun="mu", gun_ntracks=7, gun_pt=(2.0, 50.0), gun_eta=(-1.0, 0.5))
    assert np.all(np.bincount(tr["ev"]) == 7)
    assert tr["pt"].min() >= 2.0 and tr["pt"].max() <= 50.0
    assert tr["eta"].min() >= -1.0 and tr["eta"].max() <= 0.5
    # log-uniform pT: median at the geometric mean
    assert abs(np.median(np.log(tr["pt"])) - 0.5 * np.log(100.0)) < 0.3
    assert np.allclose(tr["mass"], gun.MASSES["mu"])
    assert np.all(tr["vtx"] == 0) and set(np.unique(tr["q"])) == {-1.0, 1.0}


def test_jet_tracks_lie_in_the_cone():
    tr = _tracks(20, gun="jet", gun_ntracks=12, gun_njets=2, gun_cone=0.05, gun_pt=(1.0, 20.0))
    eta = tr["eta"].reshape(20, 2, 12)
    phi = tr["phi"].reshape(20, 2, 12)
    deta = eta - eta.mean(axis=2, keepdims=True)
    dphi = np.angle(np.exp(1j * (phi - phi[:, :, :1])))
    dphi -= dphi.mean(axis=2, keepdims=True)
    assert np.hypot(deta, dphi).max() < 2 * 0.05


def test_gun_events_truth_and_determinism():
    a, ta = pixel.simulate_events(3, seed=5, gun="pi", gun_ntracks=5, gun_pt=(1, 10), gun_eta=(-2, 2))
    b, tb = pixel.simulate_events(3, seed=5, gun="pi", gun_ntracks=5, gun_pt=(1, 10), gun_eta=(-2, 2), chunk=1)
    assert ak.all(ak.num(a.PixelDigi) > 0)
    assert a.PixelDigi.to_list() == b.PixelDigi.to_list() and ta.SimHit.to_list() == tb.SimHit.to_list()
    s = ak.flatten(ta.SimHit)
    assert ak.all(s.vertex == 0) and ak.max(s.track) < 5
    assert 0.99 <= ak.min(s.pt) and ak.max(s.pt) <= 10.01 and ak.max(abs(s.eta)) <= 2.0


def test_bad_gun_settings_are_errors():
    with pytest.raises(ValueError, match="gun must be"):
        pixel.simulate_events(1, gun="tau")
    with pytest.raises(ValueError, match="gun_pt"):
        pixel.simulate_events(1, gun="mu", gun_pt=(5.0, 1.0))


def test_cli_gun_writes_events_and_truth(tmp_path):
    out = tmp_path / "mu.root"
    rc = sim_cli.main(["pixel", "--gun", "mu", "--ntracks", "4", "--pt", "3,30", "--eta", "-1.5,1.5",
                       "--events", "2", "-q", "-o", str(out)])
    assert rc == 0
    with uproot.open(out) as f:
        ev = f["Events"].arrays()
        tr = f["Truth"].arrays()
    ref, tref = pixel.simulate_events(2, seed=0, gun="mu", gun_ntracks=4, gun_pt=(3, 30), gun_eta=(-1.5, 1.5))
    assert ak.to_list(ev["PixelDigi_adc"]) == ak.to_list(ref.PixelDigi.adc)
    assert ak.to_list(tr["SimHit_x"]) == ak.to_list(tref.SimHit.x)
    assert 3 <= ak.min(tr["SimHit_pt"]) and ak.max(abs(tr["SimHit_eta"])) <= 1.5


def test_multiple_scattering_matches_highland():
    """1 GeV muons at eta ~ 0: the displacement of the layer-2 crossings equals the beam pipe's and layer 1's
    Highland angles times the lever arms (within 15 %); the crossings themselves do not change."""
    kw = dict(seed=2, gun="mu", gun_ntracks=40, gun_pt=(1.0, 1.0), gun_eta=(-0.05, 0.05))
    _, t0 = pixel.simulate_events(40, **kw)
    _, t1 = pixel.simulate_events(40, multiple_scattering=True, **kw)
    a, b = ak.flatten(t0.SimHit), ak.flatten(t1.SimHit)
    assert ak.to_list(a.detId) == ak.to_list(b.detId)
    layer = (ak.to_numpy(a.detId) >> 20) & 0xF
    sel = layer == 2
    # a crossing scattered off its sensor re-enters from the opposite edge (160 rows): periodic difference
    dx = ak.to_numpy(b.x) - ak.to_numpy(a.x)
    du_um = (np.mod(dx + 80.0, 160.0) - 80.0)[sel] * 100.0
    cfg = pixel.PixelSimConfig()
    beta = 1.0 / np.sqrt(1 + (gun.MASSES["mu"] / 1.0) ** 2)
    th_bp = realism.highland(1.0, beta, cfg.beampipe_x0)
    th_l1 = realism.highland(1.0, beta, cfg.layer_x0)
    r1, r2 = PHASE1.layers[0].radius_cm, PHASE1.layers[1].radius_cm
    expect_um = 1e4 * np.hypot(th_bp * (r2 - cfg.beampipe_r_cm), th_l1 * (r2 - r1))
    assert 0.85 < np.std(du_um) / expect_um < 1.15
    assert ak.all(abs(b.cotAlpha - a.cotAlpha) < 0.05)


def test_multiple_scattering_keeps_low_pt_hits_on_their_layer():
    """Pile-up (low pT: millimetre displacements): crossings scattered off their sensor re-enter from the opposite
    edge, so every crossing keeps a cluster and the hits per layer stay those without scattering (they fell off
    the sensor before: -24 % in layer 4)."""
    from hepvq.sim import validation as V

    s = {}
    for ms in (False, True):
        ev, tr = pixel.simulate_events(1, pileup=200, seed=1, multiple_scattering=ms)
        s[ms] = V.pixel_summary(ev, tr)
    assert s[True]["matched_fraction"] > 0.99
    ratio = np.asarray(s[True]["hits_per_module"]) / np.asarray(s[False]["hits_per_module"])
    assert np.all(np.abs(ratio - 1) < 0.08), ratio


def test_noise_pixels_rate_and_charge():
    kw = dict(seed=4, gun="mu", gun_ntracks=3)
    e0, _ = pixel.simulate_events(4, **kw)
    e1, _ = pixel.simulate_events(4, noise_rate=1e-5, **kw)
    extra = ak.to_numpy(ak.num(e1.PixelDigi) - ak.num(e0.PixelDigi))
    expect = 1e-5 * len(PHASE1.modules) * 160 * 416
    assert abs(extra.mean() - expect) < 4 * np.sqrt(expect / extra.size)
    # noise pixels sit just above threshold: ADC 8..13 (1.2 / 1.6 ke thresholds, 135 e per count)
    a0 = np.bincount(ak.to_numpy(ak.flatten(e0.PixelDigi.adc)), minlength=256)
    a1 = np.bincount(ak.to_numpy(ak.flatten(e1.PixelDigi.adc)), minlength=256)
    d = a1 - a0
    assert d[8:14].sum() == d.sum() and d.min() >= 0


def test_big_pixel_maps():
    assert bigpix.virtual_shape() == (162, 432)
    r, c = bigpix.virtual_to_readout(np.array([78, 79, 80, 81, 82, 83, 161]), np.array([0, 1, 2, 53, 54, 55, 431]))
    assert r.tolist() == [78, 79, 79, 80, 80, 81, 159]
    assert c.tolist() == [0, 0, 1, 51, 52, 52, 415]
    x = np.array([0.25, 79.5, 80.75, 159.9])
    y = np.array([0.5, 51.25, 52.5, 415.5])
    xp, yp = bigpix.readout_to_phys(x, y)
    assert np.allclose(xp, [0.25, 80.0, 82.5, 161.9]) and np.allclose(yp, [1.0, 52.5, 55.0, 431.0])
    back = bigpix.phys_to_readout(xp, yp)
    assert np.allclose(back[0], x) and np.allclose(back[1], y)
    with pytest.raises(ValueError, match="Phase-1 module"):
        bigpix.virtual_shape(672, 432)


def test_big_pixels_in_events():
    kw = dict(seed=6, gun="mu", gun_ntracks=30, gun_eta=(-0.3, 0.3))
    e, t = pixel.simulate_events(3, big_pixels=True, **kw)
    d = ak.flatten(e.PixelDigi)
    assert ak.max(d.row) <= 159 and ak.max(d.col) <= 415
    # truth in readout coordinates: the crossing's pixel (Lorentz-shifted) is among the fired ones
    s = ak.flatten(t.SimHit)
    assert ak.min(s.x) >= 0 and ak.max(s.x) < 160 and ak.max(s.y) < 416
    with pytest.raises(ValueError, match="Phase-1 module"):
        pixel.simulate_events(1, geometry="phase2", big_pixels=True, **kw)
