"""A quick throwaway pixel DIGI generator for the pixel tests (clusters of 1-10 pixels, Landau-ish charges).

Not a simulator: hepvq.sim.pixel is the real one.  Kept tiny so that tests run in seconds."""
import awkward as ak
import numpy as np


def toy_events(n_events=4, n_modules=20, clusters_per_module=15, seed=0, rows=160, cols=416, adc_max=255):
    rng = np.random.default_rng(seed)
    events = []
    for _ in range(n_events):
        det, row, col, adc = [], [], [], []
        mods = np.sort(rng.choice(np.arange(300000000, 300000000 + 4 * 2000, 4), n_modules, replace=False))
        for m in mods:
            seen = set()
            for _ in range(rng.poisson(clusters_per_module)):
                size_c = int(rng.integers(1, 6))
                size_r = int(rng.integers(1, 3))
                r0 = int(rng.integers(0, rows - size_r))
                c0 = int(rng.integers(0, cols - size_c))
                q = rng.lognormal(np.log(60), 0.5)
                w = rng.dirichlet(np.ones(size_r * size_c) * 2.0)
                for k in range(size_r * size_c):
                    r, c = r0 + k // size_c, c0 + k % size_c
                    a = int(min(adc_max, max(0, round(q * w[k] * size_c))))
                    if a < 3 or (r, c) in seen:
                        continue
                    seen.add((r, c))
                    det.append(m), row.append(r), col.append(c), adc.append(a)
        events.append({"detId": det, "row": row, "col": col, "adc": adc})
    arr = ak.Array(events)
    return ak.zip({
        "detId": ak.values_astype(arr.detId, np.uint32), "row": ak.values_astype(arr.row, np.uint16),
        "col": ak.values_astype(arr.col, np.uint16), "adc": ak.values_astype(arr.adc, np.uint16),
    })


_MODELS = {}


def tiny_model(tmp_root, kind="rvq", **kw):
    """Train (once per session and kind) a tiny pixel_vq model on toy events and export it to ONNX."""
    key = (kind, tuple(sorted(kw.items())))
    if key not in _MODELS:
        import torch

        from hepvq.pixel import export, train

        torch.set_num_threads(1)
        opts = dict(codebook_size=16, stages=2, iters=5, vqvae_steps=60, n_shapes=64)
        opts.update(kw)
        ckpt = train.train(toy_events(8, seed=11), kind=kind, **opts)
        out = export.export_model(ckpt, f"{tmp_root}/model_{kind}_{len(_MODELS)}")
        _MODELS[key] = (ckpt, out)
    return _MODELS[key]
