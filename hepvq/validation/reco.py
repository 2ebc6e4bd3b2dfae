"""Reconstruction-level view of mixed DIGIs: clusters, CPE positions, and the fate of each signal crossing.

A signal crossing (truth) owns the cluster that its charge makes when the signal is alone: the clusters of the
signal-only DIGIs are matched to the crossings (the pixel under the Lorentz-shifted truth point, or the nearest
fired pixel within +-1). Mixing only adds charge, so every signal pixel is present in any mixed event; the
crossing's cluster in a mixed event is the mixed cluster that holds the seed (highest ADC) pixel of its
signal-only cluster. Per crossing and case:

* efficient: it has a cluster and the CPE position is within the window (default +-500 um r-phi,
  +-1000 um z) of the truth point;
* merged: (efficient and) the mixed cluster holds pixels that are not its own signal cluster's, or its signal
  cluster is shared with another crossing of the signal event;
* residuals x_CPE - x_true (r-phi, rows) and y_CPE - y_true (z, columns) in um; cluster charge (electrons),
  number of pixels and extents (rows, cols).
Everything is columnar over all hits of a chunk of events.
"""
from __future__ import annotations

import numpy as np

from hepvq.metrics import clusters as cl
from hepvq.metrics.cpe import cpe, lorentz_shift_pitch
from hepvq.validation.mixing import Hits

WINDOW_UM = (500.0, 1000.0)


def _layer_of(mods, m):
    """Barrel layer 1..4, 0 for forward-disk modules."""
    return np.where(mods.layer[m] >= 0, mods.layer[m] + 1, 0)


def _clusters(h: Hits, gain):
    key = cl.module_key(h.ev, h.det)
    cid = cl.find_clusters(key, h.row, h.col)
    n = int(cid.max()) + 1 if cid.size else 0
    q = (h.adc + 0.5) * gain
    # one sort by (cluster, -adc): extents, charge and seed by reduceat on contiguous runs
    o = np.lexsort((-h.adc, cid))
    sc = cid[o]
    first = np.ones(o.size, bool)
    first[1:] = sc[1:] != sc[:-1]
    st = np.nonzero(first)[0]
    ext = {}
    for name, v in (("row", h.row), ("col", h.col)):
        vs = v[o]
        ext[name] = (np.maximum.reduceat(vs, st) - np.minimum.reduceat(vs, st) + 1) if n else np.zeros(0, np.int64)
    npix = np.diff(np.append(st, o.size))
    charge = np.add.reduceat(q[o], st) if n else np.zeros(0)
    seed = o[st]                          # highest-ADC pixel of each cluster (ids are 0..n-1 in order)
    return {"cid": cid, "n": n, "npix": npix, "charge": charge, "size_x": ext["row"], "size_y": ext["col"],
            "seed": seed, "ev": h.ev[seed], "det": h.det[seed], "q": q}


def restrict_to_modules(h: Hits, ref: Hits) -> Hits:
    """The hits of ``h`` in modules (event, detId) that hold a hit of ``ref``: only they can touch a signal
    cluster, so clustering them is enough for the signal figures."""
    keep = np.isin((h.ev << 32) | h.det, np.unique((ref.ev << 32) | ref.det))
    return Hits(*(a[keep] for a in h))


def pileup_clusters(h: Hits, gain, geo):
    """Per-cluster columns of pile-up DIGIs alone: ev, layer, charge, npix, size_x, size_y."""
    c = _clusters(h, gain)
    m = geo.modules.index_of(c["det"].astype(np.uint32)) if c["n"] else np.zeros(0, np.int64)
    return {"ev": c["ev"], "layer": _layer_of(geo.modules, m), "charge": c["charge"], "npix": c["npix"],
            "size_x": c["size_x"], "size_y": c["size_y"]}


