"""Issue 15: the C++ reader (cpp/) decodes hepvq files exactly as Python does.

The tools are built by cpp/build.sh inside the test session (incremental, in cpp/build/, the directory the README
test's `cpp/build.sh` blocks build into too: one compile per session). Compressed files
are written by hepvq-run from the shipped sample; `hepvq_decode` output must equal `hepvq.open` output
exactly (ids, order, every DIGI), damaged files must be refused by C++ as by Python, and the reader's own
SHA-256 must agree with hashlib."""
import hashlib
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
from hepvq.cli.run import run
from hepvq.errors import HepvqError
from hepvq.io.metadata import CFG_KEY, PROVENANCE_KEY, read_metadata, write_metadata

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "cpp" / "build"
SAMPLE = str(REPO / "data" / "pixel_pu200_sample.root")
COMPRESS = str(REPO / "python_cfg" / "premix_compress_cfg.py")
SPARSE_CFG = """
import hepvq.config as cms
process = cms.Process("SPARSE")
process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring("in.root"))
process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(2))
process.enc = cms.EDProducer("PixelDigiSparseEncoder", adcBits=cms.int32(4))
process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string("out.root"),
                               outputCommands=cms.untracked.vstring("drop *", "keep enc_*"))
process.p = cms.Path(process.enc)
process.e = cms.EndPath(process.out)
"""
PIXEL = ("detId", "row", "col", "adc")
pytestmark = pytest.mark.slow  # builds the C++ tools (incremental) and compresses the sample several times


@pytest.fixture(scope="module")
def tools():
    """cpp/build.sh run once per session (a no-op when nothing changed); a build that cannot be done fails."""
    proc = subprocess.run(["bash", str(REPO / "cpp" / "build.sh")], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, f"cpp/build.sh failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return BUILD


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Compressed files of every pixel mode the C++ reader decodes, from the first events of the sample (pixel_vq
    format 1, which hepvq_encode --format 1 writes; format 2, the main job's default, is in test_cpp_format2.py)."""
    d = tmp_path_factory.mktemp("cpp_reader")
    out = {}
    for name, extra in (("vq", []), ("vq_b2", ["pixelVQ.adcErrorBound=2"]), ("vq_b0", ["pixelVQ.adcErrorBound=0"])):
        out[name] = d / f"{name}.root"
        run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={out[name]}", "maxEvents=2",
             "pixelVQ.validate=False", "pixelVQ.format=1", *extra, "--no-progress"])
    cfg = d / "sparse_cfg.py"
    cfg.write_text(SPARSE_CFG)
    out["sparse"] = d / "sparse.root"
    run([str(cfg), f"inputFiles={SAMPLE}", f"outputFile={out['sparse']}", "--no-progress"])
    return out


def cpp_decode(tools, src, dst, *extra):
    return subprocess.run([str(tools / "hepvq_decode"), str(src), str(dst), *extra], capture_output=True, text=True,
                          timeout=300)


def assert_refused_by_both(tools, bad, tmp_path, *, python_match, cpp_match):
    """hepvq.open and hepvq_decode both refuse the file `bad`: Python with `python_match`, C++ in one line naming
    the file and `cpp_match`, exit 1, no output left (tmp_path holds only `bad`)."""
    with pytest.raises(HepvqError, match=python_match):
        with hepvq.open(bad) as f:
            f.arrays()
    dst = tmp_path / "out.root"
    proc = cpp_decode(tools, bad, dst)
    err = proc.stderr.strip()
    assert proc.returncode == 1 and err.count("\n") == 0, err
    assert str(bad) in err and cpp_match in err, err
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def assert_same_as_python(decoded_path, compressed_path):
    with hepvq.open(compressed_path) as f:
        ref = f.arrays()
    got = uproot.open(decoded_path)["Events"].arrays()
    assert len(got) == len(ref) > 0
    for k in ("run", "luminosityBlock", "event"):
        assert got[k].type.content == ref[k].type.content, k
        np.testing.assert_array_equal(ak.to_numpy(got[k]), ak.to_numpy(ref[k]))
    np.testing.assert_array_equal(ak.to_numpy(got["nPixelDigi"]), ak.to_numpy(ak.num(ref.PixelDigi)))
    for field in PIXEL:
        a, b = got[f"PixelDigi_{field}"], ref.PixelDigi[field]
        assert str(a.type.content) == str(b.type.content), field
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(a)), ak.to_numpy(ak.flatten(b)), err_msg=field)
    return int(ak.sum(ak.num(ref.PixelDigi)))


