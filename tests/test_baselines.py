"""Peer compressors: the sparse lossless-coordinates baseline, SZ3/ZFP, lossless ROOT / zstd / lzma sizes."""
import awkward as ak
import numpy as np
import pytest

from hepvq.baselines.sparse import (bin_width, decode_sparse, dequantize, encode_sparse, requantize)

DETIDS = np.array([303042564, 303046660, 303050756, 344201220, 352588804], dtype=np.uint32)


def _hits(rng, counts):
    n = int(np.sum(counts))
    det = rng.choice(DETIDS, n)
    col = rng.integers(0, 416, n).astype(np.uint16)
    row = rng.integers(0, 160, n).astype(np.uint16)
    adc = rng.integers(10, 256, n).astype(np.uint16)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return det, col, row, adc, offsets


def _sorted_order(keys, offsets):
    ev = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return np.lexsort(tuple(reversed(keys)) + (ev,))


@pytest.mark.parametrize("counts", [[0], [1], [0, 0, 3, 0], [500, 0, 1, 1200, 7, 0]], ids=["empty", "single", "sparse-events", "mixed"])
def test_sparse_lossless_roundtrip(counts):
    rng = np.random.default_rng(len(counts))
    det, col, row, adc, offsets = _hits(rng, np.array(counts))
    blob = encode_sparse([det, col, row], adc, value_bits=None, value_min=0, value_max=255, event_offsets=offsets)
    keys, values, offs = decode_sparse(blob)
    order = _sorted_order([det, col, row], offsets)
    np.testing.assert_array_equal(offs, offsets)
    for got, want in zip(keys, [det, col, row]):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want[order])
    assert values.dtype == adc.dtype
    np.testing.assert_array_equal(values, adc[order])


def test_sparse_roundtrip_duplicates_wide_keys_float_values():
    rng = np.random.default_rng(7)
    n = 5000
    k1 = rng.integers(-2**40, 2**40, n)            # wide, sparse -> dictionary
    k2 = rng.integers(0, 3, n).astype(np.int8)      # duplicates of full keys happen
    k1[:100] = k1[100:200]
    k2[:100] = k2[100:200]
    vals = rng.normal(size=n).astype(np.float32)
    offsets = np.array([0, 2000, 2000, n])
    keys, values, offs = decode_sparse(encode_sparse([k1, k2], vals, value_bits=None, event_offsets=offsets))
    order = _sorted_order([k1, k2], offsets)
    np.testing.assert_array_equal(keys[0], k1[order])
    np.testing.assert_array_equal(keys[1], k2[order])
    # duplicates: the order among equal keys is not defined; compare as multisets per key
    got = np.rec.fromarrays([keys[0], keys[1], values])
    want = np.rec.fromarrays([k1[order], k2[order], vals[order]])
    np.testing.assert_array_equal(np.sort(got, order=["f0", "f1", "f2"]), np.sort(want, order=["f0", "f1", "f2"]))


def test_sparse_without_values_and_tpc_order():
    rng = np.random.default_rng(3)
    n = 3000
    keys = [rng.integers(0, 24, n), rng.integers(0, 48, n), rng.integers(0, 2000, n), rng.integers(0, 500, n)]
    got, values, offs = decode_sparse(encode_sparse(keys, None, value_bits=None))
    assert values is None and list(offs) == [0, n]
    order = np.lexsort(tuple(reversed(keys)))
    for g, k in zip(got, keys):
        np.testing.assert_array_equal(g, k[order])


@pytest.mark.parametrize("bits", [4, 5, 6])
@pytest.mark.parametrize("mode", ["linear", "log"])
def test_requantisation_error_bound(bits, mode):
    rng = np.random.default_rng(bits)
    vmin, vmax = 10.0, 255.0
    v = rng.uniform(vmin, vmax, 20000)
    codes = requantize(v, bits, vmin, vmax, mode)
    assert codes.min() >= 0 and codes.max() < 2**bits
    rec = dequantize(codes, bits, vmin, vmax, mode)
    half = bin_width(bits, vmin, vmax, mode) / 2
    if mode == "linear":
        assert np.abs(rec - v).max() <= half + 1e-9
    else:
        assert np.abs(np.log1p(rec - vmin) - np.log1p(v - vmin)).max() <= half + 1e-9
    # through the blob: values come back as the same bin centres
    det, col, row, _, offsets = _hits(rng, np.array([len(v)]))
    _, values, _ = decode_sparse(encode_sparse([det, col, row], v, value_bits=bits, value_min=vmin, value_max=vmax,
                                               event_offsets=offsets, mode=mode))
    order = _sorted_order([det, col, row], offsets)
    np.testing.assert_allclose(values, rec[order])


