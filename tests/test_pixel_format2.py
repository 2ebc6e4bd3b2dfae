"""pixel_vq format 2 (hepvq.pixel.format2): rANS streams per event in real ROOT files, decoded by hepvq.open and
decompress_cfg.py; format 1 still decodes; tables stored in the file and verified; operating points; indices();
the coder's edge cases (empty event, one hit, all escapes, unknown module); hepvq-train pixel-vq-tables."""
import hashlib
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from hepvq.cli.run import run
from hepvq.errors import DataError, ModelError, ParameterError
from hepvq.io.metadata import make_provenance, read_metadata, write_metadata
from hepvq.pixel import format2 as F
from hepvq.pixel import metrics as M
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec

REPO = Path(__file__).resolve().parents[1]
SAMPLE = str(REPO / "data" / "pixel_pu200_sample.root")
MODEL = str(REPO / "data" / "models" / "pixel_vq")
COMPRESS = str(REPO / "python_cfg" / "premix_compress_cfg.py")
DECOMPRESS = str(REPO / "python_cfg" / "decompress_cfg.py")
N_EVENTS = 2


def _job(out, *extra):
    return run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={out}", f"pixelVQ.model={MODEL}",
                f"maxEvents={N_EVENTS}", "--no-progress", *extra])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("f2")
    f1, f2, d2 = tmp / "f1.root", tmp / "f2.root", tmp / "d2.root"
    _job(f1, "pixelVQ.format=1")  # format 1 pinned: the main job's default becomes format 2
    rep = _job(f2, "pixelVQ.format=2", "pixelVQ.operatingPoint=fine", "pixelVQ.debugIndices=True")
    run([DECOMPRESS, f"inputFiles={f2}", f"outputFile={d2}", "--no-progress"])
    src = uproot.open(SAMPLE)["Events"].arrays(entry_stop=N_EVENTS)
    hits = ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})
    return {"tmp": tmp, "f1": str(f1), "f2": str(f2), "d2": str(d2), "hits": hits, "report": rep}


def _codec(path):
    return hepvq.open(path).codecs["pixelVQ"][0]


def test_file_layout_is_byte_streams(files):
    t = uproot.open(files["f2"])["Events"]
    names = set(t.keys())
    for s in F.stream_names(1):
        assert f"pixelVQ_s_{s}" in names
        assert t[f"pixelVQ_s_{s}"].interpretation.content.to_dtype == np.dtype("uint8")
    assert {"pixelVQ_nmod", "pixelVQ_ncl", "pixelVQ_npatch", "pixelVQ_crc"} <= names
    assert "pixelVQ_shape" not in names  # no format-1 index branches
    c = _codec(files["f2"])
    assert isinstance(c, F.PixelVQFormat2) and c.op_name == "fine" and c.settings["version"] == 2
    assert "format 2" in repr(files["report"]) or "'format': 2" in repr(files["report"])


def test_round_trip_positions_exact_and_fidelity(files):
    got = hepvq.open(files["f2"]).arrays().PixelDigi
    ref = files["hits"]
    for f in ("detId", "row", "col"):  # the sample is in canonical order already
        assert ak.to_list(got[f]) == ak.to_list(ref[f])
    m = M.compare(P.flatten(ref), P.flatten(got), 160, 416)
    assert m["recall"] == 1 and m["precision"] == 1
    assert m["charge_rms_rel"] < 0.035 and m["centroid_rms_px"] < 0.06  # operating point 'fine'


