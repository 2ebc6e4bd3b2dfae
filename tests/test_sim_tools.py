"""Geometry/detId, Landau sampler, clustering helpers, file writing (read back with uproot) and the CLI."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from hepvq.cli import simulate as cli
from hepvq.sim import clusters as cl
from hepvq.sim import geometry as G
from hepvq.sim import io as sio
from hepvq.sim import physics as ph
from hepvq.sim import pixel, tpc


def test_detid_roundtrip_and_layout():
    m = G.PHASE1.modules
    assert len(m) == 96 + 224 + 352 + 512
    lay, lad, mod = G.decode_detid(m.detid)
    assert np.array_equal(lay - 1, m.layer) and np.array_equal(lad - 1, m.ladder) and np.array_equal(mod - 1, m.module)
    assert np.array_equal(G.encode_detid(lay, lad, mod), m.detid)
    assert int(G.encode_detid(1, 1, 1)) == 0x12101004  # tracker | PXB | layer 1 | ladder 1 | module 1
    assert np.all(np.diff(m.detid.astype(np.int64)) > 0)
    rows, cols = G.module_shape(m.detid)
    assert np.all(rows == 160) and np.all(cols == 416)
    assert G.module_shape(int(m.detid[0])) == (160, 416)
    r2, c2 = G.module_shape(G.PHASE2.modules.detid, "phase2")
    assert set(np.unique(r2)) == {672, 1344} and set(np.unique(c2)) == {432}
    with pytest.raises(ValueError):
        G.module_shape(G.encode_detid(7, 1, 1))


def test_landau_sampler_and_silicon_mpv():
    from scipy.stats import landau

    x = ph.landau_standard(np.random.default_rng(0), 400_000)
    assert abs(np.median(x) - landau.median()) < 0.02
    mpv, scale = ph.silicon_landau(np.array([285.0, 570.0]), np.array([10.0, 10.0]))
    assert mpv[0] == pytest.approx(21500, rel=1e-6)
    assert 2.0 < mpv[1] / mpv[0] < 2.3  # MPV/thickness grows logarithmically with thickness
    slow, _ = ph.silicon_landau(np.array([285.0]), np.array([0.5]))
    assert slow[0] > 2.5 * mpv[0]       # 1/beta^2 rise for slow particles


def test_tsallis_mean_pt():
    assert 0.45 < ph.TsallisPt().mean < 0.55


def test_find_clusters_8_connectivity():
    det = np.array([5, 5, 5, 5, 5, 6, 6])
    row = np.array([0, 1, 3, 10, 11, 0, 0])
    col = np.array([0, 1, 3, 10, 10, 0, 2])
    cid = cl.find_clusters(det, row, col)
    assert cid[0] == cid[1]            # diagonal neighbours join
    assert cid[2] != cid[1]            # gap of one pixel separates
    assert cid[3] == cid[4]
    assert cid[5] != cid[6]            # same row, two columns apart
    assert len(np.unique(cid)) == 5 and cid.min() == 0 and cid.max() == 4
    tab = cl.cluster_table(det, row, col, np.array([10, 20, 5, 1, 1, 7, 7]), cid)
    c = cid[0]
    assert tab["n_pix"][c] == 2 and tab["charge"][c] == 30 and tab["size_x"][c] == 2 and tab["size_y"][c] == 2
    assert tab["row"][c] == pytest.approx((10 * 0.5 + 20 * 1.5) / 30)
    m = cl.match_points(det, row, col, cid, np.array([5, 5, 6, 9]), np.array([0.4, 2.2, 0.5, 0.0]),
                        np.array([0.6, 2.3, 1.5, 0.0]))
    assert m[0] == cid[0] and m[1] == cid[1] and m[2] in (cid[5], cid[6]) and m[3] == -1


def test_find_clusters_events_is_per_event():
    ev, _ = pixel.simulate_events(2, pileup=10, seed=1)
    cids = cl.find_clusters_events(ev.PixelDigi)
    assert ak.all(ak.num(cids) == ak.num(ev.PixelDigi))
    assert ak.min(cids[0]) == 0 and ak.min(cids[1]) == 0


def test_write_and_read_back(tmp_path):
    ev, tr = pixel.simulate_events(2, pileup=20, seed=2)
    path = tmp_path / "px.root"
    sio.write_pixel(path, ev, tr)
    with uproot.open(path) as f:
        t = f["Events"]
        assert set(t.keys()) == {"run", "luminosityBlock", "event", "nPixelDigi", "PixelDigi_detId",
                                 "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"}
        a = t.arrays()
        assert a["run"].type.content.primitive == "uint32"
        assert a["luminosityBlock"].type.content.primitive == "uint32"
        assert a["event"].type.content.primitive == "uint64"
        assert a["PixelDigi_detId"].type.content.content.primitive == "uint32"
        for b in ("row", "col", "adc"):
            assert a[f"PixelDigi_{b}"].type.content.content.primitive == "uint16"
        assert ak.to_list(a["nPixelDigi"]) == ak.to_list(ak.num(ev.PixelDigi))
        assert "Truth" in f and f["Truth"].num_entries == 2 and "SimHit_charge" in f["Truth"].keys()
    back = sio.read_events(path)
    assert ak.to_list(back.PixelDigi) == ak.to_list(ev.PixelDigi)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_cli_pixel_and_tpc(tmp_path, capsys):
    out = tmp_path / "p.root"
    assert cli.main(["pixel", "--events", "2", "--pileup", "10", "--seed", "3", "-o", str(out), "-q"]) == 0
    line = capsys.readouterr().out
    assert "events/s" in line and "hits" in line
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 2 and f["Truth"].num_entries == 2
    ref, _ = pixel.simulate_events(2, pileup=10, seed=3)
    assert ak.to_list(sio.read_events(out).PixelDigi) == ak.to_list(ref.PixelDigi)

    out2 = tmp_path / "t.root"
    assert cli.main(["tpc", "--events", "1", "--seed", "2", "--occupancy", "0.001", "--sectors", "0-2",
                     "-o", str(out2), "-q", "--chunk", "1"]) == 0
    with uproot.open(out2) as f:
        t = f["Events"]
        assert {"nTpcHit", "TpcHit_sector", "TpcHit_layer", "TpcHit_phi", "TpcHit_z", "TpcHit_adc"} <= set(t.keys())
        a = t.arrays()
        assert ak.min(a["TpcHit_adc"]) >= 64 and ak.max(a["TpcHit_sector"]) <= 2
        assert a["TpcHit_adc"].type.content.content.primitive == "uint16"
    # out of range: refused while parsing, before any work (argparse's exit status 2)
    with pytest.raises(SystemExit) as refused:
        cli.main(["tpc", "--events", "1", "--occupancy", "2", "-o", str(tmp_path / "x.root"), "-q"])
    assert refused.value.code == 2
    assert not (tmp_path / "x.root").exists()


def test_committed_samples_schema():
    import os

    root = os.path.join(os.path.dirname(__file__), "..", "data")
    for name, coll in (("pixel_pu200_sample.root", "PixelDigi"), ("tpc_sample.root", "TpcHit")):
        path = os.path.join(root, name)
        if not os.path.exists(path):
            pytest.skip(f"{name} not made yet")
        with uproot.open(path) as f:
            t = f["Events"]
            assert f"n{coll}" in t.keys() and t.num_entries >= 3
    assert os.path.getsize(os.path.join(root, "pixel_pu200_sample.root")) < 8.5e6
    assert os.path.getsize(os.path.join(root, "tpc_sample.root")) < 4.2e6
    ev = tpc.simulate_events  # noqa: F841  (import check)
