"""Framework sources wrapping the simulators (modules/sim.py): PixelDigiSimSource, TpcHitSimSource."""
from __future__ import annotations

import awkward as ak
import pytest
import uproot

import hepvq.config as cms
from hepvq.framework import EventProcessor, module_class
from hepvq.framework.registry import load_plugins
from hepvq.sim import pixel, tpc


def _process(source, out, n, chunk):
    process = cms.Process("SIM")
    process.source = source
    process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(n))
    process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(chunk))
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(out)))
    process.e = cms.EndPath(process.out)
    return process


def test_registered():
    load_plugins()
    assert module_class("PixelDigiSimSource").kind == "source"
    assert module_class("TpcHitSimSource").kind == "source"


def test_pixel_sim_source_matches_simulator(tmp_path):
    out = tmp_path / "sim.root"
    src = cms.Source("PixelDigiSimSource", pileup=cms.double(20.0), seed=cms.uint32(4),
                     produceTruth=cms.untracked.bool(True))
    rep = EventProcessor(_process(src, out, 3, 2)).run()
    assert rep["events_read"] == 3 and rep["events_written"] == 3
    ref, tru = pixel.simulate_events(3, pileup=20, seed=4)
    with uproot.open(out) as f:
        a = f["Events"].arrays()
        assert a["event"].tolist() == [1, 2, 3]
        assert ak.to_list(a["PixelDigi_adc"]) == ak.to_list(ref.PixelDigi.adc)
        assert ak.to_list(a["PixelDigi_detId"]) == ak.to_list(ref.PixelDigi.detId)
        assert ak.to_list(a["nSimHit"]) == ak.to_list(ak.num(tru.SimHit))


def test_tpc_sim_source_sectors(tmp_path):
    out = tmp_path / "tpc.root"
    src = cms.Source("TpcHitSimSource", occupancy=cms.double(1e-3), seed=cms.uint32(2), sectors=cms.vint32(0, 12))
    rep = EventProcessor(_process(src, out, 2, 1)).run()
    assert rep["events_written"] == 2
    ref = tpc.simulate_events(2, seed=2, occupancy=1e-3, sectors=(0, 12))
    with uproot.open(out) as f:
        a = f["Events"].arrays()
        assert ak.to_list(a["TpcHit_adc"]) == ak.to_list(ref.TpcHit.adc)
        assert set(ak.flatten(a["TpcHit_sector"]).tolist()) <= {0, 12}


def test_bad_parameters(tmp_path):
    from hepvq.errors import ParameterError

    src = cms.Source("TpcHitSimSource", occupancy=cms.double(3.0))
    with pytest.raises(ParameterError, match="occupancy"):
        EventProcessor(_process(src, tmp_path / "x.root", 1, 1)).run()
    src = cms.Source("PixelDigiSimSource", geometry=cms.string("phase9"))
    with pytest.raises(ParameterError, match="geometry"):
        EventProcessor(_process(src, tmp_path / "y.root", 1, 1)).run()
    assert not (tmp_path / "x.root").exists() and not (tmp_path / "y.root").exists()