def test_decompress_cfg_equals_hepvq_open_also_in_root(files):
    ROOT = pytest.importorskip("ROOT")
    a = hepvq.open(files["f2"]).arrays().PixelDigi
    d = uproot.open(files["d2"])["Events"].arrays(library="ak")
    for f in P.FIELDS:
        assert ak.to_list(d[f"PixelDigi_{f}"]) == ak.to_list(a[f])
    rf = ROOT.TFile.Open(files["d2"])
    t = rf.Get("Events")
    assert t.GetEntries() == N_EVENTS
    t.GetEntry(1)
    assert int(t.nPixelDigi) == len(a[1]) and sum(int(x) for x in t.PixelDigi_adc) == int(ak.sum(a[1].adc))
    rf.Close()
    rf = ROOT.TFile.Open(files["f2"])  # the compressed file's byte branches read in ROOT
    t = rf.Get("Events")
    t.GetEntry(0)
    blob = uproot.open(files["f2"])["Events"]["pixelVQ_s_code0"].array(entry_stop=1)[0]
    assert int(t.npixelVQ_s_code0) == len(blob) and bytes(bytearray(t.pixelVQ_s_code0)[:len(blob)]) == \
        bytes(np.asarray(blob, np.uint8))
    rf.Close()


def _hits_from_indices(codec, ind):
    """Decode per-patch symbols (indices()) with the codec's own reconstruction: the symbols say everything."""
    counts = ak.to_numpy(ak.num(ind))
    flat = {k: ak.to_numpy(ak.flatten(ind[k])).astype(np.int64) for k in ak.fields(ind) if k != "mask"}
    mask = ak.to_numpy(ak.flatten(ind["mask"])).astype(np.uint64)
    multi = flat["code"] >= 0
    h = codec._reconstruct(len(counts), np.repeat(np.arange(len(counts)), counts), flat["detId"], flat["row"],
                           flat["col"], mask, flat["charge"], flat["code"][multi][:, None], multi)
    return h.to_awkward()


def test_format1_and_format2_both_decode_and_indices(files):
    for key in ("f1", "f2"):
        r = hepvq.open(files[key])
        ind = r.indices()
        assert {"detId", "row", "col", "shape", "mask", "charge", "code"} <= set(ak.fields(ind))
        back = _hits_from_indices(_codec(files[key]), ind)
        got = r.arrays().PixelDigi
        for f in P.FIELDS:
            assert ak.to_list(back[f]) == ak.to_list(got[f])
    i1, i2 = hepvq.open(files["f1"]).indices(), hepvq.open(files["f2"]).indices()
    for f in ("detId", "row", "col", "mask", "charge"):  # 'fine' keeps the model's charge grid
        assert ak.to_list(i1[f]) == ak.to_list(i2[f])
    # format 2's tables extend the model's 255 shapes (format2.EXTRA_SHAPES): format 1's escapes (255) are extra
    # shapes or format 2's escape there, every table shape the same
    s1, s2 = ak.to_numpy(ak.flatten(i1.shape)), ak.to_numpy(ak.flatten(i2.shape))
    esc1 = s1 == 255
    assert np.array_equal(s1[~esc1], s2[~esc1]) and (s2[esc1] >= 255).all()
    assert 0 < (s2[esc1] < s2.max(initial=0)).sum() and (s2[esc1] > 255).any()
    assert ak.to_list(i1.code >= 0) == ak.to_list(i2.code >= 0)
    same = ak.mean(i1.code[i1.code >= 0] == i2.code[i2.code >= 0])
    # the rate-aware choice changes codes (at 'fine', lambda 0.1 and top 32 since issue 14's scan: about half),
    # not all
    assert 0.3 < same < 1.0


def test_debug_products_and_root_macro(files):
    ROOT = pytest.importorskip("ROOT")
    t = uproot.open(files["f2"])["Events"]
    ind = hepvq.open(files["f2"]).indices()
    assert ak.to_list(t["pixelVQ_debugcodes_code"].array()) == ak.to_list(ind.code[ind.code >= 0])
    png = files["tmp"] / "usage.png"
    macro = REPO / "examples" / "root" / "read_compressed.C"
    ROOT.gROOT.ProcessLine(f'.x {macro}("{files["f2"]}", "pixelVQ_debugcodes_code", "{png}")')
    assert png.is_file() and png.stat().st_size > 1000