@pytest.mark.parametrize("mode,fractions,threads,chunk", [
    ("vq", "auto", 1, 16), ("vq", "onnx", 1, 16), ("vq", "auto", 1, 1), ("vq_b2", "auto", 2, 16),
    ("vq_b2", "onnx", 1, 1), ("vq_b0", "auto", 1, 16), ("sparse", "auto", 1, 16)])
def test_cpp_decode_equals_python(tools, files, tmp_path, mode, fractions, threads, chunk):
    """fractions=auto: the core computes them from decoder.onnx's codebooks (it does for the shipped VQ model);
    onnx: onnxruntime runs the file's decoder graph. Both must give Python's hits exactly, on 1 or 2 threads."""
    dst = tmp_path / "decoded.root"
    proc = cpp_decode(tools, files[mode], dst, "--fractions", fractions, "--verbose", "--threads", str(threads),
                      "--chunk", str(chunk))
    assert proc.returncode == 0, proc.stderr
    if mode != "sparse":
        how = "core (codebooks of decoder.onnx)" if fractions == "auto" else "onnxruntime (CPUExecutionProvider)"
        assert f"PixelDigi <- 'pixelVQ' pixel_vq, {how}" in proc.stdout
    assert assert_same_as_python(dst, files[mode]) > 100_000  # two PU-200 events
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoded.root"]  # no temporary left behind


def test_cpp_lossless_bound_gives_the_input_back(tools, files, tmp_path):
    """adcErrorBound=0 is lossless: the C++ decode of it equals the sample's first events hit for hit."""
    dst = tmp_path / "decoded.root"
    assert cpp_decode(tools, files["vq_b0"], dst).returncode == 0
    got = uproot.open(dst)["Events"].arrays()
    raw = uproot.open(SAMPLE)["Events"].arrays(entry_stop=len(got))
    for e in range(len(got)):
        a = np.stack([ak.to_numpy(got[f"PixelDigi_{f}"][e]).astype(np.int64) for f in PIXEL], 1)
        b = np.stack([ak.to_numpy(raw[f"PixelDigi_{f}"][e]).astype(np.int64) for f in PIXEL], 1)
        assert a.shape == b.shape
        np.testing.assert_array_equal(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])])


def test_cpp_plain_files_pass_through(tools, pixel_file_uproot, tpc_file_uproot, tmp_path):
    for src, coll, fields in ((pixel_file_uproot, "PixelDigi", PIXEL),
                              (tpc_file_uproot, "TpcHit", ("sector", "layer", "phi", "z", "adc"))):
        dst = tmp_path / f"{coll}.root"
        proc = cpp_decode(tools, src, dst)
        assert proc.returncode == 0, proc.stderr
        got, ref = uproot.open(dst)["Events"].arrays(), uproot.open(src)["Events"].arrays()
        for name in ("event", *(f"{coll}_{f}" for f in fields)):
            assert got[name].type == ref[name].type
            assert ak.all(got[name] == ref[name])


def _rewrite(src, dst, *, blob_edit=None, branch_edit=None, prov_edit=None):
    """Copy a compressed file with uproot, editing one blob's bytes or one branch's values (provenance kept unless
    prov_edit(provenance dict, blobs) changes it)."""
    with uproot.open(src) as f:
        t = f["Events"]
        counters = {b.name: b.count_branch.name for b in t.branches if b.count_branch is not None}
        raw = t.arrays([b for b in t.keys() if b not in set(counters.values())], how=dict, library="ak")
        prov, cfg = json.loads(str(f[PROVENANCE_KEY])), str(f[CFG_KEY])
    _, blobs = read_metadata(src)
    if blob_edit:
        blobs = blob_edit(dict(blobs))
    if prov_edit:
        prov_edit(prov, blobs)
    if branch_edit:
        name, fn = branch_edit
        raw[name] = fn(raw[name])
    data, grouped = {}, {}
    for name, arr in raw.items():
        if name in counters:
            prefix = counters[name][1:]
            grouped.setdefault(prefix, {})[name[len(prefix) + 1:]] = arr
        else:
            data[name] = np.asarray(arr)
    # a product that is one jagged branch (format 2's streams: `n<prefix>` + `<prefix>`) stays one
    data.update({p: fields[""] if list(fields) == [""] else ak.zip(fields) for p, fields in grouped.items()})
    with uproot.recreate(dst) as out:
        tree = out.mktree("Events", {k: (v.type.content if isinstance(v, ak.Array) else v.dtype)
                                     for k, v in data.items()})
        tree.extend(data)
        write_metadata(out, prov, cfg, blobs)
    return dst


