"""Data safety, write side (issue 11): outputs that would destroy an input, duplicate or unwritable outputs,
all-or-nothing commits, disk full, RNTuple with codec products, 0-event outputs, chunkSize, honest byte
figures in the TimeReport, hepvq-export with a missing checkpoint, the version in one place.

Every test runs a real job (hepvq-run's main in-process, or a subprocess) on real ROOT files in tmp_path."""
import errno
import hashlib
import os
import sys
import textwrap
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from conftest import make_pixel_events, write_uproot
from hepvq.cli.run import main

REPO = Path(__file__).resolve().parents[1]
CFG = REPO / "python_cfg"
SAMPLE = REPO / "data" / "pixel_pu200_sample.root"


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv] + ["--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err, *needles):
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hepvq-run: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if ".tmp-" in p.name or p.name.endswith(".lock"))


def sparse_cfg(tmp_path, *, outputs=("out",), file_names=None, extra="", tree_format="TTree") -> Path:
    """A compress job with the fast pixel_sparse codec and one or more output modules."""
    file_names = file_names or [str(tmp_path / f"{o}.root") for o in outputs]
    outs = "".join(
        f"process.{o} = cms.OutputModule('RootOutputModule', fileName=cms.untracked.string({f!r}),\n"
        f"    outputCommands=cms.untracked.vstring('drop *', 'keep sparse*'),\n"
        f"    treeFormat=cms.untracked.string({tree_format!r}))\n" for o, f in zip(outputs, file_names))
    text = textwrap.dedent("""\
        import hepvq.config as cms
        process = cms.Process("SAFE")
        process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("in.root"))
        process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(20))
        process.sparse = cms.EDProducer("PixelDigiSparseEncoder", src=cms.InputTag("PixelDigi"))
        process.p = cms.Path(process.sparse)
        """) + outs + f"process.e = cms.EndPath({' + '.join('process.' + o for o in outputs)})\n" + extra
    path = tmp_path / "sparse_cfg.py"
    path.write_text(text)
    return path


def encodable_events(n, seed=1):
    """make_pixel_events with ADC >= 1 (zero-suppressed, as the codecs require)."""
    events = make_pixel_events(n, seed=seed)
    digis = events["PixelDigi"]
    events["PixelDigi"] = ak.with_field(digis, np.maximum(digis.adc, np.uint16(1)), "adc")
    return events


@pytest.fixture
def pixel_in(tmp_path):
    return Path(write_uproot(tmp_path / "in.root", encodable_events(40)))


@pytest.fixture(scope="module")
def real_digis(tmp_path_factory):
    """2 events of the shipped sample: what every shipped cfg (the pixel_vq encoder too) accepts."""
    d = tmp_path_factory.mktemp("real")
    with uproot.open(SAMPLE) as f:
        arrays = f["Events"].arrays(["run", "luminosityBlock", "event", "PixelDigi_detId", "PixelDigi_row",
                                     "PixelDigi_col", "PixelDigi_adc"], entry_stop=2)
    digis = ak.zip({k: arrays[f"PixelDigi_{k}"] for k in ("detId", "row", "col", "adc")})
    return Path(write_uproot(d / "real.root", {"run": arrays["run"].to_numpy(),
                                                "luminosityBlock": arrays["luminosityBlock"].to_numpy(),
                                                "event": arrays["event"].to_numpy(), "PixelDigi": digis}))


# -- defect 1: an output that is an input file ------------------------------------------------------------

SPELLINGS = ["same", "dot", "symlink", "hardlink"]