def test_tables_stored_in_file_and_model(files):
    prov, blobs = read_metadata(files["f2"])
    tables = Path(MODEL, "format2_fine.tables").read_bytes()
    assert blobs["pixelVQ/tables"] == tables
    assert prov["blobs"]["pixelVQ/tables"]["sha256"] == hashlib.sha256(tables).hexdigest()
    assert F.Tables.from_bytes(tables).header["operating_point"] == "fine"


def _rewrite(src, dst, blobs, provenance):
    """Copy the Events tree of src into dst with other metadata (what an edited or damaged file looks like)."""
    t = uproot.open(src)["Events"]
    counters = {b.count_branch.name for b in t.branches if getattr(b, "count_branch", None) is not None}
    arrays = t.arrays([n for n in t.keys() if n not in counters], how=dict)
    with uproot.recreate(dst) as f:
        f.mktree("Events", {k: a.type.content for k, a in arrays.items()})
        f["Events"].extend(arrays)
        write_metadata(f, provenance, "", blobs)


def test_corrupted_tables_blob_is_refused_in_one_line(files, tmp_path):
    prov, blobs = read_metadata(files["f2"])
    bad = dict(blobs)
    raw = bytearray(bad["pixelVQ/tables"])
    raw[len(raw) // 2] ^= 0x5A
    bad["pixelVQ/tables"] = bytes(raw)
    _rewrite(files["f2"], tmp_path / "a.root", bad, prov)  # the provenance still has the original sha256
    with pytest.raises(DataError, match=r"blob 'pixelVQ/tables' does not match the sha256") as e:
        hepvq.open(tmp_path / "a.root")
    assert "\n" not in str(e.value)
    prov2 = make_provenance(products=prov["products"], codecs=prov["codecs"], blobs=bad)  # re-hashed
    _rewrite(files["f2"], tmp_path / "b.root", bad, prov2)
    with pytest.raises(ModelError, match="tables do not match the sha256 in the settings") as e:
        hepvq.open(tmp_path / "b.root")
    assert "\n" not in str(e.value)


def test_operating_point_validation(files, tmp_path):
    out = tmp_path / "x.root"
    with pytest.raises(ParameterError, match="operatingPoint"):
        _job(out, "pixelVQ.format=2", "pixelVQ.operatingPoint=bogus")
    with pytest.raises(ParameterError, match="format"):
        _job(out, "pixelVQ.format=3")
    with pytest.raises(ParameterError, match="adcErrorBound >= 0 needs losslessPositions"):
        _job(out, "pixelVQ.format=2", "pixelVQ.adcErrorBound=0", "pixelVQ.losslessPositions=False")
    assert not out.exists()
    with pytest.raises(ModelError, match="unknown operating point 'x'.*fine"):
        F.operating_point("x")
    bare = tmp_path / "model"
    bare.mkdir()
    for n in ("codec.json", "encoder.onnx", "decoder.onnx"):
        shutil.copy(Path(MODEL, n), bare / n)
    with pytest.raises(ModelError, match="hepvq-train pixel-vq-tables"):
        F.PixelVQFormat2.from_directory(bare, operating_point="fine")
    with pytest.raises(ModelError, match="tables were fitted for operating point .fine."):
        F.PixelVQFormat2.from_directory(MODEL, operating_point="default",
                                        tables=Path(MODEL, "format2_fine.tables").read_bytes())


def test_operating_point_code_choice_keys():
    """'fine' sets its own code choice (rate_topk, rate_lambda; issue 14 scan): in its tables' header, the
    settings blob and the search; tables fitted with another code choice are refused in one line."""
    c = F.PixelVQFormat2.from_directory(MODEL, operating_point="fine")
    op = F.OPERATING_POINTS["fine"]
    assert {k: c.settings["format2"][k] for k in F.RATE_KEYS} == {k: op[k] for k in F.RATE_KEYS}
    assert {k: c.tab.header[k] for k in F.RATE_KEYS} == {k: op[k] for k in F.RATE_KEYS}
    search = c._rate_search()
    assert (search.k, search.lam) == (op["rate_topk"], op["rate_lambda"])
    assert "rate_topk" not in F.PixelVQFormat2.from_directory(MODEL, operating_point="default").settings["format2"]
    t = F.Tables.from_bytes(Path(MODEL, "format2_fine.tables").read_bytes())
    t.header["rate_topk"] = 16
    with pytest.raises(ModelError, match="rate_topk 16\\), not 'fine'") as e:
        F.PixelVQFormat2.from_directory(MODEL, operating_point="fine", tables=t.to_bytes())
    assert "\n" not in str(e.value)


def _edge_hits(codec):
    """Event 0 empty; event 1 one hit; event 2 only rare shapes (checkerboards, escapes); event 3 a module the
    tables never saw, next to a known one."""
    known = int(F.Tables.from_bytes(Path(MODEL, "format2_fine.tables").read_bytes()).known_dets[3])
    ev = [[], [(known, 17, 40, 77)]]
    rare = []
    for k, det in enumerate(F.Tables.from_bytes(Path(MODEL, "format2_fine.tables").read_bytes()).known_dets[:6]):
        for r in range(4):
            for c in range(8):
                if (r + c) % 2 == 0:
                    rare.append((int(det), 20 + r, 100 + c + 11 * k, 30 + 7 * r + c))
    ev.append(rare)
    ev.append([(7, 3, 5, 90), (7, 3, 6, 40), (known, 150, 400, 200)])
    recs = [[{"detId": d, "row": r, "col": c, "adc": a} for d, r, c, a in sorted(e)] for e in ev]
    arr = ak.Array(recs)
    return ak.zip({"detId": ak.values_astype(arr.detId, np.uint32), "row": ak.values_astype(arr.row, np.uint16),
                   "col": ak.values_astype(arr.col, np.uint16), "adc": ak.values_astype(arr.adc, np.uint16)})


def test_edge_events_empty_one_hit_all_escapes_unknown_module():
    codec = F.PixelVQFormat2.from_directory(MODEL, operating_point="fine")
    hits = _edge_hits(codec)
    products = codec.encode(hits).products
    p = P.extract(P.flatten(hits[2:3]), 4, 8)[0]
    assert (codec.shape_index(p.mask)[0] == codec.escape).all()  # event 2: every patch escapes
    assert ak.to_list(ak.num(products["fardet"])) == [0, 0, 0, 1]
    assert ak.to_list(products[""].npatch)[:2] == [0, 1]
    dec = codec.decode(products)
    assert ak.to_list(ak.num(dec)) == ak.to_list(ak.num(hits))
    for f in ("detId", "row", "col"):
        assert ak.to_list(dec[f]) == ak.to_list(hits[f])
    lv = codec.levels
    assert int(dec[1].adc[0]) == int(lv[np.argmin(np.abs(np.log(lv) - np.log(77)))])  # one hit: its charge level
    back = F.PixelVQFormat2.from_metadata(codec.metadata()).decode(products)
    assert ak.to_list(back) == ak.to_list(dec)


def test_damaged_stream_is_refused():
    codec = F.PixelVQFormat2.from_directory(MODEL, operating_point="fine")
    src = uproot.open(SAMPLE)["Events"].arrays(entry_stop=1)
    products = codec.encode(ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})).products
    blob = ak.to_numpy(ak.flatten(products["s_shape"])).copy()
    blob[len(blob) // 3] ^= 0x10
    products["s_shape"] = ak.unflatten(blob, ak.num(products["s_shape"]))
    with pytest.raises(DataError, match="stream 'shape'"):
        codec.decode(products)


def test_rate_aware_choice_saves_code_bits():
    codec = F.PixelVQFormat2.from_directory(MODEL, operating_point="fine")
    src = uproot.open(SAMPLE)["Events"].arrays(entry_start=9, entry_stop=10)
    hits = ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})
    figs = {}
    for mu in (0.0, codec.mu):
        codec.mu = mu
        products, report = codec.encode(hits, validate=True)
        m = report["fidelity"]
        figs[mu] = (len(ak.flatten(products["s_code0"])), m["centroid_rms_px"])
    (b0, c0), (b1, c1) = figs[0.0], figs[codec.mu]
    assert b1 < 0.85 * b0 and c1 < 1.05 * c0  # fewer bits, about the same centroid (issue 14's study)


