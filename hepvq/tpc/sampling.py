"""Sampling strategies for fitting INRs to sparse volumes (paper section 2.1 and appendix C).

All work on a batch of S flattened volumes y (S, N) (values ADC / 1023) and return, per call, the voxel
indices (S, k) used for one epoch of fitting, k = round(ratio * N):

- ``importance``: weights |y| for non-zero voxels, ``eps`` for zeros, normalised; drawn with
  ``torch.multinomial(weights, k, replacement=True)`` (paper eq. 2 and appendix C).
- ``entropy``: histogram flattening. With B bins of y, the target per-bin count is C = N * rho / B; bins
  holding fewer than C points give all of them, and the deficit is spread over the fuller bins
  (water-filling), so the sampled histogram is as uniform as the data allow (appendix C). Points are then
  drawn within each bin without replacement.
- ``random``: uniform, with replacement (like importance sampling with equal weights).
- ``full``: every voxel (a fresh permutation).
"""
from __future__ import annotations

import numpy as np
import torch

STRATEGIES = ("importance", "entropy", "random", "full")
#: also accepted by hepvq.tpc.fit.fit_sectors: "importance_unbiased" (importance draws + 1/(N p) loss weights)
#: "importance_mixture" (mixture_weights draws + 1/(N p) loss weights) and "hits" (uniform over the non-zero
#: voxels, for the hybrid codec)


def n_samples(n: int, ratio: float) -> int:
    return max(1, min(n, int(round(ratio * n))))


def importance_weights(y: torch.Tensor, eps=1e-3, zero_fraction: float = 0.5) -> torch.Tensor:
    """(S, N) weights: |y| where y != 0, eps where y == 0 (not normalised; multinomial normalises).

    eps="auto": per row, eps = zero_fraction / (1 - zero_fraction) * sum|y| / n_zeros, i.e. the zeros get
    `zero_fraction` of the draws. With the paper's "small" eps and a 10 % occupancy, almost no zero is ever
    drawn and the fitted INR is positive everywhere (hit precision ~0.1 after the 64 threshold)."""
    a = y.abs()
    if isinstance(eps, str):
        if eps != "auto":
            raise ValueError(f"eps must be a number or 'auto', not {eps!r}")
        nz = (a == 0).sum(dim=1, keepdim=True).clamp(min=1)
        e = zero_fraction / (1 - zero_fraction) * a.sum(dim=1, keepdim=True) / nz
        e = torch.where(e > 0, e, torch.ones_like(e))
        return torch.where(a > 0, a, e.expand_as(a))
    return torch.where(a > 0, a, torch.full_like(a, eps))


def mixture_weights(y: torch.Tensor, mix: float = 0.5) -> torch.Tensor:
    """(S, N) defensive-importance weights: p_i = mix / N + (1 - mix) |y_i| / sum|y| (unnormalised).

    A fraction `mix` of the draws is uniform over all voxels, the rest proportional to |y|; with loss weights
    1 / (N p_i) the estimator is unbiased and every weight is at most 1 / mix. Rows with sum|y| = 0 are
    uniform."""
    if not 0 < mix <= 1:
        raise ValueError(f"mix must be in (0, 1], not {mix}")
    a = y.abs()
    tot = a.sum(dim=1, keepdim=True)
    p = mix / a.shape[1] + (1 - mix) * a / tot.clamp(min=torch.finfo(a.dtype).tiny)
    return torch.where(tot > 0, p, torch.full_like(p, 1.0 / a.shape[1]))


def importance(y: torch.Tensor, ratio: float, *, eps: float = 1e-3, weights: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    w = importance_weights(y, eps) if weights is None else weights
    return torch.multinomial(w, n_samples(y.shape[1], ratio), replacement=True, generator=generator)


def random(y: torch.Tensor, ratio: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    S, N = y.shape
    return torch.randint(0, N, (S, n_samples(N, ratio)), generator=generator)


def full(y: torch.Tensor, ratio: float = 1.0, *, generator: torch.Generator | None = None) -> torch.Tensor:
    S, N = y.shape
    return torch.rand(S, N, generator=generator).argsort(dim=1)


def entropy_allocation(counts: np.ndarray, total: int) -> np.ndarray:
    """Water-filling: per-bin sample counts, as uniform as possible, summing to min(total, counts.sum()).

    Starts from C = total / B per bin (appendix C); bins with fewer points than their share give all of them
    and the deficit is re-shared among the remaining bins until it is used up."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(min(total, counts.sum()))
    alloc = np.zeros_like(counts)
    open_ = counts > 0
    left = total
    while left > 0 and open_.any():
        C = left / open_.sum()
        small = open_ & (counts - alloc <= C)
        if small.any():                       # bins that cannot fill their share give everything they have
            left -= int((counts[small] - alloc[small]).sum())
            alloc[small] = counts[small]
            open_ &= ~small
            continue
        share = np.floor(np.full(open_.sum(), C)).astype(np.int64)
        rem = left - int(share.sum())
        idx = np.flatnonzero(open_)
        share[:rem] += 1                      # hand out the rounding remainder one by one
        alloc[idx] += share
        left = 0
    return alloc


def entropy(y: torch.Tensor, ratio: float, *, bins: int = 64, generator: torch.Generator | None = None) -> torch.Tensor:
    """Histogram-flattening sample of k = ratio * N voxels per row (exact per-bin counts, no replacement)."""
    S, N = y.shape
    k = n_samples(N, ratio)
    yn = y.detach().cpu().numpy()
    lo, hi = float(yn.min()), float(yn.max())
    width = (hi - lo) / bins or 1.0
    out = torch.empty(S, k, dtype=torch.long)
    keys = torch.rand(S, N, generator=generator).numpy()
    for s in range(S):
        b = np.minimum(((yn[s] - lo) / width).astype(np.int64), bins - 1)
        counts = np.bincount(b, minlength=bins)
        alloc = entropy_allocation(counts, k)
        # random order within each bin: sort by (bin, random key), take the first alloc[bin] of each bin
        order = np.lexsort((keys[s], b))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        take = np.concatenate([order[st:st + a] for st, a in zip(starts, alloc) if a > 0])
        if len(take) < k:                     # only when k > N (cannot happen) or rounding; pad uniformly
            take = np.concatenate([take, order[: k - len(take)]])
        out[s] = torch.from_numpy(take[:k])
    return out


def sample(strategy: str, y: torch.Tensor, ratio: float, **kw) -> torch.Tensor:
    if strategy == "importance":
        return importance(y, ratio, **{k: v for k, v in kw.items() if k in ("eps", "weights", "generator")})
    if strategy == "entropy":
        return entropy(y, ratio, **{k: v for k, v in kw.items() if k in ("bins", "generator")})
    if strategy == "random":
        return random(y, ratio, generator=kw.get("generator"))
    if strategy == "full":
        return full(y, generator=kw.get("generator"))
    raise ValueError(f"unknown sampling strategy '{strategy}'; known: {', '.join(STRATEGIES)}")
