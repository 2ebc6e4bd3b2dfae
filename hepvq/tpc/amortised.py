"""Amortised INR compression (torch; training and export only).

Instead of fitting one network per sector (hepvq.tpc.fit), an encoder maps a whole sector volume in one
forward pass to a small latent grid, and a *shared* SIREN decoder evaluates the signal at any coordinate,
its hidden layers shifted by the latent vector interpolated at that coordinate (spatially varying shift
modulations, as in functa / COIN++). The quantised latents are the code; the decoder travels once per file.

- Encoder: volume (B, phi=192, z=249, layer=16) ADC -> pad z to 256 -> layers as channels ->
  Conv(16->c1, k=4, s=4) -> GELU -> Conv(c1->c2, 3, s=2) -> GELU -> Conv(c2->C, 1) -> latent (B, C, 24, 32):
  one latent vector per 8 x 8 (phi, z) cell of all 16 layers. About 25 M multiply-adds per sector.
- Decoder: coordinate x in [-1, 1]^3 (hepvq.tpc.grid convention) -> latent m = bilinear(latent, phi, z)
  (grid_sample) -> h1 = act(W1 x + b1 + A1 m), h_k = act(W_k h + b_k + A_k m), y = W_out h + b_out, with
  act = sin(omega .) (SIREN, dense mode) or GELU (hybrid mode, where the first layer also sees the hit-mask
  context of x and GELU learnt much faster in our few-minute CPU budget).

``mode`` of training: "hybrid" fits the charge at hits only (the hit positions are stored losslessly);
"dense" fits the whole volume with importance sampling (hepvq.tpc.sampling weights).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from hepvq.tpc.grid import ADC_MAX, CONTEXT_FEATURES, SHAPE, mask_context, normalise

Z_PAD = 256


def default_config(**kw) -> dict:
    cfg = {"latent_channels": 8, "c1": 24, "c2": 32, "width": 64, "depth": 3, "omega0": 30.0, "omega": 30.0,
           "cell": 8, "shape": list(SHAPE), "z_pad": Z_PAD, "mode": "hybrid", "context": None, "act": None}
    cfg.update(kw)
    if cfg["act"] is None:              # sine (SIREN) for the dense field; GELU where context drives the values
        cfg["act"] = "gelu" if cfg["mode"] == "hybrid" else "sin"
    if cfg["context"] is None:          # hit-mask context features: only where the hit positions are known
        cfg["context"] = cfg["mode"] == "hybrid"
    return cfg


def latent_shape(cfg: dict) -> tuple[int, int, int]:
    return (cfg["latent_channels"], cfg["shape"][0] // cfg["cell"], cfg["z_pad"] // cfg["cell"])


class Encoder(torch.nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        L = cfg["shape"][2]
        self.z = cfg["shape"][1]
        self.z_pad = cfg["z_pad"]
        self.c1 = torch.nn.Conv2d(L, cfg["c1"], kernel_size=4, stride=4)
        self.c2 = torch.nn.Conv2d(cfg["c1"], cfg["c2"], kernel_size=3, stride=2, padding=1)
        self.c3 = torch.nn.Conv2d(cfg["c2"], cfg["latent_channels"], kernel_size=1)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """volume (B, phi, z, layer) ADC float -> latent (B, C, phi/8, z_pad/8)."""
        v = volume.permute(0, 3, 1, 2) / ADC_MAX                     # (B, L, phi, z)
        v = F.pad(v, (0, self.z_pad - self.z))
        h = F.gelu(self.c1(v))
        h = F.gelu(self.c2(h))
        return self.c3(h)


class Decoder(torch.nn.Module):
    """forward(latent (C, gh, gw), coords (n, 3)[, context (n, 3)]) -> (n,) values (ADC / 1023).

    With cfg["context"] the first layer also sees the hit-mask context of the point (hepvq.tpc.grid.mask_context),
    which the hybrid decoder computes from the losslessly stored hit positions."""

    def __init__(self, cfg: dict):
        super().__init__()
        C, w, d = cfg["latent_channels"], cfg["width"], cfg["depth"]
        self.cfg = cfg
        self.P, self.Z = cfg["shape"][0], cfg["shape"][1]
        self.z_pad = cfg["z_pad"]
        n_in = 3 + (CONTEXT_FEATURES if cfg["context"] else 0)
        self.lin = torch.nn.ModuleList([torch.nn.Linear(n_in if i == 0 else w, w) for i in range(d)])
        self.mod = torch.nn.ModuleList([torch.nn.Linear(C, w, bias=False) for _ in range(d)])
        self.out = torch.nn.Linear(w, 1)
        if cfg["act"] != "sin":
            return
        with torch.no_grad():
            self.lin[0].weight.uniform_(-1 / 3, 1 / 3)
            for l in self.lin[1:]:
                b = math.sqrt(6 / w) / cfg["omega"]
                l.weight.uniform_(-b, b)
            for m in self.mod:
                m.weight.uniform_(-0.5 / math.sqrt(C) / cfg["omega"], 0.5 / math.sqrt(C) / cfg["omega"])

    def sample_latent(self, latent: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Bilinear interpolation of the latent grid at the coordinates' (phi, z): (n, C)."""
        p = (coords[:, 0] + 1) * (self.P - 1) / 2                      # voxel index
        z = (coords[:, 1] + 1) * (self.Z - 1) / 2
        gx = (z + 0.5) / self.z_pad * 2 - 1                            # grid_sample: x = last axis (z)
        gy = (p + 0.5) / self.P * 2 - 1
        grid = torch.stack([gx, gy], dim=-1).reshape(1, 1, -1, 2)
        m = F.grid_sample(latent.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=False)
        return m[0, :, 0, :].transpose(0, 1)

    def modulated(self, m: torch.Tensor, coords: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        h = coords if context is None else torch.cat([coords, context], dim=-1)
        for i, (lin, mod) in enumerate(zip(self.lin, self.mod)):
            if self.cfg["act"] == "sin":
                h = torch.sin((self.cfg["omega0"] if i == 0 else self.cfg["omega"]) * (lin(h) + mod(m)))
            else:
                h = F.gelu(lin(h) + mod(m))
        return self.out(h).squeeze(-1)

    def forward(self, latent: torch.Tensor, coords: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.modulated(self.sample_latent(latent, coords), coords, context)


class AmortisedINR(torch.nn.Module):
    def __init__(self, cfg: dict | None = None):
        super().__init__()
        self.cfg = cfg or default_config()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)


def context_torch(vols: torch.Tensor) -> torch.Tensor:
    """(B, P, Z, L) -> (B, P*Z*L, 3): mask_context in torch (identical integer box sums)."""
    m = (vols > 0).float().unsqueeze(1)
    feats = [F.conv3d(m, torch.ones(1, 1, 3, 3, 1), padding=(1, 1, 0)) / 9,
             F.conv3d(m, torch.ones(1, 1, 5, 5, 1), padding=(2, 2, 0)) / 25,
             F.conv3d(m, torch.ones(1, 1, 3, 3, 3), padding=1) / 27]
    return torch.cat(feats, dim=1).flatten(2).transpose(1, 2)


def _sample_points(vols: torch.Tensor, n: int, mode: str, eps: float, g: torch.Generator, context: bool = False):
    """vols (B, P, Z, L) -> coords (B, n, 3), targets (B, n), context (B, n, 3) or None; points drawn from
    the hits (hybrid) or by importance sampling (dense)."""
    B = vols.shape[0]
    flat = vols.reshape(B, -1) / ADC_MAX
    w = (flat > 0).float() if mode == "hybrid" else torch.where(flat > 0, flat, torch.full_like(flat, eps))
    w[w.sum(1) == 0] = 1.0
    idx = torch.multinomial(w, n, replacement=True, generator=g)
    P, Z, L = vols.shape[1:]
    ii = torch.stack([idx // (Z * L), (idx // L) % Z, idx % L], dim=-1)
    coords = 2 * ii.float() / (torch.tensor([P, Z, L], dtype=torch.float32) - 1) - 1
    ctx = None
    if context:
        c = context_torch(vols)
        ctx = torch.gather(c, 1, idx.unsqueeze(-1).expand(-1, -1, c.shape[-1]))
    return coords, torch.gather(flat, 1, idx), ctx


def _hit_table(vol: np.ndarray, context: bool):
    """One sector's hits, precomputed for hybrid training: coords (h, 3), values (h,), context (h, 3) or None."""
    idx = np.argwhere(vol > 0)
    if len(idx) == 0:
        idx = np.zeros((1, 3), np.int64)
    x = torch.from_numpy(normalise(idx, vol.shape))
    y = torch.from_numpy(vol[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float32) / ADC_MAX)
    c = torch.from_numpy(mask_context(vol > 0)[idx[:, 0], idx[:, 1], idx[:, 2]]) if context else None
    return x, y, c


def _sample_hits(tables, n: int, g: torch.Generator):
    xs, ys, cs = [], [], []
    for x, y, c in tables:
        j = torch.randint(0, len(y), (n,), generator=g)
        xs.append(x[j]); ys.append(y[j]); cs.append(None if c is None else c[j])
    return torch.stack(xs), torch.stack(ys), (None if cs[0] is None else torch.stack(cs))


def train(volumes: np.ndarray, cfg: dict | None = None, *, steps: int = 1000, batch: int = 4, points: int = 4096,
          lr: float = 1e-3, eps: float = 2e-3, seed: int = 0, time_limit: float | None = None,
          verbose: bool = False, latent_noise: bool = True, quiet: bool = True) -> tuple[AmortisedINR, list]:
    """Train encoder + shared decoder on simulated sector volumes (n, phi, z, layer) -> (model, history).

    Uniform noise of one int8 quantisation step is added to the latents in training (so that int8 latents
    decode as well as float ones).  quiet=False: a progress bar over the steps (on a terminal only)."""
    from hepvq.progress import bar as progress_bar

    torch.manual_seed(seed)
    model = AmortisedINR(cfg)
    mode = model.cfg["mode"]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps)) * 0.95 + 0.05)
    g = torch.Generator().manual_seed(seed + 1)
    volumes = np.asarray(volumes)
    data = torch.from_numpy(volumes.astype(np.float32))
    hits = [_hit_table(v, model.cfg["context"]) for v in volumes] if mode == "hybrid" else None
    hist, t0 = [], time.perf_counter()
    bar = progress_bar(total=steps, desc="amortised INR", unit="step", quiet=quiet)
    for step in range(steps):
        sel = torch.randint(0, len(data), (batch,), generator=g)
        vols = data[sel]
        lat = model.encoder(vols)
        if latent_noise:
            scale = lat.detach().abs().amax(dim=(1, 2, 3), keepdim=True) / 127
            lat = lat + (torch.rand_like(lat) - 0.5) * scale
        if hits is not None:
            coords, y, ctx = _sample_hits([hits[int(i)] for i in sel], points, g)
        else:
            coords, y, ctx = _sample_points(vols, points, mode, eps, g, model.cfg["context"])
        loss = sum(F.mse_loss(model.decoder(lat[b], coords[b], None if ctx is None else ctx[b]), y[b])
                   for b in range(batch)) / batch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist.append(float(loss.detach()))
        bar.update(1)
        if step % 20 == 0:
            bar.set_postfix_str(f"loss {np.mean(hist[-100:]):.3e}")
        if verbose and step % 100 == 0:
            print(f"step {step}: loss {np.mean(hist[-100:]):.3e} {time.perf_counter() - t0:.0f}s", flush=True)
        if time_limit and time.perf_counter() - t0 > time_limit:
            break
    bar.close()
    return model, hist


