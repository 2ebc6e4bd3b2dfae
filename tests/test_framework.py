"""Event loop, registry, Chunk, paths/filters/SelectEvents, on-demand producers, TimeReport."""
import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq.config as cms
from hepvq.errors import ConfigError, HepvqError, ModuleNotFoundInRegistry, ParameterError, ProductNotFound
from hepvq.framework import (Chunk, EDAnalyzer, EDFilter, EDProducer, EventProcessor, JobContext, module_class,
                             register_module, registered_modules)
from hepvq.framework.processor import ModuleFailed


@register_module
class EvenEventFilterForTests(EDFilter):
    """Accepts events with an even event number."""

    @classmethod
    def fillDescriptions(cls, desc):
        desc.add("reject", cms.bool(False), "reject every event")

    def filter(self, chunk):
        keep = ak.to_numpy(chunk.ids.event) % 2 == 0
        return np.zeros(chunk.n, bool) if self.params.reject else keep


@register_module
class CollectingAnalyzerForTests(EDAnalyzer):
    """Collects the hit counts it sees."""

    seen: list = []

    @classmethod
    def fillDescriptions(cls, desc):
        desc.add("src", cms.InputTag("hitMult"), "")

    def analyze(self, chunk):
        type(self).seen.append(ak.to_numpy(chunk.get(self.params.src).nhits))

    def endJob(self):
        self.context.report(self.label, {"chunks": len(type(self).seen)})


@register_module
class FailingProducerForTests(EDProducer):
    """Raises on its first chunk."""

    def produce(self, chunk):
        raise ValueError("boom")


def base_process(infile, outfile, name="TEST"):
    process = cms.Process(name)
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(infile)))
    process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(16))
    process.hitMult = cms.EDProducer("HitMultiplicityProducer", src=cms.InputTag("PixelDigi"))
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(outfile)))
    return process


def test_registry_lists_core_modules_and_suggests():
    mods = registered_modules()
    for name in ("RootSource", "RootOutputModule", "HitMultiplicityProducer"):
        assert name in mods
    assert module_class("RootSource").kind == "source"
    with pytest.raises(ModuleNotFoundInRegistry, match="did you mean: RootSource"):
        module_class("RootSorce")


def test_chunk_get_put():
    ids = ak.zip({"run": np.ones(3, np.uint32), "luminosityBlock": np.ones(3, np.uint32),
                  "event": np.arange(3, dtype=np.uint64)})
    c = Chunk(ids, 10, 13, {("PixelDigi", ""): ak.Array([[1], [], [2, 3]])})
    assert c.n == 3 and c.get(cms.InputTag("PixelDigi")).tolist() == [[1], [], [2, 3]]
    assert c.get("PixelDigi").tolist() == [[1], [], [2, 3]]
    with pytest.raises(ProductNotFound, match="did you mean: PixelDigi"):
        c.get("PixelDigis")
    with pytest.raises(HepvqError, match="outside"):
        c.put(ak.Array([1, 2, 3]))
    c._current_label = "x"
    c.put(np.arange(3), "inst")
    assert c.get(cms.InputTag("x", "inst")).tolist() == [0, 1, 2]
    with pytest.raises(HepvqError, match="expected one per event"):
        c.put(np.arange(2))
    sub = c.select(np.array([True, False, True]))
    assert sub.n == 2 and sub.get("x:inst").tolist() == [0, 2] and sub.ids.event.tolist() == [0, 2]


def test_demo_chain_and_report(tmp_path, pixel_file_uproot, pixel_events):
    out = tmp_path / "demo.root"
    process = base_process(pixel_file_uproot, out)
    process.p = cms.Path(process.hitMult)
    process.e = cms.EndPath(process.out)
    rep = EventProcessor(process).run()
    assert rep["events_read"] == 60 and rep["events_written"] == 60 and rep["events_rejected"] == 0
    assert set(rep["modules"]) == {"source", "hitMult", "out"}
    assert rep["modules"]["hitMult"]["events"] == 60
    assert rep["input_bytes"] > 0 and rep["output_bytes"] == out.stat().st_size
    assert rep["reports"]["hitMult"]["hits"] == int(ak.sum(ak.num(pixel_events["PixelDigi"])))
    with uproot.open(out) as f:
        t = f["Events"]
        assert np.array_equal(t["hitMult_nhits"].array(library="np"), ak.to_numpy(ak.num(pixel_events["PixelDigi"])))
        assert np.array_equal(t["hitMult_sumadc"].array(library="np"),
                              ak.to_numpy(ak.sum(pixel_events["PixelDigi"].adc, axis=1)))
        assert np.array_equal(t["event"].array(library="np"), pixel_events["event"])
        assert "cms.Process('TEST')" in str(f["hepvq_cfg"])


def test_filter_select_events_and_analyzer(tmp_path, pixel_file_uproot, pixel_events):
    out = tmp_path / "even.root"
    process = base_process(pixel_file_uproot, out)
    process.even = cms.EDFilter("EvenEventFilterForTests")
    process.ana = cms.EDAnalyzer("CollectingAnalyzerForTests")
    process.out.SelectEvents = cms.untracked.vstring("p")
    process.p = cms.Path(process.even + process.hitMult)
    process.e = cms.EndPath(process.ana + process.out)
    CollectingAnalyzerForTests.seen = []
    rep = EventProcessor(process).run()
    even = pixel_events["event"] % 2 == 0
    assert rep["events_written"] == int(even.sum()) and rep["events_rejected"] == 60 - int(even.sum())
    assert rep["paths_passed"] == {"p": int(even.sum())}
    # the analyzer on the EndPath sees every event (modules after a filter still see the whole chunk)
    assert sum(len(s) for s in CollectingAnalyzerForTests.seen) == 60
    assert rep["reports"]["ana"] == {"chunks": 4}
    with uproot.open(out) as f:
        assert np.array_equal(f["Events"]["event"].array(library="np"), pixel_events["event"][even])


