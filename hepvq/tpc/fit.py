"""Per-sector INR fitting, batched across sectors (the paper's compression: the fitted weights are the code).

S sectors are fitted at once: all parameters are stacked with a leading S axis and every step is a set of
batched matmuls (``torch.baddbmm``), with one Adam over the stacked tensors (Adam is element-wise, so the S
networks stay independent; the loss is the *sum* of the per-network mean squared errors so that each network
sees the gradient it would see alone). An epoch draws ratio * N voxels per sector with the chosen sampling
strategy (hepvq.tpc.sampling) and visits them in minibatches, so fit time grows linearly with the ratio.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

from hepvq.models import inr
from hepvq.tpc import sampling
from hepvq.tpc.grid import ADC_MAX, SHAPE, grid_indices, normalise


@dataclasses.dataclass
class FitResult:
    arch: dict
    params: list            # stacked torch tensors, leading axis S
    fit_time: float         # seconds
    history: list           # (epoch, mean train loss)

    def sector_params(self, s: int) -> list[np.ndarray]:
        """Parameters of network s as float32 numpy arrays [W0, b0, ...] (what the codec quantises)."""
        return [p[s].detach().cpu().numpy().astype(np.float32) for p in self.params]

    def flat(self, s: int) -> np.ndarray:
        return np.concatenate([a.ravel() for a in self.sector_params(s)])


def default_lr(arch: dict) -> float:
    return {"siren": 1e-3, "wire": 2e-3, "ffnet": 2e-3}[arch["kind"]]


def fit_sectors(volumes, arch: dict, *, strategy: str = "importance", ratio: float = 0.1, epochs: int = 20,
                batch_size: int = 4096, lr: float | None = None, eps="auto", bins: int = 64,
                step=(1, 1, 1), seed: int = 0, init=None, time_limit: float | None = None, mix: float = 0.5,
                threads: int | None = None, verbose: bool = False, quiet: bool = True) -> FitResult:
    """Fit one INR per volume.

    volumes: (S, phi, z, layer) ADC (uint16 or float); the INRs learn ADC / 1023 on the full-grid coordinate
    convention of hepvq.tpc.grid. `step` subsamples the grid (super-resolution training: step (2, 2, 1) is the
    (96, 125, 16) grid, (2, 2, 2) the (96, 125, 8) grid). strategy: importance | entropy | random | full |
    hits (uniform over non-zero voxels only: what the hybrid codec needs, whose zeros come from the stored
    coordinates), importance_unbiased (importance draws, each squared error weighted by 1 / (N p_i) so that the
    objective stays the full-volume MSE: the textbook importance-sampling estimator, which the paper's
    biased variant is not), importance_mixture (defensive importance sampling: p_i = mix / N + (1 - mix) |y_i| /
    sum |y|, i.e. a fraction `mix` of the draws uniform over all voxels, the rest proportional to |y|, with the
    same 1 / (N p_i) loss weights; the weights are bounded by 1 / mix, unlike importance_unbiased's). eps: importance sampling's weight of zeros, a number (y in [0, 1]) or "auto" (zeros get half
    of the draws, see hepvq.tpc.sampling.importance_weights)."""
    if threads:
        torch.set_num_threads(threads)
    vol = np.asarray(volumes)
    S = vol.shape[0]
    full_shape = vol.shape[1:]
    idx = grid_indices(full_shape, step)
    x = torch.from_numpy(normalise(idx, full_shape))                      # (N, 3) shared by all sectors
    y = torch.from_numpy(vol[:, idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.float32) / ADC_MAX)  # (S, N)
    N = y.shape[1]
    params = init or inr.init_params(arch, S, seed=seed)
    params = [p.detach().clone().requires_grad_() for p in params]
    lr = lr or default_lr(arch)
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed + 1)
    weights = None
    loss_w = None                                   # per-voxel loss weights (unbiased importance sampling)
    if strategy in ("importance", "importance_unbiased", "importance_mixture"):
        if strategy == "importance_mixture":
            weights = sampling.mixture_weights(y, mix)
        else:
            weights = sampling.importance_weights(y, eps)
        if strategy != "importance":
            # w_i = 1 / (N p_i): the sampled mean of w (pred - y)^2 estimates the full-volume MSE without bias
            p = weights / weights.sum(dim=1, keepdim=True)
            loss_w = 1.0 / (N * p)
    elif strategy == "hits":
        weights = (y > 0).float()
        weights[weights.sum(1) == 0] = 1.0
    k = N if strategy == "full" else sampling.n_samples(N, ratio)
    steps_per_epoch = max(1, math.ceil(k / batch_size))
    total_steps = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / total_steps)) * 0.95 + 0.05)
    history = []
    t0 = time.perf_counter()
    from hepvq.progress import bar as progress_bar

    bar = progress_bar(total=total_steps, desc=f"fit {S} sectors", unit="step", quiet=quiet)  # quiet off a terminal
    for ep in range(epochs):
        if weights is not None:
            sel = torch.multinomial(weights, k, replacement=True, generator=g)
        else:
            sel = sampling.sample(strategy, y, ratio, bins=bins, generator=g)
        run = 0.0
        for j in range(0, k, batch_size):
            b = sel[:, j:j + batch_size]
            pred = inr.forward(arch, params, x[b])
            err = (pred - torch.gather(y, 1, b)) ** 2
            if loss_w is not None:
                err = err * torch.gather(loss_w, 1, b)
            loss = err.mean(dim=1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run += float(loss.detach()) / S
            bar.update(1)
        bar.set_postfix_str(f"epoch {ep} loss {run / steps_per_epoch:.3e}")
        history.append((ep, run / steps_per_epoch))
        if verbose:
            print(f"epoch {ep}: loss {run / steps_per_epoch:.3e}  {time.perf_counter() - t0:.1f}s", flush=True)
        if time_limit and time.perf_counter() - t0 > time_limit:
            break
    bar.close()
    return FitResult(arch=arch, params=[p.detach() for p in params], fit_time=time.perf_counter() - t0,
                     history=history)


@torch.no_grad()
def predict(arch: dict, params, shape=SHAPE, step=(1, 1, 1), chunk: int = 65536, full_shape=SHAPE) -> np.ndarray:
    """Evaluate stacked networks on a grid -> (S, *grid) float32 ADC (not clipped, not thresholded).

    `shape`/`step` choose the evaluation grid on the coordinate convention of `full_shape`."""
    idx = grid_indices(shape, step)
    x = torch.from_numpy(normalise(idx, full_shape))
    S = params[0].shape[0]
    out = np.empty((S, len(x)), dtype=np.float32)
    for j in range(0, len(x), chunk):
        xb = x[j:j + chunk].unsqueeze(0).expand(S, -1, -1)
        out[:, j:j + chunk] = inr.forward(arch, params, xb).numpy()
    dims = tuple(len(range(0, n, s)) for n, s in zip(shape, step))
    return out.reshape((S,) + dims) * ADC_MAX


def reconstruct(pred_adc: np.ndarray, threshold: int = 64) -> np.ndarray:
    """Float ADC prediction -> uint16 ADC with zero suppression re-applied (what decode() produces)."""
    a = np.clip(np.rint(pred_adc), 0, 1023)
    a[a < threshold] = 0
    return a.astype(np.uint16)
