"""ONNX export of TPC INRs (torch; `hepvq-export tpc-inr ...` dispatches to main).

- export_inr: one fitted sector INR -> ONNX taking voxel indices ``index`` (n, 3) float32 (phi, z, layer;
  fractional values allowed: continuous reconstruction / super-resolution) and returning ``adc`` (n,) float32
  (ADC units, before the 64 threshold), so that C++ can evaluate the sector anywhere.
- the amortised encoder / shared decoder: hepvq.tpc.amortised.export_onnx.

    hepvq-export tpc-inr --weights fit.npz --sector 0 --out tpc_inr_sector0.onnx
    hepvq-export tpc-inr --amortised data/models/tpc_amortised.pt --out-dir data/models
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hepvq.tpc.grid import ADC_MAX, SHAPE




def _module(arch: dict, params: list[np.ndarray], shape=SHAPE):
    import torch

    from hepvq.models.inr import INR

    class IndexINR(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inr = INR(arch, [torch.from_numpy(np.asarray(p, np.float32))[None] for p in params])
            self.register_buffer("scale", 2.0 / (torch.tensor(shape, dtype=torch.float32) - 1.0))

        def forward(self, index):
            x = index * self.scale - 1.0
            return self.inr(x)[0] * ADC_MAX

    return IndexINR().eval()


def export_inr(arch: dict, params: list[np.ndarray], path, shape=SHAPE) -> Path:
    import onnx
    import torch

    m = _module(arch, params, shape)
    with torch.no_grad():
        torch.onnx.export(m, (torch.zeros(4, 3),), str(path), input_names=["index"], output_names=["adc"],
                          dynamic_axes={"index": {0: "n"}, "adc": {0: "n"}}, opset_version=17, dynamo=False)
    model = onnx.load(str(path))
    for k, v in (("hepvq_role", "tpc_inr_sector"), ("hepvq_arch", json.dumps(arch, sort_keys=True)),
                 ("hepvq_shape", json.dumps(list(shape)))):
        e = model.metadata_props.add(); e.key, e.value = k, v
    onnx.save(model, str(path))
    return Path(path)


def torch_reference(arch: dict, params: list[np.ndarray], index: np.ndarray, shape=SHAPE) -> np.ndarray:
    import torch

    with torch.no_grad():
        return _module(arch, params, shape)(torch.from_numpy(np.asarray(index, np.float32))).numpy()


def save_fit(path, arch: dict, sector_params: list[list[np.ndarray]], sectors=None) -> None:
    """Fitted per-sector weights -> npz (arch JSON + p<sector>_<i> arrays), the input of --weights."""
    arrays = {"arch": np.frombuffer(json.dumps(arch).encode(), dtype=np.uint8)}
    sectors = list(range(len(sector_params))) if sectors is None else list(sectors)
    for s, ps in zip(sectors, sector_params):
        for i, p in enumerate(ps):
            arrays[f"p{s}_{i}"] = np.asarray(p, np.float32)
    np.savez(path, **arrays)


def load_fit(path) -> tuple[dict, dict[int, list[np.ndarray]]]:
    z = np.load(path)
    arch = json.loads(z["arch"].tobytes().decode())
    out: dict[int, list] = {}
    for k in z.files:
        if k.startswith("p"):
            s, i = (int(v) for v in k[1:].split("_"))
            out.setdefault(s, {})[i] = z[k]
    return arch, {s: [d[i] for i in sorted(d)] for s, d in out.items()}


def parity(onnx_path, arch, params, n: int = 2000, seed: int = 0, shape=SHAPE) -> float:
    """max |onnxruntime - torch| in ADC at random fractional indices."""
    from hepvq.runtime.session import load_model

    rng = np.random.default_rng(seed)
    idx = (rng.random((n, 3)) * (np.array(shape) - 1)).astype(np.float32)
    got = load_model(Path(onnx_path).read_bytes()).run({"index": idx})["adc"]
    return float(np.abs(got - torch_reference(arch, params, idx, shape)).max())


def main(argv=None) -> int:
    from hepvq.cli import _common

    ap = _common.parser("hepvq-export tpc-inr", __doc__)
    ap.add_argument("--weights", help="npz of fitted sector weights (hepvq-train tpc-inr --fit ... --out)")
    ap.add_argument("--sector", type=_common.non_negative_int, default=None,
                    help="sector to export (default: the first in the file)")
    ap.add_argument("--out", help="output ONNX path (--weights; default tpc_inr_sector<S>.onnx)")
    ap.add_argument("--amortised", help="torch checkpoint of an amortised model (hepvq-train tpc-inr --amortised)")
    ap.add_argument("--out-dir", default="tpc_models",
                    help="where the amortised encoder/decoder ONNX go (the shipped ones are in data/models: name it "
                         "explicitly, with --force, to replace them)")
    ap.add_argument("--prefix", default=None, help="file prefix (default tpc_amortised or tpc_amortised_dense)")
    ap.add_argument("--force", action="store_true", help="replace existing output files")
    a = ap.parse_args(argv)
    if bool(a.weights) == bool(a.amortised):
        ap.error("give exactly one of --weights or --amortised")
    given = a.weights or a.amortised
    if not Path(given).is_file():
        ap.error(f"{'--weights' if a.weights else '--amortised'}: no such file {given}")
    if a.weights:
        arch, by_sector = load_fit(a.weights)
        s = a.sector if a.sector is not None else sorted(by_sector)[0]
        if s not in by_sector:
            ap.error(f"sector {s} not in {a.weights} (has {sorted(by_sector)})")
        out = a.out or f"tpc_inr_sector{s}.onnx"
        if Path(out).exists() and not a.force:
            ap.error(f"{out} exists; pass --force to replace it (or choose another --out)")
        export_inr(arch, by_sector[s], out)
        print(f"wrote {out}; max |onnx - torch| = {parity(out, arch, by_sector[s]):.2e} ADC")
        return 0
    import torch

    from hepvq.tpc import amortised as am

    ck = torch.load(a.amortised, map_location="cpu", weights_only=False)
    model = am.AmortisedINR(ck["config"])
    model.load_state_dict(ck["state"])
    prefix = a.prefix or ("tpc_amortised" if ck["config"]["mode"] == "hybrid" else "tpc_amortised_dense")
    d = Path(a.out_dir); d.mkdir(parents=True, exist_ok=True)
    enc, dec = d / f"{prefix}_encoder.onnx", d / f"{prefix}_decoder.onnx"
    existing = [str(p) for p in (enc, dec) if p.exists()]
    if existing and not a.force:
        ap.error(f"{existing[0]} exists; pass --force to replace it (or choose another --out-dir)")
    am.export_onnx(model, enc, dec)
    print(f"wrote {enc} and {dec}; max |onnx - torch| = {amortised_parity(model, enc, dec):.2e} ADC")
    return 0


def amortised_parity(model, enc, dec, seed: int = 0) -> float:
    from hepvq.tpc.amortised import torch_encode_decode
    from hepvq.tpc.amortised_rt import AmortisedRuntime
    from hepvq.tpc.grid import mask_context, normalise
    from hepvq.tpc.synthetic import sector_volumes

    shape = tuple(model.cfg["shape"])
    vol = sector_volumes(1, seed=seed, shape=shape)[0]
    rt = AmortisedRuntime.load(encoder=enc, decoder=dec)
    idx = np.argwhere(vol > 0)[:2000] if np.count_nonzero(vol) else np.zeros((1, 3), np.int64)
    lat = rt.encode(vol[None])[0]
    ctx = mask_context(vol > 0)[idx[:, 0], idx[:, 1], idx[:, 2]] if rt.uses_context else None
    got = rt.decode(lat, normalise(idx, shape), ctx) * ADC_MAX
    return float(np.abs(got - torch_encode_decode(model, vol, idx)).max())
