"""pixel_vq format 2 encode in the compiled core (hepvq_core.pixel_vq_f2_symbols, core/src/pixel_vq_f2_encode.cpp,
the symbols and contexts of every stream; also what hepvq_encode calls) == the numpy oracle
format2.cluster_streams_reference, array for array, on sample events, fresh simulated events and edge events, for
every operating point; and the encoded products equal those of the oracle byte for byte."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepvq.errors import DataError
from hepvq.pixel import format2 as F
from hepvq.pixel import patches as P

REPO = Path(__file__).resolve().parents[1]
SAMPLE = str(REPO / "data" / "pixel_pu200_sample.root")
MODEL = str(REPO / "data" / "models" / "pixel_vq")


@pytest.fixture(scope="module")
def codecs():
    return {pt: F.PixelVQFormat2.from_directory(MODEL, operating_point=pt) for pt in F.OPERATING_POINTS}


def _sample(start, stop):
    src = uproot.open(SAMPLE)["Events"].arrays(entry_start=start, entry_stop=stop)
    return ak.zip({k: src[f"PixelDigi_{k}"] for k in P.FIELDS})


def _simulated():
    from hepvq.sim.pixel import simulate_events

    ev, _truth = simulate_events(2, pileup=20.0, seed=1515, first_event=7)
    return ev.PixelDigi


def _edge():
    from test_pixel_format2 import _edge_hits

    return _edge_hits(None)


def _assert_core_equals_oracle(codec, hits):
    _h, p, shape, mask, charge, codes, multi = codec._symbols(hits)[:7]
    core = F.cluster_streams(codec, codec.ctx, p, shape, mask, charge, codes, multi)
    ref = F.cluster_streams_reference(codec, codec.ctx, p, shape, mask, charge, codes, multi)
    assert list(core[0]) == list(ref[0]) == list(F.stream_names(codec.stages))
    for name in core[0]:
        for what, a, b in zip(("symbols", "contexts", "events"), core[0][name], ref[0][name]):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == np.int64 and np.array_equal(a, b.astype(np.int64)), (name, what)
    for k in ("nmod", "ncl", "npatch"):
        assert np.array_equal(core[1][k], ref[1][k]), k
    for a, b in zip(core[2]["fardet"], ref[2]["fardet"]):
        assert np.array_equal(a, b)
    return core


@pytest.mark.parametrize("point", list(F.OPERATING_POINTS))
def test_core_symbols_equal_numpy_oracle_sample_and_edges(codecs, point):
    codec = codecs[point]
    s = _assert_core_equals_oracle(codec, _sample(0, 2))
    assert len(s[0]["esc"][0]) > 0 and len(s[0]["tiles"][0]) > 0  # the sample exercises escapes and 2-D layouts
    e = _assert_core_equals_oracle(codec, _edge())
    assert e[1]["npatch"][0] == 0 and len(e[2]["fardet"][0]) == 1  # empty event, unknown module


def test_core_symbols_equal_numpy_oracle_simulated(codecs):
    _assert_core_equals_oracle(codecs["default"], _simulated())


def test_products_equal_with_the_oracle_streams(codecs, monkeypatch):
    """encode() with the core symbols == encode() with the numpy oracle's, every product byte for byte."""
    codec = codecs["coarse"]
    hits = _sample(2, 3)
    a = codec.encode(hits).products
    monkeypatch.setattr(F, "cluster_streams", F.cluster_streams_reference)
    b = codec.encode(hits).products
    assert list(a) == list(b)
    for k in a:
        assert ak.to_list(a[k]) == ak.to_list(b[k]), k


def test_core_refuses_patches_not_from_clusters(codecs):
    """Two patches of one module row 16+ columns apart given one cluster number: a one-row cluster with an empty
    tile, refused by both."""
    import dataclasses

    codec = codecs["default"]
    _h, p, shape, mask, charge, codes, multi = codec._symbols(_sample(0, 1))[:7]
    key = p.det * 1000 + p.row
    a = b = None
    for i in range(len(p)):
        j = np.flatnonzero((key == key[i]) & (p.col >= p.col[i] + 16))
        if len(j):
            a, b = i, int(j[0])
            break
    assert a is not None
    cl = p.cluster.copy()
    cl[cl == cl[b]] = cl[a]
    q = dataclasses.replace(p, cluster=cl)
    for fn in (F.cluster_streams, F.cluster_streams_reference):
        with pytest.raises(DataError, match="empty tile"):
            fn(codec, codec.ctx, q, shape, mask, charge, codes, multi)


@pytest.mark.parametrize("point", list(F.OPERATING_POINTS))
def test_core_rate_bits_equal_numpy_oracle(codecs, point):
    """bits(code | context) of the rate-aware choice: the core's (pixel_vq_f2_rate_bits, also the C++ encoder's) ==
    format2._bits_table_reference bit for bit, including k beyond the table's direct symbols (escaped codes)."""
    codec = codecs[point]
    t = codec.tab.tables["code0"]
    for k in sorted({codec.codebook_sizes[0], t.direct, t.direct + 3, 1}):
        if k > t.alphabet:
            continue
        a, b = F._bits_table(t, k), F._bits_table_reference(t, k)
        assert a.shape == b.shape == (t.n_contexts, k)
        assert np.array_equal(a, b)  # inf (zero frequency) equal too


def test_core_symbols_same_for_any_thread_count(codecs):
    """Three events on 1 and 3 threads (event ranges in parallel, concatenated in event order): every stream, count
    and unknown detId identical."""
    from hepvq.codecs.options import job_threads

    codec = codecs["default"]
    _h, p, shape, mask, charge, codes, multi = codec._symbols(_sample(0, 3))[:7]
    assert len(p) >= 3 * 4096  # enough patches for three ranges
    runs = []
    for t in (1, 3):
        with job_threads(t):
            runs.append(F.cluster_streams(codec, codec.ctx, p, shape, mask, charge, codes, multi))
    (s1, c1, f1), (s3, c3, f3) = runs
    assert list(s1) == list(s3)
    for name in s1:
        for a, b in zip(s1[name], s3[name]):
            assert np.array_equal(a, b), name
    for k in c1:
        assert np.array_equal(c1[k], c3[k]), k
    for a, b in zip(f1["fardet"], f3["fardet"]):
        assert np.array_equal(a, b)
