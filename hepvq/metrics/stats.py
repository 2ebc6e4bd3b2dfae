"""Bootstrap over events and binned distribution distances, columnar (no loop over hits).

Every figure is written as per-event sums (numerator, denominator, sum of squares ...) so that a bootstrap
replica is one matrix product with the replica's event multiplicities ``W`` (B x n_events): resampling whole
events keeps the correlations inside an event, and using the same ``W`` for two cases made from the same
events gives the *paired* uncertainty of their difference.
"""
from __future__ import annotations

import numpy as np


def bootstrap_weights(n_events: int, n_boot: int = 200, seed: int = 12345) -> np.ndarray:
    """Event multiplicities of ``n_boot`` bootstrap replicas (float64, B x n_events); row 0 is the data itself."""
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n_events, np.full(n_events, 1.0 / n_events), size=n_boot).astype(np.float64)
    w[0] = 1.0
    return w


def per_event(ev, values, n_events):
    """Per-event sums of ``values`` (bincount)."""
    return np.bincount(np.asarray(ev, np.int64), weights=np.asarray(values, np.float64), minlength=n_events)


def ratio(W, num_ev, den_ev):
    """(B,) replicas of sum(num) / sum(den)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (W @ num_ev) / (W @ den_ev)


def rms(W, ev, x, n_events):
    """(B,) replicas of the RMS of x."""
    return np.sqrt(ratio(W, per_event(ev, np.square(x), n_events), per_event(ev, np.ones_like(x), n_events)))


def weighted_quantiles(W, ev, x, qs):
    """(B, len(qs)) weighted quantiles of x; each value weighs its event's multiplicity in the replica."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return np.full((W.shape[0], len(qs)), np.nan)
    o = np.argsort(x, kind="stable")
    xs = x[o]
    c = np.cumsum(W[:, np.asarray(ev, np.int64)[o]], axis=1)     # B x n
    tot = c[:, -1:]
    out = np.empty((W.shape[0], len(qs)))
    for j, q in enumerate(qs):
        idx = (c < q * tot).sum(axis=1)
        out[:, j] = xs[np.minimum(idx, xs.size - 1)]
    return out


def core_width(W, ev, x):
    """(B,) replicas of the robust core width: interquartile range / 1.349 (= sigma for a Gaussian)."""
    q = weighted_quantiles(W, ev, x, (0.25, 0.75))
    return (q[:, 1] - q[:, 0]) / 1.349


def histograms(ev, x, edges, n_events):
    """Per-event histograms (n_events x bins) of x; values outside the edges go to the first / last bin."""
    b = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    h = np.zeros((n_events, len(edges) - 1))
    np.add.at(h, (np.asarray(ev, np.int64), b), 1.0)
    return h


def binned_distances(W, ha, hb, edges):
    """(wasserstein, ks) replicas (B,) between two binned distributions given as per-event histograms.

    Wasserstein-1 = sum |CDF_a - CDF_b| x bin width (exact for values on the bin grid, e.g. integer sizes
    with unit bins); KS = max |CDF_a - CDF_b|."""
    a = W @ ha
    b = W @ hb
    with np.errstate(invalid="ignore", divide="ignore"):
        ca = np.cumsum(a, axis=1) / a.sum(axis=1, keepdims=True)
        cb = np.cumsum(b, axis=1) / b.sum(axis=1, keepdims=True)
    d = np.abs(ca - cb)
    return (d[:, :-1] * np.diff(edges)[:-1]).sum(axis=1), d.max(axis=1)


def summarise(reps) -> dict:
    """{'value': replica 0, 'err': bootstrap standard deviation} of a (B,) replica array."""
    reps = np.asarray(reps, np.float64)
    val = float(reps[0])
    err = float(np.nanstd(reps[1:], ddof=1)) if reps.size > 2 else float("nan")
    return {"value": val, "err": err}