def test_fit_tables_command(tmp_path):
    from hepvq.pixel.train import main_tables

    model = tmp_path / "m"
    model.mkdir()
    for n in ("codec.json", "encoder.onnx", "decoder.onnx"):
        shutil.copy(Path(MODEL, n), model / n)
    with pytest.raises(SystemExit):
        main_tables(["--model", str(model), "--input", SAMPLE, "--points", "bogus"])
    assert main_tables(["--model", str(model), "--input", SAMPLE, "--max-events", "2", "--points", "coarse",
                        "--iterations", "1", "-q"]) == 0
    codec = F.PixelVQFormat2.from_directory(model, operating_point="coarse")
    assert codec.tab.header["trained_on"]["events"] == 2
    src = uproot.open(SAMPLE)["Events"].arrays(entry_start=5, entry_stop=6)
    hits = ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})
    dec = codec.decode(codec.encode(hits).products)
    assert ak.to_list(dec.col) == ak.to_list(hits.col)
    assert isinstance(PixelVQCodec.from_metadata(codec.metadata()), F.PixelVQFormat2)


def test_extra_shapes_leave_the_hits_and_cut_the_escapes(tmp_path):
    """The tables' extra shapes (the format2.EXTRA_SHAPES most frequent escapes of the fitting events) change only how
    shapes are coded: the same decoded hits as tables fitted without them, fewer bytes, and the settings a file
    carries hold the whole shape table, so a reader needs nothing else."""
    from hepvq.pixel.train import main_tables

    model = tmp_path / "m"
    model.mkdir()
    for n in ("codec.json", "encoder.onnx", "decoder.onnx"):
        shutil.copy(Path(MODEL, n), model / n)
    assert main_tables(["--model", str(model), "--input", SAMPLE, "--points", "default", "--extra-shapes", "0",
                        "-q"]) == 0
    plain = F.PixelVQFormat2.from_directory(model, operating_point="default")
    extended = F.PixelVQFormat2.from_directory(MODEL, operating_point="default")
    extra = extended.tab.header["extra_shapes"]
    assert "extra_shapes" not in plain.tab.header and len(extra) == F.EXTRA_SHAPES
    assert len(extended.shapes) == len(plain.shapes) + len(extra) == extended.tab.header["n_shapes"]
    assert not set(extra) & set(int(v) for v in plain.shapes)
    src = uproot.open(SAMPLE)["Events"].arrays(entry_start=3, entry_stop=6)
    hits = ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})
    p_plain, p_ext = plain.encode(hits).products, extended.encode(hits).products
    assert F.products_bytes(p_ext) < 0.99 * F.products_bytes(p_plain)
    dec = extended.decode(p_ext)
    assert ak.to_list(dec) == ak.to_list(plain.decode(p_plain))
    back = PixelVQCodec.from_metadata(extended.metadata())
    assert len(back.shapes) == len(extended.shapes)
    assert ak.to_list(back.decode(p_ext)) == ak.to_list(dec)