class SignalRef:
    """Signal-only clusters matched to the truth crossings of the same events."""

    def __init__(self, signal: Hits, truth: dict, geo, gain, big_pixels=False):
        self.geo, self.gain, self.big = geo, gain, big_pixels
        mods = geo.modules
        c = _clusters(signal, gain)
        self.ev = np.asarray(truth["ev"], np.int64)
        det = np.asarray(truth["det"], np.int64)
        m = mods.index_of(det.astype(np.uint32)) if det.size else np.zeros(0, np.int64)
        self.module = m
        self.layer = _layer_of(mods, m)
        x, y = np.asarray(truth["x"], np.float64), np.asarray(truth["y"], np.float64)
        if big_pixels:
            from hepvq.sim import bigpix

            x, y = bigpix.readout_to_phys(x, y)
        self.x, self.y = x, y
        # charge arrives Lorentz-shifted: look for the cluster there
        xs = x + lorentz_shift_pitch(geo, m)
        if big_pixels:
            xs, ys = bigpix.phys_to_readout(xs, y)
        else:
            ys = y
        key = cl.module_key(signal.ev, signal.det)
        scid = cl.match_points(key, signal.row, signal.col, c["cid"], cl.module_key(self.ev, det), xs, ys, 1)
        self.scid = scid
        ok = scid >= 0
        shared = np.zeros(c["n"] + 1, np.int64)
        np.add.at(shared, scid[ok], 1)
        self.shared = ok & (shared[np.where(ok, scid, c["n"])] > 1)
        seed = c["seed"][np.where(ok, scid, 0)] if c["n"] else np.zeros(scid.size, np.int64)
        self.seed_ev = signal.ev[seed] if len(signal) else np.zeros(scid.size, np.int64)
        self.seed_det = signal.det[seed] if len(signal) else np.zeros(scid.size, np.int64)
        self.seed_row = signal.row[seed] if len(signal) else np.zeros(scid.size, np.int64)
        self.seed_col = signal.col[seed] if len(signal) else np.zeros(scid.size, np.int64)
        self.own_npix = np.where(ok, c["npix"][np.where(ok, scid, 0)] if c["n"] else 0, 0)
        self.pitch_row_um = mods.pitch_row_cm[m] * 1e4
        self.pitch_col_um = mods.pitch_col_cm[m] * 1e4

    def __len__(self):
        return int(self.ev.size)

    def reconstruct(self, mixed: Hits, window_um=WINDOW_UM) -> dict:
        """Per-crossing columns for one mixed case (see the module docstring)."""
        geo = self.geo
        c = _clusters(mixed, self.gain)
        n = len(self)
        out = {"ev": self.ev, "layer": self.layer}
        if c["n"] == 0 or n == 0:
            z = np.zeros(n)
            out.update(efficient=np.zeros(n, bool), merged=np.zeros(n, bool), res_x=z, res_y=z, charge=z,
                       npix=z, size_x=z, size_y=z)
            return out
        cm = geo.modules.index_of(c["det"].astype(np.uint32))
        x, y = cpe(c["cid"], mixed.row, mixed.col, c["q"], cm, geo, self.big)
        # mixed cluster holding each crossing's seed pixel
        mk = (mixed.ev << 32) | mixed.det
        umk = np.unique(mk)
        code = (np.searchsorted(umk, mk) << 24) | (mixed.row << 12) | mixed.col
        order = np.argsort(code)
        sc = code[order]
        smk = (self.seed_ev << 32) | self.seed_det
        r = np.minimum(np.searchsorted(umk, smk), umk.size - 1)
        target = (r << 24) | (self.seed_row << 12) | self.seed_col
        pos = np.minimum(np.searchsorted(sc, target), sc.size - 1)
        found = (self.scid >= 0) & (umk[r] == smk) & (sc[pos] == target)
        mc = np.where(found, c["cid"][order[pos]], 0)
        res_x = (x[mc] - self.x) * self.pitch_row_um
        res_y = (y[mc] - self.y) * self.pitch_col_um
        eff = found & (np.abs(res_x) < window_um[0]) & (np.abs(res_y) < window_um[1])
        merged = eff & ((c["npix"][mc] > self.own_npix) | self.shared)
        out.update(efficient=eff, merged=merged, res_x=np.where(found, res_x, np.nan),
                   res_y=np.where(found, res_y, np.nan), charge=np.where(found, c["charge"][mc], np.nan),
                   npix=np.where(found, c["npix"][mc], 0), size_x=np.where(found, c["size_x"][mc], 0),
                   size_y=np.where(found, c["size_y"][mc], 0))
        return out
