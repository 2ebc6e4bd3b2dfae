"""hepvq_encode --lossless-positions false writes what hepvq-run's PixelDigiVQEncoder writes with
losslessPositions=False (rare masks coded as the largest table shape inside them), branch for branch, and both
files decode (hepvq.open, hepvq_decode) to the same hits. The tools come from the session's cpp/build."""
import subprocess

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from hepvq.cli.run import run
from test_cpp_reader import COMPRESS, PIXEL, REPO, SAMPLE, assert_same_as_python, cpp_decode, tools  # noqa: F401

pytestmark = pytest.mark.slow  # builds the C++ tools (incremental)
MODEL = str(REPO / "data" / "models" / "pixel_vq")


def test_cpp_encode_lossy_positions_equals_python(tools, tmp_path):  # noqa: F811
    py = tmp_path / "py.root"
    run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={py}", "maxEvents=2", "pixelVQ.validate=False",
         "pixelVQ.losslessPositions=False", "pixelVQ.format=1", "--no-progress"])
    cpp = tmp_path / "cpp.root"
    proc = subprocess.run([str(tools / "hepvq_encode"), SAMPLE, str(cpp), "--model", MODEL, "--max-events", "2",
                           "--lossless-positions", "false", "--format", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got, ref = uproot.open(cpp)["Events"], uproot.open(py)["Events"]
    assert set(got.keys()) == set(ref.keys())
    for name in ref.keys():
        assert got[name].typename == ref[name].typename, name
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(got[name].array(), axis=None)),
                                      ak.to_numpy(ak.flatten(ref[name].array(), axis=None)), err_msg=name)
    with hepvq.open(cpp) as f, hepvq.open(py) as g:
        a, b = f.arrays(), g.arrays()
        assert f.codecs["pixelVQ"][0].lossless_positions is False
    raw = uproot.open(SAMPLE)["Events"].arrays(entry_stop=2)
    assert 0 < ak.sum(ak.num(a.PixelDigi)) < ak.sum(raw.nPixelDigi)  # hits of rare shapes dropped
    for field in PIXEL:
        assert ak.all(a.PixelDigi[field] == b.PixelDigi[field])
    dst = tmp_path / "decoded.root"
    assert cpp_decode(tools, cpp, dst).returncode == 0
    assert assert_same_as_python(dst, cpp) > 100_000


def test_cpp_encode_lossy_positions_refuses_a_bound(tools, tmp_path):  # noqa: F811
    """As PixelVQCodec: corrections refer to every input hit, so an ADC bound needs lossless positions."""
    out = tmp_path / "o.root"
    proc = subprocess.run([str(tools / "hepvq_encode"), SAMPLE, str(out), "--model", MODEL, "--max-events", "1",
                           "--lossless-positions", "false", "--adc-error-bound", "2"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert "adc_error_bound needs lossless_positions=True" in proc.stderr
    proc = subprocess.run([str(tools / "hepvq_encode"), SAMPLE, str(out), "--model", MODEL, "--lossless-positions",
                           "no"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "usage" in proc.stderr
    assert list(tmp_path.iterdir()) == []