def test_core_decode_equals_python_decode_on_the_same_bytes():
    """C++ (core/src/pixel_vq_f2.cpp) and Python (decode_symbols + _reconstruct) decode the same bytes to the same
    hits: sample events and the edge events (empty, one hit, all escapes, unknown module)."""
    codec = F.PixelVQFormat2.from_directory(MODEL, operating_point="fine")
    assert codec.core_model.has_codebooks  # the run path is the core's
    src = uproot.open(SAMPLE)["Events"].arrays(entry_start=2, entry_stop=4)
    for hits in (ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS}), _edge_hits(codec)):
        products = codec.encode(hits).products
        a, b = F.decode_core(codec, products), codec.decode_reference(products)
        for f in P.FIELDS:
            assert ak.to_list(a[f]) == ak.to_list(b[f])
    bad = dict(products)
    blob = ak.to_numpy(ak.flatten(products["s_charge"])).copy()
    blob[-3] ^= 0x01
    bad["s_charge"] = ak.unflatten(blob, ak.num(products["s_charge"]))
    for decode in (lambda p: F.decode_core(codec, p), codec.decode_reference):
        with pytest.raises(DataError, match="stream 'charge'"):
            decode(bad)


@pytest.mark.parametrize("bound", [0, 2])
def test_adc_error_bound_round_trip_uproot_root_and_core_parity(files, bound):
    """adcErrorBound in format 2: format 1's "corrections" product beside the streams; every decoded ADC within the
    bound (0: lossless) by hepvq.open, by decompress_cfg.py read back in ROOT, and by the numpy oracle."""
    ROOT = pytest.importorskip("ROOT")
    f, d = files["tmp"] / f"b{bound}.root", files["tmp"] / f"b{bound}_dec.root"
    rep = _job(f, "pixelVQ.format=2", "pixelVQ.operatingPoint=fine", f"pixelVQ.adcErrorBound={bound}")
    assert "pixelVQ_corrections_dadc" in uproot.open(f)["Events"].keys()
    assert f"adcErrorBound={bound}" in repr(rep)
    ref = files["hits"]
    got = hepvq.open(f).arrays().PixelDigi
    for k in ("detId", "row", "col"):
        assert ak.to_list(got[k]) == ak.to_list(ref[k])
    err = np.abs(ak.to_numpy(ak.flatten(got.adc)).astype(int) - ak.to_numpy(ak.flatten(ref.adc)).astype(int))
    assert err.max() <= bound and (bound == 0 or err.max() == bound)
    run([DECOMPRESS, f"inputFiles={f}", f"outputFile={d}", "--no-progress"])
    rf = ROOT.TFile.Open(str(d))
    t = rf.Get("Events")
    for e in range(N_EVENTS):
        t.GetEntry(e)
        assert [int(a) for a in t.PixelDigi_adc] == ak.to_list(got[e].adc)
    rf.Close()
    codec = _codec(f)
    assert codec.adc_error_bound == bound
    t = uproot.open(f)["Events"]
    products = {"": t.arrays(["pixelVQ_nmod", "pixelVQ_ncl", "pixelVQ_npatch"], how=dict)}
    products[""] = ak.zip({k.split("_")[-1]: v for k, v in products[""].items()})
    for inst in [f"s_{n}" for n in F.stream_names(codec.stages)] + ["fardet"]:
        products[inst] = t[f"pixelVQ_{inst}"].array()
    products["corrections"] = ak.zip({k: t[f"pixelVQ_corrections_{k}"].array() for k in ("dhit", "dadc")})
    a, b = F.decode_core(codec, products), codec.decode_reference(products)
    for k in P.FIELDS:
        assert ak.to_list(a[k]) == ak.to_list(b[k]) == ak.to_list(got[k])
    # error paths: the corrections missing, or pointing beyond the event's hits
    with pytest.raises(DataError, match="product instance 'corrections' is missing"):
        codec.decode({k: v for k, v in products.items() if k != "corrections"})
    c = products["corrections"]
    dhit = ak.to_numpy(ak.flatten(c.dhit)).copy()
    dhit[-1] += 10 ** 6
    bad = dict(products, corrections=ak.zip({"dhit": ak.unflatten(dhit, ak.num(c.dhit)), "dadc": c.dadc}))
    for decode in (lambda p: F.decode_core(codec, p), codec.decode_reference):
        with pytest.raises(DataError, match="correction"):
            decode(bad)


