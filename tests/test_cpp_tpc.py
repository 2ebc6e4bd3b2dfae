"""Issues 13 and 15: tpc_inr files decoded from C++, the non-network part through the compiled core.

* The core's encode of the coordinate and residual streams gives numpy's bytes (coords.encode_rans,
  residual.pack_rans vs their numpy references).
* The core's decode of the coordinate and residual streams (core/src/sparse_streams.cpp: hepvq.tpc.coords.
  decode_rans, hepvq.codecs.residual.unpack_rans) equals the numpy oracle (*_reference) bit for bit on the
  streams of real files (shipped sample, freshly generated events; with and without adcErrorBound), and damaged
  streams are refused by both (DataError) or decode identically.
* `hepvq_decode` of a tpc_inr file (amortised, hybrid, format 2) == `hepvq.open` exactly: event ids, order, every
  hit's sector/layer/phi/z/adc; adcErrorBound none, 2 and 0 (lossless: the input back).
* A tampered file (tables edited with the provenance hash updated; a damaged coords stream with its checksum
  recomputed) is refused by C++ as by Python: one line, exit 1, nothing left behind.
Small inputs (one sector of the sample's first event cut to 4 layers, 2 generated events of 2 sectors, an empty
event), compressed in-process: the whole module takes seconds after the session's cpp/build."""
import hashlib

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from conftest import write_uproot
from hepvq.cli.run import run
from hepvq.codecs import residual
from hepvq.errors import DataError
from hepvq.io.reading import codecs_from_file
from hepvq.tpc import coords as coordcode
from test_cpp_format2 import _checksums_of, _tables_tampered_hash_kept
from test_cpp_reader import REPO, _rewrite, assert_refused_by_both, cpp_decode, tools  # noqa: F401

TPC_CFG = str(REPO / "python_cfg" / "tpc_inr_compress_cfg.py")
TPC_SAMPLE = REPO / "data" / "tpc_sample.root"
FIELDS = ("sector", "layer", "phi", "z", "adc")


def _hits(path, **kw):
    a = uproot.open(path)["Events"].arrays([f"TpcHit_{f}" for f in FIELDS], **kw)
    return ak.zip({f: a[f"TpcHit_{f}"] for f in FIELDS})


@pytest.fixture(scope="module")
def tpc_input(tmp_path_factory):
    """4 events: sample event 0 (sector 1, layers 0-3), 2 generated events (sectors 0 and 5, few tracks), none."""
    from hepvq.tpc import synthetic

    d = tmp_path_factory.mktemp("cpp_tpc")
    h = _hits(TPC_SAMPLE, entry_stop=1)[0]
    h = h[(h.sector == 1) & (h.layer < 4)]
    gen = synthetic.events(2, seed=77, n_sectors=2, n_tracks=6).TpcHit
    gen = ak.with_field(gen, gen.sector * 5, "sector")  # sectors 0 and 5
    cols = [{f: ak.to_numpy(ev[f]).astype(np.uint16) for f in FIELDS} for ev in [h, gen[0], gen[1]]]
    cols.append({f: np.zeros(0, np.uint16) for f in FIELDS})
    counts = np.array([len(c["adc"]) for c in cols])
    flat = ak.zip({f: np.concatenate([c[f] for c in cols]) for f in FIELDS})
    events = {"run": np.full(4, 3, np.uint32), "luminosityBlock": np.full(4, 9, np.uint32),
              "event": np.array([11, 12, 13, 14], np.uint64), "TpcHit": ak.unflatten(flat, counts)}
    return write_uproot(d / "tpc_in.root", events), d


@pytest.fixture(scope="module")
def files(tpc_input):
    src, d = tpc_input
    out = {}
    for name, bound in (("none", -1), ("b2", 2), ("b0", 0)):
        out[name] = d / f"tpc_{name}.root"
        run([TPC_CFG, f"inputFiles={src}", f"outputFile={out[name]}", f"tpcInr.adcErrorBound={bound}", "--no-progress"])
    return out


def _stream_bytes(path, codec_label="tpcInr"):
    t = uproot.open(path)["Events"]
    return {k: [bytes(np.asarray(x, np.uint8)) for x in t[f"{codec_label}_{k}_byte"].array(library="np")]
            for k in ("coords", "residuals") if f"{codec_label}_{k}_byte" in t}


