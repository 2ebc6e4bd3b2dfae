"""The peer and the TPC streams on the core's rANS coder (issue 14 items 4, 6): pixel_sparse format 2 and
tpc_inr format 2 through real ROOT files (hepvq-run jobs, uproot, and ROOT itself), format-1 files written in the
test still decode, damaged tables are refused in one line, empty events / one hit / extreme values round-trip."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from conftest import tpc_hit_table, write_uproot
from hepvq.baselines import sparse_streams as SS
from hepvq.baselines.sparse import dequantize, requantize
from hepvq.cli.run import run
from hepvq.errors import DataError, ModelError
from hepvq.io.metadata import read_metadata
from hepvq.pixel.codec import PixelSparseCodec
from hepvq.tpc import coords as coordcode
from hepvq.tpc.codec import TpcInrCodec
from test_safety_decode import rewrite

REPO = Path(__file__).resolve().parents[1]
PIXEL_SAMPLE = REPO / "data" / "pixel_pu200_sample.root"
TPC_SAMPLE = REPO / "data" / "tpc_sample.root"
DECOMPRESS = str(REPO / "python_cfg" / "decompress_cfg.py")
TPC_COMPRESS = str(REPO / "python_cfg" / "tpc_inr_compress_cfg.py")


def _ids(n):
    return {"run": np.ones(n, np.uint32), "luminosityBlock": np.ones(n, np.uint32),
            "event": np.arange(1, n + 1, dtype=np.uint64)}


def _pixel_table(hits):
    """(event, det, row, col, adc) int64 rows in canonical order."""
    counts = ak.to_numpy(ak.num(hits, axis=1))
    cols = [np.repeat(np.arange(len(counts)), counts)] + \
        [ak.to_numpy(ak.flatten(hits[f])).astype(np.int64) for f in ("detId", "row", "col", "adc")]
    t = np.stack(cols, 1)
    return t[np.lexsort(t[:, :4].T[::-1])]


def _expected_adc(adc, bits=4):
    return np.clip(np.rint(dequantize(requantize(adc, bits, 1, 255, "log"), bits, 1, 255, "log")), 1, 255)


def _random_cluster(det, n, seed=5):
    """One 8-connected cluster of n pixels (a random walk): a shape no book holds, coded as an escape."""
    rng = np.random.default_rng(seed)
    pix, (r, c) = {(50, 50)}, (50, 50)
    while len(pix) < n:
        r, c = r + int(rng.integers(-1, 2)), c + int(rng.integers(-1, 2))
        pix.add((r, c))
    rows, cols = np.array(sorted(pix)).T
    return {"detId": np.full(n, det, np.uint32), "row": rows.astype(np.uint16), "col": cols.astype(np.uint16),
            "adc": rng.integers(1, 256, n).astype(np.uint16)}


def test_escaped_shapes_round_trip():
    tables = SS.StreamTables.from_bytes(PixelSparseCodec.DEFAULT_TABLES.read_bytes())
    assert tables.layout == "clusters" and len(tables.book) > 100
    for seed in range(3):
        w = _random_cluster(303042564, 40 + 10 * seed, seed)
        syms, _ = SS._event_symbols(tables, w["detId"].astype(np.int64), w["col"].astype(np.int64),
                                    w["row"].astype(np.int64), np.zeros(w["row"].size, np.int64))
        assert syms["shape"][0].tolist() == [0]                    # escaped
        blob = SS.encode_event(w["detId"], w["col"], w["row"], requantize(w["adc"], 4, 1, 255, "log"), tables)
        det, col, row, code = SS.decode_event(blob, tables)
        o = np.lexsort((w["row"], w["col"]))
        np.testing.assert_array_equal(col, w["col"][o])
        np.testing.assert_array_equal(row, w["row"][o])
        np.testing.assert_array_equal(code, requantize(w["adc"], 4, 1, 255, "log")[o])


@pytest.fixture(scope="module")
def pixel_input(tmp_path_factory):
    """2 sample events, an empty event, a one-hit event, and an event of extremes: detIds outside the tables'
    module list (the largest uint32 among them), rows/cols far beyond the trained range, ADC 1 and 255."""
    with uproot.open(PIXEL_SAMPLE) as f:
        a = f["Events"].arrays(["PixelDigi_detId", "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"],
                               entry_stop=2)
    sample = ak.zip({k.split("_")[1]: a[k] for k in a.fields})
    known = int(sample.detId[0][0])
    extreme = {"detId": np.array([known, known, 4294967295, 4294967295, 7, 7], np.uint32),
               "row": np.array([0, 4095, 4095, 0, 159, 160], np.uint16),
               "col": np.array([4095, 0, 4095, 0, 415, 416], np.uint16),
               "adc": np.array([1, 255, 255, 1, 254, 2], np.uint16)}
    one = {"detId": np.array([known], np.uint32), "row": np.array([5], np.uint16), "col": np.array([7], np.uint16),
           "adc": np.array([100], np.uint16)}
    walk = _random_cluster(known, 60)
    small = ak.Array([{k: v.tolist() for k, v in ev.items()} for ev in
                      ({k: np.zeros(0, v.dtype) for k, v in one.items()}, one, extreme, walk)])
    small = ak.zip({k: ak.values_astype(small[k], one[k].dtype) for k in one})
    hits = ak.concatenate([sample, small])
    tmp = tmp_path_factory.mktemp("peer")
    src = write_uproot(tmp / "in.root", {**_ids(len(hits)), "PixelDigi": hits})
    return {"tmp": tmp, "src": src, "hits": hits}


def _sparse_job(src, out, fmt, tmp):
    cfg = tmp / f"sparse{fmt}_cfg.py"
    cfg.write_text(f"""
