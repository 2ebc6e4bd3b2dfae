"""ParameterSetDescription.validate: the schema check done before any event is read, and Params."""
import pytest

import hepvq.config as cms
from hepvq.errors import ParameterError


def _desc():
    desc = cms.ParameterSetDescription()
    desc.add("threshold", cms.int32(5), help="ADC threshold")
    desc.add("scale", cms.double(1.0), help="scale factor")
    desc.add("src", cms.InputTag("source", "pixel"), help="input digis")
    desc.add("names", cms.vstring("a"))
    desc.add("verbose", cms.untracked.bool(False))
    desc.addRequired("mode", cms.string, help="compression mode")
    desc.addUntrackedRequired("level", cms.uint32)
    desc.addOptional("comment", cms.string)
    desc.add("cuts", cms.PSet(low=cms.double(0.1), high=cms.double(0.9)))
    return desc


def _module(**params):
    process = cms.Process("T")
    process.comp = cms.EDProducer("Compressor", mode=cms.string("vq"), level=cms.untracked.uint32(3), **params)
    return process.comp


def test_defaults_filled_and_plain_values():
    params = _desc().validate(_module())
    assert params.threshold == 5 and params["threshold"] == 5
    assert params.scale == 1.0 and isinstance(params.scale, float)
    assert isinstance(params.src, cms.InputTag) and (params.src.label, params.src.instance) == ("source", "pixel")
    assert params.names == ["a"] and params.verbose is False
    assert params.mode == "vq" and params.level == 3
    assert params.comment is None
    assert params.cuts.low == 0.1 and params.cuts["high"] == 0.9
    d = params.as_dict()
    assert d["cuts"] == {"low": 0.1, "high": 0.9} and d["mode"] == "vq"
    assert params.label_() == "comp" and params.type_() == "Compressor"
    with pytest.raises(AttributeError, match="did you mean: threshold"):
        params.treshold  # noqa: B018


def test_given_values_win():
    params = _desc().validate(_module(threshold=cms.int32(9), comment=cms.string("hi"),
                                      cuts=cms.PSet(low=cms.double(0.3))))
    assert params.threshold == 9 and params.comment == "hi"
    assert params.cuts.low == 0.3 and params.cuts.high == 0.9  # nested defaults filled


def test_unknown_parameter():
    with pytest.raises(ParameterError) as info:
        _desc().validate(_module(treshold=cms.int32(3)))
    msg = str(info.value)
    assert "'comp'" in msg and "Compressor" in msg and "treshold" in msg and "did you mean: threshold" in msg
    assert info.value.label == "comp" and info.value.parameter == "treshold"


def test_unknown_nested_parameter():
    with pytest.raises(ParameterError, match=r"cuts.lo'.*did you mean: low"):
        _desc().validate(_module(cuts=cms.PSet(lo=cms.double(0.3))))


def test_missing_required():
    process = cms.Process("T")
    process.comp = cms.EDProducer("Compressor", level=cms.untracked.uint32(3))
    with pytest.raises(ParameterError) as info:
        _desc().validate(process.comp)
    msg = str(info.value)
    assert "'comp'" in msg and "'mode'" in msg and "missing required" in msg and "string" in msg


def test_wrong_type_names_both_types():
    with pytest.raises(ParameterError) as info:
        _desc().validate(_module(threshold=cms.string("abc")))
    msg = str(info.value)
    assert "'comp'" in msg and "Compressor" in msg and "threshold" in msg
    assert "expects int32, got string 'abc'" in msg


def test_wrong_trackedness():
    with pytest.raises(ParameterError, match="expects untracked bool, got bool True"):
        _desc().validate(_module(verbose=cms.bool(True)))
    with pytest.raises(ParameterError, match="expects int32, got untracked int32 3"):
        _desc().validate(_module(threshold=cms.untracked.int32(3)))


def test_int_accepted_for_double():
    params = _desc().validate(_module(scale=cms.int32(2)))
    assert params.scale == 2.0 and isinstance(params.scale, float)
    desc = cms.ParameterSetDescription().add("v", cms.vdouble(1.0))
    assert desc.validate(cms.EDProducer("X", v=cms.vint32(1, 2))).v == [1.0, 2.0]
    with pytest.raises(ParameterError, match="expects double, got string"):
        _desc().validate(_module(scale=cms.string("1")))


