"""Modules, Process, paths and schedule, clone and Modifier of hepvq.config."""
import pytest

import hepvq.config as cms
from hepvq.errors import ConfigError, ParameterError


def _process(*modifiers):
    process = cms.Process("TEST", *modifiers)
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("in.root"))
    process.digis = cms.EDProducer("DigiProducer", threshold=cms.int32(5),
                                   cuts=cms.PSet(low=cms.double(0.1), name=cms.string("c")))
    process.sel = cms.EDFilter("HitFilter", minHits=cms.uint32(1))
    process.ana = cms.EDAnalyzer("Metrics", src=cms.InputTag("digis"))
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string("out.root"))
    return process


# --- modules ----------------------------------------------------------------------------------------
def test_module_basics():
    m = cms.EDProducer("DigiProducer", b=cms.int32(1), a=cms.string("x"))
    assert m.type_() == "DigiProducer"
    assert m.label_() is None
    assert m.parameterNames_() == ["a", "b"]
    assert set(m.parameters_()) == {"a", "b"}
    assert m.b.value() == 1 and isinstance(m.b, cms.int32)
    m.b = 7
    assert m.b.value() == 7
    m.c = cms.vdouble(1.0)
    assert "c" in m.parameterNames_()


def test_module_bare_value_is_rejected_with_type_hint():
    with pytest.raises(ParameterError) as info:
        cms.EDProducer("DigiProducer", threshold=5)
    assert "threshold" in str(info.value) and "cms.int32" in str(info.value)
    with pytest.raises(ParameterError, match="cms.string"):
        cms.EDAnalyzer("X", name="x")
    with pytest.raises(ParameterError, match="cms.vstring"):
        cms.OutputModule("X", names=["a"])


def test_module_assignment_validates_against_existing_type():
    process = _process()
    with pytest.raises(ParameterError) as info:
        process.digis.threshold = "high"
    msg = str(info.value)
    assert "'digis'" in msg and "DigiProducer" in msg and "threshold" in msg
    assert "expects int32" in msg and "string 'high'" in msg
    assert process.digis.threshold.value() == 5


def test_module_type_must_be_string():
    with pytest.raises(ConfigError, match="type name"):
        cms.EDProducer(3)


def test_unknown_parameter_attribute_did_you_mean():
    process = _process()
    with pytest.raises(AttributeError, match="did you mean: threshold"):
        process.digis.treshold  # noqa: B018


# --- Process ----------------------------------------------------------------------------------------
def test_process_accessors_and_labels():
    process = _process()
    assert process.name_() == "TEST"
    assert list(process.producers_()) == ["digis"]
    assert list(process.filters_()) == ["sel"]
    assert list(process.analyzers_()) == ["ana"]
    assert list(process.outputModules_()) == ["out"]
    assert list(process.modules_()) == ["digis", "sel", "ana", "out"]
    assert process.digis.label_() == "digis"
    assert process.source.label_() == "source" and process.source.type_() == "RootSource"
    assert process.schedule_() is None


def test_process_defaults_for_maxevents_and_options():
    process = cms.Process("X")
    assert process.maxEvents.input.value() == -1
    assert process.maxEvents_() == -1
    opts = process.options_()
    assert opts["chunkSize"] == 1000 and opts["numberOfThreads"] == 1 and opts["providers"] == ["auto"]
    assert not process.options.chunkSize.isTracked()


def test_process_settings_merge_and_reject_unknown():
    process = cms.Process("X")
    process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(10))
    process.options = cms.untracked.PSet(numberOfThreads=cms.untracked.int32(4))
    assert process.maxEvents_() == 10
    assert process.options_()["numberOfThreads"] == 4 and process.options_()["chunkSize"] == 1000
    with pytest.raises(ParameterError, match=r"options.chunksize.*did you mean: chunkSize"):
        process.options = cms.untracked.PSet(chunksize=cms.untracked.int32(4))
    with pytest.raises(ParameterError, match=r"maxEvents.input.*expects int32, got string 'all'"):
        process.maxEvents = cms.untracked.PSet(input=cms.untracked.string("all"))
    with pytest.raises(ConfigError, match="untracked.PSet"):
        process.maxEvents = 10


def test_process_label_clash_and_replacement_errors():
    process = _process()
    with pytest.raises(ConfigError, match=r"label 'digis' already used by EDProducer.*different kind.*EDFilter"):
        process.digis = cms.EDFilter("F")
    with pytest.raises(ConfigError, match=r"already used.*another object"):
        process.digis = cms.EDProducer("Other")
    with pytest.raises(ConfigError, match="already attached as 'digis'"):
        process.digis2 = process.digis
    with pytest.raises(ConfigError, match="Path"):
        process.sel = cms.Path(process.digis)
    process.digis = process.digis  # the same object again is fine
    del process.digis
    process.digis = cms.EDProducer("Other")
    assert process.digis.type_() == "Other"


def test_process_rejects_bad_values():
    process = cms.Process("X")
    with pytest.raises(ConfigError, match="got int 3"):
        process.x = 3
    with pytest.raises(ConfigError, match="process.source"):
        process.src = cms.Source("RootSource")
    with pytest.raises(ConfigError, match="must be a cms.Source"):
        process.source = cms.EDProducer("X")
    with pytest.raises(ConfigError, match="alphanumeric"):
        cms.Process("bad name")
    with pytest.raises(ConfigError, match="Modifier"):
        cms.Process("X", "notamodifier")
    with pytest.raises(AttributeError, match="did you mean: digis"):
        _process().digi  # noqa: B018


