"""The fast encoding paths give exactly the reference results: cluster finding (one searchsorted for the three
next-row neighbours), mask unpacking, the numpy VQ search (vs the ONNX encoder) and the per-hit validation
decode (vs scatter + sort)."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepvq.pixel import fastsearch as F
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec
from pixel_toydata import toy_events

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "data" / "models" / "pixel_vq"
SAMPLE = REPO / "data" / "pixel_pu200_sample.root"


def _bfs_labels(key, r, c, rows, cols):
    """Reference 8-connected labels (smallest member first), plain Python over a dict of pixels."""
    where = {int(k): i for i, k in enumerate(key)}
    lab = [-1] * len(key)
    nxt = 0
    for s in range(len(key)):
        if lab[s] >= 0:
            continue
        lab[s] = nxt
        stack = [s]
        while stack:
            i = stack.pop()
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r[i] + dr, c[i] + dc
                    if (dr or dc) and 0 <= rr < rows and 0 <= cc < cols:
                        j = where.get(int(key[i] + dr * cols + dc))
                        if j is not None and lab[j] < 0:
                            lab[j] = nxt
                            stack.append(j)
        nxt += 1
    return np.asarray(lab)


def _random_hits(rng, rows, cols, n_groups):
    pix = np.unique(rng.integers(0, rows * cols * n_groups, rng.integers(1, rows * cols * n_groups)))
    g, rem = pix // (rows * cols), pix % (rows * cols)
    return P.Hits(1, np.zeros(len(pix), np.int64), g, rem // cols, rem % cols, np.ones(len(pix), np.int64))


def test_neighbour_pairs_and_labels_match_reference_on_random_grids():
    rng = np.random.default_rng(7)
    for _ in range(60):
        rows, cols = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        h = _random_hits(rng, rows, cols, int(rng.integers(1, 4)))
        order, grp, key = P._group_keys(h, rows, cols)
        r, c = h.row[order], h.col[order]
        fast = sorted(zip(*P._neighbour_pairs(key, r, c, cols)))
        ref = sorted(zip(*P._neighbour_pairs_reference(key, r, c, rows, cols)))
        assert fast == ref
        _, lab = P.cluster_labels(h, rows, cols)
        assert np.array_equal(lab, _bfs_labels(key, r, c, rows, cols))


def test_cluster_labels_match_reference_on_simulated_data():
    for hits in (toy_events(3, seed=11), _sample_hits(1)):
        h = P.flatten(hits)
        order, grp, key = P._group_keys(h, 160, 416)
        r, c = h.row[order], h.col[order]
        i, j = P._neighbour_pairs(key, r, c, 416)
        ir, jr = P._neighbour_pairs_reference(key, r, c, 160, 416)
        assert np.array_equal(np.sort(i * len(key) + j), np.sort(ir * len(key) + jr))
        _, lab = P.cluster_labels(h)
        if len(h) < 20000:
            assert np.array_equal(lab, _bfs_labels(key, r, c, 160, 416))


def test_mask_to_dense_matches_shifts():
    rng = np.random.default_rng(3)
    m = rng.integers(0, 2 ** 63, 1000, dtype=np.int64).astype(np.uint64) | np.uint64(1 << 63)
    for size in (1, 7, 32, 64):
        ref = ((m[:, None] >> np.arange(size, dtype=np.uint64)[None, :]) & np.uint64(1)).astype(bool)
        assert np.array_equal(P.mask_to_dense(m, size), ref)
    assert P.mask_to_dense(np.zeros(0, np.uint64), 32).shape == (0, 32)


def _sample_hits(n):
    a = uproot.open(SAMPLE)["Events"].arrays(entry_stop=n)
    return ak.zip({k: a[f"PixelDigi_{k}"] for k in P.FIELDS})


def _encoder_inputs(codec, hits):
    h, p = codec.patches(hits)
    shape, mask = codec.shape_index(p.mask)
    dense = P.mask_to_dense(mask, codec.size)
    adc = np.where(dense, p.adc, 0)
    total = adc.sum(1)
    multi = dense.sum(1) >= 2
    x = (adc[multi] / total[multi, None]).astype(np.float32)
    return x, dense[multi].astype(np.float32), mask[multi]


def test_onnx_initializer_reader_matches_onnx():
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    model = onnx.load(str(MODEL / "encoder.onnx"))
    want = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    data = (MODEL / "encoder.onnx").read_bytes()
    for name, arr in want.items():
        if arr.dtype in (np.float32, np.float64):
            assert np.array_equal(F.onnx_initializer(data, name), arr.astype(np.float64))
    assert F.onnx_initializer(data, "no-such-tensor") is None


def test_fast_search_equals_onnx_encoder_on_sample(monkeypatch):
    codec = PixelVQCodec.from_directory(MODEL)
    assert codec._fast is not None, "the shipped one-stage VQ model should use the numpy search"
    x, m, mid = _encoder_inputs(codec, _sample_hits(2))
    ref = codec._run_onnx_encoder(x, m)
    idx, amb = codec._fast.search(x, m, mid)
    assert amb.mean() < 0.01
    assert np.array_equal(idx, ref[:, 0])
    assert np.array_equal(codec._run_encoder(x, m, mid), ref)
    # every row declared ambiguous -> everything through onnxruntime, same answer
    monkeypatch.setattr(F, "TOL", 1e9)
    idx2, amb2 = codec._fast.search(x[:3000], m[:3000], mid[:3000])
    assert amb2.all()
    assert np.array_equal(codec._run_encoder(x[:3000], m[:3000], mid[:3000]), ref[:3000])


def test_fast_codec_products_and_figures_identical_to_reference():
    hits = _sample_hits(2)
    fast = PixelVQCodec.from_directory(MODEL)
    slow = PixelVQCodec.from_directory(MODEL, fast_search=False)
    assert slow._fast is None
    for bound in (-1, 0):
        fast.adc_error_bound = slow.adc_error_bound = bound
        pf, mf = fast.encode(hits, validate=True)
        mf = mf["fidelity"]
        # reference: ONNX search, reconstruction by scatter + sort
        slow_symbols = slow._symbols
        slow._symbols = lambda *a: slow_symbols(*a)._replace(all_kept=False)
        ps, ms = slow.encode(hits, validate=True)
        ms = ms["fidelity"]
        del slow._symbols
        assert pf.keys() == ps.keys()
        for k in pf:
            assert ak.to_list(pf[k]) == ak.to_list(ps[k]), k
        assert mf == ms or all((mf[k] == ms[k]) or (mf[k] != mf[k] and ms[k] != ms[k]) for k in mf)
