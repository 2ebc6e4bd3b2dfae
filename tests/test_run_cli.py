"""hepvq-run: the shipped cfgs, key=value settings, --dump/--list-modules/--describe, every bad-input path."""
import json
import os
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from conftest import write_uproot
from hepvq.cli.run import main

REPO = Path(__file__).resolve().parents[1]
COPY_CFG = str(REPO / "python_cfg" / "copy_cfg.py")
DEMO_CFG = str(REPO / "python_cfg" / "demo_cfg.py")


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *needles):
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hepvq-run: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_copy_cfg_drops_and_keeps(tmp_path, capsys, pixel_file_uproot, tpc_events, pixel_events):
    both = write_uproot(tmp_path / "both.root", pixel_events, extra={"TpcHit": tpc_events["TpcHit"]})
    out = tmp_path / "copy.root"
    rc, _, err = run_cli(capsys, COPY_CFG, f"inputFiles={both}", f"outputFile={out}", "--no-progress")
    assert rc == 0, err
    assert "TimeReport events read 60  written 60" in err
    with uproot.open(out) as f:
        keys = set(f["Events"].keys())
        assert "TpcHit_adc" not in keys and "nTpcHit" not in keys and "PixelDigi_adc" in keys
        assert "cms.Process('COPY')" in str(f["hepvq_cfg"]) and str(out) in str(f["hepvq_cfg"])
    with hepvq.open(out) as r:
        assert ak.array_equal(r.arrays().PixelDigi, pixel_events["PixelDigi"])
    assert sorted(os.listdir(tmp_path)) == ["both.root", "copy.root"]


def test_demo_cfg_with_max_skip_and_param_override(tmp_path, capsys, pixel_file_uproot, pixel_events):
    out = tmp_path / "demo.root"
    report = tmp_path / "report.json"
    rc, _, err = run_cli(capsys, DEMO_CFG, f"inputFiles={pixel_file_uproot}", f"outputFile={out}", "maxEvents=20",
                         "skipEvents=5", "hitMult.minAdc=100", "-j", "2", "--report-json", report)
    assert rc == 0, err
    rep = json.loads(report.read_text())
    assert rep["events_read"] == 20 and rep["events_written"] == 20
    with uproot.open(out) as f:
        t = f["Events"]
        assert np.array_equal(t["event"].array(library="np"), pixel_events["event"][5:25])
        adc = pixel_events["PixelDigi"].adc[5:25]
        assert np.array_equal(t["hitMult_nhits"].array(library="np"), ak.to_numpy(ak.sum(adc >= 100, axis=1)))
        cfg = str(f["hepvq_cfg"])
    assert "minAdc = cms.int32(100)" in cfg and "numberOfThreads = cms.untracked.int32(2)" in cfg


@pytest.mark.skipif(not (REPO / "data" / "pixel_pu200_sample.root").exists(), reason="sample not made yet")
def test_copy_cfg_default_input_from_another_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default input data/pixel_pu200_sample.root resolves against the repository
    rc, _, err = run_cli(capsys, COPY_CFG, "outputFile=copy.root", "maxEvents=3", "--no-progress")
    assert rc == 0, err
    with uproot.open(REPO / "data" / "pixel_pu200_sample.root") as f:
        events = f["Events"]["event"].array(library="np", entry_stop=3)
        adc = f["Events"]["PixelDigi_adc"].array(entry_stop=3)
    with hepvq.open(tmp_path / "copy.root") as r:
        a = r.arrays()
    assert np.array_equal(ak.to_numpy(a.event), events) and ak.array_equal(a.PixelDigi.adc, adc)


def test_dump(capsys, tmp_path):
    rc, out, _ = run_cli(capsys, COPY_CFG, "inputFiles=a.root,b.root", "maxEvents=7", "--dump")
    assert rc == 0
    assert "'a.root'" in out and "'b.root'" in out and "cms.untracked.int32(7)" in out
    assert not list(tmp_path.iterdir())
    # a parameter the cfg leaves at its declared default can be set too (typed from fillDescriptions)
    rc, out, _ = run_cli(capsys, DEMO_CFG, "out.compressionLevel=3", "source.skipEvents=2", "--dump")
    assert rc == 0 and "compressionLevel = cms.untracked.int32(3)" in out
    assert "skipEvents = cms.untracked.uint32(2)" in out


