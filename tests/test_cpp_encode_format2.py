"""hepvq_encode writes pixel_vq format 2 (issue 15): at each operating point (and with --adc-error-bound 0 and 2), on the shipped sample's first events,
every branch (name, type, values: counts, rANS byte streams, unknown detIds, checksum) and every metadata blob
(settings, decoder.onnx, tables) of its file equals hepvq-run premix_compress_cfg.py's byte for byte; the
provenance too except what names the run (creation time, input path as given, process and output module). Its
file decodes with hepvq.open and hepvq_decode to the same hits as Python's. Without --format/--operating-point it
writes what the main job writes by default. The symbols and contexts come from the core function Python's encoder
calls (pixel_vq_f2_symbols), the code choice from the core's VQSearch.search_rate."""
import subprocess
import sys

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from hepvq.cli.run import run
from hepvq.io.metadata import read_metadata
from test_cpp_reader import COMPRESS, PIXEL, REPO, SAMPLE, assert_same_as_python, cpp_decode, tools  # noqa: F401

MODEL = str(REPO / "data" / "models" / "pixel_vq")
RUN_FIELDS = {"created", "input_files", "process", "output_module"}  # what names the run, not the data


def _python(out, events, *extra):
    run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={out}", f"pixelVQ.model={MODEL}", f"maxEvents={events}",
         *extra, "--no-progress"])
    return out


def _cpp(tools, out, events, *extra):  # noqa: F811
    proc = subprocess.run([str(tools / "hepvq_encode"), SAMPLE, str(out), "--model", MODEL, "--max-events",
                           str(events), *extra], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def _assert_same_file(got_path, ref_path):
    got, ref = uproot.open(got_path)["Events"], uproot.open(ref_path)["Events"]
    assert set(got.keys()) == set(ref.keys())
    assert "pixelVQ_s_code0" in ref.keys()  # format 2
    for name in ref.keys():
        assert got[name].typename == ref[name].typename, name
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(got[name].array(), axis=None)),
                                      ak.to_numpy(ak.flatten(ref[name].array(), axis=None)), err_msg=name)
    (pa, ba), (pb, bb) = read_metadata(got_path), read_metadata(ref_path)
    assert sorted(ba) == sorted(bb) == ["pixelVQ/decoder.onnx", "pixelVQ/settings", "pixelVQ/tables"]
    for k in bb:
        assert ba[k] == bb[k], k
    assert {k: v for k, v in pa.items() if k not in RUN_FIELDS} == {k: v for k, v in pb.items() if k not in RUN_FIELDS}
    with hepvq.open(got_path) as f, hepvq.open(ref_path) as g:
        a, b = f.arrays(), g.arrays()
    assert len(a) == len(b)
    for field in PIXEL:
        assert ak.all(a.PixelDigi[field] == b.PixelDigi[field])
    return int(ak.sum(ak.num(a.PixelDigi)))


@pytest.mark.parametrize("point,events", [("fine", 2), ("default", 3), ("coarse", 2)])
def test_cpp_encode_format2_equals_python(tools, tmp_path, point, events):  # noqa: F811
    py = _python(tmp_path / "py.root", events, "pixelVQ.format=2", f"pixelVQ.operatingPoint={point}")
    cpp = _cpp(tools, tmp_path / "cpp.root", events, "--format", "2", "--operating-point", point)
    assert _assert_same_file(cpp, py) > 50_000
    dst = tmp_path / "decoded.root"
    proc = cpp_decode(tools, cpp, dst)
    assert proc.returncode == 0, proc.stderr
    assert assert_same_as_python(dst, py) > 50_000  # hepvq_decode of the C++ file == hepvq.open of Python's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpp.root", "decoded.root", "py.root"]