import hepvq.config as cms
process = cms.Process("SPARSE")
process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring({str(src)!r}))
process.sparse = cms.EDProducer("PixelDigiSparseEncoder", adcBits=cms.int32(4), format=cms.int32({fmt}))
process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string({str(out)!r}),
                               outputCommands=cms.untracked.vstring("drop *", "keep sparse*"))
process.p = cms.Path(process.sparse)
process.e = cms.EndPath(process.out)
""")
    run([str(cfg), "--no-progress"])
    return str(out)


@pytest.fixture(scope="module")
def pixel_files(pixel_input):
    tmp = pixel_input["tmp"]
    return {fmt: _sparse_job(pixel_input["src"], tmp / f"s{fmt}.root", fmt, tmp) for fmt in (1, 2)}


def test_pixel_sparse_format2_round_trip_through_root_files(pixel_input, pixel_files):
    want = _pixel_table(pixel_input["hits"])
    want[:, 4] = _expected_adc(want[:, 4])
    got = {}
    for fmt, path in pixel_files.items():
        with hepvq.open(path) as r:
            got[fmt] = _pixel_table(r.arrays().PixelDigi)
        np.testing.assert_array_equal(got[fmt], want)   # positions exact, ADC = the 4-bit log bin centre
    prov, blobs = read_metadata(pixel_files[2])
    settings = json.loads(blobs["sparse/settings"])
    assert settings["format"] == 2 and settings["tables_sha256"] == hashlib.sha256(blobs["sparse/tables"]).hexdigest()
    assert blobs["sparse/tables"] == PixelSparseCodec.DEFAULT_TABLES.read_bytes()
    # format 1 writes exactly the settings older hepvq wrote (so its files and ours read alike)
    assert set(json.loads(read_metadata(pixel_files[1])[1]["sparse/settings"])) == {"adc_bits", "adc_min", "adc_max",
                                                                                   "mode"}
    # the sample events cost fewer bytes in format 2 (the peer's coder, fitted tables) than in format 1
    sizes = {fmt: uproot.open(p)["Events"]["sparse_blob"].array(library="ak", entry_stop=2) for fmt, p in
             pixel_files.items()}
    assert int(ak.sum(ak.num(sizes[2]))) < 0.985 * int(ak.sum(ak.num(sizes[1])))
    # and hepvq's decompress job gives the same hits as hepvq.open
    dec = pixel_input["tmp"] / "d2.root"
    run([DECOMPRESS, f"inputFiles={pixel_files[2]}", f"outputFile={dec}", "--no-progress"])
    t = uproot.open(dec)["Events"].arrays(["PixelDigi_detId", "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"])
    np.testing.assert_array_equal(_pixel_table(ak.zip({k.split("_")[1]: t[k] for k in t.fields})), want)


def test_root_reads_the_format2_bytes_and_tables(pixel_input, pixel_files, root_module):
    """ROOT itself reads the blob branch and the tables blob; decoding ROOT's bytes gives the hits."""
    ROOT = root_module
    path = pixel_files[2]
    f = ROOT.TFile.Open(path)
    t = f.Get("Events")
    assert t.GetEntries() == len(pixel_input["hits"])
    blobs_tree = f.Get("hepvq_blobs")
    got = {}
    for i in range(blobs_tree.GetEntries()):
        blobs_tree.GetEntry(i)
        got[bytes(bytearray(blobs_tree.key)).decode()] = bytes(bytearray(blobs_tree.data))
    prov = json.loads(str(f.Get("hepvq_provenance").GetString()))
    assert hashlib.sha256(got["sparse/tables"]).hexdigest() == prov["blobs"]["sparse/tables"]["sha256"]
    tables = SS.StreamTables.from_bytes(got["sparse/tables"])
    t.GetEntry(0)
    blob = bytes(bytearray(t.sparse_blob))
    f.Close()
    det, col, row, code = SS.decode_event(blob, tables, offset=4)
    ev0 = pixel_input["hits"][0]
    o = np.lexsort((ak.to_numpy(ev0.row), ak.to_numpy(ev0.col), ak.to_numpy(ev0.detId)))
    np.testing.assert_array_equal(det, ak.to_numpy(ev0.detId)[o])
    np.testing.assert_array_equal(row, ak.to_numpy(ev0.row)[o])
    np.testing.assert_array_equal(code, requantize(ak.to_numpy(ev0.adc)[o], 4, 1, 255, "log"))