def test_list_modules_and_describe(capsys):
    rc, out, _ = run_cli(capsys, "--list-modules")
    assert rc == 0
    assert "Sources:" in out and "RootSource" in out and "Output modules:" in out
    assert "HitMultiplicityProducer  Per-event hit count" in out
    rc, out, _ = run_cli(capsys, "--describe", "RootOutputModule")
    assert rc == 0 and "outputCommands" in out and "compressionLevel" in out
    rc, _, err = run_cli(capsys, "--describe", "RootOutputModul")
    assert_one_line_error(rc, err, "RootOutputModul", "did you mean: RootOutputModule")


# ---- every bad input: one line naming what is wrong, exit 1, no output file
def bad_case(tmp_path, capsys, cfg, *keys):
    out = tmp_path / "out" / "never.root"
    out.parent.mkdir()
    rc, _, err = run_cli(capsys, cfg, *keys, f"outputFile={out}", "--no-progress")
    assert not list(out.parent.iterdir()), "output left behind"
    return rc, err


def test_missing_input_file(tmp_path, capsys):
    rc, err = bad_case(tmp_path, capsys, COPY_CFG, f"inputFiles={tmp_path}/missing.root")
    assert_one_line_error(rc, err, "does not exist", "missing.root")


def test_not_a_root_file(tmp_path, capsys):
    p = tmp_path / "text.root"
    p.write_text("not root")
    rc, err = bad_case(tmp_path, capsys, COPY_CFG, f"inputFiles={p}")
    assert_one_line_error(rc, err, "not a ROOT file", "text.root")


