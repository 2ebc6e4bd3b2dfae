"""ONNX export of the pixel charge models: indices identical to torch, metadata, dynamic batch, bad models."""
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from hepvq.errors import ModelError  # noqa: E402
from hepvq.pixel.codec import PixelVQCodec  # noqa: E402
from hepvq.pixel.export import export_modules  # noqa: E402
from hepvq.runtime.session import load_model  # noqa: E402
from pixel_toydata import tiny_model  # noqa: E402


def _batch(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    m = (rng.random((n, size)) < 0.3).astype(np.float32)
    m[:, 0] = 1.0
    m[:, 1] = 1.0
    x = rng.random((n, size)).astype(np.float32) * m
    return (x / x.sum(1, keepdims=True)).astype(np.float32), m


@pytest.mark.parametrize("kind", ["vq", "rvq", "vqvae"])
def test_onnx_indices_identical_to_torch(tmp_path_factory, kind):
    ckpt, mdir = tiny_model(tmp_path_factory.mktemp(kind), kind)
    enc_t, dec_t = export_modules(ckpt)
    enc = load_model(str(mdir / "encoder.onnx"))
    dec = load_model(str(mdir / "decoder.onnx"))
    for n in (1, 2, 4, 5000):
        x, m = _batch(n, seed=n)
        with torch.no_grad():
            want = enc_t(torch.from_numpy(x), torch.from_numpy(m)).numpy()
            want_frac = dec_t(torch.from_numpy(want), torch.from_numpy(m)).numpy()
        got = enc.run({"x": x, "mask": m})["indices"]
        assert got.dtype == np.int64
        assert np.array_equal(got, want), f"batch {n}: {np.sum(got != want)} indices differ"
        frac = dec.run({"indices": got, "mask": m})["fractions"]
        np.testing.assert_allclose(frac, want_frac, atol=1e-5)
        np.testing.assert_allclose(frac.sum(1), 1.0, atol=1e-5)
        assert np.all(frac[m == 0] == 0)
    # batched run in slices gives the same as one big run
    x, m = _batch(3000, seed=1)
    assert np.array_equal(enc.run({"x": x, "mask": m}, batch_size=7)["indices"],
                          enc.run({"x": x, "mask": m})["indices"])


def test_onnx_metadata_props(tmp_path_factory):
    ckpt, mdir = tiny_model(tmp_path_factory.mktemp("meta"), "rvq")
    props = {p.key: p.value for p in onnx.load(str(mdir / "encoder.onnx")).metadata_props}
    for key in ("patch_rows", "patch_cols", "adc_max", "adc_scaling", "codebook_size", "stages", "version",
                "weights_sha256", "kind"):
        assert key in props
    assert props["stages"] == "2" and props["codebook_size"] == "16"
    settings = json.loads((mdir / "codec.json").read_text())
    assert settings["model"]["weights_sha256"] == props["weights_sha256"]
    model = load_model(str(mdir / "decoder.onnx"))
    assert model.input_names == ["indices", "mask"]


def test_corrupt_model_raises_modelerror(tmp_path_factory, tmp_path):
    _, mdir = tiny_model(tmp_path_factory.mktemp("corrupt"), "rvq")
    bad = tmp_path / "bad"
    shutil.copytree(mdir, bad)
    (bad / "decoder.onnx").write_bytes(b"this is not an onnx model" * 10)
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        PixelVQCodec.from_directory(bad)
    with pytest.raises(ModelError, match="does not exist"):
        PixelVQCodec.from_directory(tmp_path / "nowhere")
    (bad / "codec.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        PixelVQCodec.from_directory(bad)


@pytest.mark.parametrize("key,value,what", [("patch_rows", 8, "patch_rows"), ("adc_max", 1023, "adc_max")])
def test_metadata_mismatch_is_a_clear_error(tmp_path_factory, tmp_path, key, value, what):
    _, mdir = tiny_model(tmp_path_factory.mktemp("mismatch"), "rvq")
    bad = tmp_path / "bad"
    shutil.copytree(mdir, bad)
    settings = json.loads((bad / "codec.json").read_text())
    settings[key] = value
    (bad / "codec.json").write_text(json.dumps(settings))
    with pytest.raises(ModelError, match=f"{what}=.* but the codec settings say {value}"):
        PixelVQCodec.from_directory(bad)


def test_wrong_input_width_names_the_input(tmp_path_factory):
    _, mdir = tiny_model(tmp_path_factory.mktemp("width"), "rvq")
    enc = load_model(str(mdir / "encoder.onnx"))
    x, m = _batch(4, size=16)
    with pytest.raises(ModelError, match="input 'x' has wrong size 16 on axis 1, expected 32"):
        enc.run({"x": x, "mask": m})
