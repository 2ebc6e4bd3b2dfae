"""Issue 15: the C++ reader decodes the format-2 codecs exactly as Python does.

pixel_vq format 2 (hepvq/pixel/format2.py: per-event rANS streams, decoded by the core's pixel_vq_f2_patches in
both readers) at the three operating points, and pixel_sparse format 2 (hepvq.baselines.sparse_streams' cluster
layout, the core's sparse::decode_event), on the first events of the shipped sample and on freshly simulated
events: `hepvq_decode` output == `hepvq.open` output exactly. Damaged format-2 files (a stream byte, the tables
blob) are refused by C++ as by Python: one line, exit 1, nothing left behind. The tools come from the session's
cpp/build (test_cpp_reader's fixture: one incremental build per session)."""
import hashlib
import subprocess
import sys

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from hepvq.cli.run import run
from hepvq.codecs.guard import event_checksums
from hepvq.io.metadata import read_metadata
from hepvq.io.reading import products_of
from test_cpp_reader import (COMPRESS, PIXEL, REPO, SAMPLE, SPARSE_CFG, _rewrite, assert_refused_by_both,  # noqa: F401
                             assert_same_as_python, cpp_decode, tools)

pytestmark = pytest.mark.slow  # builds the C++ tools (incremental) and compresses a few events several times

SPARSE2_CFG = SPARSE_CFG.replace('adcBits=cms.int32(4)', 'adcBits=cms.int32(4), format=cms.int32(2)')
assert SPARSE2_CFG != SPARSE_CFG


def _compress(d, src, *, name, events, extra=()):
    out = d / f"{name}.root"
    if name.startswith("sparse"):
        cfg = d / "sparse2_cfg.py"
        cfg.write_text(SPARSE2_CFG.replace("input=cms.untracked.int32(2)", f"input=cms.untracked.int32({events})"))
        run([str(cfg), f"inputFiles={src}", f"outputFile={out}", "--no-progress"])
    else:
        run([COMPRESS, f"inputFiles={src}", f"outputFile={out}", f"maxEvents={events}", "pixelVQ.validate=False",
             "pixelVQ.format=2", *extra, "--no-progress"])
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Format-2 files of the shipped sample's first events: pixel_vq at each operating point, pixel_sparse."""
    d = tmp_path_factory.mktemp("cpp_format2")
    out = {"sparse2": _compress(d, SAMPLE, name="sparse2", events=2)}
    for point, events in (("fine", 1), ("default", 2), ("coarse", 1)):
        out[point] = _compress(d, SAMPLE, name=point, events=events, extra=[f"pixelVQ.operatingPoint={point}"])
    for bound in (0, 2):  # format 1's corrections product beside the streams
        out[f"default_b{bound}"] = _compress(d, SAMPLE, name=f"default_b{bound}", events=1,
                                             extra=[f"pixelVQ.adcErrorBound={bound}"])
    return out


@pytest.mark.parametrize("mode,fractions,threads,chunk", [
    ("fine", "auto", 1, 16), ("default", "auto", 2, 16), ("coarse", "auto", 1, 16), ("default_b0", "auto", 1, 16),
    ("default_b2", "onnx", 2, 1),
    ("sparse2", "auto", 1, 16)])
def test_cpp_decodes_format2_as_python(tools, files, tmp_path, mode, fractions, threads, chunk):  # noqa: F811
    dst = tmp_path / "decoded.root"
    proc = cpp_decode(tools, files[mode], dst, "--fractions", fractions, "--threads", str(threads), "--chunk",
                      str(chunk), "--verbose")
    assert proc.returncode == 0, proc.stderr
    if mode != "sparse2":
        how = "core (codebooks of decoder.onnx)" if fractions == "auto" else "onnxruntime (CPUExecutionProvider)"
        assert f"PixelDigi <- 'pixelVQ' pixel_vq, {how}" in proc.stdout
        with hepvq.open(files[mode]) as f:  # the file really is format 2 at that operating point
            codec = f.codecs["pixelVQ"][0]
            d = codec.describe()
            assert (d["format"], d["operating_point"]) == (2, mode.split("_")[0])
            assert codec.adc_error_bound == (int(mode[-1]) if "_b" in mode else -1)
    else:
        assert "PixelDigi <- 'enc' pixel_sparse" in proc.stdout
        assert uproot.open(files[mode])["Events"]["enc_blob"].array()[0][:4].tolist() == list(b"HVS\x02")
    assert assert_same_as_python(dst, files[mode]) > 50_000  # one or two PU-200 events
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoded.root"]