@pytest.mark.parametrize("cfg", ["copy_cfg.py", "premix_compress_cfg.py", "decompress_cfg.py"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_output_equal_to_input_is_refused_and_input_untouched(tmp_path, capsys, monkeypatch, real_digis, cfg,
                                                              spelling):
    import shutil

    monkeypatch.chdir(tmp_path)
    pixel_in = Path(shutil.copy(real_digis, tmp_path / "in.root"))
    before = sha(pixel_in)
    out = {"same": str(pixel_in), "dot": "./in.root", "symlink": str(tmp_path / "link.root"),
           "hardlink": str(tmp_path / "hard.root")}[spelling]
    if spelling == "symlink":
        os.symlink(pixel_in, out)
    elif spelling == "hardlink":
        os.link(pixel_in, out)
    rc, _, err = run_cli(capsys, CFG / cfg, f"inputFiles={pixel_in}", f"outputFile={out}")
    one_line_error(rc, err, "output module 'out'", "is the input file", "destroy the input")
    assert sha(pixel_in) == before
    assert leftovers(tmp_path) == []


def test_output_equal_to_second_input_is_refused(tmp_path, capsys, pixel_in):
    other = write_uproot(tmp_path / "other.root", make_pixel_events(5, seed=3))
    before = sha(other)
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={pixel_in},{other}", f"outputFile={other}")
    one_line_error(rc, err, "is the input file", str(other))
    assert sha(other) == before


# -- defect 6: duplicate outputs, commits all or nothing ---------------------------------------------------

def test_duplicate_output_file_names_refused_naming_both(tmp_path, capsys, monkeypatch, pixel_in):
    monkeypatch.chdir(tmp_path)
    cfg = sparse_cfg(tmp_path, outputs=("outA", "outB"), file_names=["same.root", "./same.root"])
    rc, _, err = run_cli(capsys, cfg, f"inputFiles={pixel_in}")
    one_line_error(rc, err, "'outA'", "'outB'", "same.root")
    assert not (tmp_path / "same.root").exists() and leftovers(tmp_path) == []


def test_failure_in_a_later_output_leaves_no_earlier_final_file(tmp_path, capsys, monkeypatch, pixel_in):
    from hepvq.io.output import RootOutputModule

    cfg = sparse_cfg(tmp_path, outputs=("outA", "outB"))
    real_end = RootOutputModule.endJob

    def end_job(self):
        real_end(self)
        if self.label == "outB":  # the disk fills while the second output completes
            raise self._write_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(RootOutputModule, "endJob", end_job)
    rc, _, err = run_cli(capsys, cfg, f"inputFiles={pixel_in}")
    one_line_error(rc, err, "outB", str(tmp_path / "outB.root"), "No space left on device")
    assert not (tmp_path / "outA.root").exists() and not (tmp_path / "outB.root").exists()
    assert leftovers(tmp_path) == []


def test_two_outputs_commit_together(tmp_path, capsys, pixel_in):
    cfg = sparse_cfg(tmp_path, outputs=("outA", "outB"))
    rc, _, err = run_cli(capsys, cfg, f"inputFiles={pixel_in}")
    assert rc == 0, err
    for name in ("outA.root", "outB.root"):
        with hepvq.open(tmp_path / name) as r:
            assert len(r.arrays()) == 40
    assert leftovers(tmp_path) == []


# -- defect 9, write side: disk full, bad output paths, chunkSize ------------------------------------------

def test_disk_full_is_one_line_naming_the_output(tmp_path, capsys, monkeypatch, pixel_in):
    import uproot.sink.file as sink

    real_write = sink.FileSink.write

    def write(self, location, serialization):
        if len(serialization) > 2000:  # header and directories fit; the first basket does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, location, serialization)

    monkeypatch.setattr(sink.FileSink, "write", write)
    out = tmp_path / "full.root"
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={pixel_in}", f"outputFile={out}")
    one_line_error(rc, err, "output module 'out'", f"cannot write {out}", "No space left on device")
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("case", ["directory", "missing_dir"])
def test_bad_output_path_refused_before_any_input_is_opened(tmp_path, capsys, case):
    out = tmp_path if case == "directory" else tmp_path / "nodir" / "x.root"
    missing_input = tmp_path / "does_not_exist.root"  # opened only after the outputs were checked
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={missing_input}", f"outputFile={out}")
    line = one_line_error(rc, err, "module 'out'", "parameter 'fileName'")
    assert ("is a directory" if case == "directory" else "does not exist") in line
    assert "does_not_exist.root" not in line


def test_unwritable_output_directory_refused(tmp_path, capsys, monkeypatch, pixel_in):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    real_access = os.access
    # root ignores the mode bits: answer as the kernel would for an ordinary user
    monkeypatch.setattr(os, "access", lambda p, m, **kw: False if str(p) == str(ro) else real_access(p, m, **kw))
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={pixel_in}", f"outputFile={ro / 'x.root'}")
    one_line_error(rc, err, "parameter 'fileName'", "not writable", str(ro))


@pytest.mark.parametrize("size", ["0", "-5"])
def test_chunk_size_must_be_positive(tmp_path, capsys, pixel_in, size):
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={pixel_in}", f"outputFile={tmp_path / 'o.root'}",
                         f"options.chunkSize={size}")
    one_line_error(rc, err, "options.chunkSize", "positive", size)
    assert not (tmp_path / "o.root").exists()


def test_unreadable_input_is_one_line_in_run_and_open(tmp_path, capsys, monkeypatch, pixel_in):
    import builtins

    real_open = builtins.open

    def deny(path, *a, **kw):
        if str(path) == str(pixel_in):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr(builtins, "open", deny)  # as chmod 000 would for an ordinary user
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={pixel_in}", f"outputFile={tmp_path / 'o.root'}")
    one_line_error(rc, err, str(pixel_in), "not readable")
    with pytest.raises(hepvq.errors.InputError, match="not readable") as info:
        hepvq.open(pixel_in)
    assert str(pixel_in) in str(info.value) and "\n" not in str(info.value)


def test_export_with_missing_checkpoint_is_one_line(tmp_path, capsys):
    from hepvq.cli.export import main as export_main

    missing = tmp_path / "nope.pt"
    rc = export_main(["pixel-vq", "--checkpoint", str(missing), "--output", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1 and str(missing) in err and "does not exist" in err
    rc = export_main(["tpc-inr", f"--amortised={tmp_path}"])
    err = capsys.readouterr().err
    assert rc == 1 and "is a directory" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


# -- defect 7: RNTuple -------------------------------------------------------------------------------------

def test_rntuple_with_codec_products_refused_before_processing(tmp_path, capsys, pixel_in):
    cfg = sparse_cfg(tmp_path, tree_format="RNTuple")
    rc, _, err = run_cli(capsys, cfg, f"inputFiles={pixel_in}")
    one_line_error(rc, err, "parameter 'treeFormat'", "sparse", "RNTuple")
    assert "TimeReport" not in err and not (tmp_path / "out.root").exists() and leftovers(tmp_path) == []


def test_rntuple_without_codec_products_still_written(tmp_path, capsys, pixel_in):
    out = tmp_path / "r.root"
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={pixel_in}", f"outputFile={out}",
                         "out.treeFormat=RNTuple")
    assert rc == 0, err
    with uproot.open(out) as f:
        assert f["Events"].num_entries == 40


# -- defect 8: 0-event outputs -----------------------------------------------------------------------------

def _schema(path):
    with uproot.open(path) as f:
        import json

        prov = json.loads(str(f["hepvq_provenance"]))
        return ({k: b.typename for k, b in f["Events"].items()},
                {lab: {k: v for k, v in c.items()} for lab, c in prov["codecs"].items()},
                prov["products"])


def test_zero_event_output_has_the_schema_of_a_normal_one(tmp_path, capsys):
    zero, some = tmp_path / "zero.root", tmp_path / "some.root"
    for out, n in ((zero, 0), (some, 1)):
        rc, _, err = run_cli(capsys, CFG / "premix_compress_cfg.py", f"inputFiles={SAMPLE}", f"outputFile={out}",
                             f"maxEvents={n}")
        assert rc == 0, err
    zb, zc, zp = _schema(zero)
    sb, sc, sp = _schema(some)
    assert "pixelVQ_s_charge" in zb and zb == sb and zc == sc and zp == sp and "pixelVQ" in zc  # format 2 streams
    # decompressing it gives the PixelDigi branches; chaining it with a normal file works
    dz, dchain = tmp_path / "dz.root", tmp_path / "dchain.root"
    rc, _, err = run_cli(capsys, CFG / "decompress_cfg.py", f"inputFiles={zero}", f"outputFile={dz}")
    assert rc == 0, err
    with uproot.open(dz) as f:
        assert {"PixelDigi_detId", "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"} <= set(f["Events"].keys())
        assert f["Events"].num_entries == 0
    rc, _, err = run_cli(capsys, CFG / "decompress_cfg.py", f"inputFiles={zero},{some},{zero}", f"outputFile={dchain}")
    assert rc == 0, err
    with hepvq.open(some) as r:
        expected = r.arrays()
    with uproot.open(dchain) as f:
        got = f["Events"].arrays(["PixelDigi_adc", "event"])
    assert ak.array_equal(got["PixelDigi_adc"], expected.PixelDigi.adc) and len(got) == 1
    with hepvq.open(zero) as r:
        assert len(r.arrays()) == 0 and "PixelDigi" in r.arrays().fields


def test_filter_rejecting_every_event_gives_a_full_schema(tmp_path, capsys, pixel_in):
    extra = textwrap.dedent("""\
        import numpy as np
        from hepvq.framework import EDFilter, register_module
        class RejectAll(EDFilter):
            def filter(self, chunk):
                return np.zeros(chunk.n, bool)
        register_module(RejectAll, name="SafetyTestRejectAll")
        process.reject = cms.EDFilter("SafetyTestRejectAll")
        process.p += process.reject
        process.out.SelectEvents = cms.untracked.vstring("p")
        """)
    cfg = sparse_cfg(tmp_path, extra=extra)
    rc, _, err = run_cli(capsys, cfg, f"inputFiles={pixel_in}")
    assert rc == 0, err
    normal = sparse_cfg(tmp_path, file_names=[str(tmp_path / "normal.root")])
    rc, _, err = run_cli(capsys, normal, f"inputFiles={pixel_in}")
    assert rc == 0, err
    assert _schema(tmp_path / "out.root") == _schema(tmp_path / "normal.root")
    with hepvq.open(tmp_path / "out.root") as r:
        a = r.arrays()
        assert len(a) == 0 and "PixelDigi" in a.fields


# -- honest TimeReport -------------------------------------------------------------------------------------

def test_report_counts_the_branches_read_not_whole_files(tmp_path, capsys):
    events = make_pixel_events(40)
    noise = make_pixel_events(40, seed=9, mean_hits=400)  # a big collection the job does not read
    src = write_uproot(tmp_path / "in.root", events, extra={"Truth": noise["PixelDigi"]})
    out = tmp_path / "o.root"
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={src}", f"outputFile={out}",
                         "source.collections=PixelDigi", "--report-json", tmp_path / "r.json")
    assert rc == 0, err
    import json

    rep = json.loads((tmp_path / "r.json").read_text())
    with uproot.open(src) as f:
        t = f["Events"]
        read = sum(t[b].compressed_bytes for b in ("run", "luminosityBlock", "event", "PixelDigi_detId",
                                                   "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"))
    with uproot.open(out) as f:
        written = sum(b.compressed_bytes for b in f["Events"].values())
    assert rep["read_bytes"] == read and rep["written_bytes"] == written
    assert rep["compression_ratio"] == pytest.approx(read / written)
    assert rep["compression_ratio"] < 1.5  # a plain copy does not compress; whole files would say ~10
    assert rep["file_size_ratio"] > 1.8  # what the old report called the compression ratio
    assert f"TimeReport read/written {read / written:.3f}" in err
    assert "compressed branches read (PixelDigi, event ids)" in err and "TimeReport whole files: input" in err


def test_simulation_source_reports_no_ratio(tmp_path, capsys):
    cfg = tmp_path / "sim_cfg.py"
    cfg.write_text(textwrap.dedent(f"""\
        import hepvq.config as cms
        process = cms.Process("SIM")
        process.source = cms.Source("TpcHitSimSource", seed=cms.uint32(1))
        process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(1))
        process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string({str(tmp_path / 's.root')!r}))
        """))
    rc, _, err = run_cli(capsys, cfg)
    assert rc == 0, err
    assert "ratio 0.000" not in err and "read/written" not in err
    assert "TimeReport read     nothing from files" in err and "TimeReport written" in err


# -- the version in one place ------------------------------------------------------------------------------

def test_version_lives_in_hepvq_version():
    from hepvq import version

    assert hepvq.__version__ == version.__version__
    if sys.version_info >= (3, 11):
        import tomllib

        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        if "version" in project:  # static: must agree; dynamic: read from hepvq/version.py
            assert project["version"] == version.__version__
        else:
            assert "version" in project.get("dynamic", [])


def test_zero_event_simulation_output_has_the_collection_branches(tmp_path, capsys):
    cfg = tmp_path / "simz_cfg.py"
    cfg.write_text(textwrap.dedent(f"""\
        import hepvq.config as cms
        process = cms.Process("SIM")
        process.source = cms.Source("TpcHitSimSource", seed=cms.uint32(1))
        process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(0))
        process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string({str(tmp_path / 'z.root')!r}))
        """))
    rc, _, err = run_cli(capsys, cfg)
    assert rc == 0, err
    assert "events simulated 0" in err
    with uproot.open(tmp_path / "z.root") as f:
        types = {k: b.typename for k, b in f["Events"].items()}
        assert f["Events"].num_entries == 0
    assert {f"TpcHit_{k}": "uint16_t[]" for k in ("sector", "layer", "phi", "z", "adc")}.items() <= types.items()


@pytest.mark.parametrize("target", ["input", "directory"])
def test_report_json_that_would_overwrite_an_input_is_refused_first(tmp_path, capsys, pixel_in, target):
    before = sha(pixel_in)
    report = pixel_in if target == "input" else tmp_path
    rc, _, err = run_cli(capsys, CFG / "copy_cfg.py", f"inputFiles={pixel_in}", f"outputFile={tmp_path / 'o.root'}",
                         "--report-json", report)
    one_line_error(rc, err, "--report-json", "a file of the job" if target == "input" else "is a directory")
    assert sha(pixel_in) == before and not (tmp_path / "o.root").exists()