def test_sparse_sizes_sane():
    rng = np.random.default_rng(11)
    det, col, row, adc, offsets = _hits(rng, np.array([4000, 4000]))
    n = len(adc)
    raw_bits = 8 * (4 + 2 + 2 + 2)  # uint32 detId + 3 x uint16
    lossless = len(encode_sparse([det, col, row], adc, value_bits=None, event_offsets=offsets)) * 8 / n
    b4 = len(encode_sparse([det, col, row], adc, value_bits=4, value_min=10, value_max=255, event_offsets=offsets)) * 8 / n
    # random positions over 5 x 416 x 160 cells with 4000 hits/event: ~ log2(C(332800, 4000)/4000!) ~ 8.7 bits
    assert b4 < lossless < raw_bits / 2
    assert 4 + 7 < b4 < 4 + 13
    # empty input has a small fixed header
    assert len(encode_sparse([np.zeros(0, np.uint32)], np.zeros(0, np.uint16), value_bits=4, value_min=0, value_max=1)) < 100


def test_sparse_rejects_bad_input():
    from hepvq.errors import DataError

    with pytest.raises(ValueError):
        encode_sparse([np.zeros(3, float)], np.zeros(3), value_bits=None)
    with pytest.raises(ValueError):
        encode_sparse([np.zeros(3, int)], np.zeros(3), value_bits=None, event_offsets=[0, 2])
    with pytest.raises(DataError):
        decode_sparse(b"nope")


def _dense_sample(rng):
    x = np.zeros((32, 48, 40), np.float32)
    idx = tuple(rng.integers(0, s, 1500) for s in x.shape)
    x[idx] = rng.uniform(10, 255, 1500)
    return x


@pytest.mark.parametrize("eb", [0.5, 4.0])
def test_sz3_error_bound(eb):
    pytest.importorskip("pysz")
    from hepvq.baselines.dense import apply_threshold, sz3_roundtrip

    x = _dense_sample(np.random.default_rng(0))
    rec, nbytes = sz3_roundtrip(x, eb)
    assert rec.shape == x.shape and rec.dtype == x.dtype
    assert np.abs(rec - x).max() <= eb * (1 + 1e-6)
    assert 0 < nbytes < x.nbytes
    # the zero-suppression threshold removes the small non-zero values where there were no hits
    cleaned = apply_threshold(rec, 10 - eb)
    assert np.count_nonzero(cleaned) == np.count_nonzero(x)


@pytest.mark.parametrize("tol", [0.5, 4.0])
def test_zfp_error_bound(tol):
    pytest.importorskip("zfpy")
    from hepvq.baselines.dense import apply_threshold, zfp_roundtrip

    x = _dense_sample(np.random.default_rng(1))
    rec, nbytes = zfp_roundtrip(x, tolerance=tol)
    assert rec.shape == x.shape
    assert np.abs(rec - x).max() <= tol
    assert 0 < nbytes < x.nbytes
    assert np.count_nonzero(apply_threshold(rec, 10 - tol)) == np.count_nonzero(x)
    rec64, _ = zfp_roundtrip(x.astype(np.float64), rate=8)
    assert rec64.dtype == np.float64
    with pytest.raises(ValueError):
        zfp_roundtrip(x, tolerance=1, rate=2)


def test_lossless_sizes():
    from hepvq.baselines.lossless import columns_bytes, lzma_size, root_file_size, zstd_size

    rng = np.random.default_rng(2)
    counts = rng.integers(0, 500, 10)
    n = int(counts.sum())

    def jag(hi, dt):
        return ak.unflatten(rng.integers(0, hi, n).astype(dt), counts)

    arrays = {"run": np.ones(10, np.uint32), "event": np.arange(10, dtype=np.uint64),
              "PixelDigi_detId": jag(2000, np.uint32), "PixelDigi_row": jag(160, np.uint16),
              "PixelDigi_col": jag(416, np.uint16), "PixelDigi_adc": jag(255, np.uint16)}
    raw = columns_bytes(arrays)
    assert len(raw) == 10 * (4 + 8) + 10 * 4 + n * 10
    z = root_file_size(arrays, "ZSTD", 5)
    lz = root_file_size(arrays, "LZMA", 9)
    none = root_file_size(arrays, None, 0)
    assert lz < none and z < none
    assert none > n * 10  # the uncompressed file holds at least the payload
    assert 0 < zstd_size(raw, 19) < len(raw) and 0 < lzma_size(raw) < len(raw)


def test_dense_scatter_and_back():
    from hepvq.baselines.dense import from_dense, to_dense

    keys = [np.array([0, 1, 1]), np.array([2, 0, 0])]
    dense = to_dense(keys, [5, 3, 4], (2, 3))
    assert dense.tolist() == [[0, 0, 5], [7, 0, 0]]  # duplicates summed
    k, v = from_dense(dense, threshold=6)
    assert [x.tolist() for x in k] == [[1], [0]] and v.tolist() == [7]