@pytest.mark.parametrize("bound", [0, 2])
def test_cpp_encode_format2_adc_error_bound_equals_python(tools, tmp_path, bound):  # noqa: F811
    """--adc-error-bound B: format 1's corrections product beside the streams, byte for byte as hepvq-run's; B = 0
    decodes to the input's hits exactly."""
    py = _python(tmp_path / "py.root", 2, "pixelVQ.format=2", "pixelVQ.operatingPoint=default",
                 f"pixelVQ.adcErrorBound={bound}")
    cpp = _cpp(tools, tmp_path / "cpp.root", 2, "--adc-error-bound", str(bound))
    assert "pixelVQ_corrections_dadc" in uproot.open(cpp)["Events"].keys()
    _assert_same_file(cpp, py)
    with hepvq.open(cpp) as f:
        got = f.arrays().PixelDigi
    raw = uproot.open(SAMPLE)["Events"].arrays(entry_stop=2)
    err = np.abs(ak.to_numpy(ak.flatten(got.adc)).astype(np.int64) - ak.to_numpy(ak.flatten(raw.PixelDigi_adc)))
    assert err.max() <= bound


def _edge_file(path):
    """test_pixel_format2's edge events (empty, one hit, only rare shapes, a detId the tables never saw) as a DIGI
    file."""
    from conftest import write_uproot
    from test_pixel_format2 import _edge_hits

    hits = _edge_hits(None)
    n = len(hits)
    ids = {"run": np.ones(n, np.uint32), "luminosityBlock": np.ones(n, np.uint32),
           "event": np.arange(1, n + 1, dtype=np.uint64)}
    return write_uproot(path, dict(ids, PixelDigi=hits))


@pytest.mark.parametrize("case", ["simulated", "edge", "lossy_positions"])
def test_cpp_encode_format2_fresh_edge_and_lossy_events(tools, tmp_path, case):  # noqa: F811
    """Freshly simulated events (pile-up 10), edge events (unknown module -> fardet) and losslessPositions=False
    (rare masks coded as the largest table shape inside them): byte for byte as hepvq-run at coarse."""
    src = SAMPLE
    if case == "simulated":
        src = str(tmp_path / "sim.root")
        subprocess.run([sys.executable, "-m", "hepvq.cli.simulate", "pixel", "--events", "3", "--pileup", "10",
                        "--seed", "1516", "--no-truth", "--quiet", "-o", src], check=True, capture_output=True,
                       timeout=300)
    elif case == "edge":
        src = _edge_file(tmp_path / "edge.root")
    lossy = case == "lossy_positions"
    py, cpp = tmp_path / "py.root", tmp_path / "cpp.root"
    run([COMPRESS, f"inputFiles={src}", f"outputFile={py}", f"pixelVQ.model={MODEL}", "maxEvents=2" if lossy else
         "maxEvents=-1", "pixelVQ.format=2", "pixelVQ.operatingPoint=coarse",
         f"pixelVQ.losslessPositions={not lossy}", "--no-progress"])
    proc = subprocess.run([str(tools / "hepvq_encode"), src, str(cpp), "--model", MODEL, "--operating-point", "coarse",
                           "--lossless-positions", "false" if lossy else "true"] + (["--max-events", "2"] if lossy else []),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    _assert_same_file(cpp, py)
    if case == "edge":
        far = uproot.open(cpp)["Events"]["pixelVQ_fardet"].array()
        assert ak.to_list(ak.num(far)) == [0, 0, 0, 1] and ak.to_list(uproot.open(cpp)["Events"]["pixelVQ_npatch"].array())[:2] == [0, 1]


def test_cpp_encode_default_is_the_main_jobs(tools, tmp_path):  # noqa: F811
    """No --format / --operating-point: the same file as premix_compress_cfg.py without overrides."""
    py = _python(tmp_path / "py.root", 1)
    cpp = _cpp(tools, tmp_path / "cpp.root", 1)
    _assert_same_file(cpp, py)


def test_cpp_encode_format2_refuses_bad_options(tools, tmp_path):  # noqa: F811
    out = tmp_path / "o.root"
    for extra, what in ((["--operating-point", "bogus"], "parameter --operating-point: 'bogus'"),
                        (["--adc-error-bound", "2", "--lossless-positions", "false"], "needs lossless_positions"),
                        (["--model", str(tmp_path)], str(tmp_path))):
        proc = subprocess.run([str(tools / "hepvq_encode"), SAMPLE, str(out), "--model", MODEL, "--max-events", "1",
                               "--format", "2", *extra], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0 and what in proc.stderr, proc.stderr
    proc = subprocess.run([str(tools / "hepvq_encode"), SAMPLE, str(out), "--model", MODEL, "--format", "3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "usage" in proc.stderr
    assert list(tmp_path.iterdir()) == []
