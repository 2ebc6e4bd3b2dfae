"""TPC INR compression: models (torch vs numpy), sampling strategies, batched fitting, quantisation, coordinate
coding, metrics, the tpc_inr codec (hybrid / dense, fit / amortised) and ONNX export parity. Tiny grids and
networks so that the whole file runs in well under a minute on one CPU core."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from hepvq.models import inr  # noqa: E402
from hepvq.tpc import coords as coordcode  # noqa: E402
from hepvq.tpc import inr_np, metrics, quantise, sampling  # noqa: E402
from hepvq.tpc.fit import fit_sectors, predict  # noqa: E402
from hepvq.tpc.grid import mask_context, normalise  # noqa: E402
from hepvq.tpc.synthetic import events, sector_volumes  # noqa: E402
from conftest import tpc_hit_table  # noqa: E402

SMALL = (32, 30, 4)        # phi multiple of 8 and z <= z_pad = 32 so that the amortised encoder fits too


def small_volumes(n=2, seed=0):
    return sector_volumes(n, seed=seed, n_tracks=6, shape=SMALL)


@pytest.mark.parametrize("kind", ["siren", "ffnet", "wire"])
def test_numpy_forward_matches_torch(kind):
    arch = inr.make_arch(kind, 16, 2, ff_features=8)
    params = inr.init_params(arch, 3, seed=1)
    x = torch.rand(3, 50, 3) * 2 - 1
    ref = inr.forward(arch, params, x).detach().numpy()
    for s in range(3):
        got = inr_np.forward(arch, [p[s].detach().numpy() for p in params], x[s].numpy())
        np.testing.assert_allclose(got, ref[s], atol=2e-5)
    assert inr.n_params(arch) == inr_np.n_params(arch) == sum(p[0].numel() for p in params)
    flat = np.concatenate([p[0].detach().numpy().ravel() for p in params])
    assert all(np.array_equal(a, p[0].detach().numpy()) for a, p in zip(inr_np.unflatten(arch, flat), params))


def test_batched_networks_get_independent_gradients():
    """Stacked networks + summed per-network losses: each network's gradient is the one it would get alone."""
    arch = inr.make_arch("siren", 8, 2)
    params = inr.init_params(arch, 2, seed=0)
    x, y = torch.rand(2, 64, 3) * 2 - 1, torch.rand(2, 64)
    ((inr.forward(arch, params, x) - y) ** 2).mean(dim=1).sum().backward()
    alone = [p[:1].detach().clone().requires_grad_() for p in params]
    ((inr.forward(arch, alone, x[:1]) - y[:1]) ** 2).mean(dim=1).sum().backward()
    for p, a in zip(params, alone):
        np.testing.assert_allclose(p.grad[0].numpy(), a.grad[0].numpy(), rtol=1e-5, atol=1e-7)


def test_fit_lowers_the_error_and_predict_shapes():
    vols = small_volumes(2)
    arch = inr.make_arch("siren", 16, 2)
    before = predict(arch, inr.init_params(arch, 2), shape=SMALL, full_shape=SMALL)
    r = fit_sectors(vols, arch, strategy="full", epochs=15, batch_size=1024, lr=3e-3)
    after = predict(arch, r.params, shape=SMALL, full_shape=SMALL)
    assert after.shape == (2,) + SMALL
    assert np.mean((after - vols) ** 2) < np.mean((before - vols) ** 2)
    assert r.history[-1][1] < r.history[0][1] and r.fit_time > 0
    sub = predict(arch, r.params, shape=SMALL, step=(2, 2, 1), full_shape=SMALL)
    assert sub.shape == (2, 16, 15, 4)


def test_importance_sampling_prefers_hits():
    y = torch.zeros(2, 10000)
    y[:, :100] = torch.rand(2, 100) * 0.9 + 0.1
    idx = sampling.importance(y, 0.1, eps=1e-4, generator=torch.Generator().manual_seed(0))
    assert idx.shape == (2, 1000)
    assert (idx < 100).float().mean() > 0.9          # 100 hits vs 9900 zeros at eps = 1e-4
    w = sampling.importance_weights(y, 1e-3)
    assert torch.all(w[:, 100:] == 1e-3) and torch.all(w[:, :100] == y[:, :100])


