"""Issue 11, decode side: a damaged or stripped compressed file is refused (blob hashes, per-event checksums,
codec declarations, decoded ranges), never decoded into wrong or missing hits with exit 0; plain DIGI files pass
through decompression unchanged; ADC-0 pixel hits are refused up front; TPC B = 0 is exact below threshold."""
import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from hepvq.cli.run import main, run
from hepvq.errors import DataError, HepvqError
from hepvq.io.metadata import BLOBS_TREE, CFG_KEY, PROVENANCE_KEY, read_metadata, write_metadata

REPO = Path(__file__).resolve().parents[1]
COMPRESS = str(REPO / "python_cfg" / "premix_compress_cfg.py")
SPARSE_CFG = """
import hepvq.config as cms
process = cms.Process("SPARSE")
process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("in.root"))
process.enc = cms.EDProducer("PixelDigiSparseEncoder")
process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string("out.root"),
                               outputCommands=cms.untracked.vstring("drop *", "keep enc_*"))
process.p = cms.Path(process.enc)
process.e = cms.EndPath(process.out)
"""
DECOMPRESS = str(REPO / "python_cfg" / "decompress_cfg.py")
SAMPLE = str(REPO / "data" / "pixel_pu200_sample.root")


def rewrite(src, dst, *, branches=None, provenance=None, blobs=None, drop_provenance=False, drop=()):
    """Copy a hepvq file with uproot, changing what a damaged disk or an editor would change."""
    with uproot.open(src) as f:
        t = f["Events"]
        counters = {b.name: b.count_branch.name for b in t.branches if getattr(b, "count_branch", None) is not None}
        raw = t.arrays([b for b in t.keys() if b not in set(counters.values())], how=dict, library="ak")
        prov = json.loads(str(f[PROVENANCE_KEY]))
        cfg = str(f[CFG_KEY])
    _, old_blobs = read_metadata(src)
    for name, fn in (branches or {}).items():
        raw[name] = fn(raw[name])
    for name in drop:
        del raw[name]
    data, grouped = {}, {}
    for name, arr in raw.items():
        if name in counters:
            prefix = counters[name][1:]
            grouped.setdefault(prefix, {})[name[len(prefix) + 1:]] = arr
        else:
            data[name] = arr
    for prefix, fields in grouped.items():
        data[prefix] = ak.zip(fields)
    with uproot.recreate(dst) as out:
        types = {k: (v.type.content if isinstance(v, ak.Array) and v.ndim > 1 else np.asarray(v).dtype)
                 for k, v in data.items()}
        tree = out.mktree("Events", types)
        tree.extend({k: (v if isinstance(v, ak.Array) and v.ndim > 1 else np.asarray(v)) for k, v in data.items()})
        new_blobs = blobs(dict(old_blobs)) if blobs else old_blobs
        write_metadata(out, provenance(prov) if provenance else prov, cfg, new_blobs)
        if drop_provenance:
            del out[PROVENANCE_KEY]
    return str(dst)


@pytest.fixture(scope="module")
def vq(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vqsafety")
    comp = str(tmp / "c.root")
    report = run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={comp}", "maxEvents=3", "pixelVQ.adcErrorBound=0",
                  "--no-progress"])
    with hepvq.open(comp) as r:
        decoded = r.arrays()
    with uproot.open(SAMPLE) as f:
        raw = f["Events"].arrays(entry_stop=3)
    return {"tmp": tmp, "comp": comp, "decoded": decoded, "raw": raw, "report": report}


def _one_line_cli(capsys, *argv):
    rc = main([str(a) for a in argv] + ["--no-progress"])
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("onnxruntime providers")]
    assert rc == 1 and len(err) == 1 and err[0].startswith("hepvq-run: error: "), err
    return err[0]


def test_untouched_rewrite_decodes_identically(vq):
    same = rewrite(vq["comp"], vq["tmp"] / "same.root")
    with hepvq.open(same) as r:
        assert ak.array_equal(r.arrays().PixelDigi, vq["decoded"].PixelDigi)
    assert "pixelVQ_crc" in uproot.open(same)["Events"].keys()
    # lossless mode: every hit and ADC comes back (in canonical order: sorted by detId, row, col)
    got = vq["decoded"].PixelDigi[1]
    raw = vq["raw"][1]
    want = np.stack([ak.to_numpy(raw[f"PixelDigi_{f}"]).astype(np.int64) for f in ("detId", "row", "col", "adc")], 1)
    want = want[np.lexsort((want[:, 2], want[:, 1], want[:, 0]))]
    have = np.stack([ak.to_numpy(got[f]).astype(np.int64) for f in ("detId", "row", "col", "adc")], 1)
    assert np.array_equal(have, want)


