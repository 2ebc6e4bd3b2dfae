"""pixel_vq with losslessPositions=False (snapped shapes) on realistic pile-up.

Regression: the snapped shape used to be the *nearest* table shape, which may hold pixels the input does not
have; those invented pixels collided with the pixels of a neighbouring cluster's patch ("duplicate pixel DIGI:
event 5" on the 200-event PU-200 premixing sample, whose entry 5 is simulated event 6 of seed 7) or fell
outside the module. Now a rare shape is replaced by the largest table shape inside it: decoded pixels are a
subset of the input's.
"""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec

MODEL = "data/models/pixel_vq"
COMPRESS = "python_cfg/premix_compress_cfg.py"


def _keys(h: P.Hits) -> np.ndarray:
    return (((h.event << 32) + h.det) << 20) + (h.row << 10) + h.col


@pytest.fixture(scope="module")
def event6(tmp_path_factory):
    """Entry 5 of the premixing study's pile-up sample (seed 7), written in the input schema."""
    from hepvq.sim import pixel

    ev, _ = pixel.simulate_events(1, pileup=200, seed=7, first_event=6)
    path = tmp_path_factory.mktemp("lossy") / "pu_ev6.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64,
                            "PixelDigi": ev.PixelDigi.type.content})
        f["Events"].extend({"run": ak.to_numpy(ev.run), "luminosityBlock": ak.to_numpy(ev.luminosityBlock),
                            "event": ak.to_numpy(ev.event), "PixelDigi": ev.PixelDigi})
    return path, ev.PixelDigi


def test_largest_subset_shape():
    table = np.array([0b1, 0b11, 0b111, 0b1000, 0b1001], dtype=np.uint64)
    masks = np.array([0b111, 0b1011, 0b110, 0b10000, 0b1001], dtype=np.uint64)
    got = P.largest_subset_shape(masks, table)
    # 0b111 itself; 0b1011 -> 0b11 or 0b1001 (2 pixels, lowest index); 0b110: none of the shapes fits
    # (0b1, 0b11, 0b111 need bit 0); 0b10000: none; 0b1001 itself
    assert got.tolist() == [2, 1, -1, -1, 4]
    inside = got >= 0
    assert np.all((table[got[inside]] & ~masks[inside]) == 0)
    assert P.popcount(np.array([0, 1, 2**64 - 1, 0b1011], dtype=np.uint64)).tolist() == [0, 1, 64, 3]
    # blocks give the same answer as one pass
    rng = np.random.default_rng(1)
    m = rng.integers(1, 2**32, 1000, dtype=np.uint64)
    t = rng.integers(1, 2**8, 40, dtype=np.uint64)
    assert np.array_equal(P.largest_subset_shape(m, t, block=7), P.largest_subset_shape(m, t))


def test_snapped_shapes_never_invent_pixels(event6):
    _, digis = event6
    codec = PixelVQCodec.from_directory(MODEL, lossless_positions=False)
    products, report = codec.encode(digis, validate=True)       # raised "duplicate pixel DIGI" before the fix
    dec = P.flatten(codec.decode(products))
    ref = P.canonical(P.flatten(digis))
    kd, kr = _keys(dec), _keys(ref)
    assert len(np.unique(kd)) == len(kd)                # no duplicate pixel
    assert np.isin(kd, kr).all()                        # every decoded pixel is an input pixel
    assert np.all((dec.row < codec.module_rows) & (dec.col < codec.module_cols))
    assert 0.9 < len(dec) / len(ref) < 1.0              # rare shapes lose pixels, and only those
    fig = report["fidelity"]
    assert fig["precision"] == 1.0 and fig["recall"] == pytest.approx(len(dec) / len(ref))
    # fewer escapes than in lossless-position mode (only masks that no table shape fits inside)
    esc_lossless = len(ak.flatten(PixelVQCodec.from_directory(MODEL).encode(digis).products["escapes"]["mask"]))
    assert len(ak.flatten(products["escapes"]["mask"])) < esc_lossless / 5


def test_main_job_lossy_positions_round_trip(event6, tmp_path):
    from hepvq.cli.run import run

    src, digis = event6
    out = tmp_path / "lossy.root"
    run([COMPRESS, f"inputFiles={src}", f"outputFile={out}", "pixelVQ.losslessPositions=False", "--no-progress"])
    got = P.flatten(hepvq.open(str(out)).arrays().PixelDigi)
    ref = P.canonical(P.flatten(digis))
    assert np.isin(_keys(got), _keys(ref)).all() and len(np.unique(_keys(got))) == len(got) < len(ref)
    # read back by uproot: the index branches are there and the event number is kept
    t = uproot.open(out)["Events"]
    assert t["event"].array(library="np").tolist() == [6]
