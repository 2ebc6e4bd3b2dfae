"""RootSource: both input flavours, chunking, skip/max, several files, branchMap, bad input."""
import awkward as ak
import numpy as np
import pytest

import hepvq.config as cms
from conftest import make_pixel_events, write_uproot
from hepvq.errors import InputError, ParameterError
from hepvq.framework import JobContext
from hepvq.framework.processor import validate_module


def make_source(files, **params):
    cfg = cms.Source("RootSource", fileNames=cms.untracked.vstring(*[str(f) for f in files]), **params)
    cls, p = validate_module(cfg, "source")
    src = cls("source", p, JobContext())
    src.beginJob()
    return src


def read_all(src, chunk_size=16, max_events=-1):
    chunks = list(src.chunks(chunk_size, max_events))
    return chunks, ak.concatenate([c.get("PixelDigi") for c in chunks]), np.concatenate(
        [ak.to_numpy(c.ids.event) for c in chunks])


@pytest.mark.parametrize("flavour", ["pixel_file_uproot", "pixel_file_stdvector"])
def test_both_flavours_read_identically(flavour, request, pixel_events):
    src = make_source([request.getfixturevalue(flavour)])
    chunks, digis, events = read_all(src)
    assert [c.n for c in chunks] == [16, 16, 16, 12]
    assert [(c.entry_start, c.entry_stop) for c in chunks][:2] == [(0, 16), (16, 32)]
    assert str(digis.type.content) == "var * {detId: uint32, row: uint16, col: uint16, adc: uint16}"
    assert ak.array_equal(digis, pixel_events["PixelDigi"])
    assert np.array_equal(events, pixel_events["event"])
    assert chunks[0].ids.fields == ["run", "luminosityBlock", "event"]
    assert chunks[0].ids.run.type.content == ak.types.NumpyType("uint32")


def test_tpc_file(tpc_file_uproot, tpc_events):
    src = make_source([tpc_file_uproot])
    hits = ak.concatenate([c.get("TpcHit") for c in src.chunks(100)])
    assert hits.fields == ["sector", "layer", "phi", "z", "adc"]
    assert ak.array_equal(hits, tpc_events["TpcHit"])


def test_several_files_skip_and_max(tmp_path, pixel_file_uproot, pixel_events):
    other = make_pixel_events(25, seed=9)
    second = write_uproot(tmp_path / "second.root", other)
    src = make_source([pixel_file_uproot, second], skipEvents=cms.untracked.uint32(50))
    assert src.num_events == 60 + 25 - 50
    chunks, digis, events = read_all(src, chunk_size=8, max_events=20)
    # 10 events from the end of the first file, then 10 from the second; chunks never span files
    assert [(c.entry_start, c.entry_stop) for c in chunks] == [(50, 58), (58, 60), (60, 68), (68, 70)]
    assert np.array_equal(events, np.concatenate([pixel_events["event"][50:], other["event"][:10]]))
    assert ak.array_equal(digis, ak.concatenate([pixel_events["PixelDigi"][50:], other["PixelDigi"][:10]]))


def test_collections_and_branch_map(tmp_path, pixel_events, tpc_events):
    hits = pixel_events["PixelDigi"]
    path = write_uproot(tmp_path / "renamed.root", {k: pixel_events[k] for k in ("run", "luminosityBlock", "event")},
                        extra={"digi": ak.zip({"det": hits.detId, "row": hits.row, "col": hits.col, "adc": hits.adc}),
                               "TpcHit": tpc_events["TpcHit"]})
    bm = cms.untracked.PSet(digi_det=cms.untracked.string("PixelDigi_detId"),
                            digi_row=cms.untracked.string("PixelDigi_row"),
                            digi_col=cms.untracked.string("PixelDigi_col"),
                            digi_adc=cms.untracked.string("PixelDigi_adc"))
    src = make_source([path], branchMap=bm, collections=cms.untracked.vstring("PixelDigi"))
    (chunk,) = list(src.chunks(1000))
    assert ak.array_equal(chunk.get("PixelDigi"), hits)
    assert not chunk.has("TpcHit")


