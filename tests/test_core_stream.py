"""The compiled core's stream coding (hepvq_core) against the numpy reference in these tests."""
import numpy as np
import pytest

import hepvq_core
from hepvq.errors import DataError


def _varint_reference(values) -> bytes:
    out = bytearray()
    for x in values:
        x = int(x)
        while True:
            b = x & 0x7F
            x >>= 7
            out.append(b | (0x80 if x else 0))
            if not x:
                break
    return bytes(out)


def test_varints_round_trip_and_match_reference():
    rng = np.random.default_rng(0)
    edges = np.array([0, 127, 128, 16383, 16384, (1 << 63) - 1, 1 << 63, (1 << 64) - 1], np.uint64)
    v = np.concatenate([rng.integers(0, 1 << 20, 5000).astype(np.uint64), edges])
    blob = hepvq_core.varint_bytes(v)
    assert blob == _varint_reference(v)
    assert np.array_equal(hepvq_core.varint_values(blob).view(np.uint64), v)
    assert len(hepvq_core.varint_values(b"")) == 0


def test_truncated_varint_stream_is_refused():
    with pytest.raises(DataError, match="truncated varint"):
        hepvq_core.varint_values(hepvq_core.varint_bytes(np.array([5, 1000], np.uint64))[:-1])
    with pytest.raises(DataError, match="longer than 64 bits"):
        hepvq_core.varint_values(b"\xff" * 10 + b"\x01")


def test_zigzag_and_key_gaps():
    x = np.array([0, -1, 1, -2, 2, np.iinfo(np.int64).min, np.iinfo(np.int64).max], np.int64)
    z = hepvq_core.zigzag(x)
    assert list(z[:5]) == [0, 1, 2, 3, 4]
    assert np.array_equal(hepvq_core.unzigzag(z), x)
    keys = np.array([0, 1, 5, 6, 100], np.int64)
    gaps = hepvq_core.key_gaps(keys)
    assert list(gaps) == [0, 0, 3, 0, 93]
    assert np.array_equal(hepvq_core.keys_from_gaps(gaps), keys)
    with pytest.raises(DataError, match="duplicate or unsorted hit positions at index 2"):
        hepvq_core.key_gaps(np.array([3, 4, 4], np.int64))


def test_tpc_coords_and_residuals_through_the_core_equal_numpy():
    from hepvq.codecs import residual
    from hepvq.tpc import coords

    rng = np.random.default_rng(5)
    v = rng.integers(0, 1 << 40, 3000).astype(np.uint64)
    assert coords.varint_bytes(v) == coords.varint_bytes_reference(v)
    blob = coords.varint_bytes(v)
    assert np.array_equal(coords.varint_values(blob), coords.varint_values_reference(blob))
    sector, layer = rng.integers(0, 24, 2000), rng.integers(0, 16, 2000)
    phi, z = rng.integers(0, 192, 2000), rng.integers(0, 249, 2000)
    k = np.unique(coords.keys(sector, layer, phi, z))
    s, l, p, zz = coords.unkey(k)
    blob, order = coords.encode(s, l, p, zz)
    back = coords.decode(blob)
    assert all(np.array_equal(a, b) for a, b in zip(back, (s, l, p, zz)))
    q = rng.integers(-300, 300, 5000)
    assert np.array_equal(residual.unpack(residual.pack(q)), q)
