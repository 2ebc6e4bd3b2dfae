"""hepvq-bench --quick: every method runs on the shipped samples, the report and figures are written, and the
figures are sane (lossless rows are lossless, SZ3/ZFP respect recall after re-thresholding, ...)."""
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("pysz")
pytest.importorskip("zfpy")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    if not (REPO / "data" / "pixel_pu200_sample.root").exists() and not (REPO / "data" / "tpc_sample.root").exists():
        pytest.skip("no sample in data/ (hepvq-simulate makes them)")
    from hepvq.cli.bench import main

    out = tmp_path_factory.mktemp("bench")
    rc = main(["--quick", "--out", str(out), "--json", str(out / "results.json")])
    assert rc == 0
    return out, json.loads((out / "results.json").read_text())


def test_report_and_figures_written(quick_run):
    out, data = quick_run
    text = (out / "RESULTS.md").read_text()
    assert "hepvq-bench --quick" in text and "threshold" in text and "| method |" in text
    for det in {r["detector"] for r in data["rows"]}:
        for kind in ("rd", "residuals", "display"):
            png = out / "figures" / f"bench_{kind}_{det}.png"
            assert png.exists() and png.stat().st_size > 10_000, png
            assert f"figures/bench_{kind}_{det}.png" in text


def test_figures_are_sane(quick_run):
    _, data = quick_run
    rows = data["rows"]
    families = {r["method"].split()[0] for r in rows}
    assert {"root", "sparse", "sz3", "zfp"} <= families
    for r in rows:
        assert r["bits_per_hit"] > 0 and r["ratio"] > 0
        assert 0 <= r["recall"] <= 1 and 0 <= r["precision"] <= 1
        if r["lossless"]:
            assert r["recall"] == 1 and r["precision"] == 1 and r["adc_mse"] == 0
        if r["method"].startswith(("sz3", "zfp")):
            # re-thresholded: no fake hits, and almost every hit kept at these error bounds
            assert r["precision"] > 0.99 and r["recall"] > 0.95
    for det in {r["detector"] for r in rows}:
        by = {r["method"]: r for r in rows if r["detector"] == det}
        # the sparse lossless baseline beats ROOT's generic compression of the same columns
        assert by["sparse lossless (fast)"]["bits_per_hit"] < by["root ZSTD-5"]["bits_per_hit"]
        # and requantising the ADC to 4 bits costs fewer bits than lossless, at a bounded ADC error
        q = by["sparse 4-bit linear (fast)"]
        assert q["bits_per_hit"] < by["sparse lossless (fast)"]["bits_per_hit"]
        adc_max = 255 if det == "pixel" else 1023
        assert q["adc_rmse"] < adc_max / 16
        assert np.isfinite(q["encode_hits_per_s"]) and q["encode_hits_per_s"] > 0


def test_metadata_reported_apart(quick_run):
    """Codec rows give bits/hit with and without the per-file metadata, and its size; peers have none."""
    out, data = quick_run
    rows = data["rows"]
    for r in rows:
        n_hits = 8 * r["bytes"] / r["bits_per_hit"]
        assert r["bits_per_hit_no_meta"] == pytest.approx(8 * (r["bytes"] - r["meta_bytes"]) / n_hits)
        if r["method"].split()[0] in ("root", "raw+zstd", "raw+xz", "sparse", "sz3", "zfp"):
            assert r["meta_bytes"] == 0
    codecs = [r for r in rows if r["method"].startswith(("pixel_vq", "tpc_inr"))]
    assert codecs and all(r["meta_bytes"] > 10_000 for r in codecs)  # decoder ONNX + tables
    assert all(r["bits_per_hit_no_meta"] < r["bits_per_hit"] for r in codecs)
    # the quick sample is large enough that a codec's metadata is not most of its size
    assert all(r["meta_bytes"] < 0.5 * r["bytes"] for r in codecs)
    assert "bits/hit w/o meta" in (out / "RESULTS.md").read_text()


