"""The encoder's VQ indices do not depend on where encoder.onnx runs (issue 13, GPU item).

Everywhere (CI too): benchmarks/gpu_check.sh in its dry mode (CPU provider in the GPU's place) must PASS, so the
prepared GPU script itself cannot rot. Where onnxruntime's CUDA provider and a GPU are present: the same script on
CUDA must PASS (not SKIP), and the main job run with providers=CUDAExecutionProvider writes the same bytes per
branch as with the CPU provider.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot

ROOT = Path(__file__).resolve().parents[1]


def _cuda_usable() -> bool:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    from hepvq.runtime.session import load_model

    probe = ROOT / "data" / "models" / "pixel_vq" / "decoder.onnx"
    try:
        return "CUDAExecutionProvider" in load_model(probe, providers=["CUDAExecutionProvider"]).providers
    except Exception:  # a CUDA build of onnxruntime on a machine without a usable GPU
        return False


needs_gpu = pytest.mark.skipif(not _cuda_usable(), reason="no usable onnxruntime CUDA provider on this machine")


def _gpu_check(dry: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "GPU_CHECK_DRY"}
    if dry:
        env["GPU_CHECK_DRY"] = "1"
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh", "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_gpu_check_script_passes_in_dry_mode():
    out = _gpu_check(dry=True)
    assert "PASS" in out and "SKIP" not in out, out
    assert "differ on 0 rows" in out, out


@needs_gpu
def test_gpu_check_script_passes_on_cuda():
    out = _gpu_check(dry=False)
    assert "PASS" in out and "SKIP" not in out, out


@needs_gpu
def test_main_job_same_bytes_on_cuda_and_cpu(tmp_path):
    outs = {}
    for prov in ("CPUExecutionProvider", "CUDAExecutionProvider"):
        out = tmp_path / f"{prov}.root"
        subprocess.run([sys.executable, "-m", "hepvq.cli.run", "python_cfg/premix_compress_cfg.py",
                        f"outputFile={out}", f"options.providers={prov}", "pixelVQ.format=1"],
                       cwd=ROOT, check=True, capture_output=True, timeout=900)
        outs[prov] = out
    with uproot.open(outs["CPUExecutionProvider"]) as a, uproot.open(outs["CUDAExecutionProvider"]) as b:
        ta, tb = a["Events"], b["Events"]
        assert set(ta.keys()) == set(tb.keys())
        for k in ta.keys():
            va, vb = ta[k].array(library="np"), tb[k].array(library="np")
            if va.dtype == object:
                assert all(np.array_equal(x, y) for x, y in zip(va, vb)), k
            else:
                assert np.array_equal(va, vb), k
