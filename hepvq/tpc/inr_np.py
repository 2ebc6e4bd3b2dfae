"""The INR forward pass in numpy: what decode() uses, so that decompression needs no torch.

Mirrors hepvq.models.inr.forward for one network: params [W0, b0, W1, b1, ...] with W_l (fan_in, fan_out).
"""
from __future__ import annotations

import numpy as np


def layer_shapes(arch: dict) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every linear layer, first to last (shared with hepvq.models.inr)."""
    w, d = arch["width"], arch["depth"]
    first_in = 2 * len(arch["ff_B"][0]) if arch["kind"] == "ffnet" else arch["in_dim"]
    return [(first_in, w)] + [(w, w)] * (d - 1) + [(w, 1)]


def n_params(arch: dict) -> int:
    return sum(i * o + o for i, o in layer_shapes(arch))


def unflatten(arch: dict, flat: np.ndarray) -> list[np.ndarray]:
    """A flat parameter vector (order W0, b0, W1, b1, ...; W row-major (fan_in, fan_out)) -> list."""
    flat = np.asarray(flat, dtype=np.float32)
    out, o = [], 0
    for fi, fo in layer_shapes(arch):
        out.append(flat[o:o + fi * fo].reshape(fi, fo)); o += fi * fo
        out.append(flat[o:o + fo]); o += fo
    if o != flat.size:
        raise ValueError(f"parameter vector has {flat.size} values, architecture needs {o}")
    return out


def _act(arch, z, layer):
    k = arch["kind"]
    if k == "siren":
        return np.sin((arch["omega0"] if layer == 0 else arch["omega"]) * z, out=z)
    if k == "wire":
        return np.cos(arch["wire_omega"] * z) * np.exp(-(arch["wire_scale"] * z) ** 2)
    return np.maximum(z, 0, out=z)


def forward(arch: dict, params: list[np.ndarray], x: np.ndarray, batch: int = 262144) -> np.ndarray:
    """x (n, in_dim) float32 -> (n,) float32, in slices of `batch` rows to bound memory."""
    x = np.asarray(x, dtype=np.float32)
    out = np.empty(len(x), dtype=np.float32)
    B = np.asarray(arch["ff_B"], dtype=np.float32) if arch["kind"] == "ffnet" else None
    n_layers = len(params) // 2
    for s in range(0, len(x), batch):
        h = x[s:s + batch]
        if B is not None:
            p = np.float32(2 * np.pi) * (h @ B)
            h = np.concatenate([np.sin(p), np.cos(p)], axis=1)
        for li in range(n_layers):
            h = h @ params[2 * li] + params[2 * li + 1]
            if li < n_layers - 1:
                h = _act(arch, h, li)
        out[s:s + batch] = h[:, 0]
    return out
