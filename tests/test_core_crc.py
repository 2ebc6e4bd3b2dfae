"""The per-event CRC-32 of the decode guard computed by the core (hepvq_core.event_crc32) against the zlib loop
kept as its oracle (guard.event_checksums_reference): the same checksums on real pixel_vq products, on
random jagged and flat columns, with empty events, on several threads; and a damaged value is still caught."""
import zlib

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq_core
from hepvq.codecs import guard
from hepvq.errors import DataError
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec


@pytest.fixture(scope="module")
def products():
    t = uproot.open("data/pixel_pu200_sample.root")["Events"]
    hits = ak.zip({f: t[f"PixelDigi_{f}"].array(entry_stop=3) for f in P.FIELDS})
    return PixelVQCodec.from_directory("data/models/pixel_vq", adc_error_bound=2).encode(hits).products


def test_crc32_is_zlibs():
    rng = np.random.default_rng(1)
    for n in (0, 1, 7, 8, 9, 1000):
        data = rng.integers(0, 256, n).astype(np.uint8)
        for start in (0, 1, 0xFFFFFFFF, 123456789):
            assert hepvq_core.crc32(data, start) == zlib.crc32(data.tobytes(), start)


def test_event_checksums_equal_zlib_loop_on_real_products(products):
    ref = guard.event_checksums_reference(products)
    assert len(ref) == 3 and len(set(ref.tolist())) == 3
    assert np.array_equal(guard.event_checksums(products), ref)
    assert np.array_equal(guard.event_checksums(products, threads=3), ref)


def test_event_checksums_equal_zlib_loop_on_random_columns():
    rng = np.random.default_rng(2)
    n = 700
    counts = rng.integers(0, 5, n)
    counts[::9] = 0  # empty events
    prods = {
        "": ak.unflatten(ak.zip({"a": rng.integers(0, 2**16, counts.sum()).astype(np.uint16),
                                 "b": rng.normal(size=counts.sum()).astype(np.float32)}), counts),
        "flat": ak.zip({"x": rng.integers(-2**40, 2**40, n), "y": rng.integers(0, 255, n).astype(np.uint8)}),
        "plain": ak.unflatten(rng.integers(0, 2**31, counts.sum()).astype(np.int32), counts),
    }
    ref = guard.event_checksums_reference(prods)
    assert np.array_equal(guard.event_checksums(prods), ref)
    assert np.array_equal(guard.event_checksums(prods, threads=4), ref)
    assert len(guard.event_checksums({"": prods[""][:0]})) == 0


def test_damaged_value_is_refused(products):
    stored = guard.with_checksum(products)
    codes = stored["codes"]
    flat = ak.to_numpy(ak.flatten(codes["c0"])).copy()
    flat[5] ^= 1
    damaged = dict(stored, codes=ak.unflatten(ak.zip({"c0": flat}), ak.num(codes, axis=1)))
    with pytest.raises(DataError, match=r"file f\.root: products of 'enc' at entry 10 do not match their checksum"):
        guard.verify_checksum(damaged, file="f.root", label="enc", first_entry=10)