def test_core_rate_search_equals_numpy_oracle():
    """The rate-aware code choice in the core (VQSearch.search_rate; ambiguous rows by numpy) gives the numpy
    search's codes bit for bit, also when many rows are forced through the ambiguous path."""
    import hepvq_core

    src = uproot.open(SAMPLE)["Events"].arrays(entry_start=3, entry_stop=4)
    hits = ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})
    for point in ("fine", "coarse"):
        codec = F.PixelVQFormat2.from_directory(MODEL, operating_point=point)
        _h, p = codec.patches(hits)
        shape, mask = codec.shape_index(p.mask)
        _total, nhit, x = hepvq_core.patch_fractions(mask, p.adc)
        multi = np.asarray(nhit) >= 2
        charge = F.quantise_charge(_total, codec.levels)
        ctx = codec.ctx.code(shape[multi], np.asarray(nhit)[multi].astype(np.int64), charge[multi])
        ref = codec._run_encoder_rate(x, mask[multi], ctx, reference=True)
        assert np.array_equal(codec._run_encoder_rate(x, mask[multi], ctx), ref)
        core = codec._rate_search()._core
        plain, _ = core.search(np.ascontiguousarray(x, np.float32), mask[multi].astype(np.uint64), 1)
        assert (plain != ref[:, 0]).mean() > 0.05  # the rate term changes codes
        core.tol = 1e-3  # many near-ties: those rows go to numpy
        try:
            _idx, amb = core.search_rate(np.ascontiguousarray(x, np.float32), mask[multi].astype(np.uint64), ctx, 1)
            assert amb.mean() > 0.01
            assert np.array_equal(codec._run_encoder_rate(x, mask[multi], ctx), ref)
        finally:
            core.tol = 1e-9
    with pytest.raises(ValueError, match="context .* outside"):
        core.search_rate(np.ascontiguousarray(x[:1], np.float32), mask[multi][:1].astype(np.uint64),
                         np.array([10 ** 6]), 1)