# --- paths ------------------------------------------------------------------------------------------
def test_path_order_with_sequence_and_task():
    process = _process()
    process.extra = cms.EDProducer("Extra")
    process.seq = cms.Sequence(process.sel + process.extra)
    process.tsk = cms.Task(process.digis)
    process.p = cms.Path(process.digis + process.seq + process.ana, process.tsk)
    process.e = cms.EndPath(process.out)
    assert process.p.moduleNames() == ["digis", "sel", "extra", "ana"]
    assert process.e.moduleNames() == ["out"]
    assert process.p.tasks() == [process.tsk]
    assert process.tsk.moduleNames() == ["digis"]
    assert list(process.paths_()) == ["p"] and list(process.endpaths_()) == ["e"]
    assert process.scheduledPaths_() == [process.p, process.e]
    process.p += process.out  # a Path grows with +=
    assert process.p.moduleNames()[-1] == "out"


def test_path_needs_attached_modules():
    process = _process()
    loose = cms.EDProducer("LooseProducer")
    process.p = cms.Path(process.digis + loose)
    with pytest.raises(ConfigError, match="LooseProducer.*not attached"):
        process.p.moduleNames()


def test_path_rejects_source_and_paths():
    process = _process()
    with pytest.raises(ConfigError, match="Source"):
        cms.Path(process.source)
    process.p = cms.Path(process.digis)
    with pytest.raises(ConfigError, match="Path"):
        cms.Path(process.p)
    with pytest.raises(ConfigError, match="Task"):
        cms.Task(process.p)


def test_path_duplicate_module():
    process = _process()
    process.p = cms.Path(process.digis + process.digis)
    with pytest.raises(ConfigError, match="'digis' appears twice"):
        process.p.moduleNames()


def test_schedule():
    process = _process()
    process.p1 = cms.Path(process.digis)
    process.p2 = cms.Path(process.sel)
    process.e = cms.EndPath(process.out)
    process.schedule = cms.Schedule(process.p2, process.e)
    assert process.schedule_().pathNames() == ["p2", "e"]
    assert process.scheduledPaths_() == [process.p2, process.e]
    with pytest.raises(ConfigError, match=r"only Path and EndPath.*EDProducer 'DigiProducer' labelled 'digis'"):
        cms.Schedule(process.p1, process.digis)
    with pytest.raises(ConfigError, match="Sequence"):
        cms.Schedule(cms.Sequence(process.digis))
    with pytest.raises(ConfigError, match="cms.Schedule"):
        process.schedule = [process.p1]


# --- clone ------------------------------------------------------------------------------------------
def test_clone_is_deep_and_applies_changes():
    process = _process()
    c = process.digis.clone(threshold=9, extra=cms.string("new"), cuts=dict(low=0.2))
    assert c.label_() is None
    assert c.threshold.value() == 9 and process.digis.threshold.value() == 5
    assert c.extra.value() == "new" and "extra" not in process.digis.parameterNames_()
    assert c.cuts.low.value() == 0.2 and process.digis.cuts.low.value() == 0.1
    c.cuts.name = "changed"
    assert process.digis.cuts.name.value() == "c"
    assert c.where_()[0] == __file__
    # a typed value replaces, None removes
    c2 = process.digis.clone(threshold=cms.double(1.5), cuts=None)
    assert isinstance(c2.threshold, cms.double) and "cuts" not in c2.parameterNames_()
    with pytest.raises(ParameterError, match=r"threshold.*expects int32"):
        process.digis.clone(threshold="x")
    with pytest.raises(ParameterError, match="cms.int32"):
        process.digis.clone(newparam=3)
    process.digis2 = c
    assert c.label_() == "digis2"


# --- Modifier ---------------------------------------------------------------------------------------
def test_modifier_applies_only_when_chosen():
    run3 = cms.Modifier()
    other = cms.Modifier()
    process = _process(run3)
    run3.toModify(process.digis, threshold=7, cuts=dict(name="run3"))
    other.toModify(process.digis, threshold=99)
    assert process.digis.threshold.value() == 7
    assert process.digis.cuts.name.value() == "run3"
    assert run3.isChosen() and not other.isChosen()


def test_modifier_function_and_replace():
    mod = cms.Modifier()
    process = _process(mod)
    process.p = cms.Path(process.digis)

    def change(m):
        m.threshold = 11
    mod.toModify(process.digis, change)
    assert process.digis.threshold.value() == 11
    mod.toReplaceWith(process.digis, cms.EDProducer("Replacement", k=cms.int32(1)))
    assert process.digis.type_() == "Replacement" and process.digis.label_() == "digis"
    assert process.p.moduleNames() == ["digis"]
    with pytest.raises(ConfigError, match="cannot replace"):
        mod.toReplaceWith(process.digis, cms.EDFilter("F"))


def test_modifier_not_chosen_does_nothing():
    mod = cms.Modifier()
    process = _process()
    mod.toModify(process.digis, threshold=99)
    mod.toReplaceWith(process.digis, cms.EDProducer("Replacement"))
    assert process.digis.threshold.value() == 5 and process.digis.type_() == "DigiProducer"


def test_modifier_chain():
    a, b = cms.Modifier(), cms.Modifier()
    _process(cms.ModifierChain(a, b))
    assert a.isChosen() and b.isChosen()


def test_modifier_and_not():
    a, b = cms.Modifier(), cms.Modifier()
    process = _process(a)
    (a & b).toModify(process.digis, threshold=1)
    assert process.digis.threshold.value() == 5
    (a & ~b).toModify(process.digis, threshold=2)
    assert process.digis.threshold.value() == 2
