"""The copy and demo outputs open in real ROOT (TTree loop + RDataFrame over RVec columns) with the same
event ids and contents as the input."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hepvq.cli.run import main

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ROOT():
    return pytest.importorskip("ROOT")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, pixel_file_stdvector, pixel_file_uproot):
    d = tmp_path_factory.mktemp("interop")
    copy_out, demo_out = d / "copy.root", d / "demo.root"
    assert main([str(REPO / "python_cfg" / "copy_cfg.py"), f"inputFiles={pixel_file_stdvector}",
                 f"outputFile={copy_out}", "--no-progress"]) == 0
    assert main([str(REPO / "python_cfg" / "demo_cfg.py"), f"inputFiles={pixel_file_uproot}",
                 f"outputFile={demo_out}", "--no-progress"]) == 0
    return str(copy_out), str(demo_out)


def test_ttree_loop(ROOT, outputs, pixel_events):
    f = ROOT.TFile.Open(outputs[0])
    t = f.Get("Events")
    assert t.GetEntries() == len(pixel_events["event"])
    hits = pixel_events["PixelDigi"]
    for i, ev in enumerate(t):
        assert (ev.run, ev.luminosityBlock, ev.event) == (
            int(pixel_events["run"][i]), int(pixel_events["luminosityBlock"][i]), int(pixel_events["event"][i]))
        n = ev.nPixelDigi
        assert n == len(hits[i])
        assert [ev.PixelDigi_adc[j] for j in range(n)] == hits[i].adc.tolist()
        assert [ev.PixelDigi_detId[j] for j in range(n)] == hits[i].detId.tolist()
    assert "cms.Process('COPY')" in str(f.Get("hepvq_cfg").GetString())
    assert '"hepvq_version"' in str(f.Get("hepvq_provenance").GetString())
    assert f.Get("hepvq_blobs").GetEntries() == 0
    f.Close()


def test_rdataframe(ROOT, outputs, pixel_events):
    hits = pixel_events["PixelDigi"]
    df = ROOT.RDataFrame("Events", outputs[1])
    df = df.Define("nhits", "(int)PixelDigi_adc.size()").Define(
        "sumadc", "ROOT::VecOps::Sum(ROOT::VecOps::RVec<Long64_t>(PixelDigi_adc))").Define(
        "maxrow", "PixelDigi_row.size() ? (int)ROOT::VecOps::Max(PixelDigi_row) : -1")
    count = df.Count()
    total = df.Sum("nhits")
    cols = df.AsNumpy(["event", "run", "nhits", "sumadc", "maxrow", "hitMult_nhits", "hitMult_sumadc"])
    assert count.GetValue() == len(hits)
    assert total.GetValue() == int(ak.sum(ak.num(hits)))
    assert np.array_equal(cols["event"], pixel_events["event"])
    assert np.array_equal(cols["run"], pixel_events["run"])
    assert np.array_equal(cols["nhits"], ak.to_numpy(ak.num(hits)))
    assert np.array_equal(cols["sumadc"], ak.to_numpy(ak.sum(hits.adc, axis=1)))
    assert np.array_equal(cols["maxrow"], ak.to_numpy(ak.fill_none(ak.max(hits.row, axis=1), -1)))
    assert np.array_equal(cols["hitMult_nhits"], cols["nhits"])
    assert np.array_equal(cols["hitMult_sumadc"], cols["sumadc"])