def test_all_events_rejected_still_writes_a_valid_file(tmp_path, pixel_file_uproot):
    out = tmp_path / "none.root"
    process = base_process(pixel_file_uproot, out)
    process.even = cms.EDFilter("EvenEventFilterForTests", reject=cms.bool(True))
    process.out.SelectEvents = cms.untracked.vstring("p")
    process.p = cms.Path(process.even + process.hitMult)
    process.e = cms.EndPath(process.out)
    rep = EventProcessor(process).run()
    assert rep["events_written"] == 0
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 0
        assert "hitMult_nhits" in f["Events"].keys()


def test_unscheduled_producer_runs_on_demand(tmp_path, pixel_file_uproot):
    out = tmp_path / "ondemand.root"
    process = base_process(pixel_file_uproot, out)
    process.ana = cms.EDAnalyzer("CollectingAnalyzerForTests")
    process.t = cms.Task(process.hitMult)
    process.p = cms.Path(process.ana)
    process.e = cms.EndPath(process.out)
    CollectingAnalyzerForTests.seen = []
    rep = EventProcessor(process).run()
    assert sum(len(s) for s in CollectingAnalyzerForTests.seen) == 60
    assert rep["modules"]["hitMult"]["calls"] == 4


def test_output_runs_unscheduled_producers_it_keeps(tmp_path, pixel_file_uproot):
    out = tmp_path / "nopath.root"
    process = base_process(pixel_file_uproot, out)  # no Path, no EndPath at all
    process.other = cms.EDProducer("HitMultiplicityProducer", minAdc=cms.int32(10))
    process.out.outputCommands = cms.untracked.vstring("keep *", "drop other*")
    rep = EventProcessor(process).run()
    assert rep["modules"]["hitMult"]["calls"] == 4 and rep["modules"]["other"]["calls"] == 0
    with uproot.open(out) as f:
        keys = f["Events"].keys()
    assert "hitMult_nhits" in keys and not any(k.startswith("other") for k in keys)


def test_select_events_unknown_path(tmp_path, pixel_file_uproot):
    process = base_process(pixel_file_uproot, tmp_path / "x.root")
    process.out.SelectEvents = cms.untracked.vstring("pp")
    process.p = cms.Path(process.hitMult)
    process.e = cms.EndPath(process.out)
    with pytest.raises(ConfigError, match="did you mean: p"):
        EventProcessor(process)


def test_parameters_checked_before_input_is_opened(tmp_path):
    process = base_process(tmp_path / "missing.root", tmp_path / "x.root")
    process.hitMult.minADC = cms.int32(3)
    process.p = cms.Path(process.hitMult)
    with pytest.raises(ParameterError) as err:
        EventProcessor(process)
    text = str(err.value)
    assert "hitMult" in text and "minADC" in text and "did you mean: minAdc" in text
    assert not list(tmp_path.iterdir())


def test_wrong_type_of_parameter(tmp_path, pixel_file_uproot):
    process = base_process(pixel_file_uproot, tmp_path / "x.root")
    process.hitMult.minAdc = cms.string("3")
    process.p = cms.Path(process.hitMult)
    with pytest.raises(ParameterError, match="minAdc.*int32.*string"):
        EventProcessor(process)


def test_cfg_kind_must_match_module_kind(tmp_path, pixel_file_uproot):
    process = base_process(pixel_file_uproot, tmp_path / "x.root")
    process.mult2 = cms.EDAnalyzer("HitMultiplicityProducer")
    with pytest.raises(ConfigError, match="producer.*cms.EDAnalyzer"):
        EventProcessor(process)


def test_module_failure_names_module_and_removes_output(tmp_path, pixel_file_uproot):
    out = tmp_path / "fail.root"
    process = base_process(pixel_file_uproot, out)
    process.bad = cms.EDProducer("FailingProducerForTests")
    process.p = cms.Path(process.hitMult + process.bad)
    process.e = cms.EndPath(process.out)
    match = r"module 'bad' \(FailingProducerForTests\) failed on entries 0-16: ValueError"
    with pytest.raises(ModuleFailed, match=match):
        EventProcessor(process).run()
    assert not list(tmp_path.iterdir())


def test_options_reach_the_context(tmp_path, pixel_file_uproot):
    process = base_process(pixel_file_uproot, tmp_path / "x.root")
    ep = EventProcessor(process, threads=3)
    assert ep.context.options["numberOfThreads"] == 3 and ep.context.threads == 3
    assert ep.context.options["chunkSize"] == 16 and "Process" in ep.context.cfg_dump


def test_job_context_metadata():
    ctx = JobContext()
    ctx.add_metadata("enc/settings", "{}")
    ctx.add_metadata("enc/model", b"\x00\x01")
    ctx.declare_codec("enc", "pixel_vq", "PixelDigi")
    assert ctx.metadata == {"enc/settings": b"{}", "enc/model": b"\x00\x01"}
    assert ctx.codecs == {"enc": {"codec": "pixel_vq", "collection": "PixelDigi"}}
    with pytest.raises(HepvqError):
        ctx.add_metadata("x", 3)