def _flip_first_byte(blobs, key):
    b = bytearray(blobs[key])
    b[len(b) // 2] ^= 0x01
    blobs[key] = bytes(b)
    return blobs


def test_cpp_refuses_tampered_blob_as_python_does(tools, files, tmp_path):
    bad = _rewrite(files["vq"], tmp_path / "bad.root",
                   blob_edit=lambda b: _flip_first_byte(b, "pixelVQ/decoder.onnx"))
    with pytest.raises(HepvqError, match="sha256"):
        hepvq.open(bad)
    dst = tmp_path / "out.root"
    proc = cpp_decode(tools, bad, dst)
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.count("\n") == 0
    assert str(bad) in err and "blob 'pixelVQ/decoder.onnx' does not match the sha256" in err
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.root"]


def test_cpp_refuses_damaged_products_as_python_does(tools, files, tmp_path):
    """A changed index value (what a flipped bit in a ZSTD basket gives) fails the per-event checksum."""
    with uproot.open(files["vq"]) as f:
        if "pixelVQ_crc" not in f["Events"].keys():
            pytest.skip("this hepvq writes no per-event checksum")
    bad = _rewrite(files["vq"], tmp_path / "bad.root",
                   branch_edit=("pixelVQ_row", lambda a: ak.unflatten(
                       np.bitwise_xor(ak.to_numpy(ak.flatten(a)), np.uint8(1)), ak.num(a))))
    with pytest.raises(HepvqError, match="checksum"):
        hepvq.open(bad).arrays()
    proc = cpp_decode(tools, bad, tmp_path / "out.root")
    assert proc.returncode == 1
    assert "products of 'pixelVQ' at entry 0 do not match their checksum" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and not (tmp_path / "out.root").exists()


def test_cpp_decode_bad_input_one_line(tools, tmp_path):
    proc = cpp_decode(tools, tmp_path / "missing.root", tmp_path / "out.root")
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert "missing.root" in proc.stderr and not (tmp_path / "out.root").exists()
    notroot = tmp_path / "x.root"
    notroot.write_bytes(b"not a root file")
    proc = cpp_decode(tools, notroot, tmp_path / "out.root")
    assert proc.returncode == 1 and "cannot be opened as a ROOT file" in proc.stderr
    proc = subprocess.run([str(tools / "hepvq_decode"), str(notroot)], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_cpp_sha256_equals_hashlib(tools, tmp_path):
    rng = np.random.default_rng(15)
    paths = []
    for i, n in enumerate([0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 1000, int(rng.integers(1, 300_000))]):
        p = tmp_path / f"r{i}.bin"
        p.write_bytes(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        paths.append(p)
    out = subprocess.run([str(tools / "hepvq_sha256"), *map(str, paths)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [line.split()[0] for line in out] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_root_macro_decodes_like_python(tools, files, tmp_path):
    """examples/root/decode.C in a plain `root -b -q` session: event loop and RDataFrame see Python's hits."""
    import re
    import shutil

    root = shutil.which("root")
    assert root, "the root wheel's `root` command is not on PATH"
    png = tmp_path / "adc.png"
    proc = subprocess.run([root, "-b", "-q", "-l", f'examples/root/decode.C("{files["vq_b2"]}", "{png}")'],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "error" not in proc.stdout + proc.stderr.replace("UserWarning", ""), \
        proc.stdout + proc.stderr
    with hepvq.open(files["vq_b2"]) as f:
        adc = ak.to_numpy(ak.flatten(f.arrays().PixelDigi.adc)).astype(np.float64)
    loop = re.search(r"decode.C: (\d+) events, (\d+) hits, mean ADC ([\d.]+)", proc.stdout)
    rdf = re.search(r"decode.C: RDataFrame (\d+) hits, mean ADC ([\d.]+)", proc.stdout)
    assert loop and rdf, proc.stdout
    assert int(loop.group(1)) == 2 and int(loop.group(2)) == int(rdf.group(1)) == len(adc)
    assert float(loop.group(3)) == pytest.approx(adc.mean(), rel=1e-5)
    assert float(rdf.group(2)) == pytest.approx(adc.mean(), rel=1e-5)
    assert png.stat().st_size > 1000


@pytest.mark.parametrize("mode,bound", [("vq", None), ("vq_b2", "2"), ("vq_b0", "0")])
def test_cpp_encode_equals_python(tools, files, tmp_path, mode, bound):
    """hepvq_encode writes the same index products as hepvq-run's PixelDigiVQEncoder (every branch, type and
    value, checksum included), and hepvq.open decodes its file to the same hits."""
    out = tmp_path / "cpp.root"
    cmd = [str(tools / "hepvq_encode"), SAMPLE, str(out), "--model", str(REPO / "data" / "models" / "pixel_vq"),
           "--max-events", "2", "--format", "1"] + (["--adc-error-bound", bound] if bound else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got, ref = uproot.open(out)["Events"], uproot.open(files[mode])["Events"]
    assert set(got.keys()) == set(ref.keys())
    for name in ref.keys():
        assert got[name].typename == ref[name].typename, name
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(got[name].array(), axis=None)),
                                      ak.to_numpy(ak.flatten(ref[name].array(), axis=None)), err_msg=name)
    with hepvq.open(out) as f, hepvq.open(files[mode]) as g:
        a, b = f.arrays(), g.arrays()
        assert f.provenance["codecs"]["pixelVQ"]["codec"] == "pixel_vq"
    for field in PIXEL:
        assert ak.all(a.PixelDigi[field] == b.PixelDigi[field])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpp.root"]


def test_cpp_encode_refuses_bad_input(tools, tmp_path):
    """ADC 0 (not representable) and a duplicated pixel are refused naming file and entry; nothing is written."""
    from conftest import make_pixel_events, write_uproot

    model = str(REPO / "data" / "models" / "pixel_vq")
    events = make_pixel_events(n_events=8)
    flat = {f: ak.to_numpy(ak.flatten(events["PixelDigi"][f])).copy() for f in PIXEL}
    counts = ak.to_numpy(ak.num(events["PixelDigi"]))
    first5 = int(counts[:5].sum())
    bad_adc = dict(flat, adc=flat["adc"].copy())
    bad_adc["adc"][:] = np.maximum(bad_adc["adc"], 1)
    bad_adc["adc"][first5] = 0  # first hit of entry 5
    dup = {f: v.copy() for f, v in flat.items()}
    for f in ("detId", "row", "col"):
        dup[f][first5 + 1] = dup[f][first5]  # entry 5: the same pixel twice
    dup["adc"][:] = np.maximum(dup["adc"], 1)
    for name, cols, what in (("adc0", bad_adc, "ADC"), ("dup", dup, "")):
        src = tmp_path / f"{name}.root"
        write_uproot(src, dict(events, PixelDigi=ak.unflatten(ak.zip(cols), counts)))
        out = tmp_path / f"{name}_out.root"
        proc = subprocess.run([str(tools / "hepvq_encode"), str(src), str(out), "--model", model],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert str(src) in proc.stderr and "entry 5" in proc.stderr and what in proc.stderr, proc.stderr
        assert not out.exists()
    proc = subprocess.run([str(tools / "hepvq_encode"), SAMPLE, str(tmp_path / "o.root"), "--model",
                           str(tmp_path / "nomodel")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "nomodel" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adc0.root", "dup.root"]


@pytest.mark.parametrize("fmt,bound", [("1", "2"), ("2", "-1")], ids=["format1-bound2", "format2-default"])
def test_cpp_on_50_simulated_events(tools, tmp_path, fmt, bound):
    """50 freshly simulated events (pile-up 10, 4 decode chunks of 16): C++ encode == hepvq-run's products,
    C++ decode == hepvq.open, for format 1 with adcErrorBound=2 and for the main job's default (format 2,
    operating point default, no bound)."""
    sim = tmp_path / "sim.root"
    subprocess.run([sys.executable, "-m", "hepvq.cli.simulate", "pixel", "--events", "50", "--pileup", "10",
                    "--seed", "15", "--no-truth", "--quiet", "-o", str(sim)], check=True, capture_output=True,
                   timeout=300)
    py = tmp_path / "py.root"
    run([COMPRESS, f"inputFiles={sim}", f"outputFile={py}", "pixelVQ.validate=False",
         f"pixelVQ.adcErrorBound={bound}", f"pixelVQ.format={fmt}", "--no-progress"])
    cpp = tmp_path / "cpp.root"
    bound_args = ["--adc-error-bound", bound] if bound != "-1" else []
    proc = subprocess.run([str(tools / "hepvq_encode"), str(sim), str(cpp), "--model",
                           str(REPO / "data" / "models" / "pixel_vq"), *bound_args, "--format", fmt],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got, ref = uproot.open(cpp)["Events"], uproot.open(py)["Events"]
    assert got.num_entries == ref.num_entries == 50 and set(got.keys()) == set(ref.keys())
    for name in ref.keys():
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(got[name].array(), axis=None)),
                                      ak.to_numpy(ak.flatten(ref[name].array(), axis=None)), err_msg=name)
    dst = tmp_path / "decoded.root"
    proc = cpp_decode(tools, py, dst)
    assert proc.returncode == 0, proc.stderr
    assert assert_same_as_python(dst, py) > 100_000