def test_flipped_blob_bit_is_refused_everywhere(vq, tmp_path, capsys):
    def flip(blobs):
        b = bytearray(blobs["pixelVQ/decoder.onnx"])
        b[len(b) // 2] ^= 0x10
        blobs["pixelVQ/decoder.onnx"] = bytes(b)
        return blobs

    bad = rewrite(vq["comp"], tmp_path / "flip.root", blobs=flip)
    with pytest.raises(DataError) as e:
        hepvq.open(bad)
    assert "flip.root" in str(e.value) and "pixelVQ/decoder.onnx" in str(e.value) and "sha256" in str(e.value)
    line = _one_line_cli(capsys, DECOMPRESS, f"inputFiles={bad}", f"outputFile={tmp_path / 'd.root'}")
    assert "pixelVQ/decoder.onnx" in line and "flip.root" in line
    line = _one_line_cli(capsys, "python_cfg/copy_cfg.py", f"inputFiles={bad}", f"outputFile={tmp_path / 'c.root'}")
    assert "pixelVQ/decoder.onnx" in line  # RootSource verifies too
    assert not (tmp_path / "d.root").exists() and not (tmp_path / "c.root").exists()


def test_edited_settings_blob_is_refused(vq, tmp_path):
    def edit(blobs):
        s = json.loads(blobs["pixelVQ/settings"])
        s["charge_levels"][3] += 1
        blobs["pixelVQ/settings"] = json.dumps(s, sort_keys=True).encode()
        return blobs

    with pytest.raises(DataError, match="pixelVQ/settings"):
        hepvq.open(rewrite(vq["comp"], tmp_path / "edit.root", blobs=edit))


def test_flipped_index_value_is_refused_by_the_checksum(vq, tmp_path, capsys):
    def bump(arr):  # one byte of entry 2's charge stream changes, as a flipped bit in a ZSTD basket would
        counts = ak.num(arr)
        flat = ak.to_numpy(ak.flatten(arr)).copy()
        flat[int(counts[0] + counts[1]) + 5] ^= 1
        return ak.unflatten(flat, counts)

    bad = rewrite(vq["comp"], tmp_path / "bit.root", branches={"pixelVQ_s_charge": bump})  # format 2 (default)
    with pytest.raises(DataError) as e:
        hepvq.open(bad).arrays()
    msg = str(e.value)
    assert "bit.root" in msg and "pixelVQ_crc" in msg and "entry 2" in msg, msg
    line = _one_line_cli(capsys, DECOMPRESS, f"inputFiles={bad}", f"outputFile={tmp_path / 'd.root'}",
                         "options.chunkSize=1")
    assert "bit.root" in line and "entry 2" in line and "pixelVQ" in line
    assert not (tmp_path / "d.root").exists()


@pytest.mark.parametrize("damage", ["no_provenance", "corrupt_provenance", "no_codecs", "codec_unknown"])
def test_undecodable_codec_is_an_error_not_an_empty_collection(vq, tmp_path, capsys, damage):
    kw = {"no_provenance": {"drop_provenance": True},
          "corrupt_provenance": {"provenance": lambda p: None},
          "no_codecs": {"provenance": lambda p: dict(p, codecs={})},
          "codec_unknown": {"provenance": lambda p: dict(p, codecs={"pixelVQ": dict(p["codecs"]["pixelVQ"],
                                                                                   codec="pixel_vv")})}}[damage]
    if damage == "corrupt_provenance":
        path = rewrite(vq["comp"], tmp_path / "x.root")
        with uproot.update(path) as f:
            f[PROVENANCE_KEY] = "{not json"
    else:
        path = rewrite(vq["comp"], tmp_path / "x.root", **kw)
    with pytest.raises(HepvqError) as e:
        hepvq.open(path)
    assert "x.root" in str(e.value)
    line = _one_line_cli(capsys, DECOMPRESS, f"inputFiles={path}", f"outputFile={tmp_path / 'd.root'}")
    assert "x.root" in line
    assert not (tmp_path / "d.root").exists()


def test_metadata_stripped_entirely_is_refused_by_decompression(vq, tmp_path, capsys):
    path = rewrite(vq["comp"], tmp_path / "bare.root")
    with uproot.update(path) as f:
        del f[PROVENANCE_KEY]
        del f[BLOBS_TREE]
        del f[CFG_KEY]
    line = _one_line_cli(capsys, DECOMPRESS, f"inputFiles={path}", f"outputFile={tmp_path / 'd.root'}")
    assert "nothing to decompress" in line and "bare.root" in line


def test_plain_digi_file_passes_through_decompression_unchanged(tmp_path, pixel_file_uproot, pixel_events):
    out = tmp_path / "d.root"
    run([DECOMPRESS, f"inputFiles={pixel_file_uproot}", f"outputFile={out}", "--no-progress"])
    t = uproot.open(out)["Events"].arrays()
    got = ak.zip({f: t[f"PixelDigi_{f}"] for f in ("detId", "row", "col", "adc")})
    assert ak.array_equal(got, pixel_events["PixelDigi"])


def test_decoded_values_out_of_range_are_refused_not_wrapped():
    from hepvq.codecs.guard import decode_checked, with_checksum
    from hepvq.pixel.codec import PixelVQCodec

    with uproot.open(SAMPLE) as f:
        a = f["Events"].arrays(entry_stop=1)
    hits = ak.zip({f: a[f"PixelDigi_{f}"] for f in ("detId", "row", "col", "adc")})[:, :2000]
    codec = PixelVQCodec.from_directory(REPO / "data" / "models" / "pixel_vq", adc_error_bound=0)
    products = codec.encode(hits).products
    corr = products["corrections"]
    counts = ak.num(corr)
    dadc = ak.to_numpy(ak.flatten(corr.dadc)).astype(np.int64)
    dadc[0] = -5000  # would decode to a negative ADC, i.e. ~60000 after a uint16 cast
    products["corrections"] = ak.unflatten(ak.zip({"dhit": ak.flatten(corr.dhit),
                                                   "dadc": dadc.astype(ak.to_numpy(ak.flatten(corr.dadc)).dtype)}),
                                           counts)
    with pytest.raises(DataError, match="adc|ADC"):
        decode_checked(codec, with_checksum(products), file="mem.root", label="pixelVQ")


@pytest.mark.parametrize("validate", ["True", "False"])
def test_pixel_vq_refuses_adc_zero_up_front(tmp_path, capsys, pixel_events, validate):
    from conftest import write_uproot

    ev = dict(pixel_events)
    hits = ev["PixelDigi"]
    flat = ak.to_numpy(ak.flatten(hits.adc)).copy()
    counts = ak.num(hits)
    flat[int(counts[0]) + 1] = 0  # entry 1
    ev["PixelDigi"] = ak.zip({"detId": hits.detId, "row": hits.row, "col": hits.col,
                              "adc": ak.unflatten(flat, counts)})
    src = write_uproot(tmp_path / "zero.root", ev)
    line = _one_line_cli(capsys, COMPRESS, f"inputFiles={src}", f"outputFile={tmp_path / 'c.root'}",
                         f"pixelVQ.validate={validate}", "options.chunkSize=1")
    assert "ADC 0" in line and "entry 1" in line, line
    cfg = tmp_path / "sparse_cfg.py"
    cfg.write_text(SPARSE_CFG)
    line = _one_line_cli(capsys, cfg, f"inputFiles={src}", f"outputFile={tmp_path / 's.root'}")
    assert "ADC 0" in line and "pixel_sparse" in line


def test_duplicate_pixel_names_the_job_entry(tmp_path, capsys):
    from conftest import write_uproot

    one = {"detId": 344201220, "row": 15, "col": 215, "adc": 40}
    rows = [[dict(one, col=c) for c in range(3)] for _ in range(5)]
    rows[3].append(dict(one, col=1, adc=7))  # entry 3: pixel (15, 1) twice
    ev = {"run": np.ones(5, np.uint32), "luminosityBlock": np.ones(5, np.uint32), "event": np.arange(5, dtype=np.uint64),
          "PixelDigi": ak.values_astype(ak.Array(rows), np.uint16)}
    ev["PixelDigi"] = ak.zip({"detId": ak.values_astype(ak.Array([[r["detId"] for r in e] for e in rows]), np.uint32),
                              "row": ev["PixelDigi"].row, "col": ev["PixelDigi"].col, "adc": ev["PixelDigi"].adc})
    src = write_uproot(tmp_path / "dup.root", ev)
    line = _one_line_cli(capsys, COMPRESS, f"inputFiles={src}", f"outputFile={tmp_path / 'c.root'}",
                         "options.chunkSize=1")
    assert "duplicate pixel DIGI at entry 3" in line and "row=15 col=1" in line, line


def test_encoder_report_names_the_adc_mode(vq):
    from hepvq.codecs.residual import mode_text

    rep = vq["report"]["reports"]["pixelVQ"]
    keys = list(rep)
    assert rep["ADC mode"] == "lossless (adcErrorBound=0)" and rep["max |ADC error|"] == 0
    assert keys.index("ADC mode") + 1 == keys.index("max |ADC error|")  # printed next to each other
    assert mode_text(0).startswith("lossless") and mode_text(3).startswith("bounded") and \
        mode_text(-1).startswith("lossy")


def test_tpc_lossless_keeps_hits_below_threshold_and_names_duplicates():
    from hepvq.tpc.amortised_rt import AmortisedRuntime
    from hepvq.tpc.codec import TpcInrCodec
    from hepvq.tpc.synthetic import events

    rt = AmortisedRuntime.load(encoder=REPO / "data/models/tpc_amortised_encoder.onnx",
                               decoder=REPO / "data/models/tpc_amortised_decoder.onnx")
    codec = TpcInrCodec(mode="hybrid", method="amortised", amortised=rt, adc_error_bound=0)
    hits = events(2, n_sectors=1, n_tracks=4).TpcHit
    counts = ak.num(hits)
    adc = ak.to_numpy(ak.flatten(hits.adc)).copy()
    adc[:20] = np.arange(20)  # below the 64 threshold, 0 included
    hits = ak.zip({f: hits[f] for f in ("sector", "layer", "phi", "z")} | {"adc": ak.unflatten(adc, counts)})
    dec = codec.decode(codec.encode(hits).products)

    def table(h):
        t = np.stack([ak.to_numpy(ak.flatten(h[f])).astype(np.int64) for f in ("sector", "layer", "phi", "z", "adc")],
                     1)
        return t[np.lexsort(t[:, :4].T[::-1])]

    assert np.array_equal(table(dec), table(hits))
    dup = ak.concatenate([hits[:1], ak.concatenate([hits[1:2], hits[1:2, :1]], axis=1)])
    with pytest.raises(DataError) as e:
        codec.encode(dup, first_entry=40)
    assert "entry 41" in str(e.value) and "phi=" in str(e.value) and "sector=" in str(e.value)


def test_copy_of_a_compressed_file_stays_decodable(vq, tmp_path):
    copy = tmp_path / "copy.root"
    run(["python_cfg/copy_cfg.py", f"inputFiles={vq['comp']}", f"outputFile={copy}", "--no-progress"])
    with hepvq.open(copy) as r:
        assert list(r.provenance["codecs"]) == ["pixelVQ"]
        assert ak.array_equal(r.arrays().PixelDigi, vq["decoded"].PixelDigi)
    dec = tmp_path / "dec.root"
    run([DECOMPRESS, f"inputFiles={copy}", f"outputFile={dec}", "--no-progress"])
    with hepvq.open(dec) as r:  # a decompressed file carries no codec and no model bytes
        assert r.provenance["codecs"] == {} and r.blobs == {}
        assert ak.array_equal(r.arrays().PixelDigi, vq["decoded"].PixelDigi)


def test_merging_files_of_different_models_is_refused_but_decodes(vq, tmp_path, capsys):
    lossy = tmp_path / "lossy.root"
    run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={lossy}", "maxEvents=1", "--no-progress"])
    capsys.readouterr()
    line = _one_line_cli(capsys, "python_cfg/copy_cfg.py", f"inputFiles={vq['comp']},{lossy}",
                         f"outputFile={tmp_path / 'merged.root'}")
    assert "pixelVQ" in line and "different models" in line and "lossy.root" in line, line
    assert not (tmp_path / "merged.root").exists()
    dec = tmp_path / "dec.root"  # decoding them in one job is fine: each file with its own model
    run([DECOMPRESS, f"inputFiles={vq['comp']},{lossy}", f"outputFile={dec}", "--no-progress"])
    assert uproot.open(dec)["Events"].num_entries == 4


def test_file_written_before_checksums_still_decodes(vq, tmp_path):
    def forget_crc(p):
        p = dict(p, products=[x for x in p["products"] if x["prefix"] != "pixelVQ_crc"])
        p["codecs"] = {k: dict(v, prefixes={i: x for i, x in v["prefixes"].items() if i != "crc"})
                       for k, v in p["codecs"].items()}
        return p

    old = rewrite(vq["comp"], tmp_path / "old.root", drop=["pixelVQ_crc"], provenance=forget_crc)
    assert "pixelVQ_crc" not in uproot.open(old)["Events"].keys()
    with hepvq.open(old) as r:
        assert ak.array_equal(r.arrays().PixelDigi, vq["decoded"].PixelDigi)


@pytest.mark.slow  # dask's import and scheduler start
def test_dask_refuses_a_damaged_file_and_reads_a_good_one(vq, tmp_path):
    pytest.importorskip("dask_awkward")

    def flip(blobs):
        b = bytearray(blobs["pixelVQ/settings"])
        b[10] ^= 0x01
        blobs["pixelVQ/settings"] = bytes(b)
        return blobs

    with pytest.raises(DataError, match="pixelVQ/settings"):
        hepvq.dask(rewrite(vq["comp"], tmp_path / "bad.root", blobs=flip))
    arr = hepvq.dask(vq["comp"], step_size=2).compute(scheduler="sync")
    assert ak.array_equal(arr.PixelDigi, vq["decoded"].PixelDigi)
