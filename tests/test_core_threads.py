"""numberOfThreads / -j and hepvq.open(threads=...) reach the compiled core's loops, and the results do not
depend on the number of threads (index branches and decoded DIGIs byte for byte)."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from hepvq.cli.run import run
from hepvq.codecs import options
from hepvq.errors import ParameterError
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec
from hepvq.pixel.fastsearch import FastVQSearch

REPO = Path(__file__).resolve().parents[1]
MODEL = str(REPO / "data" / "models" / "pixel_vq")
SAMPLE = str(REPO / "data" / "pixel_pu200_sample.root")
COMPRESS = str(REPO / "python_cfg" / "premix_compress_cfg.py")


@pytest.fixture(scope="module")
def hits():
    t = uproot.open(SAMPLE)["Events"]
    return ak.zip({f: t[f"PixelDigi_{f}"].array(entry_stop=2) for f in P.FIELDS})


def same_products(a, b):
    assert sorted(a) == sorted(b)
    for inst in a:
        assert ak.to_list(ak.num(a[inst], axis=1)) == ak.to_list(ak.num(b[inst], axis=1)), inst
        for f in ak.fields(a[inst]):
            x, y = ak.to_numpy(ak.flatten(a[inst][f])), ak.to_numpy(ak.flatten(b[inst][f]))
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f"{inst}/{f}"


def test_encode_is_the_same_on_one_and_three_threads(hits):
    codec = PixelVQCodec.from_directory(MODEL, adc_error_bound=2)
    codec.threads = 1
    one = codec.encode(hits).products
    codec.threads = 3
    same_products(one, codec.encode(hits).products)


def test_codec_threads_beat_the_job_setting_which_beats_the_default():
    codec = PixelVQCodec.from_directory(MODEL)
    assert options.threads(codec) == options.default_threads()
    with options.job_threads(3):
        assert options.threads(codec) == 3
        codec.threads = 2
        assert options.threads(codec) == 2
    codec.threads = None
    assert options.threads(codec) == options.default_threads()
    with pytest.raises(ParameterError, match="options.numberOfThreads.*positive number of threads, got -2"):
        with options.job_threads(-2):
            pass


def test_dash_j_reaches_the_search_and_hepvq_open_threads_reach_decode(tmp_path, monkeypatch):
    seen = []
    search = FastVQSearch.search

    def spy(self, *args, **kwargs):
        seen.append(self.threads)
        return search(self, *args, **kwargs)

    monkeypatch.setattr(FastVQSearch, "search", spy)
    monkeypatch.chdir(REPO)
    out = str(tmp_path / "c.root")
    # format 1: FastVQSearch.search is its code search (format 2's rate-aware search is the core's search_rate)
    run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={out}", "maxEvents=2", "-j", "3", "--no-progress",
         "pixelVQ.validate=False", "pixelVQ.format=1"])
    assert seen and set(seen) == {3}  # no self-check search: the shipped model's verdict is recorded (core_check)
    assert options.threads(None) == options.default_threads()  # the job's setting ends with the job

    ref = hepvq.open(out, threads=1).arrays()
    with hepvq.open(out, threads=3, providers=["CPUExecutionProvider"]) as r:
        assert {c.threads for (c, _coll, _p) in r.codecs.values()} == {3}
        got = r.arrays()
    for f in P.FIELDS:
        a, b = ak.to_numpy(ak.flatten(ref.PixelDigi[f])), ak.to_numpy(ak.flatten(got.PixelDigi[f]))
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert np.array_equal(ak.to_numpy(ak.num(ref.PixelDigi)), ak.to_numpy(ak.num(got.PixelDigi)))
    with pytest.raises(ParameterError, match="parameter 'threads'.*got 0"):
        hepvq.open(out, threads=0)
    with pytest.raises(ParameterError, match="parameter 'providers'.*list of onnxruntime provider names"):
        hepvq.open(out, providers="CPUExecutionProvider")


def test_patch_extraction_is_the_same_on_one_and_three_threads(hits):
    """extract_patches splits the (event, detId) groups over threads (>= 65536 hits each): same patches, hit
    order and slots as on one thread, on sorted and on shuffled input."""
    h = P.flatten(hits)
    assert len(h) >= 3 * 65536  # three ranges really run
    for hh in (h, h.take(np.random.default_rng(5).permutation(len(h)))):
        one, three = P.extract(hh, threads=1), P.extract(hh, threads=3)
        for f in ("event", "det", "row", "col", "mask", "adc", "cluster"):
            a, b = getattr(one[0], f), getattr(three[0], f)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f
        for a, b in zip(one[1:], three[1:]):
            assert a.tobytes() == b.tobytes()


def test_dash_j_reaches_format2_search_and_streams(tmp_path, monkeypatch):
    """Format 2 (the main job's default): -j reaches the rate-aware search and the rANS stream coding (it did not:
    the search kept the thread count it was built with), hepvq.open(threads=) its codecs; bytes and hits do not
    depend on it."""
    import hepvq.pixel.format2 as F2

    seen = []
    real = F2.job_threads

    def spy(codec=None):
        seen.append(real(codec))
        return seen[-1]

    monkeypatch.setattr(F2, "job_threads", spy)
    monkeypatch.chdir(REPO)
    outs = []
    for j in ("1", "3"):
        seen.clear()
        outs.append(str(tmp_path / f"c{j}.root"))
        run([COMPRESS, f"inputFiles={SAMPLE}", f"outputFile={outs[-1]}", "maxEvents=2", "-j", j, "--no-progress",
             "pixelVQ.validate=False"])
        assert len(seen) >= 2 and set(seen) == {int(j)}
    a, b = (uproot.open(o)["Events"] for o in outs)
    for name in a.keys():
        assert name.startswith(("run", "luminosityBlock", "event")) or \
            ak.to_list(a[name].array()) == ak.to_list(b[name].array()), name
    with hepvq.open(outs[1], threads=3) as r:
        assert {c.threads for (c, _coll, _p) in r.codecs.values()} == {3}
        got = r.arrays()
    ref = hepvq.open(outs[1], threads=1).arrays()
    for f in P.FIELDS:
        a, b = (ak.to_numpy(ak.flatten(x.PixelDigi[f])) for x in (ref, got))
        assert a.tobytes() == b.tobytes()