def test_damaged_tables_are_refused_in_one_line(pixel_files, tmp_path):
    def flip(data):
        b = bytearray(data)
        b[len(b) // 2] ^= 0xFF
        return bytes(b)

    bad = rewrite(pixel_files[2], tmp_path / "bad.root", blobs=lambda b: {**b, "sparse/tables": flip(b["sparse/tables"])})
    with pytest.raises(DataError) as err:
        hepvq.open(bad).arrays()
    msg = str(err.value)
    assert "\n" not in msg and "sparse/tables" in msg and "sha256" in msg
    # tables that do not match the codec's settings (provenance edited to match): the settings' own hash refuses
    _, blobs = read_metadata(pixel_files[2])
    own = {k.split("/", 1)[1]: v for k, v in blobs.items() if k.startswith("sparse/")}
    with pytest.raises(ModelError, match="does not match the sha256 in its settings") as err:
        PixelSparseCodec.from_metadata({**own, "tables": flip(own["tables"])})
    assert "\n" not in str(err.value)
    # bytes that are not tables at all
    with pytest.raises(ModelError, match="not a valid table blob") as err:
        SS.StreamTables.from_bytes(b"HVST\x01" + b"\x00" * 40, "tables x.rans")
    assert "\n" not in str(err.value) and "x.rans" in str(err.value)


def test_damaged_event_blob_is_refused(pixel_files):
    _, blobs = read_metadata(pixel_files[2])
    codec = PixelSparseCodec.from_metadata({k.split("/", 1)[1]: v for k, v in blobs.items()})
    arr = uproot.open(pixel_files[2])["Events"]["sparse_blob"].array(library="ak", entry_stop=1)
    raw = ak.to_numpy(arr[0]).astype(np.uint8)
    for cut in (raw[:-3], raw[:10], np.concatenate([raw, [0]]).astype(np.uint8)):
        with pytest.raises(DataError) as err:
            codec.decode({"": ak.unflatten(ak.zip({"blob": cut}), np.array([len(cut)]))})
        assert "\n" not in str(err.value)


def test_format2_tables_must_fit_the_codec_settings():
    with pytest.raises(ModelError, match="fit tables for this setting"):
        PixelSparseCodec(adc_bits=6, format=2)
    with pytest.raises(ModelError, match="does not exist"):
        PixelSparseCodec(format=2, tables="/nonexistent/tables.rans")
    with pytest.raises(ModelError, match="format 3"):
        PixelSparseCodec(format=3)


# --------------------------------------------------------------------------------------------------------------
# tpc_inr
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tpc_input(tmp_path_factory):
    """Sector 0 of a sample event, an empty event, one hit, and extremes (sector 23 / layer 15 outside the
    tables' planes, the last phi and z, ADC 0 and 1023)."""
    with uproot.open(TPC_SAMPLE) as f:
        a = f["Events"].arrays(["TpcHit_sector", "TpcHit_layer", "TpcHit_phi", "TpcHit_z", "TpcHit_adc"],
                               entry_stop=1)
    ev = ak.zip({k.split("_")[1]: a[k] for k in a.fields})[0]
    ev = ev[ev.sector == 0][:20000]
    dt = {f: np.asarray(ak.to_numpy(ev[f])).dtype for f in ev.fields}
    extreme = {"sector": [23, 23, 0, 5], "layer": [15, 15, 0, 3], "phi": [191, 191, 0, 100], "z": [248, 247, 0, 5],
               "adc": [1023, 0, 64, 700]}
    rows = [{f: ak.to_list(ev[f]) for f in ev.fields}, {f: [] for f in dt}, {f: [7] if f != "adc" else [300]
                                                                             for f in dt}, extreme]
    hits = ak.Array(rows)
    hits = ak.zip({f: ak.values_astype(hits[f], dt[f]) for f in dt})
    tmp = tmp_path_factory.mktemp("tpcpeer")
    src = write_uproot(tmp / "in.root", {**_ids(len(hits)), "TpcHit": hits})
    return {"tmp": tmp, "src": src, "hits": hits}


def test_tpc_inr_format2_lossless_through_a_job(tpc_input):
    comp = str(tpc_input["tmp"] / "c2.root")
    run([TPC_COMPRESS, f"inputFiles={tpc_input['src']}", f"outputFile={comp}", "tpcInr.adcErrorBound=0",
         "--no-progress"])
    _, blobs = read_metadata(comp)
    cfg = json.loads(blobs["tpcInr/config"])
    assert cfg["format"] == 2 and cfg["tables_sha256"] == hashlib.sha256(blobs["tpcInr/tables"]).hexdigest()
    with hepvq.open(comp) as r:
        got = r.arrays().TpcHit
    for a, b in zip(tpc_hit_table(tpc_input["hits"]), tpc_hit_table(got)):
        np.testing.assert_array_equal(a, b)   # bound 0: every hit and ADC exactly (ADC 0 and 1023 too)
    names = uproot.open(comp)["Events"].keys()
    assert "tpcInr_coords_byte" in names and "tpcInr_residuals_byte" in names


def test_tpc_inr_format1_files_still_decode(tpc_input, monkeypatch):
    """A job writing format 1 (the old coords/residual path) decodes with today's reader, bit for bit."""
    import hepvq.tpc.codec as tc

    class Format1(tc.TpcInrCodec):
        def __init__(self, **kw):
            super().__init__(**{**kw, "format": 1})

    monkeypatch.setattr(tc, "TpcInrCodec", Format1)
    comp = str(tpc_input["tmp"] / "c1.root")
    run([TPC_COMPRESS, f"inputFiles={tpc_input['src']}", f"outputFile={comp}", "tpcInr.adcErrorBound=2",
         "--no-progress"])
    monkeypatch.undo()
    _, blobs = read_metadata(comp)
    assert json.loads(blobs["tpcInr/config"])["format"] == 1 and "tpcInr/tables" not in blobs
    coords = uproot.open(comp)["Events"]["tpcInr_coords_byte"].array(library="ak")
    assert bytes(ak.to_numpy(coords[0]).astype(np.uint8))[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame: format 1
    with hepvq.open(comp) as r:
        got = r.arrays().TpcHit
    for a, b in zip(tpc_hit_table(tpc_input["hits"]), tpc_hit_table(got)):
        np.testing.assert_array_equal(a[:, :4], b[:, :4])
        assert len(a) == 0 or np.abs(a[:, 4] - b[:, 4]).max() <= 2


def test_tpc_streams_round_trip_and_refuse_damage():
    rng = np.random.default_rng(3)
    tables = coordcode.load_tables()
    for n in (0, 1, 2, 5000):
        s, l, p, z = (rng.integers(0, m, n) for m in (24, 16, 192, 249))
        k = np.unique(coordcode.keys(s, l, p, z))
        s, l, p, z = coordcode.unkey(k)
        n = k.size
        blob, order = coordcode.encode_rans(s, l, p, z, tables)
        got = coordcode.decode_rans(blob, tables)
        for x, y in zip(got, (s, l, p, z)):
            np.testing.assert_array_equal(x, y[order])
        from hepvq.codecs import residual
        q = rng.integers(-1023, 1024, n)
        q[: n // 2] = 0
        pk = coordcode.plane_keys(*got[:2])
        r = residual.pack_rans(q, pk, got[2], got[3], tables)
        np.testing.assert_array_equal(residual.unpack_rans(r, pk, got[2], got[3], tables), q)
        assert residual.unpack_rans(residual.pack_rans(np.zeros(n, np.int64), pk, got[2], got[3], tables), pk,
                                    got[2], got[3], tables).tolist() == [0] * n
        if n > 2:
            with pytest.raises(DataError):
                coordcode.decode_rans(blob[:-2], tables)
            with pytest.raises(DataError):
                residual.unpack_rans(r[:-2], pk, got[2], got[3], tables)
    with pytest.raises(ValueError, match="duplicate"):
        coordcode.encode_rans([1, 1], [2, 2], [3, 3], [4, 4], tables)
