"""The main job end to end: premix_compress_cfg.py -> decompress_cfg.py and hepvq.open, with the framework."""
import os
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

pytest.importorskip("torch")

import hepvq  # noqa: E402
from hepvq.cli.run import run  # noqa: E402
from hepvq.errors import ParameterError  # noqa: E402
from pixel_toydata import tiny_model, toy_events  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COMPRESS = str(REPO / "python_cfg" / "premix_compress_cfg.py")
DECOMPRESS = str(REPO / "python_cfg" / "decompress_cfg.py")


def _write_input(path, hits, first_event=100):
    n = len(hits)
    with uproot.recreate(path) as f:
        f.mktree("Events", {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64,
                            "PixelDigi": hits.type.content})
        f["Events"].extend({"run": np.ones(n, np.uint32), "luminosityBlock": np.ones(n, np.uint32),
                            "event": np.arange(first_event, first_event + n, dtype=np.uint64)[::-1].copy(),
                            "PixelDigi": hits})


def _sorted(h):
    """Hits of every event as a numpy (event, det, row, col, adc) table in canonical order."""
    counts = ak.to_numpy(ak.num(h, axis=1))
    ev = np.repeat(np.arange(len(counts)), counts)
    cols = [ev] + [ak.to_numpy(ak.flatten(h[f])).astype(np.int64) for f in ("detId", "row", "col", "adc")]
    t = np.stack(cols, 1)
    return t[np.lexsort((t[:, 3], t[:, 2], t[:, 1], t[:, 0]))]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pixjob")
    _, model = tiny_model(tmp, "rvq")
    hits = ak.concatenate([toy_events(3, seed=21), toy_events(1, n_modules=0), toy_events(2, seed=22)])
    src = str(tmp / "in.root")
    _write_input(src, hits)
    comp = str(tmp / "c.root")
    # format 1: the tiny model has no format-2 tables (the shipped default, format 2, is tested below with the
    # shipped model and in test_pixel_format2.py)
    report = run([COMPRESS, f"inputFiles={src}", f"outputFile={comp}", f"pixelVQ.model={model}", "pixelVQ.format=1",
                  "--no-progress"])
    dec = str(tmp / "d.root")
    run([DECOMPRESS, f"inputFiles={comp}", f"outputFile={dec}", "--no-progress"])
    return {"tmp": tmp, "model": model, "hits": hits, "src": src, "comp": comp, "dec": dec, "report": report}


def test_decompressed_file_has_input_schema_same_events_same_order(job):
    t = uproot.open(job["dec"])["Events"]
    names = set(t.keys())
    assert {"run", "luminosityBlock", "event", "PixelDigi_detId", "PixelDigi_row", "PixelDigi_col",
            "PixelDigi_adc"} <= names
    assert not any(n.startswith("pixelVQ") for n in names)
    src = uproot.open(job["src"])["Events"]
    assert t.num_entries == src.num_entries
    assert np.array_equal(t["event"].array(library="np"), src["event"].array(library="np"))
    assert t["PixelDigi_detId"].interpretation.content.from_dtype == np.dtype(">u4")
    assert t["PixelDigi_adc"].interpretation.content.from_dtype == np.dtype(">u2")
    arr = t.arrays()
    out = ak.zip({f: arr[f"PixelDigi_{f}"] for f in ("detId", "row", "col", "adc")})
    a, b = _sorted(job["hits"]), _sorted(out)
    assert np.array_equal(a[:, :4], b[:, :4])  # exact positions, every hit kept (recall 1)
    assert np.abs(a[:, 4] - b[:, 4]).mean() < 20


def test_hepvq_open_gives_the_same_digis_as_decompress_cfg(job):
    reader = hepvq.open(job["comp"])
    assert reader.num_entries == len(job["hits"])
    got = reader.arrays()
    t = uproot.open(job["dec"])["Events"].arrays()
    want = ak.zip({f: t[f"PixelDigi_{f}"] for f in ("detId", "row", "col", "adc")})
    assert ak.to_list(got.PixelDigi) == ak.to_list(want)
    assert np.array_equal(ak.to_numpy(got.event), ak.to_numpy(t.event))
    chunks = list(reader.iterate(step_size=2))
    assert sum(len(c) for c in chunks) == len(job["hits"])
    assert ak.to_list(ak.concatenate([c.PixelDigi for c in chunks])) == ak.to_list(want)


def test_compressed_file_is_self_describing_and_indices_readable(job):
    f = uproot.open(job["comp"])
    t = f["Events"]
    assert t["pixelVQ_shape"].interpretation.content.from_dtype == np.dtype("u1")  # histogrammable integers
    assert t["pixelVQ_codes_c0"].interpretation.content.from_dtype == np.dtype("u1")
    from hepvq.io.metadata import read_metadata

    prov, blobs = read_metadata(job["comp"])
    assert prov["codecs"]["pixelVQ"]["codec"] == "pixel_vq"
    assert {"pixelVQ/settings", "pixelVQ/decoder.onnx"} <= set(blobs)


def test_end_of_job_report(job):
    rep = job["report"]
    text = repr(rep)
    for key in ("bits per hit", "compression ratio", "hit recall", "hit precision", "ADC MAE",
                "cluster charge RMS error", "centroid RMS residual [pixel]", "centroid RMS residual [um]"):
        assert key in text, key