def _codec(path):
    (codec, _, _), = codecs_from_file(path).values()
    return codec


# ---- core vs numpy ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["none", "b2", "b0"])
def test_core_streams_equal_numpy(files, name):
    codec = _codec(files[name])
    streams = _stream_bytes(files[name])
    assert codec.tables is not None and ("residuals" in streams) == (name != "none")
    total = 0
    for e, blob in enumerate(streams["coords"]):
        got = coordcode.decode_rans(blob, codec.tables, codec.shape)
        ref = coordcode.decode_rans_reference(blob, codec.tables, codec.shape)
        for g, r in zip(got, ref):
            assert g.dtype == r.dtype == np.int64
            np.testing.assert_array_equal(g, r)
        total += len(got[0])
        if "residuals" in streams:
            pk = coordcode.plane_keys(got[0], got[1], codec.shape)
            q = residual.unpack_rans(streams["residuals"][e], pk, got[2], got[3], codec.tables)
            q_ref = residual.unpack_rans_reference(streams["residuals"][e], pk, got[2], got[3], codec.tables)
            assert q.dtype == q_ref.dtype == np.int64
            np.testing.assert_array_equal(q, q_ref)
            if len(q) and name == "b2":
                assert np.abs(q).max() > 0  # real residuals, not the all-zero shortcut
    assert total > 5000


def _outcome(fn):
    try:
        return tuple(np.asarray(x).tolist() for x in fn())
    except DataError:
        return ("DataError",)
    except ValueError as err:  # numpy oracle: a corrupt varint can overflow int64 (not a DataError there)
        return ("ValueError", type(err).__name__)


def test_core_damaged_streams_as_numpy(files):
    """Every single-byte change of a small event's coordinate and residual streams: the core and numpy both refuse
    it (DataError) or both decode the same hits."""
    codec = _codec(files["b2"])
    streams = _stream_bytes(files["b2"])
    e = 2  # a generated event: a few hundred hits
    coords, res = streams["coords"][e], streams["residuals"][e]
    s, l, p, z = coordcode.decode_rans(coords, codec.tables, codec.shape)
    pk = coordcode.plane_keys(s, l, codec.shape)
    assert 50 < len(s) < 5000
    rng = np.random.default_rng(5)
    refused = 0
    for blob, kind in ((coords, "coords"), (res, "residuals")):
        for i in rng.choice(len(blob), min(len(blob), 40), replace=False):
            bad = bytearray(blob)
            bad[i] ^= 1 << int(rng.integers(8))
            bad = bytes(bad)
            if kind == "coords":
                got = _outcome(lambda: coordcode.decode_rans(bad, codec.tables, codec.shape))
                ref = _outcome(lambda: coordcode.decode_rans_reference(bad, codec.tables, codec.shape))
            else:
                got = _outcome(lambda: (residual.unpack_rans(bad, pk, p, z, codec.tables),))
                ref = _outcome(lambda: (residual.unpack_rans_reference(bad, pk, p, z, codec.tables),))
            if ref[0] == "ValueError":
                assert got == ("DataError",)
            else:
                assert got == ref, (kind, i)
            refused += got == ("DataError",)
        for cut in (1, len(blob) // 2):  # truncated
            if kind == "coords":
                assert _outcome(lambda: coordcode.decode_rans(blob[:-cut], codec.tables, codec.shape)) == ("DataError",)
            else:
                assert _outcome(lambda: (residual.unpack_rans(blob[:-cut], pk, p, z, codec.tables),)) == ("DataError",)
    assert refused > 20


def test_core_decode_event_with_values_equals_numpy(files):
    """The generic cluster-layout decode with a value stream (what pixel_sparse format 2 ships) on the TPC tables."""
    from hepvq.baselines import sparse_streams, sparse_streams_core

    codec = _codec(files["none"])
    rng = np.random.default_rng(3)
    s, l, p, z = coordcode.decode_rans(_stream_bytes(files["none"])["coords"][1], codec.tables, codec.shape)
    pk = coordcode.plane_keys(s, l, codec.shape)
    pk[:7] = 9000 + np.arange(7)  # planes missing from the table: extra keys
    v = rng.integers(0, 40, len(pk))
    blob = sparse_streams.encode_event(pk, p, z, v, codec.tables)
    got = sparse_streams_core.decode_event(blob, codec.tables, what="x")
    ref = sparse_streams.decode_event(blob, codec.tables, what="x")
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)
    o = np.lexsort((z, p, pk))
    np.testing.assert_array_equal(got[3], v[o])


