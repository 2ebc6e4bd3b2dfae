"""examples/cpp/hepvq_encode (onnxruntime C++ API) gives the same indices as Python onnxruntime, bit for bit.

The build (examples/cpp/build.sh, incremental) lives in examples/cpp/build/, shared with the README test's run of
the same script (tests/test_readme.py links examples/cpp into its workspace), so a test session compiles it at most
once; if no onnxruntime headers can be had the test says so and skips."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CPP = ROOT / "examples" / "cpp"
BINARY = CPP / "build" / "hepvq_encode"

_spec = importlib.util.spec_from_file_location("hepvq_tensorfile", CPP / "tensorfile.py")
tensorfile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tensorfile)


@pytest.fixture(scope="module")
def binary():
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("no C++ compiler on this machine")
    # a no-op when the binary is newer than its source and the build scripts
    proc = subprocess.run(["bash", str(CPP / "build.sh")], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHON": sys.executable})
    if proc.returncode == 3:
        pytest.skip(f"onnxruntime C++ headers could not be had, C++ example not built: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"examples/cpp/build.sh failed:\n{proc.stdout}\n{proc.stderr}"
    assert BINARY.exists()
    return BINARY


def _export_tiny_vq(tmp_path, k=64, shape=(3, 3), seed=0):
    """A nearest-codebook encoder (argmin over squared distances, int64 out, dynamic batch) and its decoder."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    g = torch.Generator().manual_seed(seed)
    d = int(np.prod(shape))
    codebook = torch.rand(k, d, generator=g) * 50

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("codebook", codebook)

        def forward(self, patches):
            x = patches.reshape(patches.shape[0], -1)
            dist = (x * x).sum(1, keepdim=True) - 2 * x @ self.codebook.T + (self.codebook * self.codebook).sum(1)
            return torch.argmin(dist, dim=1).to(torch.int64)

    class Decoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("codebook", codebook)

        def forward(self, indices):
            return self.codebook[indices].reshape(indices.shape[0], *shape)

    enc, dec = tmp_path / "tiny_encoder.onnx", tmp_path / "tiny_decoder.onnx"
    torch.onnx.export(Encoder(), (torch.zeros(2, *shape),), str(enc), dynamo=False, opset_version=17,
                      input_names=["patches"], output_names=["indices"],
                      dynamic_axes={"patches": {0: "batch"}, "indices": {0: "batch"}})
    torch.onnx.export(Decoder(), (torch.zeros(2, dtype=torch.int64),), str(dec), dynamo=False, opset_version=17,
                      input_names=["indices"], output_names=["patches"],
                      dynamic_axes={"indices": {0: "batch"}, "patches": {0: "batch"}})
    return enc, dec


def _python_run(path, feeds):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {n: feeds[n] for n in names})