def test_importance_auto_eps_gives_zeros_half_the_draws():
    y = torch.zeros(1, 10000)
    y[:, :1000] = 0.5
    w = sampling.importance_weights(y, "auto")
    assert float(w[0, 1000:].sum() / w.sum()) == pytest.approx(0.5, rel=1e-4)
    with pytest.raises(ValueError):
        sampling.importance_weights(y, "tiny")


def test_entropy_allocation_water_filling():
    counts = np.array([1000, 5, 0, 50, 400])
    alloc = sampling.entropy_allocation(counts, 300)
    assert alloc.sum() == 300 and np.all(alloc <= counts)
    assert alloc[1] == 5 and alloc[3] == 50 and alloc[2] == 0           # small bins give everything
    assert abs(alloc[0] - alloc[4]) <= 1                                 # the deficit is shared evenly
    np.testing.assert_array_equal(sampling.entropy_allocation(np.array([10, 10, 10]), 6), [2, 2, 2])  # C = N rho / B


def test_entropy_sampling_flattens_the_histogram():
    vals = np.concatenate([np.zeros(9000), np.linspace(0.1, 1, 1000)])
    y = torch.from_numpy(vals.astype(np.float32))[None]
    idx = sampling.entropy(y, 0.1, bins=10, generator=torch.Generator().manual_seed(0))
    assert idx.shape == (1, 1000) and len(torch.unique(idx)) == 1000    # without replacement
    picked = vals[idx[0].numpy()]
    assert (picked == 0).mean() < 0.2                                    # 90 % zeros in the data
    for strat in ("random", "full", "importance", "entropy"):
        out = sampling.sample(strat, y, 0.05, generator=torch.Generator().manual_seed(0))
        assert out.shape == (1, 10000 if strat == "full" else 500)
    with pytest.raises(ValueError):
        sampling.sample("nope", y, 0.1)


def test_quantisation_roundtrip_error():
    rng = np.random.default_rng(0)
    ts = [rng.normal(size=(12, 7)).astype(np.float32), rng.normal(size=7).astype(np.float32) * 0.01]
    for mode in quantise.MODES:
        blob = quantise.pack(ts, mode)
        assert len(blob) == quantise.blob_size([t.shape for t in ts], mode)
        back = quantise.unpack(blob, [t.shape for t in ts], mode)
        for t, b in zip(ts, back):
            tol = {"fp32": 0, "fp16": 1e-3 * np.abs(t).max(), "int8": np.abs(t).max() / 127 / 2 + 1e-7}[mode]
            assert np.abs(t - b).max() <= tol
    assert len(quantise.pack(ts, "int8")) == 2 * 4 + 91            # per-layer scales + int8 values
    with pytest.raises(ValueError):
        quantise.unpack(b"\0" * 10, [t.shape for t in ts], "int8")


def test_coordinate_coding_is_lossless():
    vols = sector_volumes(3, seed=4, n_tracks=20)
    nz = np.nonzero(vols)
    sec, phi, z, lay = (a.astype(np.int64) for a in nz)
    perm = np.random.default_rng(0).permutation(len(sec))
    blob, order = coordcode.encode(sec[perm], lay[perm], phi[perm], z[perm])
    s, l_, p, zz = coordcode.decode(blob)
    np.testing.assert_array_equal(s, sec[perm][order])
    np.testing.assert_array_equal(zz, z[perm][order])
    np.testing.assert_array_equal(p, phi[perm][order])
    np.testing.assert_array_equal(l_, lay[perm][order])
    assert 8 * len(blob) / len(sec) < 6                                 # a few bits per hit
    with pytest.raises(ValueError):
        coordcode.encode([0, 0], [1, 1], [2, 2], [3, 3])
    assert [len(a) for a in coordcode.decode(coordcode.encode([], [], [], [])[0])] == [0, 0, 0, 0]