def test_core_encode_equals_numpy(tpc_input, files):
    """Encoding through the core gives numpy's bytes: coordinate streams (hits in any order, planes missing from
    the table), the generic stream with values, and the residual stream (all-zero, empty and beyond-range cases)."""
    import hepvq_core

    from hepvq.baselines import sparse_streams, sparse_streams_core

    tables = _codec(files["none"]).tables
    rng = np.random.default_rng(11)
    hits = _hits(tpc_input[0])
    for e in range(len(hits)):
        s, l, p, z, adc = (ak.to_numpy(hits[f][e]).astype(np.int64) for f in FIELDS)
        perm = rng.permutation(len(s))
        s, l, p, z, adc = s[perm], l[perm], p[perm], z[perm], adc[perm]
        got = coordcode.encode_rans(s, l, p, z, tables)
        ref = coordcode.encode_rans(s, l, p, z, tables, reference=True)
        assert got[0] == ref[0] and np.array_equal(got[1], ref[1])
        pk = coordcode.plane_keys(s, l)
        pk[: len(pk) // 3] += 5000  # planes the table lacks
        v = rng.integers(0, tables.value_alphabet, len(pk))
        assert hepvq_core.sparse_encode_event(pk, p, z, v, sparse_streams_core.core_tables(tables)) == \
            sparse_streams.encode_event(pk, p, z, v, tables)
        for q in (np.rint((adc - 300) / 5).astype(np.int64), np.zeros(len(adc), np.int64)):
            assert residual.pack_rans(q, pk, p, z, tables) == residual.pack_rans_reference(q, pk, p, z, tables)
        if len(adc):
            with pytest.raises(ValueError, match="beyond the tables' range"):
                residual.pack_rans(np.full(len(adc), 5000), pk, p, z, tables)
    assert e == 3 and len(s) == 0  # the empty event went through too


# ---- C++ reader ---------------------------------------------------------------------------------------------
def assert_tpc_same_as_python(decoded, compressed):
    with hepvq.open(compressed) as f:
        ref = f.arrays()
    got = uproot.open(decoded)["Events"].arrays()
    assert len(got) == len(ref) == 4
    for k in ("run", "luminosityBlock", "event"):
        assert got[k].type.content == ref[k].type.content, k
        np.testing.assert_array_equal(ak.to_numpy(got[k]), ak.to_numpy(ref[k]))
    np.testing.assert_array_equal(ak.to_numpy(got["nTpcHit"]), ak.to_numpy(ak.num(ref.TpcHit)))
    for f in FIELDS:
        a, b = got[f"TpcHit_{f}"], ref.TpcHit[f]
        assert str(a.type.content) == str(b.type.content) == "var * uint16", f
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(a)), ak.to_numpy(ak.flatten(b)), err_msg=f)
    return got


@pytest.mark.parametrize("name,threads", [("none", 1), ("b2", 2), ("b0", 1)])
def test_cpp_tpc_decode_equals_python(tools, files, tpc_input, tmp_path, name, threads):  # noqa: F811
    """--threads: onnxruntime's intra-op threads (the decoder graph's results must not depend on them)."""
    dst = tmp_path / "decoded.root"
    proc = cpp_decode(tools, files[name], dst, "--verbose", "--threads", str(threads))
    assert proc.returncode == 0, proc.stderr
    assert "TpcHit <- 'tpcInr' tpc_inr, core streams + onnxruntime (CPUExecutionProvider)" in proc.stdout
    got = assert_tpc_same_as_python(dst, files[name])
    assert sorted(x.name for x in tmp_path.iterdir()) == ["decoded.root"]
    inp = _hits(tpc_input[0])
    np.testing.assert_array_equal(ak.to_numpy(ak.num(got.TpcHit_adc)), ak.to_numpy(ak.num(inp)))
    if name == "b0":  # lossless: the input's hits (in key order)
        for e in range(4):
            a = np.stack([ak.to_numpy(got[f"TpcHit_{f}"][e]).astype(np.int64) for f in FIELDS], 1)
            b = np.stack([ak.to_numpy(inp[f][e]).astype(np.int64) for f in FIELDS], 1)
            np.testing.assert_array_equal(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])])
    elif name == "none":  # lossy ADC, really predicted by the network (not the threshold everywhere)
        adc = ak.to_numpy(ak.flatten(got.TpcHit_adc))
        assert len(np.unique(adc)) > 100