def test_lossy_positions_decode_the_hits_format_1_keeps():
    """losslessPositions=False in format 2: rare shapes snap to table shapes before the streams (hits dropped, never
    added); its table (the model's + the tables' extra shapes) snaps fewer patches, and to larger shapes, so it keeps
    more hits than format 1's lossy mode; core and numpy agree."""
    src = uproot.open(SAMPLE)["Events"].arrays(entry_start=6, entry_stop=7)
    hits = ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})
    c1 = PixelVQCodec.from_directory(MODEL, lossless_positions=False)
    c2 = F.PixelVQFormat2.from_directory(MODEL, operating_point="fine", lossless_positions=False)
    products, report = c2.encode(hits, validate=True)
    m = report["fidelity"]
    assert m["precision"] == 1 and 0.8 < m["recall"] < 1
    d1, d2 = c1.decode(c1.encode(hits).products), c2.decode(products)

    def places(d):
        return set(zip(*(ak.to_list(ak.flatten(d[f])) for f in ("detId", "row", "col"))))

    kept1, kept2 = places(d1), places(d2)
    assert len(kept1) < len(kept2) and kept2 <= places(hits)
    back = F.PixelVQFormat2.from_metadata(c2.metadata())
    assert not back.lossless_positions
    assert ak.to_list(back.decode_reference(products)) == ak.to_list(d2)


def test_extra_shapes_that_repeat_or_leave_the_patch_are_refused(tmp_path):
    """A tables header whose extra shapes repeat a table shape, or hold an empty mask or one beyond the 4x8 patch,
    is refused in one line naming the model: a shape code must name one mask."""
    codec = F.PixelVQFormat2.from_directory(MODEL, operating_point="default")
    model_shapes = [int(v) for v in codec.shapes[:255]]
    for bad, why in ((model_shapes[3], "twice"), (0, "empty mask"), (1 << 32, "beyond the 4x8 patch")):
        head = dict(codec.tab.header, extra_shapes=list(codec.tab.header["extra_shapes"][:-1]) + [bad])
        tables = F.Tables(head, codec.tab.tables).to_bytes()
        with pytest.raises(ModelError, match=why):
            F.PixelVQFormat2.from_directory(MODEL, operating_point="default", tables=tables)
