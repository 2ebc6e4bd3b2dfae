"""Real ROOT (pip install root, 6.40) reads every kind of file hepvq writes: TTree and RDataFrame counts and sums
agree with uproot, branch by branch, and the metadata (provenance JSON, blobs tree) is readable.

Each kind is made here with hepvq-run from its cfg, on a couple of events; a kind whose cfg does not exist yet is
skipped, so the file grows as the compressors land."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT_DIR = Path(__file__).resolve().parents[1]
CFG = ROOT_DIR / "python_cfg"

pytestmark = pytest.mark.root


def _hepvq_run(cfg, *overrides, timeout=240):
    cmd = [sys.executable, "-m", "hepvq.cli.run", str(cfg), *overrides]
    proc = subprocess.run(cmd, cwd=ROOT_DIR, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def _need_cfg(name):
    path = CFG / name
    if not path.exists():
        pytest.skip(f"python_cfg/{name} does not exist yet")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Lazily made output files: kind -> path."""
    d = tmp_path_factory.mktemp("root_interop")
    made = {}

    def get(kind):
        if kind in made:
            return made[kind]
        if kind == "pixel_compressed":
            path = d / "pixel_compressed.root"
            # the default (format 2: byte streams) plus its readable symbol branches for the ROOT macro
            _hepvq_run(_need_cfg("premix_compress_cfg.py"), f"outputFile={path}", "maxEvents=2",
                       "pixelVQ.debugIndices=True")
        elif kind == "tpc_compressed":
            path = d / "tpc_compressed.root"
            _hepvq_run(_need_cfg("tpc_inr_compress_cfg.py"), f"outputFile={path}", "maxEvents=1", timeout=400)
        elif kind == "pixel_decoded":
            src = get("pixel_compressed")
            path = d / "pixel_decoded.root"
            _hepvq_run(_need_cfg("decompress_cfg.py"), f"inputFiles={src}", f"outputFile={path}")
        elif kind == "plain_copy":
            path = d / "copy.root"
            _hepvq_run(_need_cfg("copy_cfg.py"), f"outputFile={path}", "maxEvents=3")
        else:
            raise KeyError(kind)
        made[kind] = path
        return path

    return get


def _uproot_sums(path):
    import awkward as ak
    import uproot

    out = {}
    with uproot.open(path) as f:
        t = f["Events"]
        n = t.num_entries
        for name, br in t.items():
            arr = br.array(library="ak")
            if arr.ndim > 1:
                out[name] = (int(ak.sum(ak.num(arr))), float(ak.sum(ak.values_astype(arr, np.float64))))
            else:
                out[name] = (n, float(np.sum(ak.to_numpy(arr).astype(np.float64))))
        jagged = {name for name, br in t.items() if br.array(library="ak", entry_stop=1).ndim > 1}
    return n, out, jagged


def _check_ttree(path, n, sums, jagged):
    import ROOT

    f = ROOT.TFile.Open(str(path))
    assert f and not f.IsZombie()
    t = f.Get("Events")
    assert t.GetEntries() == n
    for name, (count, total) in sums.items():
        assert t.GetBranch(name), f"ROOT does not see branch {name}"
        expr = f"Sum$({name})" if name in jagged else name
        nsel = t.Draw(f"{expr}:Length$({name})", "", "goff")
        assert nsel == n
        got_sum = float(np.sum(np.frombuffer(t.GetV1(), dtype=np.float64, count=n))) if n else 0.0
        got_cnt = int(np.sum(np.frombuffer(t.GetV2(), dtype=np.float64, count=n))) if n else 0
        assert got_cnt == count, f"{name}: TTree counts {got_cnt}, uproot {count}"
        assert got_sum == pytest.approx(total, rel=1e-12, abs=1e-9), f"{name}: TTree sum {got_sum}, uproot {total}"
    # the metadata travels and reads in ROOT
    prov = f.Get("hepvq_provenance")
    if prov:
        meta = json.loads(str(prov.GetString()))
        assert "hepvq_version" in meta
    blobs = f.Get("hepvq_blobs")
    if blobs:
        assert blobs.GetEntries() == len(json.loads(str(prov.GetString())).get("blobs", {}))
    f.Close()


def _check_rdataframe(path, n, sums, jagged):
    import ROOT

    df = ROOT.RDataFrame("Events", str(path))
    count = df.Count()
    results = {}
    for i, name in enumerate(sums):
        if name in jagged:
            node = df.Define(f"_s{i}", f"double s = 0; for (auto x : {name}) s += x; return s;") \
                     .Define(f"_n{i}", f"(double){name}.size()")
            results[name] = (node.Sum(f"_n{i}"), node.Sum(f"_s{i}"))
        else:
            node = df.Define(f"_s{i}", f"(double){name}")
            results[name] = (None, node.Sum(f"_s{i}"))
    assert count.GetValue() == n  # runs the event loop once for every booked action
    for name, (cnt, tot) in results.items():
        want_cnt, want_tot = sums[name]
        if cnt is not None:
            assert int(cnt.GetValue()) == want_cnt, f"{name}: RDataFrame counts differ"
        assert tot.GetValue() == pytest.approx(want_tot, rel=1e-12, abs=1e-9), f"{name}: RDataFrame sum differs"


@pytest.mark.parametrize("kind", ["plain_copy", "pixel_compressed", "pixel_decoded", "tpc_compressed"])
def test_root_reads_hepvq_output(outputs, kind):
    pytest.importorskip("ROOT")
    path = outputs(kind)
    n, sums, jagged = _uproot_sums(path)
    assert n > 0 and sums
    if kind != "plain_copy":
        assert jagged, "a compressed/decoded file has jagged branches"
    _check_ttree(path, n, sums, jagged)
    _check_rdataframe(path, n, sums, jagged)


def test_decoded_file_is_the_input_schema(outputs):
    """The decoded DIGI file has exactly the input schema names, so CMSSW-style readers need no change."""
    import uproot

    path = outputs("pixel_decoded")
    with uproot.open(path) as f:
        names = set(f["Events"].keys())
    assert {"run", "luminosityBlock", "event", "nPixelDigi", "PixelDigi_detId", "PixelDigi_row", "PixelDigi_col",
            "PixelDigi_adc"} <= names


@pytest.mark.slow
def test_read_compressed_macro(outputs, tmp_path):
    """examples/root/read_compressed.C runs interpreted through `root -b -q` (~5 s) on a compressed pixel file."""
    pytest.importorskip("ROOT")
    exe = shutil.which("root")
    if exe is None:
        pytest.skip("no `root` executable on PATH")
    src = outputs("pixel_compressed")
    import uproot

    with uproot.open(src) as f:
        keys = set(f["Events"].keys())
    assert {"pixelVQ_s_code0", "pixelVQ_debugcodes_code"} <= keys  # format 2 with pixelVQ.debugIndices=True
    macro = ROOT_DIR / "examples" / "root" / "read_compressed.C"
    png = tmp_path / "usage.png"
    arg = f'{macro}("{src}", "", "{png}")'  # no branch named: the macro takes pixelVQ_debugcodes_code
    proc = subprocess.run([exe, "-b", "-q", "-l", arg], capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env={**os.environ, "DISPLAY": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pixelVQ_debugcodes_code:" in proc.stdout and "codes used" in proc.stdout, proc.stdout + proc.stderr
    assert png.exists() and png.stat().st_size > 1000