@pytest.mark.slow  # ~15 s: Python evaluates the dense grid (765k points) too
def test_cpp_tpc_dense_decode_equals_python(tools, tpc_input, tmp_path):  # noqa: F811
    """Mode dense (the shipped dense amortised model; one sector: the decoder runs on its whole 192 x 249 x 16
    grid in batches of 262,144 points): hepvq_decode == hepvq.open, hit for hit."""
    comp, dst = tmp_path / "dense.root", tmp_path / "decoded.root"
    models = REPO / "data" / "models"
    run([TPC_CFG, f"inputFiles={tpc_input[0]}", f"outputFile={comp}", "maxEvents=1", "tpcInr.mode=dense",
         f"tpcInr.encoderModel={models / 'tpc_amortised_dense_encoder.onnx'}",
         f"tpcInr.decoderModel={models / 'tpc_amortised_dense_decoder.onnx'}", "tpcInr.validate=False",
         "--no-progress"])
    proc = cpp_decode(tools, comp, dst, "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "TpcHit <- 'tpcInr' tpc_inr, dense grid, onnxruntime (CPUExecutionProvider)" in proc.stdout
    with hepvq.open(comp) as f:
        ref = f.arrays()
    got = uproot.open(dst)["Events"].arrays()
    assert len(got) == len(ref) == 1 and int(got.nTpcHit[0]) == len(ref.TpcHit[0]) > 1000
    for f in FIELDS:
        np.testing.assert_array_equal(ak.to_numpy(got[f"TpcHit_{f}"][0]), ak.to_numpy(ref.TpcHit[f][0]), err_msg=f)


def _as_format1(src, tmp_path):
    """The same events in tpc_inr format 1 (older files: zstd key gaps, zigzag varint residual stream): the format-2
    file's streams decoded and re-coded with format 1's coders, config and blobs edited, checksums recomputed."""
    import json

    codec = _codec(src)
    streams = _stream_bytes(src)
    pos = [coordcode.decode_rans(b, codec.tables, codec.shape) for b in streams["coords"]]
    qs = [residual.unpack_rans(r, coordcode.plane_keys(p[0], p[1]), p[2], p[3], codec.tables)
          for r, p in zip(streams["residuals"], pos)]
    v1 = {"coords": [coordcode.encode(*p, codec.shape)[0] for p in pos], "residuals": [residual.pack(q) for q in qs]}

    def prov_edit(prov, blobs):
        cfg = json.loads(blobs["tpcInr/config"])
        cfg["format"] = 1
        del cfg["tables_sha256"]
        blobs["tpcInr/config"] = json.dumps(cfg, sort_keys=True).encode()
        prov["blobs"]["tpcInr/config"] = {"bytes": len(blobs["tpcInr/config"]),
                                          "sha256": hashlib.sha256(blobs["tpcInr/config"]).hexdigest()}
        del blobs["tpcInr/tables"], prov["blobs"]["tpcInr/tables"]

    def branch(kind):
        return lambda a: ak.unflatten(np.frombuffer(b"".join(v1[kind]), np.uint8), [len(b) for b in v1[kind]])

    a = _rewrite(src, tmp_path / "v1a.root", prov_edit=prov_edit, branch_edit=("tpcInr_coords_byte", branch("coords")))
    b = _rewrite(a, tmp_path / "v1b.root", branch_edit=("tpcInr_residuals_byte", branch("residuals")))
    crc = _checksums_of(b, "tpcInr")
    out = _rewrite(b, tmp_path / "v1.root", branch_edit=("tpcInr_crc", lambda x: crc))
    a.unlink()
    b.unlink()
    return out


def test_cpp_tpc_format1_decode_equals_python(tools, files, tmp_path):  # noqa: F811
    v1 = _as_format1(files["b2"], tmp_path)
    codec = _codec(v1)
    assert codec.format == 1 and codec.tables is None and codec.adc_error_bound == 2
    dst = tmp_path / "decoded.root"
    proc = cpp_decode(tools, v1, dst)
    assert proc.returncode == 0, proc.stderr
    got = assert_tpc_same_as_python(dst, v1)
    with hepvq.open(files["b2"]) as f:  # the same hits as the format-2 file they came from
        ref = f.arrays()
    for f in FIELDS:
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(got[f"TpcHit_{f}"])),
                                      ak.to_numpy(ak.flatten(ref.TpcHit[f])))




