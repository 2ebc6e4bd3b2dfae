"""The core's nearest-code search (float32 screening + float64 on the few candidates left) against the previous
implementation kept in the core as its oracle (VQSearch.search_exhaustive: float64 distance to every code):
the same indices and the same ambiguity flags, bit for bit, on real patches and on adversarial ones."""
import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq_core
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec

MODEL = "data/models/pixel_vq"


def real_patches(hits):
    codec = PixelVQCodec.from_directory(MODEL)
    _h, p = codec.patches(hits)
    _total, nhit, x = hepvq_core.patch_fractions(p.mask, p.adc)
    return codec, x, p.mask[nhit >= 2]


def assert_same(core, x, masks, threads=1):
    idx, amb = core.search(x, masks, threads)
    ref_idx, ref_amb = core.search_exhaustive(x, masks, 1)
    assert np.array_equal(idx, ref_idx), f"{int((idx != ref_idx).sum())} of {len(idx)} indices differ"
    assert np.array_equal(amb, ref_amb)
    return idx, amb


def test_search_equals_exhaustive_on_shipped_sample():
    t = uproot.open("data/pixel_pu200_sample.root")["Events"]
    hits = ak.zip({f: t[f"PixelDigi_{f}"].array(entry_stop=3) for f in P.FIELDS})
    codec, x, masks = real_patches(hits)
    assert len(x) > 30000
    assert_same(codec._fast._core, x, masks)
    assert_same(codec._fast._core, x, masks, threads=3)


def test_search_equals_exhaustive_on_simulated_events():
    from hepvq.sim import pixel

    events, _ = pixel.simulate_events(2, pileup=200, seed=4141)
    codec, x, masks = real_patches(events["PixelDigi"])
    assert_same(codec._fast._core, x, masks)


def adversarial(rng, n, size=32, k=256):
    """Fractions over random masks, with exact ties among the codes (duplicated code vectors) and codes close to
    each other, so that the float32 screening meets near-ties at its threshold."""
    cb = rng.normal(0.03, 0.05, (k, size))
    cb[k // 2:] = cb[: k - k // 2] + rng.normal(0, 1e-7, (k - k // 2, size)) * (rng.random((k - k // 2, 1)) < 0.5)
    cb[-8:] = cb[:8]  # exact duplicates: equal distances, lowest index first
    m = rng.random((n, size)) < rng.uniform(0.05, 0.5, (n, 1))
    m[np.arange(n), rng.integers(0, size, n)] = True
    m[np.arange(n), (rng.integers(0, size, n) + 1) % size] = True
    adc = np.where(m, rng.integers(1, 256, m.shape), 0)
    x = (adc / adc.sum(1, keepdims=True)).astype(np.float32)
    x[: n // 10] = np.where(m[: n // 10], cb[rng.integers(0, k, n // 10)], 0).astype(np.float32)  # on a code
    return cb, x, P.dense_to_mask(m)


def test_search_equals_exhaustive_on_ties_and_near_ties():
    rng = np.random.default_rng(5)
    cb, x, masks = adversarial(rng, 20000)
    core = hepvq_core.VQSearch(cb, 8, 0.3, 8, 1e-9)
    _idx, amb = assert_same(core, x, masks)
    assert amb.any()  # the duplicated codes make exact ties: flagged, as by the exhaustive search


@pytest.mark.parametrize("case", ["off-mask x", "NaN", "one pixel", "topk >= codes"])
def test_search_general_cases_fall_back_identically(case):
    rng = np.random.default_rng(9)
    cb, x, masks = adversarial(rng, 3000)
    topk = 8
    if case == "off-mask x":  # x not zero outside the mask: the exhaustive formula, row by row
        x[::3, 0] = np.where((masks[::3] & 1) == 0, 0.05, x[::3, 0])
    elif case == "NaN":
        x[::7, 3] = np.nan
    elif case == "one pixel":
        masks[::2] = np.uint64(1) << rng.integers(0, 32, len(masks[::2])).astype(np.uint64)
    else:
        cb, topk = cb[:9], 8
    core = hepvq_core.VQSearch(cb, topk, 0.3, 8, 1e-9)
    assert_same(core, x, masks)