def test_cpp_format2_lossless_bound_gives_the_input_back(tools, files, tmp_path):  # noqa: F811
    """adcErrorBound=0 in format 2 is lossless: the C++ decode equals the sample's first event hit for hit."""
    dst = tmp_path / "decoded.root"
    assert cpp_decode(tools, files["default_b0"], dst).returncode == 0
    got = uproot.open(dst)["Events"].arrays()
    raw = uproot.open(SAMPLE)["Events"].arrays(entry_stop=1)
    a = np.stack([ak.to_numpy(got[f"PixelDigi_{f}"][0]).astype(np.int64) for f in PIXEL], 1)
    b = np.stack([ak.to_numpy(raw[f"PixelDigi_{f}"][0]).astype(np.int64) for f in PIXEL], 1)
    assert len(got) == 1 and a.shape == b.shape
    np.testing.assert_array_equal(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])])


def test_cpp_format2_on_simulated_events(tools, tmp_path):  # noqa: F811
    """Freshly simulated events (pile-up 10, another seed than the sample; chunks of 3 entries): both format-2
    codecs decode in C++ to hepvq.open's hits."""
    sim = tmp_path / "sim.root"
    subprocess.run([sys.executable, "-m", "hepvq.cli.simulate", "pixel", "--events", "8", "--pileup", "10",
                    "--seed", "1515", "--no-truth", "--quiet", "-o", str(sim)], check=True, capture_output=True,
                   timeout=300)
    for name in ("default", "sparse2"):
        src = _compress(tmp_path, sim, name=name, events=8)
        dst = tmp_path / f"{name}_decoded.root"
        proc = cpp_decode(tools, src, dst, "--chunk", "3")
        assert proc.returncode == 0, proc.stderr
        assert assert_same_as_python(dst, src) > 5_000


def test_cpp_sparse2_edge_events(tools, tmp_path):  # noqa: F811
    """pixel_sparse format 2 of edge events (empty, one hit, corners, clipped ADC, planes beyond a module, detIds
    missing from the tables, shapes outside the book; test_pixel_sparse_core.edge_events) through hepvq-run:
    hepvq_decode == hepvq.open."""
    from conftest import write_uproot
    from test_pixel_sparse_core import edge_events

    from hepvq.pixel.codec import PixelSparseCodec

    hits = edge_events(PixelSparseCodec(adc_bits=4, format=2).tables)
    n = len(hits)
    src = tmp_path / "edge.root"
    write_uproot(src, {"run": np.ones(n, np.uint32), "luminosityBlock": np.ones(n, np.uint32),
                       "event": np.arange(n, dtype=np.uint64), "PixelDigi": hits})
    comp = _compress(tmp_path, src, name="sparse2", events=n)
    dst = tmp_path / "decoded.root"
    proc = cpp_decode(tools, comp, dst, "--chunk", "4")
    assert proc.returncode == 0, proc.stderr
    assert assert_same_as_python(dst, comp) == int(ak.sum(ak.num(hits)))


# ---- damaged files -----------------------------------------------------------------------------------------


