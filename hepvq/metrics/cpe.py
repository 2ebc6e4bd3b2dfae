"""Cluster position estimate (CPE) for pixel clusters: charge-weighted centroid with Lorentz-shift correction.

    x = sum_i q_i xc_i / sum_i q_i - tan(theta_L) T / 2 / pitch_row      (row / r-phi direction)
    y = sum_i q_i yc_i / sum_i q_i                                      (column / z direction)

``xc_i``, ``yc_i``: pixel centres in pitch units on the physical sensor (pixel i of normal size spans
[i, i+1); with big pixels the ROC-edge pixels are two pitches wide, hepvq.sim.bigpix). Charge drifts to the
collecting side, a mean drift of T/2 across the sensor, and the magnetic field moves it by tan(theta_L) per
unit drift along the rows: the centroid is shifted by tan(theta_L) T / 2 on average, which the CPE removes
(it is what CMS's generic CPE calls the Lorentz shift; the CMS template CPE and the cluster-length
corrections of the generic CPE are not modelled). Forward disks: no shift (flat blades, E parallel to B).
The result is comparable with the simulator's truth x, y (sensor mid-plane, before the drift).
"""
from __future__ import annotations

import numpy as np


def lorentz_shift_pitch(geo, module_index):
    """Mean Lorentz shift (row pitches) of the charge centroid for each module index."""
    mods = geo.modules
    m = np.asarray(module_index, np.int64)
    shift_cm = geo.tan_lorentz * geo.thickness_um * 1e-4 / 2.0
    out = shift_cm / mods.pitch_row_cm[m]
    if mods.is_disk is not None:
        out = np.where(mods.is_disk[m], 0.0, out)
    return out


def pixel_centres(row, col, big_pixels=False):
    """Pixel centres in pitch units on the physical sensor."""
    r = np.asarray(row, np.float64) + 0.5
    c = np.asarray(col, np.float64) + 0.5
    if big_pixels:
        from hepvq.sim import bigpix

        return bigpix.readout_to_phys(r, c)
    return r, c


def centroid(cid, row, col, q, n_clusters=None, big_pixels=False):
    """Charge-weighted centroid (pitch units, physical) per cluster id."""
    n = int(cid.max()) + 1 if n_clusters is None and np.size(cid) else (n_clusters or 0)
    xc, yc = pixel_centres(row, col, big_pixels)
    w = np.asarray(q, np.float64)
    s = np.bincount(cid, weights=w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(cid, weights=w * xc, minlength=n) / s, np.bincount(cid, weights=w * yc, minlength=n) / s


def cpe(cid, row, col, q, cluster_module, geo, big_pixels=False):
    """(x, y) per cluster in physical pitch units, Lorentz-corrected; ``cluster_module`` = module index per
    cluster (hepvq.sim.geometry ModuleTable order)."""
    x, y = centroid(cid, row, col, q, n_clusters=np.size(cluster_module), big_pixels=big_pixels)
    return x - lorentz_shift_pitch(geo, cluster_module), y
