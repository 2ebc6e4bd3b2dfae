"""Range-checked integer casts for values read from files: a value that does not fit the schema's type is an
error naming the file, branch, entry and the value as it was in the file -- never a silent wrap-around
(row 65546 -> 10, event -5 -> 2^64-5)."""
from __future__ import annotations

import awkward as ak
import numpy as np

from hepvq.errors import InputError


def _fits_always(src: np.dtype, dst: np.dtype) -> bool:
    return np.can_cast(src, dst, casting="safe")


def first_out_of_range(values: np.ndarray, dst: np.dtype) -> int | None:
    """Index of the first value that ``dst`` cannot hold exactly, or None."""
    dst = np.dtype(dst)
    if values.size == 0 or _fits_always(values.dtype, dst):
        return None
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
    else:
        bad = np.zeros(values.shape, bool)
    info = np.iinfo(dst)
    if values.dtype.kind == "u":  # compare in the source type: no signed/unsigned promotion to float
        bad |= values > np.array(info.max).astype(values.dtype) if info.max < np.iinfo(values.dtype).max else False
    else:
        lo = max(info.min, np.iinfo(values.dtype).min) if values.dtype.kind == "i" else info.min
        hi = min(info.max, np.iinfo(values.dtype).max) if values.dtype.kind == "i" else info.max
        bad |= (values < lo) | (values > hi)
    idx = np.flatnonzero(bad)
    return int(idx[0]) if len(idx) else None


def checked_cast(arr, dst, *, file: str, tree: str, branch: str, first_entry: int = 0):
    """``arr`` (numpy, or awkward jagged numbers) as ``dst``; InputError naming file, tree, branch, entry (the
    entry number in that file) and the offending value when any value does not fit."""
    dst = np.dtype(dst)
    if isinstance(arr, np.ndarray):
        flat, offsets = arr, None
    else:
        layout = ak.to_layout(arr)
        if isinstance(layout, ak.contents.NumpyArray):
            flat, offsets = np.asarray(layout.data), None
        else:
            flat = ak.to_numpy(ak.flatten(arr, axis=None))
            offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(arr, axis=1)))])
    if flat.dtype == dst:
        return arr
    bad = first_out_of_range(flat, dst)
    if bad is not None:
        entry = bad if offsets is None else int(np.searchsorted(offsets, bad, side="right") - 1)
        where = "" if offsets is None else f", hit {bad - int(offsets[entry])}"
        raise InputError(f"value {flat[bad]!r} at entry {first_entry + entry}{where} does not fit {dst.name}; "
                         "refusing to wrap it around", file=file, tree=tree, branch=branch)
    if isinstance(arr, np.ndarray):
        return arr.astype(dst)
    return ak.values_astype(arr, dst)


__all__ = ["checked_cast", "first_out_of_range"]