def test_only_shipped_pixel_models_by_default(tmp_path):
    """A model trained into the models directory does not leak into the tables unless asked."""
    import shutil

    from hepvq.bench.suite import SHIPPED_PIXEL_MODELS, hepvq_codecs

    models = tmp_path / "models"
    shutil.copytree(REPO / "data" / "models" / "pixel_vq", models / "pixel_vq")
    shutil.copytree(REPO / "data" / "models" / "pixel_vq", models / "my_vq")
    notes = [n for _, c, n in hepvq_codecs("pixel", True, models) if c is not None]
    assert SHIPPED_PIXEL_MODELS == ("pixel_vq",) and "model data/models/pixel_vq" in notes
    assert not any("my_vq" in n for n in notes)
    every = [n for _, c, n in hepvq_codecs("pixel", True, models, pixel_models="all") if c is not None]
    assert any("my_vq" in n for n in every)
    mine = [n for _, c, n in hepvq_codecs("pixel", True, models, pixel_models=["my_vq"]) if c is not None]
    assert any("my_vq" in n for n in mine) and not any("models/pixel_vq" in n for n in mine)


def test_writes_bench_out_not_docs(tmp_path, monkeypatch):
    """Without --update-docs the bench writes under ./bench_out, never docs/."""
    from hepvq.cli.bench import main

    monkeypatch.chdir(tmp_path)
    docs = REPO / "docs" / "RESULTS.md"
    before = docs.stat().st_mtime_ns if docs.exists() else None
    rc = main(["--detectors", "tpc", "--events", "1", "--no-codecs", "--no-figures", "--quick"])
    assert rc == 0 and (tmp_path / "bench_out" / "RESULTS.md").is_file()
    assert (docs.stat().st_mtime_ns if docs.exists() else None) == before


def test_score_counts_lost_and_fake_hits():
    import awkward as ak

    from hepvq.bench.suite import make_sample, score

    # two events; event 0 has a 3-pixel cluster and a lone pixel, event 1 one 2-pixel cluster
    hits = ak.Array([
        [{"detId": 5, "row": 10, "col": 20, "adc": 100}, {"detId": 5, "row": 11, "col": 20, "adc": 50},
         {"detId": 5, "row": 12, "col": 21, "adc": 30}, {"detId": 7, "row": 0, "col": 0, "adc": 40}],
        [{"detId": 5, "row": 3, "col": 3, "adc": 60}, {"detId": 5, "row": 3, "col": 4, "adc": 60}],
    ])
    s = make_sample("pixel", hits, threshold=8)
    dec = {k: v.copy() for k, v in s.cols.items()}
    assert score(s, dec)[0]["recall"] == 1.0 and score(s, dec)[0]["adc_mse"] == 0
    # lose the lone pixel, add a fake one in event 1, change one ADC by +10
    keep = np.ones(len(dec["adc"]), bool)
    keep[3] = False
    dec = {k: v[keep] for k, v in dec.items()}
    for k, v in {"detId": 9, "row": 1, "col": 1, "adc": 20, "event": 1}.items():
        dec[k] = np.append(dec[k], np.array(v, dtype=dec[k].dtype))
    dec["adc"][0] += 10
    m, res = score(s, dec)
    assert m["recall"] == pytest.approx(5 / 6) and m["precision"] == pytest.approx(5 / 6)
    # union of 7 hits: errors 10 (changed), 40 (lost), 20 (fake)
    assert m["adc_mse"] == pytest.approx((10**2 + 40**2 + 20**2) / 7)
    assert m["clusters"] == 3 and m["cluster_efficiency"] == pytest.approx(2 / 3)
    # the changed cluster: Q 180 -> 190; centroid row shift = (10*10 + ...)/190 - (...)/180
    assert sorted(np.round(res["charge_rel"], 6)) == [0.0, round(10 / 180, 6)]
