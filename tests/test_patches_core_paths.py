"""The compiled core's patch extraction (hepvq_core.extract_patches, via hepvq.pixel.patches.extract) against its
numpy oracle extract_reference on the paths real PU-200 chunks rarely take: a cluster whose bounding box holds far
more patch tiles than hits (the core then numbers its tiles by a sort), unsorted input, any thread count; and
patch_fractions_hits against patch_fractions on the dense matrix, refusing two hits at one (patch, slot)."""
import numpy as np
import pytest

import hepvq_core
from hepvq.pixel import patches as P

ROWS = COLS = 2048  # big enough for a long diagonal; the reference's int64 patch key still fits


def _chunk(seed: int) -> P.Hits:
    rng = np.random.default_rng(seed)
    hits = set()
    for ev in range(2):
        for det in (3, 7, 11):
            n = int(rng.integers(200, 2000))
            hits |= {(ev, det, int(r), int(c)) for r, c in zip(rng.integers(0, 300, n), rng.integers(0, 400, n))}
        # one 8-connected diagonal of 1500 hits: ~70,000 tiles of 4x8 in its box
        hits |= {(ev, 5, 100 + i, 50 + i) for i in range(1500)}
    a = np.array(sorted(hits), dtype=np.int64)
    return P.Hits(2, a[:, 0], a[:, 1], a[:, 2], a[:, 3], rng.integers(1, 256, len(a)))


def _same(got, ref):
    p, order, hit_patch, slot = got
    q, qorder, qpatch, qslot = ref
    for f in ("event", "det", "row", "col", "mask", "cluster"):
        assert np.array_equal(getattr(p, f), getattr(q, f)), f
    assert np.array_equal(p.adc, q.adc)
    for a, b in ((order, qorder), (hit_patch, qpatch), (slot, qslot)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("shape", [(4, 8), (3, 5)])
def test_sparse_far_reaching_clusters_and_shuffled_hits_equal_the_reference(shape):
    h = _chunk(1)
    ref = P.extract_reference(h, *shape, ROWS, COLS)
    for threads in (1, 3):
        _same(P.extract(h, *shape, ROWS, COLS, threads=threads), ref)
    perm = np.random.default_rng(2).permutation(len(h))
    hs = h.take(perm)
    _same(P.extract(hs, *shape, ROWS, COLS, threads=2), P.extract_reference(hs, *shape, ROWS, COLS))


def test_fractions_from_hits_equal_dense_and_refuse_a_doubled_slot():
    h = _chunk(3)
    p, order, hit_patch, slot = P.extract(h, 4, 8, ROWS, COLS)
    dense = hepvq_core.patch_fractions(p.mask, p.adc)
    for threads in (1, 3):
        got = hepvq_core.patch_fractions_hits(p.mask, 32, hit_patch, slot, order, h.adc, threads)
        for a, b in zip(got, dense):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    hp = hit_patch.copy()
    sl = slot.copy()
    k = int(np.flatnonzero(hit_patch != hit_patch[0])[0])
    hp[k], sl[k] = hp[0], sl[0]  # hit k moved onto hit 0's (patch, slot)
    with pytest.raises(ValueError, match="two hits at one"):
        hepvq_core.patch_fractions_hits(p.mask, 32, hp, sl, order, h.adc)
