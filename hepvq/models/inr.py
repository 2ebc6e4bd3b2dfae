"""Implicit neural representations (torch): SIREN, FFNet (Gaussian Fourier features + ReLU MLP) and WIRE
(real Gabor wavelet activations), each as a *batch* of independent small networks.

Every network maps coordinates x in [-1, 1]^3 (phi, z, layer of a TPC sector, see hepvq.tpc.grid) to one
value (ADC / 1023). All parameters carry a leading axis S: S networks (one per TPC sector) are trained at
once with batched matmuls (``torch.baddbmm`` on stacked weights), which is what makes per-sector fitting of
many sectors fast on a CPU. S = 1 is a single network.

The architecture is a plain dict (JSON-serialisable, stored in the compressed file's metadata):
``{"kind": "siren"|"ffnet"|"wire", "width": int, "depth": int (hidden layers), "in_dim": 3,
   "omega0": float, "omega": float (SIREN), "wire_omega": float, "wire_scale": float (WIRE),
   "ff_B": [[...]] (in_dim x n_features, FFNet)}``.
The same forward pass in numpy (no torch) is hepvq.tpc.inr_np.forward; tests check they agree.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from hepvq.tpc.inr_np import layer_shapes, n_params  # noqa: F401 - one definition, no torch needed

KINDS = ("siren", "ffnet", "wire")


def make_arch(kind: str = "siren", width: int = 32, depth: int = 3, *, in_dim: int = 3, omega0: float = 30.0,
              omega: float = 30.0, wire_omega: float = 10.0, wire_scale: float = 5.0, ff_features: int = 32,
              ff_sigma: float = 6.0, seed: int = 0) -> dict:
    """An architecture dict with defaults that work for (192, 249, 16) sectors in [-1, 1]^3."""
    if kind not in KINDS:
        raise ValueError(f"unknown INR kind '{kind}'; known: {', '.join(KINDS)}")
    arch = {"kind": kind, "width": int(width), "depth": int(depth), "in_dim": int(in_dim)}
    if kind == "siren":
        arch.update(omega0=float(omega0), omega=float(omega))
    elif kind == "wire":
        arch.update(wire_omega=float(wire_omega), wire_scale=float(wire_scale))
    else:
        rng = np.random.default_rng(seed)
        arch["ff_B"] = (rng.normal(0.0, ff_sigma, size=(in_dim, ff_features))).round(5).tolist()
    return arch


def init_params(arch: dict, n_nets: int, *, seed: int = 0, dtype=torch.float32) -> list[torch.Tensor]:
    """[W0, b0, W1, b1, ...] with W_l (S, fan_in, fan_out), b_l (S, fan_out); requires_grad set."""
    g = torch.Generator().manual_seed(seed)
    out = []
    shapes = layer_shapes(arch)
    for li, (fi, fo) in enumerate(shapes):
        last = li == len(shapes) - 1
        if arch["kind"] == "siren":
            bound = 1.0 / fi if li == 0 else math.sqrt(6.0 / fi) / arch["omega"]
        else:
            bound = 1.0 / math.sqrt(fi) if not (arch["kind"] == "ffnet" and not last) else math.sqrt(6.0 / fi)
        W = (torch.rand(n_nets, fi, fo, generator=g, dtype=dtype) * 2 - 1) * bound
        b = (torch.rand(n_nets, fo, generator=g, dtype=dtype) * 2 - 1) * (bound if li else 1.0 / math.sqrt(fi))
        if last:
            b = torch.zeros(n_nets, fo, dtype=dtype)
        out += [W.requires_grad_(), b.requires_grad_()]
    return out


def features(arch: dict, x: torch.Tensor) -> torch.Tensor:
    if arch["kind"] == "ffnet":
        B = torch.as_tensor(arch["ff_B"], dtype=x.dtype)
        p = 2 * math.pi * (x @ B)
        return torch.cat([torch.sin(p), torch.cos(p)], dim=-1)
    return x


def activation(arch: dict, z: torch.Tensor, layer: int) -> torch.Tensor:
    k = arch["kind"]
    if k == "siren":
        return torch.sin((arch["omega0"] if layer == 0 else arch["omega"]) * z)
    if k == "wire":
        return torch.cos(arch["wire_omega"] * z) * torch.exp(-(arch["wire_scale"] * z) ** 2)
    return torch.relu(z)


def forward(arch: dict, params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x (S, n, in_dim) -> (S, n): every network evaluated at its own n coordinates."""
    h = features(arch, x)
    n_layers = len(params) // 2
    for li in range(n_layers):
        W, b = params[2 * li], params[2 * li + 1]
        h = torch.baddbmm(b.unsqueeze(1), h, W)
        if li < n_layers - 1:
            h = activation(arch, h, li)
    return h.squeeze(-1)


class INR(torch.nn.Module):
    """One (or S stacked) INR(s) as an nn.Module: used for ONNX export and for users who want a module.

    forward(x): x (n, in_dim) -> (S, n) values (S = 1 gives (1, n))."""

    def __init__(self, arch: dict, params: list[torch.Tensor] | None = None, n_nets: int = 1, seed: int = 0):
        super().__init__()
        self.arch = dict(arch)
        params = params if params is not None else init_params(arch, n_nets, seed=seed)
        self.params = torch.nn.ParameterList([torch.nn.Parameter(p.detach().clone()) for p in params])
        if arch["kind"] == "ffnet":
            self.register_buffer("B", torch.as_tensor(arch["ff_B"], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.arch["kind"] == "ffnet":
            p = 2 * math.pi * (x @ self.B)
            h = torch.cat([torch.sin(p), torch.cos(p)], dim=-1)
        else:
            h = x
        S = self.params[0].shape[0]
        h = h.unsqueeze(0).expand(S, -1, -1)
        n_layers = len(self.params) // 2
        for li in range(n_layers):
            h = torch.matmul(h, self.params[2 * li]) + self.params[2 * li + 1].unsqueeze(1)
            if li < n_layers - 1:
                h = activation(self.arch, h, li)
        return h.squeeze(-1)


def SIREN(width=32, depth=3, **kw) -> INR:  # noqa: N802 - model-name constructors
    return INR(make_arch("siren", width, depth, **kw))


def FFNet(width=32, depth=3, **kw) -> INR:  # noqa: N802
    return INR(make_arch("ffnet", width, depth, **kw))


def WIRE(width=32, depth=3, **kw) -> INR:  # noqa: N802
    return INR(make_arch("wire", width, depth, **kw))