def test_int32_fields_cast_to_schema(tmp_path, pixel_events):
    hits = pixel_events["PixelDigi"]
    path = write_uproot(tmp_path / "int32.root", {k: pixel_events[k] for k in ("run", "luminosityBlock", "event")},
                        extra={"PixelDigi": ak.zip({"detId": ak.values_astype(hits.detId, np.int64),
                                                    "row": ak.values_astype(hits.row, np.int32),
                                                    "col": hits.col, "adc": ak.values_astype(hits.adc, np.int32)})})
    (chunk,) = list(make_source([path]).chunks(1000))
    assert ak.array_equal(chunk.get("PixelDigi"), hits)
    assert chunk.get("PixelDigi").adc.type.content.content == ak.types.NumpyType("uint16")


# ---- bad input: one line naming file / tree / branch
def one_line(err):
    text = str(err.value)
    assert "\n" not in text
    return text


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        make_source([tmp_path / "nope.root"])
    assert "does not exist" in one_line(err) and "nope.root" in one_line(err)


def test_not_a_root_file(tmp_path):
    p = tmp_path / "text.root"
    p.write_text("hello, I am not ROOT\n")
    with pytest.raises(InputError) as err:
        make_source([p])
    assert "not a ROOT file" in one_line(err) and "text.root" in one_line(err)


def test_truncated_file(tmp_path, pixel_file_uproot):
    with open(pixel_file_uproot, "rb") as fh:
        data = fh.read()
    p = tmp_path / "truncated.root"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        make_source([p])
    assert "truncated" in one_line(err) and "truncated.root" in one_line(err)


def test_missing_tree_did_you_mean(pixel_file_uproot):
    with pytest.raises(InputError) as err:
        make_source([pixel_file_uproot], treeName=cms.untracked.string("Event"))
    text = one_line(err)
    assert "no tree 'Event'" in text and "did you mean: Events" in text and "pixel_uproot.root" in text


def test_missing_branch(tmp_path, pixel_events):
    hits = pixel_events["PixelDigi"]
    path = write_uproot(tmp_path / "noadc.root", {k: pixel_events[k] for k in ("run", "luminosityBlock", "event")},
                        extra={"PixelDigi": ak.zip({"detId": hits.detId, "row": hits.row, "col": hits.col})})
    with pytest.raises(InputError) as err:
        make_source([path])
    text = one_line(err)
    assert "branch 'PixelDigi_adc'" in text and "tree 'Events'" in text and "noadc.root" in text


def test_missing_collection(pixel_file_uproot):
    with pytest.raises(InputError) as err:
        make_source([pixel_file_uproot], collections=cms.untracked.vstring("PixelDigis"))
    assert "did you mean: PixelDigi" in one_line(err)


def test_wrong_branch_type_float(tmp_path, pixel_events):
    hits = pixel_events["PixelDigi"]
    path = write_uproot(tmp_path / "floatadc.root", {k: pixel_events[k] for k in ("run", "luminosityBlock", "event")},
                        extra={"PixelDigi": ak.zip({"detId": hits.detId, "row": hits.row, "col": hits.col,
                                                    "adc": ak.values_astype(hits.adc, np.float32)})})
    with pytest.raises(InputError) as err:
        make_source([path])
    text = one_line(err)
    assert "branch 'PixelDigi_adc'" in text and "float" in text and "integer" in text


def test_wrong_branch_type_string(tmp_path, root_module):
    ROOT = root_module
    path = str(tmp_path / "strings.root")
    f = ROOT.TFile(path, "RECREATE")
    t = ROOT.TTree("Events", "Events")
    v = ROOT.std.vector("std::string")()
    t.Branch("PixelDigi_adc", v)
    for _ in range(3):
        v.clear()
        v.push_back("12")
        t.Fill()
    t.Write()
    f.Close()
    with pytest.raises(InputError) as err:
        make_source([path], collections=cms.untracked.vstring("PixelDigi"))
    assert "branch 'PixelDigi_adc'" in one_line(err) and "unsupported branch type" in one_line(err)


def test_unknown_parameter_before_any_file_is_opened(tmp_path):
    cfg = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(tmp_path / "nope.root")),
                     treename=cms.untracked.string("Events"))
    with pytest.raises(ParameterError) as err:
        validate_module(cfg, "source")
    assert "treename" in str(err.value) and "treeName" in str(err.value)
