"""Issue 11, read side of RootSource and hepvq.open: no silent wrap-around of integers (defect 4), unreadable
inputs are one line (defect 9), a plain DIGI file reads as it is (defect 3)."""
import os
import shutil

import awkward as ak
import numpy as np
import pytest

import hepvq
import hepvq.config as cms
from conftest import write_uproot
from hepvq.errors import InputError
from hepvq.framework import JobContext
from hepvq.framework.processor import validate_module


def _source(path, chunk=4):
    cfg = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(path)))
    cls, p = validate_module(cfg, "source")
    src = cls("source", p, JobContext())
    src.beginJob()
    return list(src.chunks(chunk))


def _write(path, override, n=6):
    """A pixel file with int64 branches (as a user's ntuple may have), values set per (branch, entry, hit)."""
    counts = np.full(n, 3)
    cols = {f: np.ones(int(counts.sum()), np.int64) * v for f, v in
            (("detId", 7), ("row", 5), ("col", 9), ("adc", 40))}
    ids = {"run": np.ones(n, np.int64), "luminosityBlock": np.ones(n, np.int64), "event": np.arange(1, n + 1)}
    for (name, entry, hit), value in override.items():
        if name in ids:
            ids[name][entry] = value
        else:
            cols[name][3 * entry + hit] = value
    return write_uproot(path, {**ids, "PixelDigi": ak.unflatten(ak.zip(cols), counts)})


@pytest.mark.parametrize("branch,entry,hit,value,dtype", [
    ("row", 4, 1, 65546, "uint16"),          # would become 10
    ("detId", 2, 0, -1, "uint32"),           # would become 4294967295
    ("col", 0, 2, 70000, "uint16"),
    ("adc", 5, 0, -3, "uint16"),
])
def test_collection_value_out_of_range_is_refused(tmp_path, branch, entry, hit, value, dtype):
    path = _write(tmp_path / "wide.root", {(branch, entry, hit): value})
    with pytest.raises(InputError) as e:
        _source(path)
    msg = str(e.value)
    assert "\n" not in msg
    for needle in (f"PixelDigi_{branch}", f"entry {entry}", f"hit {hit}", str(value), dtype, "wide.root"):
        assert needle in msg, (needle, msg)


@pytest.mark.parametrize("branch,entry,value", [("run", 3, 2**32 + 1), ("event", 1, -5),
                                                 ("luminosityBlock", 5, -1)])
def test_event_id_out_of_range_is_refused(tmp_path, branch, entry, value):
    path = _write(tmp_path / "ids.root", {(branch, entry, 0): value})
    with pytest.raises(InputError) as e:
        _source(path, chunk=2)  # entry numbers are of the file, not of the chunk
    msg = str(e.value)
    for needle in (f"branch '{branch}'", f"entry {entry}", str(value), "ids.root"):
        assert needle in msg, (needle, msg)


def test_wide_types_in_range_read_exactly(tmp_path):
    path = _write(tmp_path / "ok.root", {("row", 1, 1): 65535, ("event", 2, 0): 2**40})
    chunks = _source(path, chunk=100)
    digis = chunks[0].get("PixelDigi")
    assert str(digis.type.content) == "var * {detId: uint32, row: uint16, col: uint16, adc: uint16}"
    assert int(digis.row[1, 1]) == 65535
    assert int(chunks[0].ids.event[2]) == 2**40


def _unreadable(path, monkeypatch):
    """Make `path` unreadable: chmod for a normal user; as root (who reads anything) the access check is what
    root-squashed storage would answer."""
    os.chmod(path, 0)
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == str(path) else real(p, mode))


def test_unreadable_input_is_one_line(tmp_path, monkeypatch, pixel_file_uproot):
    path = tmp_path / "secret.root"
    shutil.copyfile(pixel_file_uproot, path)
    _unreadable(path, monkeypatch)
    for opener in (_source, hepvq.open):
        with pytest.raises(InputError) as e:
            opener(path)
        assert "permission denied" in str(e.value) and "secret.root" in str(e.value)


def test_unreadable_input_cli_one_line(tmp_path, monkeypatch, capsys, pixel_file_uproot):
    from hepvq.cli.run import main

    path = tmp_path / "secret.root"
    shutil.copyfile(pixel_file_uproot, path)
    _unreadable(path, monkeypatch)
    rc = main(["python_cfg/copy_cfg.py", f"inputFiles={path}", f"outputFile={tmp_path / 'o.root'}", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "permission denied" in err[0] and "secret.root" in err[0], err
    assert not (tmp_path / "o.root").exists()


def test_open_plain_digi_file_returns_hits_as_they_are(pixel_file_uproot, pixel_events):
    with hepvq.open(pixel_file_uproot) as r:
        a = r.arrays()
    assert "PixelDigi" in a.fields
    assert ak.array_equal(a.PixelDigi, pixel_events["PixelDigi"])


def test_tpc_phi_out_of_range_is_refused(tmp_path):
    counts = np.array([2, 3])
    cols = {f: np.full(5, 7, np.int32) for f in ("sector", "layer", "phi", "z", "adc")}
    cols["phi"][3] = 70000  # entry 1, hit 1: would wrap to 4464
    path = write_uproot(tmp_path / "tpc.root", {"event": np.arange(2, dtype=np.uint64),
                                                "TpcHit": ak.unflatten(ak.zip(cols), counts)})
    with pytest.raises(InputError) as e:
        _source(path)
    for needle in ("TpcHit_phi", "entry 1", "hit 1", "70000", "uint16", "tpc.root"):
        assert needle in str(e.value), (needle, str(e.value))
