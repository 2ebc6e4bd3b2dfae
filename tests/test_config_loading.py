"""load_cfg (cfg files and their errors) and apply_override (label.param=text)."""
import textwrap

import pytest

import hepvq.config as cms
from hepvq.errors import ConfigError, ParameterError

GOOD_CFG = """\
import hepvq.config as cms

process = cms.Process("COPY")
process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("in.root"))
process.digis = cms.EDProducer("DigiProducer", here=cms.string(__file__))
process.p = cms.Path(process.digis)
"""


def _write(tmp_path, text, name="job_cfg.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- load_cfg ---------------------------------------------------------------------------------------
def test_load_good_cfg(tmp_path):
    path = _write(tmp_path, GOOD_CFG)
    process = cms.load_cfg(path)
    assert process.name_() == "COPY"
    assert process.digis.here.value() == str(path)  # __file__ is set
    assert process.digis.where_() == (str(path), 5)
    assert process.p.moduleNames() == ["digis"]


def test_load_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nothere_cfg.py not found"):
        cms.load_cfg(tmp_path / "nothere_cfg.py")
    with pytest.raises(ConfigError, match="not a file"):
        cms.load_cfg(tmp_path)


def test_load_syntax_error(tmp_path):
    path = _write(tmp_path, "import hepvq.config as cms\nprocess = cms.Process('X'\nx = (\n")
    with pytest.raises(ConfigError) as info:
        cms.load_cfg(path)
    msg = str(info.value)
    assert msg.startswith(f"cfg file {path} line ")
    assert "line 2" in msg or "line 3" in msg


def test_load_exception_names_line(tmp_path):
    path = _write(tmp_path, """\
        import hepvq.config as cms
        process = cms.Process("X")

        process.a = cms.EDProducer("A", n=cms.int32(1))
        process.a.n = "five"
    """)
    with pytest.raises(ParameterError) as info:
        cms.load_cfg(path)
    msg = str(info.value)
    assert f"cfg file {path} line 5" in msg and "expects int32" in msg and "'n'" in msg


def test_load_python_exception_names_line(tmp_path):
    path = _write(tmp_path, "import hepvq.config as cms\nprocess = cms.Process('X')\nx = 1 / 0\n")
    with pytest.raises(ConfigError, match=r"line 3: ZeroDivisionError"):
        cms.load_cfg(path)


def test_load_exception_in_imported_fragment(tmp_path):
    _write(tmp_path, "def make():\n    raise ValueError('bad fragment')\n", name="frag_fragment.py")
    path = _write(tmp_path, "import hepvq.config as cms\nfrom frag_fragment import make\n"
                            "process = cms.Process('X')\nmake()\n")
    with pytest.raises(ConfigError) as info:
        cms.load_cfg(path)
    msg = str(info.value)
    assert "line 4" in msg and "frag_fragment.py line 2" in msg and "bad fragment" in msg


def test_load_without_process(tmp_path):
    with pytest.raises(ConfigError, match="defines no `process`"):
        cms.load_cfg(_write(tmp_path, "import hepvq.config as cms\nproc = cms.Process('X')\n"))
    with pytest.raises(ConfigError, match="`process` is a int, not a cms.Process"):
        cms.load_cfg(_write(tmp_path, "process = 3\n", name="other_cfg.py"))


# --- apply_override ---------------------------------------------------------------------------------
def _process():
    process = cms.Process("O")
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("a.root"),
                                skipEvents=cms.untracked.uint32(0))
    process.comp = cms.EDProducer(
        "Compressor",
        n=cms.int32(1), big=cms.uint64(1), x=cms.double(1.0), on=cms.bool(False), name=cms.string("a"),
        names=cms.vstring("a"), ints=cms.vint32(), xs=cms.vdouble(), src=cms.InputTag("digis"),
        srcs=cms.VInputTag(), model=cms.FileInPath("m.onnx"),
        cuts=cms.PSet(low=cms.double(0.1), deep=cms.PSet(k=cms.untracked.int32(0))),
    )
    return process


