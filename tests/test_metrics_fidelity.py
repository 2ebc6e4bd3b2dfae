"""hepvq.metrics.fidelity (the one matcher and set of fidelity figures) against a plain-Python oracle, the
figures every caller reports (pixel encoder, TPC encoder, hepvq-bench), and hepvq.metrics.size."""
from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from hepvq.metrics import fidelity as F
from hepvq.metrics import size as Z


def _oracle(ref, dec, group, spatial, pitch):
    """Straightforward version: dict matching, BFS clustering, seed = highest-ADC matched input pixel."""
    def cell(c, i):
        return (int(c["event"][i]),) + tuple(int(c[g][i]) for g in group) + tuple(int(c[s][i]) for s in spatial)

    rd = {cell(ref, i): i for i in range(len(ref["adc"]))}
    dd = {cell(dec, i): i for i in range(len(dec["adc"]))}
    found = [k for k in rd if k in dd]
    sq = sum((float(ref["adc"][rd[k]]) - float(dec["adc"][dd[k]])) ** 2 for k in found)
    sq_union = sq + sum(float(ref["adc"][rd[k]]) ** 2 for k in rd if k not in dd) + \
        sum(float(dec["adc"][dd[k]]) ** 2 for k in dd if k not in rd)
    sq_ref = sq + sum(float(ref["adc"][rd[k]]) ** 2 for k in rd if k not in dd)

    def clusters(d):
        lab, n = {}, 0
        for k in d:
            if k in lab:
                continue
            stack, lab[k] = [k], n
            while stack:
                c = stack.pop()
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        nb = c[:-2] + (c[-2] + dr, c[-1] + dc)
                        if nb in d and nb not in lab:
                            lab[nb] = n
                            stack.append(nb)
            n += 1
        return lab, n

    rl, nr = clusters(rd)
    dl, nd = clusters(dd)

    def table(d, lab, n, cols):
        q, c0, c1 = np.zeros(n), np.zeros(n), np.zeros(n)
        for k, i in d.items():
            a = float(cols["adc"][i])
            q[lab[k]] += a
            c0[lab[k]] += a * k[-2]
            c1[lab[k]] += a * k[-1]
        return q, c0 / q, c1 / q

    qr, r0, r1 = table(rd, rl, nr, ref)
    qd, d0, d1 = table(dd, dl, nd, dec)
    seeds = {}
    for k in found:
        c = rl[k]
        a = float(ref["adc"][rd[k]])
        if c not in seeds or a > seeds[c][0]:
            seeds[c] = (a, k)
    rel = np.array([(qd[dl[k]] - qr[c]) / qr[c] for c, (_, k) in seeds.items()])
    e0 = np.array([(d0[dl[k]] - r0[c]) * pitch[0] for c, (_, k) in seeds.items()])
    e1 = np.array([(d1[dl[k]] - r1[c]) * pitch[1] for c, (_, k) in seeds.items()])
    return {"recall": len(found) / len(rd), "precision": len(found) / len(dd),
            "adc_mse": sq_union / (len(rd) + len(dd) - len(found)), "adc_mse_ref": sq_ref / len(rd),
            "clusters": nr, "cluster_efficiency": len(seeds) / nr,
            "charge_rms_rel": float(np.sqrt(np.mean(rel ** 2))), "charge_bias_rel": float(np.mean(rel)),
            "centroid_rms": float(np.sqrt(np.mean(e0 ** 2 + e1 ** 2)))}


def _random_hits(rng, n, group, spatial, extent):
    cells = set()
    while len(cells) < n:
        cells.add((int(rng.integers(0, 3)),) + tuple(int(rng.integers(0, 3)) for _ in group)
                  + tuple(int(rng.integers(0, e)) for e in extent))
    cells = sorted(cells)
    cols = {"event": np.array([c[0] for c in cells])}
    for j, g in enumerate(group):
        cols[g] = np.array([c[1 + j] for c in cells]) * 7 + 100      # sparse group values (detIds)
    for j, s in enumerate(spatial):
        cols[s] = np.array([c[1 + len(group) + j] for c in cells])
    cols["adc"] = rng.integers(1, 255, len(cells))
    return cols


