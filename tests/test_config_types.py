"""Typed parameters of hepvq.config: validation on construction and assignment, untracked, InputTag,
FileInPath resolution."""
import os

import pytest

import hepvq.config as cms
from hepvq.errors import ConfigError, ParameterError


@pytest.mark.parametrize("factory, good, bad", [
    (cms.int32, [0, -2**31, 2**31 - 1], [2**31, -2**31 - 1, 1.5, "3", True]),
    (cms.uint32, [0, 2**32 - 1], [-1, 2**32, False]),
    (cms.int64, [-2**63, 2**63 - 1], [2**63, 1.0]),
    (cms.uint64, [0, 2**64 - 1], [-1, 2**64]),
    (cms.double, [0.5, 3, -1e-7], ["0.5", True, None]),
    (cms.bool, [True, False], [0, 1, "true", None]),
    (cms.string, ["", "x"], [1, None, b"x"]),
])
def test_scalar_validation(factory, good, bad):
    for v in good:
        assert factory(v).value() == v
    for v in bad:
        with pytest.raises(ParameterError):
            factory(v)
    p = factory(good[0])
    for v in bad:
        with pytest.raises(ParameterError):
            p.setValue(v)
    assert p.value() == good[0]  # a failed assignment leaves the value alone


def test_bool_is_not_int_message():
    with pytest.raises(ParameterError, match=r"expects int32, got bool True"):
        cms.int32(True)
    with pytest.raises(ParameterError, match=r"expects bool, got int 1"):
        cms.bool(1)


def test_int32_range_message():
    with pytest.raises(ParameterError, match=r"2147483648 out of range"):
        cms.int32(2**31)


def test_double_accepts_int_and_stores_float():
    d = cms.double(3)
    assert d.value() == 3.0 and isinstance(d.value(), float)


def test_vectors():
    assert cms.vstring("a", "b").value() == ["a", "b"]
    assert cms.vstring(["a", "b"]).value() == ["a", "b"]
    assert cms.vint32().value() == []
    assert cms.vdouble(1, 2.5).value() == [1.0, 2.5]
    with pytest.raises(ParameterError, match=r"vint32 element 1: expects int32, got string 'x'"):
        cms.vint32(1, "x")
    with pytest.raises(ParameterError, match="vuint32 element 0"):
        cms.vuint32(-1)
    v = cms.vint32(1)
    v.append(2)
    assert v.value() == [1, 2]
    with pytest.raises(ParameterError):
        v.append("3")
    # value() is a copy: changing it does not bypass validation
    v.value().append("zz")
    assert v.value() == [1, 2]
    with pytest.raises(ParameterError, match="expects vstring"):
        cms.vstring().setValue("abc")


def test_untracked_factories():
    for name in ("int32", "uint32", "int64", "uint64", "double", "bool", "string", "vstring", "vint32",
                 "vdouble", "InputTag", "VInputTag", "FileInPath", "PSet", "VPSet"):
        factory = getattr(cms.untracked, name)
        assert callable(factory)
    p = cms.untracked.int32(1)
    assert not p.isTracked() and p.value() == 1
    assert cms.int32(1).isTracked()
    assert not cms.untracked.PSet(a=cms.int32(1)).isTracked()
    assert not cms.untracked(cms.string("x")).isTracked()
    with pytest.raises(AttributeError, match="did you mean: int32"):
        cms.untracked.int23  # noqa: B018


def test_inputtag_forms():
    a = cms.InputTag("digis")
    b = cms.InputTag("digis", "pixel")
    c = cms.InputTag("digis:pixel")
    assert (a.label, a.instance, str(a)) == ("digis", "", "digis")
    assert (b.label, b.instance, str(b)) == ("digis", "pixel", "digis:pixel")
    assert c == b and hash(c) == hash(b) and c == "digis:pixel"
    assert a != b
    with pytest.raises(ParameterError, match="label:instance"):
        cms.InputTag("a:b:c")
    with pytest.raises(ParameterError, match="expects InputTag, got int 3"):
        cms.InputTag(3)
    m = cms.EDProducer("X", src=cms.InputTag("a"))
    m.src = "b:c"  # a bare string assigned to an existing InputTag is parsed
    assert (m.src.label, m.src.instance) == ("b", "c")


