"""Sparse patch extraction / scatter and cluster finding (hepvq.pixel.patches)."""
import awkward as ak
import numpy as np
import pytest

from hepvq.errors import DataError
from hepvq.pixel import patches as P
from pixel_toydata import toy_events


def _hits(rows):
    """rows: list of events, each a list of (det, row, col, adc)."""
    arr = ak.Array([[{"detId": d, "row": r, "col": c, "adc": a} for d, r, c, a in ev] for ev in rows])
    return arr


def test_roundtrip_exact_on_toy_events():
    h = P.flatten(toy_events(6, seed=3))
    p, order, hit_patch, slot = P.extract(h, 4, 8)
    back = P.scatter(p)
    ref = P.canonical(h)
    for f in ("event", "det", "row", "col", "adc"):
        assert np.array_equal(getattr(back, f), getattr(ref, f)), f
    # every hit sits in exactly one patch slot
    assert len(np.unique(hit_patch * 64 + slot)) == len(h)
    assert p.nhit.sum() == len(h)


def test_clusters_8_connected_and_per_module():
    ev = _hits([[(1, 5, 5, 10), (1, 6, 6, 10), (1, 7, 8, 10), (2, 5, 6, 10)], [(1, 5, 6, 20)]])
    h = P.flatten(ev)
    order, lab = P.cluster_labels(h)
    labels = np.empty(len(h), dtype=int)
    labels[order] = lab
    assert labels[0] == labels[1]            # diagonal neighbours: one cluster
    assert labels[2] != labels[0]            # a gap of one column: another cluster
    assert labels[3] != labels[0]            # other module
    assert labels[4] != labels[0]            # other event
    assert lab.max() + 1 == 4


def test_long_cluster_spans_several_patches_and_edges():
    # a 20-column track at the module edge (row 159, cols 396..415)
    ev = _hits([[(7, 159, c, 30 + c % 7) for c in range(396, 416)]])
    h = P.flatten(ev)
    p, *_ = P.extract(h, 4, 8)
    assert len(p) == 3 and set(p.cluster) == {0}
    assert np.array_equal(P.scatter(p).col, np.arange(396, 416))


def test_empty_events_and_empty_chunk():
    ev = _hits([[], [(3, 1, 1, 12)], []])
    h = P.flatten(ev)
    p, *_ = P.extract(h)
    assert len(p) == 1 and p.n_events == 3
    empty = P.flatten(ak.Array([[{"detId": 1, "row": 1, "col": 1, "adc": 1}]])[:0])
    p, *_ = P.extract(empty)
    assert len(p) == 0 and len(P.scatter(p)) == 0


def test_out_of_range_and_duplicates_raise_dataerror_naming_the_hit():
    h = P.flatten(_hits([[(303042564, 160, 3, 10)]]))
    with pytest.raises(DataError, match=r"detId=303042564 row=160 col=3"):
        P.check_range(h, 160, 416)
    h = P.flatten(_hits([[(9, 1, 2, 10), (9, 1, 2, 11)]]))
    with pytest.raises(DataError, match="duplicate"):
        P.cluster_labels(h)


def test_run_time_path_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, hepvq.pixel.codec, hepvq.pixel.metrics, hepvq_modules.pixel, hepvq_modules.decode; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