def test_metrics_known_values():
    o = np.zeros((4, 5, 2)); o[1, 1, 0] = 100; o[2, 1, 0] = 200
    r = o.copy(); r[2, 1, 0] = 300; r[0, 0, 0] = 70
    assert metrics.mse(o, r) == pytest.approx((100 ** 2 + 70 ** 2) / o.size)
    assert metrics.mse_nonzero(o, r) == pytest.approx(100 ** 2 / 2)
    assert metrics.hit_precision_recall(o, r) == (pytest.approx(2 / 3), 1.0)
    assert metrics.neighbour_ratio_error(o, r) == pytest.approx(0.5)   # 3 vs 2
    assert metrics.psnr(o, o) == float("inf")
    assert set(metrics.all_metrics(o, r)) >= {"mse", "psnr", "mse_nonzero", "precision", "recall"}


def test_mask_context_counts_neighbours():
    m = np.zeros((5, 5, 3), bool); m[2, 2, 1] = m[2, 3, 1] = True
    c = mask_context(m)
    assert c[2, 2, 1, 0] == pytest.approx(2 / 9) and c[0, 0, 1, 0] == 0 and c[2, 2, 0, 2] == pytest.approx(2 / 27)


def _tiny_codec(**kw):
    from hepvq.tpc.codec import TpcInrCodec

    arch = inr.make_arch("siren", 8, 2)
    return TpcInrCodec(arch=arch, fit={"epochs": 2, "ratio": 0.01, "batch_size": 2048}, **kw)


@pytest.fixture(scope="module")
def sample_events():
    import awkward as ak

    ev = events(2, n_sectors=2, n_tracks=8)
    return ak.concatenate([ev, events(1, n_sectors=0)])          # last event: no hits at all


def test_codec_hybrid_roundtrip_keeps_every_hit(sample_events):
    from hepvq.codecs import codec_class

    hits = sample_events.TpcHit
    codec = _tiny_codec(mode="hybrid", quant="int8")
    products = codec.encode(hits).products
    assert set(products) == {"", "weights", "coords"} and len(products[""]) == 3
    dec = codec_class("tpc_inr").from_metadata(codec.metadata()).decode(products)
    assert dec.fields == ["sector", "layer", "phi", "z", "adc"] and str(dec.type.content.content.fields)
    for a, b in zip(tpc_hit_table(hits), tpc_hit_table(dec)):
        np.testing.assert_array_equal(a[:, :4], b[:, :4])              # positions: lossless
        assert len(b) == 0 or (b[:, 4].min() >= 64 and b[:, 4].max() <= 1023)


def test_codec_dense_roundtrip_thresholds(sample_events):
    hits = sample_events.TpcHit[:1]
    codec = _tiny_codec(mode="dense", quant="fp16")
    products = codec.encode(hits).products
    assert "coords" not in products
    dec = type(codec).from_metadata(codec.metadata()).decode(products)
    assert len(dec) == 1 and (len(dec[0]) == 0 or int(np.min(dec[0].adc)) >= 64)


def test_codec_rejects_bad_input_and_metadata(sample_events):
    import awkward as ak

    from hepvq.errors import DataError, ModelError
    from hepvq.tpc.codec import TpcInrCodec

    with pytest.raises(ModelError):
        TpcInrCodec(mode="sparse")
    with pytest.raises(ModelError):
        TpcInrCodec(method="amortised")
    bad = ak.zip({"sector": [[30]], "layer": [[0]], "phi": [[0]], "z": [[0]], "adc": [[100]]})
    with pytest.raises(DataError, match="sector"):
        _tiny_codec().encode(bad)
    with pytest.raises(ModelError, match="config"):
        TpcInrCodec.from_metadata({})