def test_cpp_refuses_tampered_tpc_tables(tools, files, tmp_path):  # noqa: F811
    bad = _rewrite(files["b2"], tmp_path / "bad.root", prov_edit=_tables_tampered_hash_kept("tpcInr/tables"))
    assert_refused_by_both(tools, bad, tmp_path, python_match="sha256 in its config",
             cpp_match="metadata 'tables' does not match the sha256 in its config")


@pytest.mark.parametrize("instance", ["coords", "residuals"])
def test_cpp_refuses_damaged_tpc_stream(tools, files, tmp_path, instance):  # noqa: F811
    """A flipped bit in entry 1's coordinate stream (its hit count) or residual stream (the middle of the rANS
    bytes): caught by the checksum, and with the checksum recomputed over the damaged bytes, by the stream decode
    itself in both readers."""
    branch = f"tpcInr_{instance}_byte"

    def flip(a):
        flat = ak.to_numpy(ak.flatten(a)).copy()
        n = ak.to_numpy(ak.num(a))
        flat[n[0] + (0 if instance == "coords" else n[1] // 2)] ^= np.uint8(0x10)  # entry 1
        return ak.unflatten(flat, n)

    stale = _rewrite(files["b2"], tmp_path / "stale.root", branch_edit=(branch, flip))
    proc = cpp_decode(tools, stale, tmp_path / "out.root")
    assert proc.returncode == 1 and "products of 'tpcInr' at entry 1 do not match their checksum" in proc.stderr
    crc = _checksums_of(stale, "tpcInr")
    bad = _rewrite(stale, tmp_path / "bad.root", branch_edit=("tpcInr_crc", lambda a: crc))
    stale.unlink()
    assert_refused_by_both(tools, bad, tmp_path, python_match=f"tpc_inr {instance}",
             cpp_match=f"tpc_inr {instance}")


def test_cpp_refuses_decoder_with_external_data(tools, files, tmp_path):  # noqa: F811
    """A decoder graph whose weights point to an external file (provenance hash updated): onnxruntime would read a
    file the untrusted model names; Python's loader refuses it (hepvq.runtime.onnx_scan) and so does C++."""
    import onnx

    def edit(prov, blobs):
        m = onnx.load_from_string(blobs["tpcInr/decoder.onnx"])
        path = tmp_path / "ext.onnx"
        onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
        blobs["tpcInr/decoder.onnx"] = path.read_bytes()
        path.unlink()
        (tmp_path / "weights.bin").unlink()
        prov["blobs"]["tpcInr/decoder.onnx"] = {"bytes": len(blobs["tpcInr/decoder.onnx"]),
                                                "sha256": hashlib.sha256(blobs["tpcInr/decoder.onnx"]).hexdigest()}
    bad = _rewrite(files["none"], tmp_path / "bad.root", prov_edit=edit)
    assert_refused_by_both(tools, bad, tmp_path, python_match="external data",
                           cpp_match="ONNX model has a tensor with external data")


def test_cpp_refuses_tpc_fit_method(tools, files, tmp_path):  # noqa: F811
    """A tpc_inr mode the C++ reader does not decode (here: config edited to method 'fit', hash updated) is refused
    when the file is opened, in one line naming what it decodes."""
    import json

    def edit(prov, blobs):
        cfg = json.loads(blobs["tpcInr/config"])
        cfg["method"] = "fit"
        blobs["tpcInr/config"] = json.dumps(cfg, sort_keys=True).encode()
        prov["blobs"]["tpcInr/config"] = dict(prov["blobs"]["tpcInr/config"], bytes=len(blobs["tpcInr/config"]),
                                              sha256=hashlib.sha256(blobs["tpcInr/config"]).hexdigest())
    bad = _rewrite(files["none"], tmp_path / "fit.root", prov_edit=edit)
    proc = cpp_decode(tools, bad, tmp_path / "out.root")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "tpc_inr method 'fit', mode 'hybrid', format 2 is not decoded by the C++ reader" in proc.stderr, proc.stderr
    assert not (tmp_path / "out.root").exists()
