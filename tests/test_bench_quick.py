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