def test_decode_needs_no_torch(sample_events, tmp_path):
    """decode() runs in a process where importing torch fails."""
    import pickle

    hits = sample_events.TpcHit[:1]
    codec = _tiny_codec(mode="hybrid")
    products = codec.encode(hits).products
    (tmp_path / "in.pkl").write_bytes(pickle.dumps((codec.metadata(), products)))
    script = textwrap.dedent(f"""
        import sys, pickle
        sys.modules['torch'] = None
        from hepvq.codecs import codec_class
        meta, products = pickle.loads(open({str(tmp_path / 'in.pkl')!r}, 'rb').read())
        dec = codec_class('tpc_inr').from_metadata(meta).decode(products)
        print(len(dec[0]), 'torch' in sys.modules and sys.modules['torch'] is not None)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    n, torch_loaded = out.stdout.split()
    assert int(n) == len(hits[0]) and torch_loaded == "False"


@pytest.mark.parametrize("kind", ["siren", "ffnet", "wire"])
def test_inr_onnx_export_parity(kind, tmp_path):
    from hepvq.tpc.export import export_inr, parity

    arch = inr.make_arch(kind, 16, 2, ff_features=8)
    params = [p[0].detach().numpy() for p in inr.init_params(arch, 1, seed=3)]
    path = export_inr(arch, params, tmp_path / "s.onnx")
    assert parity(path, arch, params) < 1e-2          # ADC units (FFNet: float32 sin of ~50 rad arguments)
    # and the numpy decoder agrees with the ONNX one at fractional (super-resolution) indices
    from hepvq.runtime.session import load_model

    idx = np.array([[10.5, 100.25, 7.5], [0, 0, 0], [191, 248, 15]], np.float32)
    onnx_adc = load_model(path.read_bytes()).run({"index": idx})["adc"]
    np.testing.assert_allclose(onnx_adc, inr_np.forward(arch, params, normalise(idx)) * 1023, atol=1e-2)


@pytest.fixture(scope="module")
def tiny_amortised(tmp_path_factory):
    from hepvq.tpc import amortised as am

    d = tmp_path_factory.mktemp("amortised")
    cfg = am.default_config(shape=list(SMALL), z_pad=32, latent_channels=4, c1=8, c2=8, width=16, depth=2)
    model, hist = am.train(small_volumes(4, seed=2), cfg, steps=3, batch=2, points=256)
    am.export_onnx(model, d / "enc.onnx", d / "dec.onnx")
    return model, d / "enc.onnx", d / "dec.onnx"


def test_amortised_onnx_parity_and_shapes(tiny_amortised):
    from hepvq.tpc.amortised_rt import AmortisedRuntime
    from hepvq.tpc.export import amortised_parity

    model, enc, dec = tiny_amortised
    assert amortised_parity(model, enc, dec) < 1e-2                  # ADC units
    rt = AmortisedRuntime.load(encoder=enc, decoder=dec)
    lat = rt.encode(small_volumes(3).astype(np.float32))
    assert lat.shape == (3,) + rt.latent_shape == (3, 4, 4, 4)
    assert rt.uses_context and rt.needed_cells(small_volumes(1)).shape == (1, 4, 4)


def test_amortised_codec_roundtrip(tiny_amortised):
    import awkward as ak

    from hepvq.codecs import codec_class
    from hepvq.tpc.amortised_rt import AmortisedRuntime
    from hepvq.tpc.codec import TpcInrCodec
    from hepvq.tpc.grid import events_from_columns, volumes_to_hits

    _, enc, dec = tiny_amortised
    rt = AmortisedRuntime.load(encoder=enc, decoder=dec)
    vols = small_volumes(2, seed=7)
    hits = events_from_columns([volumes_to_hits(vols, [0, 1])])
    codec = TpcInrCodec(method="amortised", mode="hybrid", amortised=rt, shape=SMALL, n_sectors=2)
    products = codec.encode(hits).products
    meta = codec.metadata()
    assert "decoder.onnx" in meta
    back = codec_class("tpc_inr").from_metadata(meta).decode(products)
    assert int(ak.num(back)[0]) == int(np.count_nonzero(vols))
    np.testing.assert_array_equal(tpc_hit_table(back)[0][:, :4], tpc_hit_table(hits)[0][:, :4])


def test_export_cli_from_fit_npz(tmp_path, capsys):
    from hepvq.tpc.export import main as export_main
    from hepvq.tpc.export import save_fit

    arch = inr.make_arch("siren", 8, 2)
    params = [p[0].detach().numpy() for p in inr.init_params(arch, 1)]
    save_fit(tmp_path / "fit.npz", arch, [params, params], sectors=[3, 5])
    assert export_main(["--weights", str(tmp_path / "fit.npz"), "--sector", "5", "--out", str(tmp_path / "s5.onnx")]) == 0
    assert (tmp_path / "s5.onnx").is_file() and "max |onnx - torch|" in capsys.readouterr().out