def _compare(binary, tmp_path, enc, dec, patches, batch=1000, extra_feeds=None):
    """Run the C++ example and Python onnxruntime on the same inputs; indices (and decoded output) must be equal
    bit for bit. `extra_feeds`: {input name: array} for model inputs beyond the first."""
    import onnxruntime as ort

    extra_feeds = extra_feeds or {}
    pin, iout, dout = tmp_path / "patches.bin", tmp_path / "indices.bin", tmp_path / "decoded.bin"
    tensorfile.write_tensor(pin, patches)
    cmd = [str(binary), str(enc), str(pin), str(iout), "--batch", str(batch), "--info"]
    for name, arr in extra_feeds.items():
        tensorfile.write_tensor(tmp_path / f"feed_{name}.bin", arr)
        cmd += ["--feed", name, str(tmp_path / f"feed_{name}.bin")]
    if dec is not None:
        cmd += ["--decoder", str(dec), str(dout)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # --info names the element types as ONNX does (float32, int64), not by enum number
    ios = [x.split() for x in proc.stdout.splitlines() if x.strip().startswith(("input ", "output "))]
    assert ios and all(x[-1] in ("float32", "int64", "float64", "int32", "uint8", "bool") for x in ios), proc.stdout
    first = ort.InferenceSession(str(enc), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    py_out = _python_run(enc, {first: patches, **extra_feeds})
    py_idx = next((o for o in py_out if o.dtype == np.int64), py_out[0])
    cpp_idx = tensorfile.read_tensor(iout)
    assert cpp_idx.dtype == py_idx.dtype and cpp_idx.shape == py_idx.shape
    np.testing.assert_array_equal(cpp_idx, py_idx)
    if dec is not None:
        dsess = ort.InferenceSession(str(dec), providers=["CPUExecutionProvider"])
        idx_name = next(i.name for i in dsess.get_inputs() if i.type == "tensor(int64)")
        py_dec = next(o for o in _python_run(dec, {idx_name: py_idx, **extra_feeds}) if o.dtype == np.float32)
        cpp_dec = tensorfile.read_tensor(dout)
        assert cpp_dec.shape == py_dec.shape
        assert cpp_dec.tobytes() == py_dec.tobytes()
    return proc.stdout


def test_cpp_indices_equal_python_tiny_model(binary, tmp_path):
    enc, dec = _export_tiny_vq(tmp_path)
    rng = np.random.default_rng(0)
    patches = (rng.random((2500, 3, 3)) * 50).astype(np.float32)
    # batch 1000 -> three runs, the last one partial: batching must not change anything
    out = _compare(binary, tmp_path, enc, dec, patches, batch=1000)
    assert "input  patches [N, 3, 3]" in out and "encoded 2500 patches" in out


def test_cpp_reports_shape_mismatch(binary, tmp_path):
    enc, _ = _export_tiny_vq(tmp_path)
    tensorfile.write_tensor(tmp_path / "bad.bin", np.zeros((4, 2, 2), np.float32))
    proc = subprocess.run([str(binary), str(enc), str(tmp_path / "bad.bin"), str(tmp_path / "i.bin")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "does not fit model input 'patches' [N, 3, 3]" in proc.stderr


def _shipped_pairs():
    models = ROOT / "data" / "models"
    pairs = []
    for enc in sorted(models.rglob("*encoder*.onnx")) if models.is_dir() else []:
        dec = enc.with_name(enc.name.replace("encoder", "decoder"))
        pairs.append(pytest.param(enc, dec if dec.exists() else None, id=str(enc.relative_to(models))))
    return pairs or [pytest.param(None, None, id="no-shipped-model")]


@pytest.mark.parametrize("enc,dec", _shipped_pairs())
def test_cpp_indices_equal_python_shipped_model(binary, tmp_path, enc, dec):
    if enc is None:
        pytest.skip("no shipped encoder model in data/models/ yet (hepvq-export pixel-vq writes it)")
    import onnxruntime as ort

    sess = ort.InferenceSession(str(enc), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    if inp.type != "tensor(float)":
        pytest.skip(f"{enc.name}: first input is {inp.type}, the C++ example feeds float32 patches")
    if not any(o.type in ("tensor(int64)", "tensor(float)") for o in sess.get_outputs()[:1]):
        pytest.skip(f"{enc.name}: first output is neither int64 nor float")
    if not any(o.type == "tensor(int64)" for o in sess.get_outputs()):
        dec = None  # a continuous-latent encoder (e.g. TPC amortised INR): compare its float output only
    if dec is not None:
        dsess = ort.InferenceSession(str(dec), providers=["CPUExecutionProvider"])
        if not any(i.type == "tensor(int64)" for i in dsess.get_inputs()):
            dec = None
    rng = np.random.default_rng(1)

    rows = 700 if np.prod([d for d in inp.shape[1:] if isinstance(d, int)]) < 10_000 else 2

    def fill(shape_):
        return [rows] + [d if isinstance(d, int) else 1 for d in shape_[1:]]

    shape = fill(inp.shape)
    # sparse, ADC-like patches: mostly zero, a few charges; a "mask" input (pixel_vq) gets the occupancy
    mask = (rng.random(shape) < 0.3).astype(np.float32)
    mask[:, 0] = 1.0
    charge = rng.uniform(0.05, 1.0, shape).astype(np.float32) * mask
    patches = (charge / charge.sum(axis=tuple(range(1, charge.ndim)), keepdims=True)).astype(np.float32)
    extra = {}
    for other in sess.get_inputs()[1:]:
        if other.type != "tensor(float)" or fill(other.shape) != shape:
            pytest.skip(f"{enc.name}: input {other.name} {other.type} {other.shape} is not fed by this test")
        extra[other.name] = mask if "mask" in other.name else patches
    out = _compare(binary, tmp_path, enc, dec, patches, batch=256 if rows > 2 else 1, extra_feeds=extra)
    assert f"encoded {rows} patches" in out