def test_truncated_file(tmp_path, capsys, pixel_file_uproot):
    data = Path(pixel_file_uproot).read_bytes()
    p = tmp_path / "cut.root"
    p.write_bytes(data[: len(data) // 2])
    rc, err = bad_case(tmp_path, capsys, COPY_CFG, f"inputFiles={p}")
    assert_one_line_error(rc, err, "truncated", "cut.root")


def test_second_file_bad_leaves_no_output(tmp_path, capsys, pixel_file_uproot):
    rc, err = bad_case(tmp_path, capsys, COPY_CFG, f"inputFiles={pixel_file_uproot},{tmp_path}/gone.root")
    assert_one_line_error(rc, err, "gone.root")


def test_missing_tree(tmp_path, capsys, pixel_file_uproot):
    rc, err = bad_case(tmp_path, capsys, COPY_CFG, f"inputFiles={pixel_file_uproot}", "source.treeName=Event")
    assert_one_line_error(rc, err, "no tree 'Event'", "did you mean: Events")


def test_missing_branch(tmp_path, capsys, pixel_events):
    hits = pixel_events["PixelDigi"]
    p = write_uproot(tmp_path / "nocol.root", {k: pixel_events[k] for k in ("run", "luminosityBlock", "event")},
                     extra={"PixelDigi": ak.zip({"detId": hits.detId, "row": hits.row, "adc": hits.adc})})
    rc, err = bad_case(tmp_path, capsys, COPY_CFG, f"inputFiles={p}")
    assert_one_line_error(rc, err, "branch 'PixelDigi_col'", "nocol.root")


def test_wrong_branch_type(tmp_path, capsys, pixel_events):
    hits = pixel_events["PixelDigi"]
    p = write_uproot(tmp_path / "float.root", {k: pixel_events[k] for k in ("run", "luminosityBlock", "event")},
                     extra={"PixelDigi": ak.zip({"detId": hits.detId, "row": hits.row, "col": hits.col,
                                                 "adc": ak.values_astype(hits.adc, np.float32)})})
    rc, err = bad_case(tmp_path, capsys, COPY_CFG, f"inputFiles={p}")
    assert_one_line_error(rc, err, "branch 'PixelDigi_adc'", "float", "float.root")


def write_cfg(tmp_path, body):
    p = tmp_path / "job_cfg.py"
    p.write_text("import hepvq.config as cms\nprocess = cms.Process('T')\n"
                 "process.source = cms.Source('RootSource', fileNames=cms.untracked.vstring('in.root'))\n"
                 "process.out = cms.OutputModule('RootOutputModule', fileName=cms.untracked.string('o.root'))\n"
                 + body)
    return p


def test_cfg_syntax_error(tmp_path, capsys, pixel_file_uproot):
    cfg = write_cfg(tmp_path, "process.p = cms.Path(\n")
    rc, err = bad_case(tmp_path, capsys, cfg, f"inputFiles={pixel_file_uproot}")
    assert_one_line_error(rc, err, "job_cfg.py", "line")


@pytest.mark.parametrize("body,needles", [
    ("process.m = cms.EDProducer('HitMultiplicityProducer', minADC=cms.int32(1))\nprocess.p = cms.Path(process.m)\n",
     ["'m'", "minADC", "did you mean: minAdc"]),
    ("process.m = cms.EDProducer('HitMultiplicityProducer', minAdc=cms.double(1.5))\nprocess.p = cms.Path(process.m)\n",
     ["'m'", "minAdc", "int32", "double"]),
    ("process.m = cms.EDProducer('HitMultiplicityProducr')\n", ["HitMultiplicityProducr", "did you mean"]),
])
def test_bad_parameter(tmp_path, capsys, pixel_file_uproot, body, needles):
    cfg = write_cfg(tmp_path, body)
    rc, err = bad_case(tmp_path, capsys, cfg, f"inputFiles={pixel_file_uproot}")
    assert_one_line_error(rc, err, *needles)


def test_missing_required_parameter(tmp_path, capsys):
    cfg = write_cfg(tmp_path, "del process.source.fileNames\n")
    rc, err = bad_case(tmp_path, capsys, cfg)
    assert_one_line_error(rc, err, "'source'", "fileNames", "missing", "vstring")


@pytest.mark.parametrize("key,needles", [
    ("maxEvents=ten", ["maxEvents", "int32", "ten"]),
    ("hitMult.minAdc=x", ["hitMult", "minAdc", "int32"]),
    ("hitMult.minAd=3", ["minAd", "did you mean: minAdc"]),
    ("inputfiles=a.root", ["inputfiles", "did you mean: inputFiles"]),
    ("skipEvents=-1", ["skipEvents"]),
])
def test_bad_command_line_setting(tmp_path, capsys, pixel_file_uproot, key, needles):
    rc, err = bad_case(tmp_path, capsys, DEMO_CFG, f"inputFiles={pixel_file_uproot}", key)
    assert_one_line_error(rc, err, *needles)


def test_output_file_ambiguous(tmp_path, capsys):
    cfg = write_cfg(tmp_path, "process.out2 = process.out.clone(fileName='p.root')\n")
    rc, _, err = run_cli(capsys, cfg, "outputFile=x.root")
    assert_one_line_error(rc, err, "outputFile", "out, out2", "fileName")


def test_console_script_exit_codes(tmp_path, pixel_file_uproot):
    out = tmp_path / "c.root"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    ok = subprocess.run([sys.executable, "-m", "hepvq.cli.run", COPY_CFG, f"inputFiles={pixel_file_uproot}",
                         f"outputFile={out}", "maxEvents=5"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert out.exists()
    bad = subprocess.run([sys.executable, "-m", "hepvq.cli.run", COPY_CFG, "inputFiles=missing.root",
                          "outputFile=d.root"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("hepvq-run: error: input file does not exist")
    assert not (tmp_path / "d.root").exists()


def test_main_restores_the_garbage_collector(tmp_path, capsys, pixel_file_uproot):
    """main() keeps collections off for the imports and setup and freezes the setup's objects for the event loop:
    after a job, and after a refused one, the collector is as it was (enabled, nothing frozen)."""
    import gc

    assert gc.isenabled()
    rc, _, err = run_cli(capsys, COPY_CFG, f"inputFiles={pixel_file_uproot}", f"outputFile={tmp_path / 'c.root'}",
                         "--no-progress")
    assert rc == 0, err
    assert gc.isenabled() and gc.get_freeze_count() == 0
    rc, _, err = run_cli(capsys, COPY_CFG, f"inputFiles={tmp_path / 'missing.root'}",
                         f"outputFile={tmp_path / 'd.root'}", "--no-progress")
    assert rc == 1 and gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller that had it off gets it back off
    try:
        rc, _, err = run_cli(capsys, COPY_CFG, f"inputFiles={pixel_file_uproot}", f"outputFile={tmp_path / 'e.root'}",
                             "--no-progress")
        assert rc == 0, err
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()
