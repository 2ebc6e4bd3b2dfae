"""Issue 11, models and error text: self-contained ONNX only, errors that name the model file / settings key /
compressed file, library messages kept whole on one line."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hepvq.errors import ModelError
from hepvq.io.reading import codecs_from_blobs
from hepvq.io.rootfile import one_line
from hepvq.pixel.codec import PixelVQCodec
from hepvq.runtime import load_model
from hepvq.runtime.onnx_scan import external_tensor

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "data" / "models" / "pixel_vq"


def _graph_with_external(where: str):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import set_external_data

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    w = numpy_helper.from_array(np.ones(4, np.float32), "w")
    if where == "initializer":
        g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
        tensor = g.initializer[0]
    else:  # a Constant node's attribute tensor
        node = helper.make_node("Constant", [], ["w"], value=w)
        g = helper.make_graph([node, helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y])
        tensor = g.node[0].attribute[0].t
    set_external_data(tensor, location="../../outside.bin")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), onnx


@pytest.mark.parametrize("where", ["initializer", "constant"])
def test_onnx_with_external_data_is_refused(where, tmp_path, monkeypatch):
    data, _ = _graph_with_external(where)
    (tmp_path / "outside.bin").write_bytes(np.ones(4, np.float32).tobytes())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="external data") as e:
        load_model(data, name="evil/decoder.onnx")
    assert "evil/decoder.onnx" in str(e.value)


def test_shipped_models_are_self_contained():
    for f in sorted((REPO / "data" / "models").rglob("*.onnx")):
        assert external_tensor(f.read_bytes()) is None, f


def test_onnx_load_error_names_the_file(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(MODEL, d)
    (d / "decoder.onnx").write_bytes((d / "decoder.onnx").read_bytes()[:500])
    with pytest.raises(ModelError) as e:
        PixelVQCodec.from_directory(d)
    assert str(d / "decoder.onnx") in str(e.value) and "<bytes>" not in str(e.value)
    assert "\n" not in str(e.value)


def test_codec_json_missing_key_names_file_and_key(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(MODEL, d)
    s = json.loads((d / "codec.json").read_text())
    del s["adc_max"]
    (d / "codec.json").write_text(json.dumps(s))
    with pytest.raises(ModelError) as e:
        PixelVQCodec.from_directory(d)
    assert str(d / "codec.json") in str(e.value) and "'adc_max'" in str(e.value)


def test_patch_size_disagreeing_with_graph_is_one_line(tmp_path):
    d = tmp_path / "m"
    shutil.copytree(MODEL, d)
    s = json.loads((d / "codec.json").read_text())
    s["patch_cols"] += 1
    (d / "codec.json").write_text(json.dumps(s))
    with pytest.raises(ModelError) as e:
        PixelVQCodec.from_directory(d)
    assert "patch_cols" in str(e.value) and str(d) in str(e.value) and "\n" not in str(e.value)


def test_missing_settings_blob_names_the_file():
    prov = {"codecs": {"pixelVQ": {"codec": "pixel_vq", "collection": "PixelDigi", "prefixes": {"": "pixelVQ"}}},
            "products": []}
    with pytest.raises(ModelError) as e:
        codecs_from_blobs(prov, {"pixelVQ/decoder.onnx": b"x"}, "some/comp.root")
    assert "some/comp.root" in str(e.value) and "'settings'" in str(e.value) and "pixelVQ" in str(e.value)


def test_library_messages_are_whole_on_one_line():
    err = ValueError("basket 3 of branch PixelDigi_adc has the wrong number of bytes (12) for interpretation\n"
                     "(not a multiple of 2)\n\nin file x.root")
    text = one_line(err)
    assert "\n" not in text and text.endswith("(not a multiple of 2) in file x.root")
    assert one_line(ValueError("word " * 500)).endswith("[...]")
