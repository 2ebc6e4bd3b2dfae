"""Pixel simulator: schema, physics invariants (within tolerances), determinism and chunk invariance."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from hepvq.sim import geometry as G
from hepvq.sim import pixel
from hepvq.sim import validation as V


@pytest.fixture(scope="module")
def pu200():
    return pixel.simulate_events(4, pileup=200, seed=123)


@pytest.fixture(scope="module")
def summary(pu200):
    events, truth = pu200
    return V.pixel_summary(events, truth)


def test_schema_and_dtypes(pu200):
    events, truth = pu200
    assert events.fields == ["run", "luminosityBlock", "event", "PixelDigi"]
    assert events.PixelDigi.fields == ["detId", "row", "col", "adc"]
    t = ak.type(events).content
    assert str(t) == ("{run: uint32, luminosityBlock: uint32, event: uint64, "
                      "PixelDigi: var * {detId: uint32, row: uint16, col: uint16, adc: uint16}}")
    assert events.event.to_list() == [1, 2, 3, 4]
    assert set(truth.SimHit.fields) == set(pixel.TRUTH_FIELDS)
    assert truth.event.to_list() == events.event.to_list()


def test_ranges_and_ordering(pu200):
    events, _ = pu200
    mods = G.PHASE1.modules
    for d in events.PixelDigi:
        det = ak.to_numpy(d.detId)
        row = ak.to_numpy(d.row).astype(np.int64)
        col = ak.to_numpy(d.col).astype(np.int64)
        adc = ak.to_numpy(d.adc)
        mods.index_of(det)  # raises on unknown detIds
        assert row.max() < 160 and col.max() < 416
        assert adc.min() >= 1 and adc.max() <= 255
        key = (det.astype(np.int64) << 20) | (row << 10) | col
        assert np.all(np.diff(key) > 0), "hits must be sorted by (detId, row, col) and unique"


def test_hits_per_event_order_1e5(summary):
    assert 5e4 < summary["hits_per_event"] < 2e5


def test_occupancy_falls_with_radius(summary):
    hpm = summary["hits_per_module"]
    cpm = summary["clusters_per_module"]
    assert np.all(np.diff(hpm) < 0) and np.all(np.diff(cpm) < 0)
    # layer 1 at PU 200: ~0.5-1.2 % of pixels (Phase-1 TDR design rate scaled: ~0.9 %)
    assert 0.004 < summary["occupancy"][0] < 0.015


def test_cluster_charge_landau_peak(summary):
    # CMS: MPV 21-22 ke at normal incidence; allow for threshold/noise and the small rise with path length
    assert 19_000 < summary["norm_charge_mpv_central_e"] < 24_500
    assert 19_000 < summary["norm_charge_mpv_e"] < 25_500
    assert 1.02 < summary["norm_charge_mean_e"] / summary["norm_charge_mpv_e"] < 1.4


def test_cluster_length_grows_with_eta(summary):
    sy = summary["size_y_vs_eta"]
    good = np.isfinite(sy)
    assert good[:5].all()
    assert np.all(np.diff(sy[good]) > 0)
    exp = summary["expected_size_y"]
    assert np.all(np.abs(sy[good] / exp[good] - 1) < 0.25)
    sx = summary["size_x_vs_eta"][good]
    assert np.all((sx > 1.5) & (sx < 2.8)), "rows: Lorentz drift spreads charge over ~2 rows"


def test_truth_matches_clusters(summary):
    assert summary["matched_fraction"] > 0.95
    # charge centroid vs truth position: of the order of the Phase-1 hit resolution (~10 um r-phi, ~25 um z)
    assert summary["centroid_residual_row_um"] < 20 and summary["centroid_residual_col_um"] < 40
    assert abs(summary["centroid_bias_row_um"]) < 5, "truth x + Lorentz shift must be where the charge is"
    assert 0.01 < summary["looper_fraction"] < 0.5


def test_pileup_scaling():
    e50, _ = pixel.simulate_events(2, pileup=50, seed=5)
    e200, _ = pixel.simulate_events(2, pileup=200, seed=5)
    r = ak.sum(ak.num(e200.PixelDigi)) / ak.sum(ak.num(e50.PixelDigi))
    assert 2.8 < r < 5.5


def test_determinism_and_chunk_invariance():
    a, ta = pixel.simulate_events(3, pileup=30, seed=9, chunk=3)
    b, tb = pixel.simulate_events(3, pileup=30, seed=9, chunk=1)
    assert ak.all(ak.flatten(a.PixelDigi.adc) == ak.flatten(b.PixelDigi.adc))
    assert ak.to_list(a) == ak.to_list(b)
    assert ak.to_list(ta.SimHit.charge) == ak.to_list(tb.SimHit.charge)
    # event 3 alone equals the third event of the batch
    c, _ = pixel.simulate_events(1, pileup=30, seed=9, first_event=3)
    assert ak.to_list(c.PixelDigi[0]) == ak.to_list(a.PixelDigi[2])
    d, _ = pixel.simulate_events(1, pileup=30, seed=10, first_event=3)
    assert ak.to_list(d.PixelDigi[0]) != ak.to_list(a.PixelDigi[2])


def test_phase2_geometry():
    ev, tr = pixel.simulate_events(1, pileup=20, seed=2, geometry="phase2")
    d = ev.PixelDigi[0]
    det = ak.to_numpy(d.detId)
    rows, cols = G.module_shape(det, "phase2")
    assert np.all(ak.to_numpy(d.row) < rows) and np.all(ak.to_numpy(d.col) < cols)
    assert ak.max(d.adc) <= 15 and ak.min(d.adc) >= 1
    assert set(np.unique(G.detid_layer(det))) <= {1, 2, 3, 4}


def test_unknown_parameter_is_an_error():
    with pytest.raises(TypeError, match="unknown pixel simulation parameter"):
        pixel.simulate_events(1, pileup=1, seed=0, not_a_param=3)
    with pytest.raises(ValueError, match="unknown pixel geometry"):
        pixel.simulate_events(1, pileup=1, geometry="phase0")


def test_helix_crossings_loopers_and_stiff_tracks():
    cfg = pixel.PixelSimConfig()

    def tracks(pt, eta, phi):
        n = len(pt)
        return {"ev": np.zeros(n, np.int64), "vtx": np.zeros(n, np.int64), "x0": np.zeros(n), "y0": np.zeros(n),
                "z0": np.full(n, 1.0), "pt": np.array(pt, float), "eta": np.array(eta, float),
                "phi": np.array(phi, float), "q": np.ones(n), "mass": np.full(n, 0.1396), "death_u": np.full(n, 10.0)}

    cr, _ = pixel._find_crossings(tracks([10.0, 0.05, 0.5], [0.0, 0.05, 0.3], [0.3, 1.0, -2.0]), G.PHASE1, cfg)
    layer = G.PHASE1.modules.layer[cr["mod"]]
    per = [np.bincount(layer[cr["trk"] == t], minlength=4) for t in range(3)]
    assert per[0].tolist() == [1, 1, 1, 1]           # stiff track: one crossing per layer
    assert per[2].tolist() == [1, 1, 1, 1]           # 0.5 GeV at eta 0.3 leaves the barrel before returning
    # 50 MeV: 2R = 8.8 cm -> loops through layers 1-2 many times, never reaches layers 3-4 (r = 10.9, 16 cm)
    assert per[1][0] >= 6 and per[1][1] >= 4 and per[1][2] == 0 and per[1][3] == 0


def test_forward_disks_option():
    a, _ = pixel.simulate_events(1, pileup=40, seed=6)
    b, tb = pixel.simulate_events(1, pileup=40, seed=6, geometry="phase1_fpix")
    det = ak.to_numpy(b.PixelDigi.detId[0])
    barrel = G.is_barrel(det)
    assert (~barrel).sum() > 1000, "forward disks get hits"
    side, disk, blade, panel, module = G.decode_detid_pxf(det[~barrel])
    assert set(np.unique(side)) == {1, 2} and set(np.unique(disk)) == {1, 2, 3}
    assert blade.min() >= 1 and blade.max() <= 56 and set(np.unique(panel)) <= {1, 2}
    rows, cols = G.module_shape(det, "phase1_fpix")
    assert np.all(ak.to_numpy(b.PixelDigi.row[0]) < rows) and np.all(ak.to_numpy(b.PixelDigi.col[0]) < cols)
    key = (det.astype(np.int64) << 20) | (ak.to_numpy(b.PixelDigi.row[0]).astype(np.int64) << 10) \
        | ak.to_numpy(b.PixelDigi.col[0])
    assert np.all(np.diff(key) > 0)
    # same tracks: the barrel part equals the barrel-only simulation up to noise realisations
    da = a.PixelDigi[0]
    ka = set(zip(ak.to_list(da.detId), ak.to_list(da.row), ak.to_list(da.col)))
    kb = set(zip(det[barrel].tolist(), ak.to_numpy(b.PixelDigi.row[0])[barrel].tolist(),
                 ak.to_numpy(b.PixelDigi.col[0])[barrel].tolist()))
    assert len(ka ^ kb) < 0.02 * len(ka)  # pixels within noise of the threshold flip
    assert G.PHASE1_FPIX.modules.is_disk.sum() == 672
