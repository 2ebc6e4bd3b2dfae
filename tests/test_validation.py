"""Premixing validation (hepvq.validation, hepvq-validate): mixing model, CPE, zero difference for identical
pile-up, degraded pile-up flagged, the command on real files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hepvq.metrics import stats as S
from hepvq.metrics.cpe import cpe, lorentz_shift_pitch
from hepvq.sim.geometry import PHASE1
from hepvq.validation import premix
from hepvq.validation.mixing import Hits, geometry_threshold_adc, mix

SAMPLE = "data/pixel_pu200_sample.root"
DET = int(PHASE1.modules.detid[100])     # a layer-2 module (threshold 1200 e -> 8 ADC counts)
GAIN = PHASE1.electrons_per_adc


def H(*rows):
    return Hits.from_arrays(*np.array(rows, dtype=np.int64).reshape(-1, 5).T) if rows else Hits.empty()


def test_mixing_adds_charge_reapplies_threshold_and_saturates():
    sig = H([0, DET, 10, 20, 10], [0, DET, 11, 20, 200], [1, DET, 10, 20, 30], [0, DET, 40, 40, 5])
    pu = H([0, DET, 10, 20, 20], [0, DET, 11, 20, 100], [0, DET, 12, 20, 9])
    out, from_sig = mix(sig, pu, GAIN, 255, geometry_threshold_adc(PHASE1))
    got = {(int(e), int(r), int(c)): int(a) for e, r, c, a in zip(out.ev, out.row, out.col, out.adc)}
    # (10.5 + 20.5) x 135 e -> 31 counts; 200 + 100 saturates at 255; alone: own ADC; other event: not mixed
    assert got == {(0, 10, 20): 31, (0, 11, 20): 255, (0, 12, 20): 9, (1, 10, 20): 30}
    # the 5-count signal pixel is below the 8-count threshold (1200 e / 135 e)
    assert (0, 40, 40) not in got
    assert from_sig.tolist() == [True, True, False, True]
    # identity: mixing with nothing gives the input back (above threshold)
    alone, _ = mix(pu, Hits.empty(), GAIN, 255, 8)
    assert alone.adc.tolist() == [20, 100, 9]


def test_threshold_is_applied_to_the_sum():
    a = H([0, DET, 5, 5, 4])
    b = H([0, DET, 5, 5, 4])
    out, _ = mix(a, b, GAIN, 255, 8)          # 4.5 + 4.5 = 9 counts >= 8: fires only mixed
    assert out.adc.tolist() == [9]
    out, _ = mix(a, Hits.empty(), GAIN, 255, 8)
    assert len(out) == 0


def test_cpe_single_and_two_pixel_clusters():
    m = np.array([100, 100])                  # module index of each cluster
    shift = lorentz_shift_pitch(PHASE1, m)
    assert np.allclose(shift, 0.40 * 285e-4 / 2 / 0.01)            # 0.57 row pitch
    cid = np.array([0, 1, 1])
    row = np.array([10, 30, 31])
    col = np.array([7, 50, 50])
    q = np.array([5000.0, 3000.0, 1000.0])
    x, y = cpe(cid, row, col, q, m, PHASE1)
    assert np.allclose(x, [10.5 - shift[0], 30.5 + 0.25 - shift[1]])
    assert np.allclose(y, [7.5, 50.5])
    # big pixels: row 79 is two pitches wide (79 .. 81), its centre is at 80
    x, y = cpe(np.array([0]), np.array([79]), np.array([0]), np.array([1.0]), m[:1], PHASE1, big_pixels=True)
    assert np.allclose(x, 80.0 - shift[0]) and np.allclose(y, 1.0)


def test_bootstrap_helpers():
    W = S.bootstrap_weights(4, 50, seed=1)
    assert np.all(W[0] == 1) and np.allclose(W.sum(axis=1), 4)
    ev = np.array([0, 1, 2, 3])
    x = np.array([-1.0, 1.0, -3.0, 3.0])
    assert np.isclose(S.rms(W, ev, x, 4)[0], np.sqrt(5.0))
    assert np.isclose(S.weighted_quantiles(W, ev, x, (0.5,))[0, 0], -1.0)
    h = S.histograms(ev, np.array([0, 0, 1, 1]), np.array([-0.5, 0.5, 1.5]), 4)
    w, ks = S.binned_distances(W, h, h[:, ::-1], np.array([-0.5, 0.5, 1.5]))
    assert w[0] == 0.0 and ks[0] == 0.0          # swapping the two equally filled bins: same marginal


def _sample(a, b):
    return premix.read_pileup(SAMPLE, a, b)


def test_identical_pileup_gives_exactly_zero_difference():
    summary, _ = premix.study(_sample, _sample, 2, {"gun": "mu", "gun_ntracks": 40}, chunk=2, n_boot=30)
    for g, figs in summary["differences"]["decoded-original"].items():
        for k, d in figs.items():
            assert d["value"] == 0.0 and d["err"] == 0.0, (g, k, d)
    assert summary["verdict"] == "pass"
    for name, per in summary["pileup"]["distances"].items():
        for d in per.values():
            assert d["wasserstein"]["value"] == 0.0 and d["ks"]["value"] == 0.0
    assert all(v["value"] == 1.0 for v in summary["pileup"]["occupancy_ratio"].values())
    # pile-up does change the signal: more merged clusters and more charge than without it
    diff = summary["differences"]["original-none"]["all"]
    assert diff["merged_fraction"]["value"] > 0 and diff["cluster_charge_mean_e"]["value"] > 0


def test_degraded_pileup_is_flagged():
    """ADC coarsened to 64-count steps and 60 % of the hits dropped: criteria must not pass, and the pile-up
    distances see it."""
    def degraded(a, b):
        h, ev = _sample(a, b)
        keep = np.random.default_rng(a).random(len(h)) < 0.4
        adc = np.minimum((h.adc // 64) * 64 + 32, 255)
        return Hits(h.ev[keep], h.det[keep], h.row[keep], h.col[keep], adc[keep]), ev

    summary, _ = premix.study(_sample, degraded, 2, {"gun": "mu", "gun_ntracks": 300}, chunk=2, n_boot=50)
    verdicts = {(c["figure"], c["layers"]): c["verdict"] for c in summary["criteria"]}
    assert summary["verdict"] != "pass"
    assert verdicts[("merged_fraction", "all")] == "fail"
    d = summary["pileup"]["distances"]
    assert d["cluster_npix"]["all"]["ks"]["value"] > 0.1 and d["pixel_adc"]["all"]["wasserstein"]["value"] > 5
    assert summary["pileup"]["occupancy_ratio"]["L1_ring1"]["value"] < 0.5


def test_coarsened_adc_is_flagged_by_the_charge_criterion():
    """Every pile-up hit kept at its place, ADC coarsened to 64-count steps (bin centres, no bias on average):
    the position criteria cannot see it, the charge criterion must."""
    def coarse(a, b):
        h, ev = _sample(a, b)
        return Hits(h.ev, h.det, h.row, h.col, np.minimum((h.adc // 64) * 64 + 32, 255)), ev

    summary, _ = premix.study(_sample, coarse, 2, {"gun": "mu", "gun_ntracks": 300}, chunk=2, n_boot=50)
    crit = {(c["figure"], c["layers"]): c for c in summary["criteria"]}
    assert summary["verdict"] == "fail"
    assert crit[("merged_charge_rms_rel", "all")]["verdict"] == "fail"
    assert crit[("merged_charge_rms_rel", "all")]["difference"] > 0.03
    assert crit[("efficiency", "all")]["verdict"] == "pass"      # positions exact: the old criteria pass
    assert crit[("merged_fraction", "all")]["verdict"] == "pass"
    d = summary["differences"]["decoded-original"]["all"]
    assert summary["merged_crossings"]["decoded-original"]["all"] > 20 and d["charge_w1_rel"]["value"] > 0
    # what pile-up itself does to the signal charge is far larger than the tolerances
    assert summary["differences"]["original-none"]["all"]["charge_mean_rel"]["value"] > 0.02
    # charge criteria are judged for all layers together only
    assert ("merged_charge_rms_rel", "L1") not in crit and ("charge_mean_rel", "all") in crit


def test_verdict_rule():
    assert premix.verdict(0.0005, 0.0001, 0.001) == "pass"
    assert premix.verdict(0.0005, 0.0003, 0.001) == "inconclusive"
    assert premix.verdict(0.003, 0.0005, 0.001) == "fail"
    assert premix.verdict(float("nan"), 0.0, 0.001) == "inconclusive"


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    from hepvq.cli import run

    out = tmp_path_factory.mktemp("premix") / "pu_vq.root"
    rc = run.main(["python_cfg/premix_compress_cfg.py", f"outputFile={out}", "maxEvents=2"])
    assert rc in (0, None) and out.exists()
    return out


@pytest.mark.slow
def test_cli_on_real_files(tmp_path, compressed, capsys):
    from hepvq.cli import validate

    out = tmp_path / "v"
    rc = validate.main(["premix", "--pileup", SAMPLE, "--compressed", str(compressed), "--events", "2",
                        "--ntracks", "20", "--eta", "-2.5,2.5", "--bootstrap", "20", "--out", str(out), "-q"])
    assert rc in (0, 1)
    s = json.loads((out / "summary.json").read_text())
    # 4 figures x (L1..L4, all) + 3 charge figures for all layers
    assert s["events"] == 2 and len(s["criteria"]) == 23
    assert {c["verdict"] for c in s["criteria"]} <= {"pass", "fail", "inconclusive"}
    # positions are exact in the shipped operating point: cluster sizes of the pile-up are identical
    assert s["pileup"]["distances"]["cluster_npix"]["all"]["ks"]["value"] == 0.0
    assert (out / "report.md").read_text().startswith("# Premixing validation")
    assert len(list(out.glob("validation_*.png"))) == 6
    # refuses to overwrite, one line
    with pytest.raises(SystemExit) as e:
        validate.main(["premix", "--pileup", SAMPLE, "--compressed", str(compressed), "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "summary.json" in err[0]


def test_cli_argument_errors(tmp_path, capsys):
    from hepvq.cli import validate

    with pytest.raises(SystemExit) as e:
        validate.main(["premix", "--pileup", str(tmp_path / "none.root"), "--compressed", SAMPLE,
                       "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "--pileup" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        validate.main(["premix", "--pileup", SAMPLE, "--compressed", SAMPLE, "--out", str(tmp_path / "o"),
                       "--pt", "10,1"])
    assert e.value.code == 2 and "--pt" in capsys.readouterr().err
    # a pile-up file without pixel DIGIs: one line naming the file and the branch, nothing written
    rc = validate.main(["premix", "--pileup", "data/tpc_sample.root", "--compressed", SAMPLE,
                        "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "data/tpc_sample.root" in err[0] and "PixelDigi_detId" in err[0]
    assert not (tmp_path / "o" / "summary.json").exists()
    with pytest.raises(SystemExit) as e:
        validate.main(["--version"])
    assert e.value.code == 0 and "hepvq-validate" in capsys.readouterr().out