def test_fileinpath_resolved(tmp_path, monkeypatch):
    (tmp_path / "model.onnx").write_text("x")
    monkeypatch.chdir(tmp_path)
    desc = cms.ParameterSetDescription().addRequired("model", cms.FileInPath)
    assert desc.validate(cms.EDProducer("X", model=cms.FileInPath("model.onnx"))).model == str(tmp_path / "model.onnx")
    process = cms.Process("T")
    process.enc = cms.EDProducer("X", model=cms.FileInPath("nothere.onnx"))
    with pytest.raises(ParameterError, match=r"'enc'.*'model'.*nothere.onnx.*not found"):
        desc.validate(process.enc)


def test_nested_description_and_vpset():
    inner = cms.ParameterSetDescription().addRequired("n", cms.int32)
    desc = cms.ParameterSetDescription().add("sub", inner).add("layers", cms.VPSet())
    with pytest.raises(ParameterError, match=r"sub.n'.*missing required"):
        desc.validate(cms.EDProducer("X"))
    params = desc.validate(cms.EDProducer("X", sub=cms.PSet(n=cms.int32(4)),
                                          layers=cms.VPSet(cms.PSet(k=cms.string("a")))))
    assert params.sub.n == 4 and params.layers[0].k == "a"


def test_untracked_type_factories_in_description():
    desc = cms.ParameterSetDescription().addOptional("t", cms.untracked.string)
    assert desc.validate(cms.EDAnalyzer("X", t=cms.untracked.string("x"))).t == "x"
    with pytest.raises(ParameterError, match="expects untracked string, got string"):
        desc.validate(cms.EDAnalyzer("X", t=cms.string("x")))


def test_declaration_errors():
    desc = cms.ParameterSetDescription().add("a", cms.int32(1))
    with pytest.raises(Exception, match="declared twice"):
        desc.add("a", cms.int32(2))
    with pytest.raises(Exception, match="typed parameter"):
        desc.add("b", 3)
    with pytest.raises(ParameterError, match="parameter type"):
        desc.addRequired("c", int)


def test_describe_text_and_items():
    desc = _desc()
    text = desc.describe_text("Compressor")
    lines = text.splitlines()
    assert lines[0] == "Compressor"
    assert "parameter" in lines[1] and "tracked" in lines[1] and "help" in lines[1]
    row = next(line for line in lines if line.startswith("threshold"))
    assert "int32" in row and "yes" in row and "5" in row and "ADC threshold" in row
    assert any(line.startswith("mode") and "(required)" in line for line in lines)
    assert any(line.startswith("verbose") and " no " in line for line in lines)
    assert any(line.startswith("cuts.low") for line in lines)
    names = [name for name, decl in desc.items()]
    assert names[:3] == ["threshold", "scale", "src"]
    decl = dict(desc.items())["mode"]
    assert decl.kind == "required" and decl.param_type is cms.string


def test_allow_anything():
    desc = cms.ParameterSetDescription().add("a", cms.int32(1)).setAllowAnything()
    assert desc.validate(cms.EDProducer("X", other=cms.string("x"))).other == "x"


def test_vpset_with_description():
    layer = cms.ParameterSetDescription().addRequired("n", cms.int32).add("name", cms.string("l"))
    desc = cms.ParameterSetDescription().addVPSet("layers", layer, [cms.PSet(n=cms.int32(1))], help="layers")
    assert desc.validate(cms.EDProducer("X")).layers[0].as_dict() == {"n": 1, "name": "l"}
    params = desc.validate(cms.EDProducer("X", layers=cms.VPSet(cms.PSet(n=cms.int32(2)),
                                                                 cms.PSet(n=cms.int32(3), name=cms.string("b")))))
    assert [(p.n, p.name) for p in params.layers] == [(2, "l"), (3, "b")]
    with pytest.raises(ParameterError, match=r"layers\[1\].n'.*missing required"):
        desc.validate(cms.EDProducer("X", layers=cms.VPSet(cms.PSet(n=cms.int32(2)), cms.PSet())))
    assert any(row[0] == "layers[].n" for row in desc.rows())


def test_errors_point_at_the_cfg_line():
    m = cms.EDProducer("X", threshold=cms.string("abc")); line = m.threshold.where_()[1]  # noqa: E702
    with pytest.raises(ParameterError, match=rf"\(at {__file__}:{line}\)"):
        _desc().validate(m)
