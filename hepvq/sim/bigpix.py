"""CMS Phase-1 "big pixels": the pixels at readout-chip (ROC) edges are twice as wide.

A Phase-1 module is 2 x 8 ROCs of 80 rows x 52 columns (160 x 416 readout pixels of 100 x 150 um). The pixels
at a ROC edge cover the gap between neighbouring chips, so they are twice as wide: rows 79 and 80 (the edge
between the two ROC rows) and, in every ROC, its first and last column (``col % 52 in (0, 51)``), as in
CMSSW's ``RectangularPixelTopology::isItBigPixelInX/Y``. The sensor is then 162 x 432 pitches
(16.2 x 64.8 mm, the Phase-1 active area).

The simulator digitises on a regular "virtual" grid of 162 x 432 normal pitches and merges the two virtual
pixels of each big pixel (``virtual_to_readout``); the continuous mapping between physical position (in
pitch units) and readout coordinate (row index = floor) is ``phys_to_readout`` / ``readout_to_phys``.
"""
from __future__ import annotations

import functools

import numpy as np

ROC_ROWS, ROC_COLS = 80, 52
SUPPORTED = (160, 416)


@functools.lru_cache(maxsize=None)
def _tables(n: int, axis: str):
    """(virtual -> readout index, readout pixel lower edge in pitch units, readout width in pitches)."""
    if axis == "row":
        big = np.zeros(n, bool)
        big[[ROC_ROWS - 1, ROC_ROWS]] = True
    else:
        c = np.arange(n) % ROC_COLS
        big = (c == 0) | (c == ROC_COLS - 1)
    width = np.where(big, 2, 1)
    lower = np.concatenate([[0], np.cumsum(width)[:-1]])
    v2r = np.repeat(np.arange(n), width)
    return v2r, lower.astype(np.float64), width.astype(np.float64)


def check_shape(rows, cols):
    if (int(rows), int(cols)) != SUPPORTED:
        raise ValueError(f"big pixels are defined for the Phase-1 module of {SUPPORTED[0]} x {SUPPORTED[1]} "
                         f"pixels, not {rows} x {cols}")


def virtual_shape(rows: int = 160, cols: int = 416):
    """Number of normal-pitch positions across the sensor: (162, 432) for the Phase-1 module."""
    check_shape(rows, cols)
    return int(_tables(rows, "row")[1][-1] + _tables(rows, "row")[2][-1]), \
        int(_tables(cols, "col")[1][-1] + _tables(cols, "col")[2][-1])


def virtual_to_readout(vrow, vcol, rows: int = 160, cols: int = 416):
    """Readout (row, col) of virtual-grid pixels (int arrays in, int arrays out)."""
    return _tables(rows, "row")[0][np.asarray(vrow)], _tables(cols, "col")[0][np.asarray(vcol)]


def _phys_to_readout_1d(x, n, axis):
    _, lower, width = _tables(n, axis)
    x = np.asarray(x, np.float64)
    i = np.clip(np.searchsorted(lower, x, side="right") - 1, 0, n - 1)
    return i + (x - lower[i]) / width[i]


def _readout_to_phys_1d(xr, n, axis):
    _, lower, width = _tables(n, axis)
    xr = np.asarray(xr, np.float64)
    i = np.clip(np.floor(xr).astype(np.int64), 0, n - 1)
    return lower[i] + (xr - i) * width[i]


def phys_to_readout(u, v, rows: int = 160, cols: int = 416):
    """Continuous readout coordinates (floor = pixel index) from positions in pitch units (0 .. 162 / 432)."""
    return _phys_to_readout_1d(u, rows, "row"), _phys_to_readout_1d(v, cols, "col")


def readout_to_phys(xr, yr, rows: int = 160, cols: int = 416):
    """Inverse of ``phys_to_readout``: pixel i + f -> lower edge of pixel i + f x its width, in pitches."""
    return _readout_to_phys_1d(xr, rows, "row"), _readout_to_phys_1d(yr, cols, "col")