@pytest.mark.parametrize("key, text, expected", [
    ("comp.n", "5", 5),
    ("comp.n", "-7", -7),
    ("comp.big", "18446744073709551615", 2**64 - 1),
    ("comp.x", "0.5", 0.5),
    ("comp.x", "3", 3.0),
    ("comp.on", "true", True),
    ("comp.on", "1", True),
    ("comp.on", "yes", True),
    ("comp.on", "no", False),
    ("comp.name", "hello world", "hello world"),
    ("comp.names", "a,b,c", ["a", "b", "c"]),
    ("comp.ints", "1,2", [1, 2]),
    ("comp.xs", "0.1, 2", [0.1, 2.0]),
    ("comp.src", "lab:inst", "lab:inst"),
    ("comp.srcs", "a,b:c", ["a", "b:c"]),
    ("comp.model", "data/other.onnx", "data/other.onnx"),
    ("comp.cuts.low", "0.25", 0.25),
    ("comp.cuts.deep.k", "4", 4),
    ("source.skipEvents", "10", 10),
    ("source.fileNames", "x.root,y.root", ["x.root", "y.root"]),
    ("maxEvents.input", "100", 100),
    ("options.chunkSize", "64", 64),
    ("options.providers", "CPUExecutionProvider", ["CPUExecutionProvider"]),
])
def test_override_each_type(key, text, expected):
    process = _process()
    param = cms.apply_override(process, key, text)
    value = param.value()
    if isinstance(value, list) and value and isinstance(value[0], cms.InputTag):
        value = [str(v) for v in value]
    assert value == expected
    # the process really changed and it survives a dump
    again = {}
    exec(process.dumpPython(), again)
    assert again["process"].dumpPython() == process.dumpPython()


def test_override_inputtag_fields():
    process = _process()
    cms.apply_override(process, "comp.src", "lab:inst")
    assert (process.comp.src.label, process.comp.src.instance) == ("lab", "inst")


def test_override_unknown_label():
    with pytest.raises(ParameterError, match=r"no module labelled 'cmop'.*did you mean: comp"):
        cms.apply_override(_process(), "cmop.n", "1")


def test_override_unknown_parameter():
    with pytest.raises(ParameterError) as info:
        cms.apply_override(_process(), "comp.nn", "1")
    msg = str(info.value)
    assert "'comp'" in msg and "Compressor" in msg and "'nn'" in msg and "did you mean: n" in msg
    with pytest.raises(ParameterError, match=r"cuts.lw'.*did you mean: low"):
        cms.apply_override(_process(), "comp.cuts.lw", "1")
    with pytest.raises(ParameterError, match=r"maxEvents.*inputs.*did you mean: input"):
        cms.apply_override(_process(), "maxEvents.inputs", "1")


@pytest.mark.parametrize("key, text, type_name", [
    ("comp.n", "five", "int32"),
    ("comp.n", "1.5", "int32"),
    ("comp.n", "99999999999", "int32"),
    ("comp.x", "abc", "double"),
    ("comp.on", "maybe", "bool"),
    ("comp.ints", "1,x", "vint32"),
    ("comp.src", "a:b:c", "InputTag"),
    ("options.chunkSize", "big", "untracked int32"),
])
def test_override_unparsable(key, text, type_name):
    process = _process()
    before = process.dumpPython()
    with pytest.raises(ParameterError) as info:
        cms.apply_override(process, key, text)
    msg = str(info.value)
    assert f"expects {type_name}" in msg and repr(text) in msg and key.split(".")[-1] in msg
    assert process.dumpPython() == before  # nothing changed


def test_override_bad_keys():
    with pytest.raises(ParameterError, match="label.parameter=value"):
        cms.apply_override(_process(), "comp", "1")
    with pytest.raises(ParameterError, match="not a PSet"):
        cms.apply_override(_process(), "comp.n.x", "1")
    with pytest.raises(ParameterError, match="PSet cannot be set from text"):
        cms.apply_override(_process(), "comp.cuts", "1")
    with pytest.raises(ParameterError, match="no source"):
        cms.apply_override(cms.Process("X"), "source.x", "1")
