"""Premixing of pixel DIGIs: signal + pile-up, pixel by pixel, in charge.

Model (docs/validation.md):
    q = (adc + 0.5) x gain                      each input DIGI back to electrons (centre of its ADC bin)
    Q = q_signal + q_pileup                     per pixel (same event index, detId, row, col)
    adc_mixed = min(floor(Q / gain), adc_max)   ADC conversion and saturation of the digitiser
    keep where adc_mixed >= floor(threshold / gain)   threshold re-applied (in ADC counts, so that a pixel
                                                present in one input only comes back with its own ADC)
``gain`` (electrons per ADC count), ``adc_max`` and the per-module thresholds are the simulator's digitiser
constants (hepvq.sim.geometry). Simplifications against CMS's PreMixingSiPixelWorker: the signal is already
digitised (CMS adds the signal's analogue charge before its noise and threshold), one linear gain for every
pixel (CMS: per-pixel gain and pedestal calibration), no dynamic inefficiency or dead pixels.

Inputs are flat columns of several events: ``Hits(ev, det, row, col, adc)``; ``ev`` is the event index in
the chunk. Everything is vectorised (one sort).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Hits(NamedTuple):
    ev: np.ndarray    # int64 event index
    det: np.ndarray   # int64 detId
    row: np.ndarray   # int64
    col: np.ndarray   # int64
    adc: np.ndarray   # int64

    @classmethod
    def empty(cls):
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, z)

    @classmethod
    def from_arrays(cls, ev, det, row, col, adc):
        return cls(*(np.asarray(a).astype(np.int64) for a in (ev, det, row, col, adc)))

    def __len__(self):
        return int(self.ev.size)


def mix(signal: Hits, pileup: Hits, gain: float, adc_max: int, threshold_adc):
    """Mixed DIGIs and, per mixed pixel, whether it holds signal charge.

    ``threshold_adc``: callable detId array -> ADC threshold per pixel (or a scalar). Returns
    ``(Hits, from_signal: bool array)`` sorted by (event, detId, row, col)."""
    mk = np.concatenate([(signal.ev << 32) | signal.det, (pileup.ev << 32) | pileup.det])
    rc = np.concatenate([(signal.row << 12) | signal.col, (pileup.row << 12) | pileup.col])
    adc = np.concatenate([signal.adc, pileup.adc]).astype(np.float64)
    is_sig = np.concatenate([np.ones(len(signal), bool), np.zeros(len(pileup), bool)])
    if mk.size == 0:
        return Hits.empty(), np.zeros(0, bool)
    order = np.lexsort((rc, mk))
    mk, rc, adc, is_sig = mk[order], rc[order], adc[order], is_sig[order]
    first = np.ones(mk.size, bool)
    first[1:] = (mk[1:] != mk[:-1]) | (rc[1:] != rc[:-1])
    starts = np.nonzero(first)[0]
    q = np.add.reduceat((adc + 0.5) * gain, starts)
    sig = np.maximum.reduceat(is_sig.astype(np.int8), starts).astype(bool)
    mk, rc = mk[starts], rc[starts]
    out_adc = np.minimum(np.floor(q / gain), adc_max).astype(np.int64)
    det = mk & 0xFFFFFFFF
    thr = threshold_adc(det) if callable(threshold_adc) else np.full(det.size, threshold_adc)
    keep = out_adc >= thr
    hits = Hits(mk[keep] >> 32, det[keep], rc[keep] >> 12, rc[keep] & 0xFFF, out_adc[keep])
    return hits, sig[keep]


def geometry_threshold_adc(geo):
    """Callable detId -> ADC threshold floor(threshold_e / gain) of the geometry's modules."""
    mods = geo.modules

    def thr(det):
        return np.floor(mods.threshold_e[mods.index_of(det)] / geo.electrons_per_adc).astype(np.int64)

    return thr
