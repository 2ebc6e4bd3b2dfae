"""guard.jagged_offsets (the checksum's and the metadata reader's view of jagged columns) and hits_awkward: the same
values whatever layout awkward hands over, and a refusal when counts and arrays disagree."""
import awkward as ak
import numpy as np
import pytest

from hepvq.codecs.guard import jagged_offsets
from hepvq.pixel.core import hits_awkward


def _expected(arr):
    counts = ak.to_numpy(ak.num(arr, axis=1)).astype(np.int64)
    return np.concatenate([[0], np.cumsum(counts)]), ak.to_numpy(ak.flatten(arr, axis=None))


@pytest.mark.parametrize("view", ["whole", "sliced", "listarray", "empty"])
def test_jagged_offsets_equal_num_and_flatten(view):
    base = ak.Array([[1, 2, 3], [], [4], [5, 6], [7, 8, 9, 10]])
    arr = {"whole": base, "sliced": base[2:5], "empty": base[1:2],
           "listarray": base[np.array([3, 0, 4])]}[view]  # a fancy index gives a ListArray: the general path
    offsets, values = jagged_offsets(arr)
    want_off, want_val = _expected(arr)
    assert offsets.dtype == np.int64 and np.array_equal(offsets, want_off)
    assert np.array_equal(values, want_val)


def test_hits_awkward_builds_the_input_schema_and_refuses_a_mismatch():
    det = np.array([5, 5, 7], np.uint32)
    row, col, adc = (np.array(v, np.uint16) for v in ([1, 2, 3], [4, 5, 6], [10, 20, 30]))
    hits = hits_awkward(np.array([2, 0, 1]), det, row, col, adc)
    assert ak.to_list(hits.detId) == [[5, 5], [], [7]] and ak.to_list(hits.adc) == [[10, 20], [], [30]]
    assert str(hits.type.content) == "var * {detId: uint32, row: uint16, col: uint16, adc: uint16}"
    with pytest.raises(ValueError, match="counts add up to 4 but the arrays hold 3"):
        hits_awkward(np.array([2, 2]), det, row, col, adc)
