"""process.dumpPython(): the dump rebuilds an identical process (round trip), for every parameter type."""
import glob
import os

import pytest

import hepvq.config as cms


def _rich_process():
    mod = cms.Modifier()
    process = cms.Process("RICH", mod)
    process.source = cms.Source(
        "RootSource",
        fileNames=cms.untracked.vstring("a.root", "dir/b.root"),
        skipEvents=cms.untracked.uint32(3),
    )
    process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(100))
    process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(500),
                                         numberOfThreads=cms.untracked.int32(2),
                                         providers=cms.untracked.vstring("CUDAExecutionProvider", "auto"))
    process.prod = cms.EDProducer(
        "Everything",
        i32=cms.int32(-2**31), u32=cms.uint32(2**32 - 1), i64=cms.int64(-2**63), u64=cms.uint64(2**64 - 1),
        tiny=cms.double(1e-7), tenth=cms.double(0.1), third=cms.double(1 / 3), big=cms.double(1e300),
        inf=cms.double(float("inf")), whole=cms.double(2),
        flag=cms.bool(False),
        quoted=cms.string("it's \"quoted\"\nand\tnewline \\ backslash \u00e9"),
        empty=cms.string(""),
        names=cms.vstring("a", "b'c", 'd"e'),
        ints=cms.vint32(1, -2, 3), uints=cms.vuint32(), longs=cms.vint64(2**40), ulongs=cms.vuint64(2**63),
        doubles=cms.vdouble(0.1, 1e-7, 3),
        many=cms.vdouble(*[i / 7 for i in range(30)]),
        tag=cms.InputTag("digis"), tagInst=cms.InputTag("digis", "pixel"), tagColon=cms.InputTag("a:b"),
        tags=cms.VInputTag("x", "y:z"),
        model=cms.FileInPath("data/models/x.onnx"),
        nested=cms.PSet(
            depth=cms.untracked.int32(2),
            inner=cms.PSet(deeper=cms.string("yes"), v=cms.untracked.vstring("q")),
            emptyPSet=cms.PSet(),
        ),
        layers=cms.VPSet(cms.PSet(n=cms.int32(1)), cms.PSet(n=cms.int32(2), name=cms.untracked.string("two"))),
        noLayers=cms.VPSet(),
        verbose=cms.untracked.bool(True),
        label_u=cms.untracked.InputTag("u", "v"),
        opts=cms.untracked.PSet(k=cms.untracked.double(0.5)),
    )
    process.filt = cms.EDFilter("Sel", cut=cms.double(0.5))
    process.extra = cms.EDProducer("Extra")
    process.ana = cms.EDAnalyzer("Ana", src=cms.InputTag("prod", "x"))
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string("out.root"),
                                   outputCommands=cms.untracked.vstring("keep *", "drop PixelDigi_*"))
    # a Sequence defined after one that uses it: the dump must still define it first
    process.outer = cms.Sequence(process.filt)
    process.inner = cms.Sequence(process.extra)
    process.outer += process.inner
    process.tsk = cms.Task(process.prod)
    process.p = cms.Path(process.outer + process.ana, process.tsk)
    process.e = cms.EndPath(process.out)
    process.p2 = cms.Path(process.filt)
    process.schedule = cms.Schedule(process.p, process.p2, process.e)
    mod.toModify(process.filt, cut=0.25)
    return process


def _exec(text):
    namespace = {}
    exec(compile(text, "<dump>", "exec"), namespace)
    return namespace["process"]


def test_round_trip_is_identical():
    process = _rich_process()
    text = process.dumpPython()
    again = _exec(text)
    assert again.dumpPython() == text
    # and the values really survived
    prod = again.prod
    assert prod.tiny.value() == 1e-7 and prod.tenth.value() == 0.1 and prod.third.value() == 1 / 3
    assert prod.inf.value() == float("inf")
    assert prod.quoted.value() == "it's \"quoted\"\nand\tnewline \\ backslash \u00e9"
    assert prod.u64.value() == 2**64 - 1 and prod.i32.value() == -2**31
    assert (prod.tagInst.label, prod.tagInst.instance) == ("digis", "pixel")
    assert not prod.verbose.isTracked() and not prod.nested.depth.isTracked() and prod.nested.isTracked()
    assert not prod.opts.isTracked() and not prod.label_u.isTracked()
    assert prod.layers[1].name.value() == "two" and not prod.layers[1].name.isTracked()
    assert prod.many.value() == [i / 7 for i in range(30)]
    assert again.filt.cut.value() == 0.25  # the modifier's change is baked in
    assert again.p.moduleNames() == ["filt", "extra", "ana"]
    assert again.p.tasks()[0].moduleNames() == ["prod"]
    assert again.schedule_().pathNames() == ["p", "p2", "e"]
    assert again.maxEvents_() == 100 and again.options_()["numberOfThreads"] == 2
    assert again.source.skipEvents.value() == 3


def test_dump_layout():
    text = _rich_process().dumpPython()
    assert text.startswith("import hepvq.config as cms\n")
    assert "process = cms.Process('RICH')" in text
    # parameters in sorted order
    names = [line.split("=")[0].strip() for line in text.splitlines()
             if line.startswith("    ") and not line.startswith("     ") and "=" in line]
    block = text[text.index("process.prod ="):text.index("process.filt =")]
    top = [line.split("=")[0].strip() for line in block.splitlines()
           if line.startswith("    ") and not line.startswith("     ") and " = " in line]
    assert top == sorted(top) and len(top) > 20 and names
    assert "cms.double(1e-07)" in text and "cms.double(0.1)" in text
    assert "cms.InputTag('digis', 'pixel')" in text
    assert text.index("process.inner =") < text.index("process.outer =")
    assert "process.schedule = cms.Schedule(process.p, process.p2, process.e)" in text


def test_minimal_process_round_trip():
    process = cms.Process("MIN")
    text = process.dumpPython()
    assert _exec(text).dumpPython() == text
    assert "process.maxEvents" in text and "process.options" in text


def test_unattached_sequence_is_dumped_inline():
    process = cms.Process("X")
    process.a = cms.EDProducer("A")
    process.b = cms.EDProducer("B")
    process.p = cms.Path(process.a + cms.Sequence(process.b))
    text = process.dumpPython()
    assert "cms.Path(process.a+cms.Sequence(process.b))" in text
    assert _exec(text).p.moduleNames() == ["a", "b"]


def test_repository_cfgs_round_trip():
    """Every cfg shipped in python_cfg/ loads and its dump rebuilds the same process."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfgs = sorted(glob.glob(os.path.join(root, "python_cfg", "*_cfg.py")))
    if not cfgs:
        pytest.skip("no python_cfg/*_cfg.py yet")
    for path in cfgs:
        text = cms.load_cfg(path).dumpPython()
        assert _exec(text).dumpPython() == text, path