def _tables_tampered_hash_kept(key):
    """Flip a byte of blob `key` and record the new bytes' sha256 in the provenance: only the codec's own check of
    the tables against the sha256 in its settings is left to catch it."""
    def edit(prov, blobs):
        b = bytearray(blobs[key])
        b[len(b) // 2] ^= 0x01
        blobs[key] = bytes(b)
        prov["blobs"][key] = dict(prov["blobs"][key], sha256=hashlib.sha256(blobs[key]).hexdigest())
    return edit


@pytest.mark.parametrize("mode,key,match", [
    ("default", "pixelVQ/tables", "tables do not match the sha256 in the settings"),
    ("sparse2", "enc/tables", "does not match the sha256 in its settings")])
def test_cpp_refuses_tampered_tables(tools, files, tmp_path, mode, key, match):  # noqa: F811
    bad = _rewrite(files[mode], tmp_path / "bad.root", prov_edit=_tables_tampered_hash_kept(key))
    assert_refused_by_both(tools, bad, tmp_path, python_match="sha256", cpp_match=match)


def _other_point_tables(prov, blobs):
    """The fine operating point's tables in a default-point file, with every hash made to match: the settings'
    tables_sha256 and the provenance. Only the tables header's charge grid tells them apart."""
    import json

    from hepvq.pixel.format2 import tables_path

    blobs["pixelVQ/tables"] = tables_path(REPO / "data" / "models" / "pixel_vq", "fine").read_bytes()
    settings = json.loads(blobs["pixelVQ/settings"])
    settings["format2"]["tables_sha256"] = hashlib.sha256(blobs["pixelVQ/tables"]).hexdigest()
    blobs["pixelVQ/settings"] = json.dumps(settings).encode()
    for key in ("pixelVQ/tables", "pixelVQ/settings"):
        prov["blobs"][key] = {"bytes": len(blobs[key]), "sha256": hashlib.sha256(blobs[key]).hexdigest()}


def _no_tables(prov, blobs):
    del blobs["pixelVQ/tables"]
    del prov["blobs"]["pixelVQ/tables"]


@pytest.mark.parametrize("edit,match", [
    (_other_point_tables, "tables were fitted for another model or operating point"),
    (_no_tables, "lacks metadata 'tables' of the pixel_vq format-2 codec")])
def test_cpp_refuses_tables_of_another_point(tools, files, tmp_path, edit, match):  # noqa: F811
    bad = _rewrite(files["default"], tmp_path / "bad.root", prov_edit=edit)
    assert_refused_by_both(tools, bad, tmp_path, python_match=match, cpp_match=match)


def _checksums_of(path, label):
    prov, _ = read_metadata(str(path))
    prefixes = {k: v for k, v in prov["codecs"][label]["prefixes"].items() if k != "crc"}
    arrays = uproot.open(path)["Events"].arrays()
    return event_checksums(products_of(arrays, prefixes, [p["prefix"] for p in prov["products"]]))


@pytest.mark.parametrize("mode,branch,label,cpp_match", [
    ("default", "pixelVQ_s_shape", "pixelVQ", "stream 'shape'"),
    ("sparse2", "enc_blob", "enc", "pixel_sparse blob")])
def test_cpp_refuses_damaged_stream(tools, files, tmp_path, mode, branch, label, cpp_match):  # noqa: F811
    """A flipped bit in a stream: caught by the per-event checksum, and with the checksum recomputed over the
    damaged bytes, by the rANS decode itself (its final state), in both readers."""
    def flip(a):
        flat = ak.to_numpy(ak.flatten(a)).copy()
        flat[int(ak.num(a)[0]) // 2] ^= np.uint8(0x10)  # entry 0, middle of its blob
        return ak.unflatten(flat, ak.num(a))

    stale = _rewrite(files[mode], tmp_path / "stale.root", branch_edit=(branch, flip))
    proc = cpp_decode(tools, stale, tmp_path / "out.root")
    assert proc.returncode == 1 and f"products of '{label}' at entry 0 do not match their checksum" in proc.stderr
    crc = _checksums_of(stale, label)
    bad = _rewrite(stale, tmp_path / "bad.root", branch_edit=(f"{label}_crc", lambda a: crc))
    stale.unlink()
    assert_refused_by_both(tools, bad, tmp_path, python_match="stream|blob", cpp_match=cpp_match)