@pytest.mark.parametrize("group,spatial,pitch", [(("detId",), ("row", "col"), (100.0, 150.0)),
                                                 (("sector", "layer"), ("phi", "z"), (1.0, 1.0))])
def test_figures_equal_the_plain_python_oracle(group, spatial, pitch):
    rng = np.random.default_rng(3)
    ref = _random_hits(rng, 600, group, spatial, (20, 25))
    n = len(ref["adc"])
    keep = rng.random(n) > 0.1                      # drop 10 %, move ADCs, add fake hits
    dec = {k: v[keep] for k, v in ref.items()}
    dec["adc"] = np.clip(dec["adc"] + rng.integers(-20, 21, len(dec["adc"])), 1, 255)
    extra = _random_hits(np.random.default_rng(4), 80, group, spatial, (20, 25))
    have = set(zip(*(ref[k] for k in ("event",) + group + spatial)))
    new = np.array([c not in have for c in zip(*(extra[k] for k in ("event",) + group + spatial))])
    dec = {k: np.concatenate([dec[k], extra[k][new]]) for k in dec}
    figs, res = F.compare(ref, dec, group, spatial, pitch, adc_max=255)
    want = _oracle(ref, dec, group, spatial, pitch)
    for k, v in want.items():
        assert figs[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k
    assert figs["recall"] < 1 and figs["precision"] < 1 and 0 < figs["cluster_efficiency"] < 1
    assert len(res["charge_rel"]) == round(figs["cluster_efficiency"] * figs["clusters"])
    # additive: scoring event by event and merging gives the same figures
    per = [F.parts({k: v[ref["event"] == e] for k, v in ref.items()}, {k: v[dec["event"] == e] for k, v in dec.items()},
                   group, spatial, pitch) for e in range(3)]
    merged = F.summarise(F.merge(per), 255)
    for k, v in figs.items():
        assert merged[k] == pytest.approx(v, rel=1e-12), k


def test_aligned_parts_equal_parts_at_the_input_positions():
    """aligned_parts (lossless positions: the pixel encoder's report) gives exactly the figures of parts()."""
    from hepvq.metrics.clusters import find_clusters

    rng = np.random.default_rng(5)
    ref = _random_hits(rng, 600, ("detId",), ("row", "col"), (20, 25))
    dec = dict(ref, adc=np.clip(ref["adc"] + rng.integers(-20, 21, len(ref["adc"])), 1, 255))
    module = F._keys(ref, ref, ("detId",), ("row", "col"))[2]
    cluster = find_clusters(module, ref["row"], ref["col"])
    want = F.summarise(F.parts(ref, dec, ("detId",), ("row", "col"), (100.0, 150.0)), 255)
    got = F.summarise(F.aligned_parts(ref, dec["adc"], cluster, ("row", "col"), (100.0, 150.0)), 255)
    assert got == want and 0 < got["charge_rms_rel"] and got["adc_max_abs_error"] == 20


def test_tpc_cluster_with_known_answer():
    """One TPC cluster of two cells along phi, ADC (100, 100) decoded as (150, 50): charge kept, the centroid moves
    by -0.25 bin in phi; a second cluster loses half its charge (one of its two cells missed)."""
    ref = {"event": np.zeros(4, int), "sector": np.array([3, 3, 3, 3]), "layer": np.array([5, 5, 5, 5]),
           "phi": np.array([10, 11, 40, 40]), "z": np.array([7, 7, 90, 91]), "adc": np.array([100, 100, 80, 80])}
    dec = dict(ref, adc=np.array([150, 50, 80, 80]))
    dec = {k: v[:3] for k, v in dec.items()}
    figs, res = F.compare(ref, dec, ("sector", "layer"), ("phi", "z"))
    assert figs["clusters"] == 2 and figs["cluster_efficiency"] == 1.0
    assert sorted(res["charge_rel"].tolist()) == [-0.5, 0.0]
    assert sorted(res["dphi"].tolist()) == [-0.25, 0.0] and sorted(res["dz"].tolist()) == [-0.5, 0.0]
    assert figs["centroid_rms_phi"] == pytest.approx(np.sqrt(0.0625 / 2))
    assert figs["recall"] == 0.75 and figs["precision"] == 1.0
    assert figs["adc_mse_ref"] == pytest.approx((50 ** 2 + 50 ** 2 + 80 ** 2) / 4)
    assert figs["adc_max_abs_error"] == 50 and figs["adc_max_abs_error_ref"] == 80
    # different layers or sectors never join a cluster
    ref2 = dict(ref, layer=np.array([5, 6, 5, 5]))
    assert F.compare(ref2, ref2, ("sector", "layer"), ("phi", "z"))[0]["clusters"] == 3


def test_tpc_encoder_report_has_cluster_fidelity(tmp_path):
    from hepvq.cli.run import run

    out = tmp_path / "tpc.root"
    rep = run(["python_cfg/tpc_inr_compress_cfg.py", f"outputFile={out}", "maxEvents=1", "--no-progress"])
    text = repr(rep)
    for key in ("cluster efficiency", "cluster charge RMS error [%]", "cluster centroid RMS residual phi [bins]",
                "cluster centroid RMS residual z [bins]", "MSE on original hits"):
        assert key in text, key
    # the figures equal hepvq.metrics.fidelity on the decoded file (read back through hepvq.open)
    import hepvq

    dec = hepvq.open(str(out)).arrays().TpcHit[0]
    t = uproot.open("data/tpc_sample.root")["Events"]
    a = t.arrays([b for b in t.keys() if b.startswith("TpcHit_")], entry_stop=1)
    fields = ("sector", "layer", "phi", "z", "adc")
    ref = {f: ak.to_numpy(a[f"TpcHit_{f}"][0]) for f in fields}
    got = {f: ak.to_numpy(dec[f]) for f in fields}
    ref["event"], got["event"] = np.zeros(len(ref["adc"]), int), np.zeros(len(got["adc"]), int)
    figs, _ = F.compare(ref, got, ("sector", "layer"), ("phi", "z"))
    r = rep["reports"]["tpcInr"]
    assert r["cluster charge RMS error [%]"] == round(100 * figs["charge_rms_rel"], 3)
    assert r["cluster centroid RMS residual phi [bins]"] == round(figs["centroid_rms_phi"], 4)
    assert r["clusters (phi, z per sector and layer)"] == figs["clusters"]
    assert r["MSE on original hits [ADC^2]"] == round(figs["adc_mse_ref"], 2)
    assert figs["recall"] == 1.0 and 0 < figs["charge_rms_rel"] < 1 and figs["centroid_rms_phi"] < 1


def test_bench_suite_scores_with_the_same_figures():
    from hepvq.bench import suite

    s = suite.load_sample("tpc", "data/tpc_sample.root", 1, max_groups=8)
    r = suite.run_sparse(s, 3)
    d = suite.DETECTORS["tpc"]
    ref = dict(s.cols)
    figs, _ = F.compare(ref, ref, d["group"], d["spatial"])
    assert figs["charge_rms_rel"] == 0 and figs["centroid_rms"] == 0
    m = r.metrics
    for k in ("adc_mse", "charge_rms_rel", "centroid_rms", "centroid_rms_phi", "cluster_efficiency"):
        assert k in m
    assert m["recall"] == 1.0 and 0 < m["charge_rms_rel"] < 0.2 and m["adc_mse"] > 0
    row = r.row(s)
    assert "charge_rms_rel" in row and "centroid_rms" in row and "adc_rmse" in row


def test_size_estimators(tmp_path):
    prod = {"": ak.zip({"x": ak.Array([[1, 2, 3], []])})}
    z = Z.products_zstd_bytes(prod)
    r = Z.products_root_bytes(prod)
    assert 0 < z < 100 < r                      # a ROOT file has headers; the zstd estimate does not
    assert Z.metadata_bytes({"a": b"0" * 1000}) < 100