def test_lossless_adc_mode_roundtrips_exactly(job):
    comp = str(job["tmp"] / "c0.root")
    run([COMPRESS, f"inputFiles={job['src']}", f"outputFile={comp}", f"pixelVQ.model={job['model']}",
         "pixelVQ.format=1", "pixelVQ.adcErrorBound=0", "--no-progress"])
    got = hepvq.open(comp).arrays().PixelDigi
    assert np.array_equal(_sorted(got), _sorted(job["hits"]))


def test_bad_parameters(job):
    with pytest.raises(ParameterError, match="adcErrorBound"):
        run([COMPRESS, f"inputFiles={job['src']}", f"outputFile={job['tmp'] / 'x.root'}",
             f"pixelVQ.model={job['model']}", "pixelVQ.losslessPositions=False", "pixelVQ.adcErrorBound=2",
             "--no-progress"])
    assert not os.path.exists(job["tmp"] / "x.root")


@pytest.mark.skipif(not (REPO / "data" / "pixel_pu200_sample.root").exists()
                    or not (REPO / "data" / "models" / "pixel_vq").exists(), reason="needs the shipped sample/model")
def test_main_job_with_shipped_sample_and_model(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = str(tmp_path / "premix_compressed.root")
    rep = run([COMPRESS, f"outputFile={out}", "maxEvents=2", "--no-progress"])
    t = uproot.open(out)["Events"]
    assert t.num_entries == 2
    assert {"pixelVQ_s_shape", "pixelVQ_s_charge"} <= set(t.keys())  # the shipped default: format 2 byte streams
    assert not any(k.startswith("pixelVQ_codes") for k in t.keys())
    assert "hit recall" in repr(rep) and "operating point" in repr(rep)
    got = hepvq.open(out).arrays(entry_stop=1).PixelDigi
    src = uproot.open(REPO / "data" / "pixel_pu200_sample.root")["Events"].arrays(entry_stop=1)
    assert ak.to_list(got.row) == ak.to_list(src.PixelDigi_row)  # input is in canonical order already
    assert ak.to_list(got.col) == ak.to_list(src.PixelDigi_col)


def test_pixel_sparse_codec_job(job, tmp_path):
    cfg = tmp_path / "sparse_cfg.py"
    cfg.write_text(f"""
import hepvq.config as cms
process = cms.Process("SPARSE")
process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring({job['src']!r}))
process.sparse = cms.EDProducer("PixelDigiSparseEncoder", adcBits=cms.int32(4))
process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string({str(tmp_path / 's.root')!r}),
                               outputCommands=cms.untracked.vstring("drop *", "keep sparse*"))
process.p = cms.Path(process.sparse)
process.e = cms.EndPath(process.out)
""")
    run([str(cfg), "--no-progress"])
    got = hepvq.open(str(tmp_path / "s.root")).arrays().PixelDigi
    a, b = _sorted(job["hits"]), _sorted(got)
    assert np.array_equal(a[:, :4], b[:, :4])
    assert np.abs(a[:, 4] - b[:, 4]).max() < 60
    run([DECOMPRESS, f"inputFiles={tmp_path / 's.root'}", f"outputFile={tmp_path / 'sd.root'}", "--no-progress"])
    t = uproot.open(tmp_path / "sd.root")["Events"].arrays()
    assert ak.to_list(t.PixelDigi_row) == ak.to_list(got.row)


def test_pixel_decoder_module_reads_codec_from_file(job, tmp_path):
    cfg = tmp_path / "dec_cfg.py"
    cfg.write_text(f"""
import hepvq.config as cms
process = cms.Process("DEC")
process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring({job['comp']!r}))
process.decoder = cms.EDProducer("PixelDigiVQDecoder", src=cms.InputTag("pixelVQ"))
process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string({str(tmp_path / 'd2.root')!r}),
                               outputCommands=cms.untracked.vstring("drop *", "keep decoder"),
                               branchAliases=cms.untracked.PSet(decoder=cms.untracked.string("PixelDigi")))
process.p = cms.Path(process.decoder)
process.e = cms.EndPath(process.out)
""")
    run([str(cfg), "--no-progress"])
    a = uproot.open(tmp_path / "d2.root")["Events"].arrays()
    b = uproot.open(job["dec"])["Events"].arrays()
    for f in ("detId", "row", "col", "adc"):
        assert ak.to_list(a[f"PixelDigi_{f}"]) == ak.to_list(b[f"PixelDigi_{f}"])


def test_decompress_two_files_compressed_with_different_models(job, tmp_path_factory, tmp_path):
    _, other = tiny_model(tmp_path_factory.mktemp("other"), "vq", codebook_size=8)
    src2 = str(tmp_path / "in2.root")
    hits2 = toy_events(2, seed=31)
    _write_input(src2, hits2, first_event=500)
    comp2 = str(tmp_path / "c2.root")
    run([COMPRESS, f"inputFiles={src2}", f"outputFile={comp2}", f"pixelVQ.model={other}", "pixelVQ.format=1",
         "--no-progress"])
    out = str(tmp_path / "d12.root")
    run([DECOMPRESS, f"inputFiles={job['comp']},{comp2}", f"outputFile={out}", "--no-progress"])
    t = uproot.open(out)["Events"].arrays()
    got = ak.zip({f: t[f"PixelDigi_{f}"] for f in ("detId", "row", "col", "adc")})
    want = ak.concatenate([hepvq.open(job["comp"]).arrays().PixelDigi, hepvq.open(comp2).arrays().PixelDigi])
    assert ak.to_list(got) == ak.to_list(want)
