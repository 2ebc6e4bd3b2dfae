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


def test_score_counts_lost_and_fake_hits():
    import awkward as ak

    from hepvq.baselines.suite import make_sample, score

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
