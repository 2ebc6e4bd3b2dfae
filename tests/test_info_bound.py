"""benchmarks/pixel_info_bound.py: the shape hash tells shapes apart, the held-out estimator is honest."""
import importlib.util
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _bound():
    spec = importlib.util.spec_from_file_location("pixel_info_bound", ROOT / "benchmarks" / "pixel_info_bound.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shape_hash_distinguishes_the_diagonals():
    b = _bound()
    # cluster 0: {(0,0),(1,1)}; cluster 1: {(0,1),(1,0)}; cluster 2: {(0,0),(1,1)} again
    lab = np.array([0, 0, 1, 1, 2, 2])
    rr = np.array([0, 1, 0, 1, 1, 0])
    cc = np.array([0, 1, 1, 0, 1, 0])
    h = b.shape_hashes(lab, rr, cc, 3, 160, 416)
    assert h[0] != h[1]
    assert h[0] == h[2]                     # a set: pixel order does not matter


def test_heldout_costs_unseen_symbols_and_is_not_below_plugin():
    b = _bound()
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, 3, 4000)
    sym = rng.zipf(1.6, 4000)               # heavy tail: many symbols seen once
    fold = np.arange(4000) % 2
    held = b.heldout_bits(ctx, sym, fold)
    plug = b.plugin_entropy_bits(ctx, sym)
    assert np.all(np.isfinite(held)) and np.all(held > 0)
    assert held.sum() > plug.sum() * 1.05   # plug-in makes singletons free; held-out must not
    # a symbol seen only in the test fold still costs a finite amount
    only_test = np.array([0, 0, 0, 0]), np.array([1, 1, 1, 7]), np.array([0, 0, 0, 1])
    assert np.isfinite(b.heldout_bits(*only_test)).all()


def test_command_reports_heldout_and_ratio_from_same_run(tmp_path):
    b = _bound()
    out = tmp_path / "bound.json"
    b.main(["--events", "2", "--out", str(out)])
    res = json.loads(out.read_text())
    assert res["events"] == 2 and res["hits"] > 10_000
    held, plug = res["held_out"], res["plug_in"]
    assert held["total_bits_per_hit"] > plug["total_bits_per_hit"]
    assert abs(held["max_ratio_exact_positions"] * held["total_bits_per_hit"] - res["root_zstd5_bits_per_hit"]) < 1e-9
    assert "not a theorem" in res["what_it_is"]