def test_vinputtag():
    v = cms.VInputTag("a", cms.InputTag("b", "c"))
    tags = v.value()
    assert [str(t) for t in tags] == ["a", "b:c"]
    assert tags[1].instance == "c"


def test_where_records_this_file():
    p = cms.int32(3)
    filename, line = p.where_()
    assert filename == __file__ and line > 0
    m = cms.EDProducer("X")
    assert m.where_()[0] == __file__


def test_pset_holder_rules():
    ps = cms.PSet(a=cms.int32(1))
    ps.a = 5
    assert ps.a.value() == 5
    with pytest.raises(ParameterError, match=r"parameter 'a'.*expects int32, got string 'x'"):
        ps.a = "x"
    with pytest.raises(ParameterError, match=r"parameter 'b'.*use cms.double"):
        ps.b = 0.5
    ps.b = cms.double(0.5)
    assert ps.value() == {"a": 5, "b": 0.5}
    with pytest.raises(AttributeError, match="did you mean: a"):
        ps.aa  # noqa: B018
    with pytest.raises(ParameterError, match="PSets"):
        cms.PSet(3)


def test_vpset():
    v = cms.VPSet(cms.PSet(a=cms.int32(1)), cms.PSet(a=cms.int32(2)))
    assert v.value() == [{"a": 1}, {"a": 2}]
    assert v[1].a.value() == 2
    with pytest.raises(ParameterError, match="VPSet element 1: expects PSet"):
        cms.VPSet(cms.PSet(), cms.int32(1))


def test_parse_text():
    assert cms.int32(0).parseText(" 5 ") == 5
    assert cms.double(0).parseText("0.5") == 0.5
    for text, value in [("true", True), ("False", False), ("1", True), ("0", False), ("yes", True), ("no", False)]:
        assert cms.bool(False).parseText(text) is value
    with pytest.raises(ValueError):
        cms.bool(False).parseText("maybe")
    with pytest.raises(ValueError):
        cms.int32(0).parseText("1.5")
    assert cms.vstring().parseText("a, b,c") == ["a", "b", "c"]
    assert cms.vint32().parseText("") == []


# --- FileInPath -------------------------------------------------------------------------------------
def test_fileinpath_cwd_first(tmp_path, monkeypatch):
    (tmp_path / "m.onnx").write_text("x")
    monkeypatch.chdir(tmp_path)
    f = cms.FileInPath("m.onnx")
    assert f.value() == "m.onnx"
    assert f.resolve() == str(tmp_path / "m.onnx")


def test_fileinpath_search_path(tmp_path, monkeypatch):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    (d2 / "models").mkdir()
    (d2 / "models" / "m.onnx").write_text("x")
    monkeypatch.chdir(d1)
    monkeypatch.setenv("HEPVQ_SEARCH_PATH", f"{tmp_path / 'none'}:{d2}")
    assert cms.FileInPath("models/m.onnx").resolve() == str(d2 / "models" / "m.onnx")


def test_fileinpath_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEPVQ_SEARCH_PATH", raising=False)
    root = os.path.dirname(os.path.dirname(os.path.dirname(cms.__file__)))
    assert cms.FileInPath("hepvq/config/types.py").resolve() == os.path.join(root, "hepvq", "config", "types.py")


def test_fileinpath_not_found_names_places(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEPVQ_SEARCH_PATH", "/nonexistent/place")
    with pytest.raises(ConfigError) as info:
        cms.FileInPath("data/missing.onnx").resolve()
    msg = str(info.value)
    assert "data/missing.onnx" in msg and str(tmp_path) in msg and "/nonexistent/place" in msg
    with pytest.raises(ParameterError):
        cms.FileInPath("")
