"""pixel_sparse format 2 decoded by the compiled core (hepvq_core.sparse_decode_event, the function the C++ reader
calls) equals the numpy decoder it replaced (PixelSparseCodec.decode_reference: sparse_streams.decode_event), bit
for bit: on the shipped sample, on freshly simulated events and on edge events (empty, one hit, module corners, the
tables' largest planes, detIds missing from the tables, shapes outside the book); damaged blobs are refused by both
or decode to the same hits."""
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepvq.errors import DataError
from hepvq.pixel.codec import PixelSparseCodec

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("detId", "row", "col", "adc")


@pytest.fixture(scope="module")
def codec():
    return PixelSparseCodec(adc_bits=4, format=2)


def _digis(path, stop):
    a = uproot.open(path)["Events"].arrays([f"PixelDigi_{f}" for f in FIELDS], entry_stop=stop)
    return ak.zip({f: a[f"PixelDigi_{f}"] for f in FIELDS})


def _assert_core_equals_numpy(codec, hits):
    products = codec.encode(hits).products
    assert bytes(ak.to_numpy(products[""].blob[0]))[:4] == b"HVS\x02"
    got, ref = codec.decode(products), codec.decode_reference(products)
    assert len(got) == len(ref) == len(hits)
    for f in FIELDS:
        a, b = ak.to_numpy(ak.flatten(got[f])), ak.to_numpy(ak.flatten(ref[f]))
        assert a.dtype == b.dtype, f
        np.testing.assert_array_equal(a, b, err_msg=f)
    np.testing.assert_array_equal(ak.num(got), ak.num(hits))  # every hit back (positions are lossless)
    return products


def test_core_equals_numpy_on_sample(codec):
    _assert_core_equals_numpy(codec, _digis(REPO / "data" / "pixel_pu200_sample.root", 2))


def test_core_equals_numpy_on_simulated_events(codec, tmp_path):
    sim = tmp_path / "sim.root"
    subprocess.run([sys.executable, "-m", "hepvq.cli.simulate", "pixel", "--events", "2", "--pileup", "10",
                    "--seed", "2424", "--no-truth", "--quiet", "-o", str(sim)], check=True, capture_output=True,
                   timeout=300)
    _assert_core_equals_numpy(codec, _digis(sim, None))


def _event(rng, det, n, rows=160, cols=416):
    """n distinct random pixels on module det."""
    key = rng.choice(rows * cols, n, replace=False)
    return det, key // cols, key % cols, rng.integers(1, 256, n)


def edge_events(tables):
    """Events at the edges of the format: empty, one hit, module corners, ADC clipped, the tables' largest planes,
    detIds missing from the tables, a block outside the shape book, a long irregular cluster, dense modules."""
    rng = np.random.default_rng(15)
    known = int(tables.keys[len(tables.keys) // 2])
    unknown = int(tables.keys.max()) + 12345  # not in the tables: an extra plane of the event
    n_max = tables.n_rows - 1
    events = [
        [],                                                                   # empty
        [(known, 0, 0, 1)],                                                   # one hit, ADC at the threshold
        [(known, 159, 415, 255), (known, 0, 415, 300), (known, 159, 0, 2)],   # module corners; ADC clipped
        [(unknown, 5, 7, 40), (unknown, 6, 8, 41), (unknown + 1, 0, 0, 9)],   # detIds missing from the tables
        [(known, n_max, tables.n_cols - 1, 17), (known, 1000, 2000, 18)],     # beyond a module: escapes
        [(known, r, c, 30) for r in range(20, 32) for c in range(100, 112)],  # a 12 x 12 block: no book shape
        [(known, 10 + i, 10 + (i * 7) % 11, 5 + i) for i in range(40)],       # a long irregular cluster
    ]
    for det in (known, unknown + 7):
        d, r, c, a = _event(rng, det, 500)
        events.append(list(zip([d] * 500, r.tolist(), c.tolist(), a.tolist())))
    flat = np.array([h for ev in events for h in ev], np.int64)
    return ak.unflatten(ak.zip({f: flat[:, i].astype(t) for i, (f, t) in
                                enumerate(zip(FIELDS, (np.uint32, np.uint16, np.uint16, np.uint16)))}),
                        [len(ev) for ev in events])


def test_core_equals_numpy_on_edge_events(codec):
    _assert_core_equals_numpy(codec, edge_events(codec.tables))


def test_core_and_numpy_agree_on_damaged_blobs(codec):
    """Single flipped bytes anywhere in a blob: both decoders refuse it (DataError) or give the same hits."""
    products = codec.encode(_digis(REPO / "data" / "pixel_pu200_sample.root", 1)[:, :3000]).products
    blob = ak.to_numpy(products[""].blob[0]).copy()
    rng = np.random.default_rng(7)
    refused = 0
    for pos in rng.choice(np.arange(4, blob.size), 40, replace=False):
        bad = blob.copy()
        bad[pos] ^= np.uint8(1 << int(rng.integers(8)))
        p = {"": ak.unflatten(ak.zip({"blob": bad}), [bad.size])}
        out = []
        for decode in (codec.decode, codec.decode_reference):
            try:
                out.append(decode(p))
            except DataError as err:
                assert str(err).count("\n") == 0 and "pixel_sparse event 0" in str(err)
                out.append(None)
        assert (out[0] is None) == (out[1] is None), pos
        if out[0] is None:
            refused += 1
        else:
            for f in FIELDS:
                np.testing.assert_array_equal(ak.to_numpy(ak.flatten(out[0][f])), ak.to_numpy(ak.flatten(out[1][f])))
    assert refused >= 30  # the rANS final-state and count checks catch nearly every flip