def refine(model: AmortisedINR, volume: np.ndarray, latent: torch.Tensor, *, steps: int = 10, lr: float = 1e-2,
           points: int = 8192, eps: float = 2e-3, seed: int = 0) -> torch.Tensor:
    """A few gradient steps on one sector's latent with the decoder frozen (optional refinement)."""
    g = torch.Generator().manual_seed(seed)
    lat = latent.detach().clone().requires_grad_()
    opt = torch.optim.Adam([lat], lr=lr)
    vol = torch.from_numpy(np.asarray(volume, dtype=np.float32))[None]
    for _ in range(steps):
        coords, y, ctx = _sample_points(vol, points, model.cfg["mode"], eps, g, model.cfg["context"])
        loss = F.mse_loss(model.decoder(lat, coords[0], None if ctx is None else ctx[0]), y[0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return lat.detach()


def export_onnx(model: AmortisedINR, encoder_path, decoder_path) -> None:
    """Write encoder (volume (B, 192, 249, 16) -> latent) and decoder (latent (C, gh, gw), coords (n, 3) ->
    value (n,)) ONNX files with dynamic B / n, opset 17 (legacy exporter: GridSample, Sin are standard ops)."""
    import json

    import onnx

    model.eval()
    P, Z, L = model.cfg["shape"]
    with torch.no_grad():
        torch.onnx.export(model.encoder, (torch.zeros(2, P, Z, L),), str(encoder_path), input_names=["volume"],
                          output_names=["latent"], dynamic_axes={"volume": {0: "batch"}, "latent": {0: "batch"}},
                          opset_version=17, dynamo=False)
        lat = torch.zeros(latent_shape(model.cfg))
        names, args, axes = ["latent", "coords"], (lat, torch.zeros(5, 3)), {"coords": {0: "n"}, "value": {0: "n"}}
        if model.cfg["context"]:
            names.append("context"); args = args + (torch.zeros(5, CONTEXT_FEATURES),); axes["context"] = {0: "n"}
        torch.onnx.export(model.decoder, args, str(decoder_path), input_names=names,
                          output_names=["value"], dynamic_axes=axes, opset_version=17, dynamo=False)
    for path, role in ((encoder_path, "encoder"), (decoder_path, "decoder")):
        m = onnx.load(str(path))
        for k, v in (("hepvq_role", f"tpc_amortised_{role}"), ("hepvq_config", json.dumps(model.cfg, sort_keys=True))):
            e = m.metadata_props.add(); e.key, e.value = k, v
        onnx.save(m, str(path))


def torch_encode_decode(model: AmortisedINR, volume: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Reference (torch) values at voxel indices for parity tests: ADC float."""
    with torch.no_grad():
        lat = model.encoder(torch.from_numpy(np.asarray(volume, np.float32))[None])[0]
        x = torch.from_numpy(normalise(idx, model.cfg["shape"]))
        ctx = None
        if model.cfg["context"]:
            c = mask_context(np.asarray(volume) > 0)
            ctx = torch.from_numpy(c[idx[:, 0], idx[:, 1], idx[:, 2]])
        return model.decoder(lat, x, ctx).numpy() * ADC_MAX
