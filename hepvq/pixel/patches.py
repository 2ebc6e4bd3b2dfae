"""Sparse patch extraction and scatter for pixel DIGIs, fully vectorised (numpy + awkward, no per-hit Python).

A chunk of events (jagged records detId,row,col,adc) is flattened to hit arrays, hits are grouped into
clusters (8-connected pixels of one module of one event), and each cluster's bounding box is cut into
patches of ``rows x cols`` pixels anchored at the box's lower corner (a cluster that fits the patch is one
patch; a long one spans several).  A patch is:

* its position: event, detId, anchor row and anchor column (the lowest row/column of its tile);
* its exact occupancy pattern, an integer whose bit ``r * cols + c`` says whether pixel (anchor + (r, c)) is hit;
* the ADC values of its pixels, an array (n_patches, rows * cols) with zeros where there is no hit.

``scatter`` turns patches back into hits, sorted by (event, detId, row, col): the canonical order of decoded hits.
Nothing here looks at empty modules or at empty pixels outside patches.
"""
from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from hepvq.errors import DataError

DEFAULT_MODULE_ROWS = 160
DEFAULT_MODULE_COLS = 416
FIELDS = ("detId", "row", "col", "adc")


@dataclass
class Hits:
    """Flat hit arrays of a chunk: event index (0..n_events-1) and the four DIGI fields."""

    n_events: int
    event: np.ndarray
    det: np.ndarray
    row: np.ndarray
    col: np.ndarray
    adc: np.ndarray

    def __len__(self):
        return len(self.event)

    def take(self, idx) -> "Hits":
        return Hits(self.n_events, self.event[idx], self.det[idx], self.row[idx], self.col[idx], self.adc[idx])

    def ordered(self, order: np.ndarray) -> "Hits":
        """take(order), or these very hits when order is the identity (sorted input: no five column copies)."""
        return self if np.array_equal(order, np.arange(len(order))) else self.take(order)

    def counts(self) -> np.ndarray:
        return np.bincount(self.event, minlength=self.n_events).astype(np.int64)

    def to_awkward(self) -> ak.Array:
        """Jagged records in the input schema (detId uint32, row/col/adc uint16)."""
        counts = self.counts()
        flat = ak.zip(
            {
                "detId": self.det.astype(np.uint32),
                "row": self.row.astype(np.uint16),
                "col": self.col.astype(np.uint16),
                "adc": self.adc.astype(np.uint16),
            }
        )
        return ak.unflatten(flat, counts)


def flatten(hits: ak.Array) -> Hits:
    """Flat numpy arrays (int64) from jagged DIGI records; missing fields raise DataError."""
    missing = [f for f in FIELDS if f not in ak.fields(hits)]
    if missing:
        raise DataError(f"pixel DIGI collection lacks field(s) {', '.join(missing)} (has: {', '.join(ak.fields(hits))})")
    counts = ak.to_numpy(ak.num(hits, axis=1)).astype(np.int64)
    event = np.repeat(np.arange(len(counts), dtype=np.int64), counts)

    def col(name):
        return ak.to_numpy(ak.flatten(hits[name], axis=None)).astype(np.int64)

    return Hits(len(counts), event, col("detId"), col("row"), col("col"), col("adc"))


def check_range(h: Hits, rows: int, cols: int, adc_max: int | None = None, first_entry: int = 0) -> None:
    """DataError naming event, detId, row, col (and adc) of the first hit outside the module or ADC range."""
    # one unsigned comparison per field: a negative int64 viewed as uint64 is above any range
    bad = (_unsigned(h.row) >= max(int(rows), 0)) | (_unsigned(h.col) >= max(int(cols), 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"pixel DIGI outside the module's range {rows} rows x {cols} cols: event entry {first_entry + h.event[i]}, "
            f"detId={h.det[i]} row={h.row[i]} col={h.col[i]} ({int(bad.sum())} such hit(s) in this chunk)"
        )
    if adc_max is not None:
        bad = _unsigned(h.adc) > int(adc_max) if adc_max >= 0 else np.ones(len(h.adc), dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"pixel DIGI ADC outside the model's range 0..{adc_max}: event entry {first_entry + h.event[i]}, "
                f"detId={h.det[i]} row={h.row[i]} col={h.col[i]} adc={h.adc[i]} ({int(bad.sum())} such hit(s))"
            )


def _unsigned(a: np.ndarray) -> np.ndarray:
    """An integer array as uint64, negative values wrapping above 2^63 (int64: a view, no copy)."""
    return np.ascontiguousarray(a, dtype=np.int64).view(np.uint64)


def sort_order(h: Hits) -> np.ndarray:
    """Permutation sorting hits by (event, detId, row, col); the identity (no sort) when already sorted --
    the order DIGIs usually come in."""
    k1 = (h.event << 32) + h.det  # event and detId in one int64 (detId is uint32)
    pix = (h.row << 16) + h.col
    n = len(k1)
    if n > 1:
        d1 = np.diff(k1)
        if bool(np.all((d1 > 0) | ((d1 == 0) & (np.diff(pix) > 0)))):
            return np.arange(n)
        return np.lexsort((pix, k1))
    return np.arange(n)


def _group_keys(h: Hits, rows: int, cols: int):
    """(order by (event, detId, row, col), group number, strictly increasing int64 pixel key) of the hits."""
    order = sort_order(h)
    ev, det = h.event[order], h.det[order]
    n = len(order)
    newgrp = np.ones(n, dtype=bool)
    if n:
        newgrp[1:] = (ev[1:] != ev[:-1]) | (det[1:] != det[:-1])
    grp = np.cumsum(newgrp) - 1
    key = grp * (rows * cols) + h.row[order] * cols + h.col[order]
    return order, grp, key


def cluster_labels(h: Hits, rows: int = DEFAULT_MODULE_ROWS, cols: int = DEFAULT_MODULE_COLS):
    """8-connected clusters of the hits (per event and module).

    Returns (order, labels): ``order`` sorts the hits by (event, detId, row, col); ``labels[k]`` is the cluster
    number (0..n_clusters-1, in order of first hit) of hit ``order[k]``.  Duplicate pixels raise DataError."""
    order, grp, key = _group_keys(h, rows, cols)
    n = len(order)
    if n == 0:
        return order, np.zeros(0, dtype=np.int64)
    dup = key[1:] == key[:-1]
    if dup.any():
        i = order[int(np.flatnonzero(dup)[0])]
        raise DataError(f"duplicate pixel DIGI: event {h.event[i]}, detId={h.det[i]} row={h.row[i]} col={h.col[i]}")
    r, c = h.row[order], h.col[order]
    i, j = _neighbour_pairs(key, r, c, cols)
    lab = np.arange(n, dtype=np.int64)
    while len(i):
        li, lj = lab[i], lab[j]
        lo, hi = np.minimum(li, lj), np.maximum(li, lj)
        diff = lo != hi
        if not diff.any():
            break
        np.minimum.at(lab, hi[diff], lo[diff])
        while True:  # pointer jumping: every label points at its root
            nxt = lab[lab]
            if np.array_equal(nxt, lab):
                break
            lab = nxt
        i, j = i[diff], j[diff]
    # roots are the smallest member index; renumber 0..n_clusters-1 in order of first hit
    is_root = lab == np.arange(n)
    newid = np.cumsum(is_root) - 1
    return order, newid[lab]


def _neighbour_pairs(key, r, c, cols):
    """(i, j), i < j: pairs of 8-connected hits, from the strictly increasing pixel keys (group, row, col) of
    hits sorted by (group, row, col).  Right neighbours are the next hit; the three neighbours in the next row
    (key + cols - 1 .. key + cols + 1) follow each other in the sorted keys, so one searchsorted finds them."""
    n = len(key)
    right = np.flatnonzero((key[1:] == key[:-1] + 1) & (c[1:] == c[:-1] + 1))  # no wrap to the next row/module
    src, dst = [right], [right + 1]
    pos = np.searchsorted(key, key + (cols - 1))
    for q in range(3):
        cand = np.minimum(pos + q, n - 1)
        dk = key[cand] - key
        hit = (pos + q < n) & (dk >= cols - 1) & (dk <= cols + 1) & (r[cand] == r + 1) & (np.abs(c[cand] - c) <= 1)
        idx = np.flatnonzero(hit)
        src.append(idx)
        dst.append(cand[idx])
    return np.concatenate(src), np.concatenate(dst)


def _neighbour_pairs_reference(key, r, c, rows, cols):
    """The straightforward version of _neighbour_pairs (one searchsorted per neighbour direction), for tests."""
    n = len(key)
    src, dst = [], []
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ok = (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
        want = key + dr * cols + dc
        pos = np.minimum(np.searchsorted(key, want), n - 1)
        hit = ok & (key[pos] == want)
        src.append(np.flatnonzero(hit))
        dst.append(pos[hit])
    return np.concatenate(src), np.concatenate(dst)


@dataclass
class Patches:
    """Patches of one chunk, sorted by (event, detId, anchor col, anchor row)."""

    rows: int  # patch height (module rows)
    cols: int  # patch width (module columns)
    n_events: int
    event: np.ndarray
    det: np.ndarray
    row: np.ndarray  # anchor row
    col: np.ndarray  # anchor column
    mask: np.ndarray  # uint64 occupancy bits, bit r * cols + c
    adc: np.ndarray  # (n, rows * cols) int64
    cluster: np.ndarray  # cluster number of each patch (several patches may share one)

    def __len__(self):
        return len(self.event)

    @property
    def size(self) -> int:
        return self.rows * self.cols

    @property
    def nhit(self) -> np.ndarray:
        return (self.adc > 0).sum(axis=1)

    @property
    def total(self) -> np.ndarray:
        return self.adc.sum(axis=1)

    def dense_mask(self) -> np.ndarray:
        return mask_to_dense(self.mask, self.size)


def mask_to_dense(mask: np.ndarray, size: int) -> np.ndarray:
    """(n,) integer bit masks -> (n, size) bool."""
    m = np.ascontiguousarray(mask, dtype="<u8")
    if size > 64:
        raise ValueError(f"{size} bits do not fit a 64-bit mask")
    bits = np.unpackbits(m.view(np.uint8).reshape(len(m), 8), axis=1, count=size, bitorder="little")
    return bits.view(bool)


def dense_to_mask(dense: np.ndarray) -> np.ndarray:
    """(n, size) bool -> (n,) uint64 bit masks."""
    size = dense.shape[1]
    weights = np.left_shift(np.uint64(1), np.arange(size, dtype=np.uint64))
    return (dense.astype(np.uint64) * weights[None, :]).sum(axis=1, dtype=np.uint64)


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64 (int64 array of the same shape)."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _POPCOUNT8[x.view(np.uint8)].reshape(x.shape + (8,)).sum(axis=-1, dtype=np.int64)


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def largest_subset_shape(mask: np.ndarray, table: np.ndarray, block: int = 4096) -> np.ndarray:
    """For each occupancy mask, the index in ``table`` of the shape with the most pixels among the shapes that lie
    inside the mask (every bit of the shape set in the mask; ties: the lowest index), -1 where none does.

    Replacing a mask by such a shape only drops pixels: the decoded pixels are a subset of the input's, so they
    stay inside the module and never collide with another patch's pixels (a shape with pixels outside the mask
    would invent hits, and duplicates where patches of neighbouring clusters overlap)."""
    mask = np.asarray(mask, dtype=np.uint64)
    table = np.asarray(table, dtype=np.uint64)
    out = np.full(len(mask), -1, dtype=np.int64)
    if len(table) == 0:
        return out
    size = popcount(table)
    for a in range(0, len(mask), block):
        m = mask[a:a + block]
        inside = (table[None, :] & ~m[:, None]) == 0
        score = np.where(inside, size[None, :], -1)
        best = score.argmax(axis=1)
        out[a:a + block] = np.where(score[np.arange(len(m)), best] > 0, best, -1)
    return out


def extract(h: Hits, patch_rows: int = 4, patch_cols: int = 8, module_rows: int = DEFAULT_MODULE_ROWS,
            module_cols: int = DEFAULT_MODULE_COLS, dense_adc: bool = True, threads: int | None = None
            ) -> tuple[Patches, np.ndarray, np.ndarray, np.ndarray]:
    """Cut the hits' clusters into patches, in the compiled core (hepvq_core; extract_reference is the numpy
    version, its test oracle).

    Returns (patches, hit_order, hit_patch, hit_slot): hit ``hit_order[k]`` of ``h`` sits in patch
    ``hit_patch[k]`` at slot ``hit_slot[k]`` (= r * patch_cols + c). ``dense_adc=False`` leaves
    ``patches.adc`` None (the (n, size) int64 matrix is the biggest array of a chunk; the encoder works from the
    hits with hepvq_core.patch_fractions_hits). ``threads``: of the core's loop over modules (None: the job's
    numberOfThreads, hepvq.codecs.options); the result is the same for any number."""
    import hepvq_core

    from hepvq.codecs import options

    if patch_rows * patch_cols > 64:
        raise ValueError(f"patch {patch_rows}x{patch_cols} has more than 64 pixels")
    ev, det, row, col, mask, adc, cluster, order, hit_patch, slot = hepvq_core.extract_patches(
        h.event, h.det, h.row, h.col, h.adc, patch_rows, patch_cols, module_rows, module_cols, dense_adc,
        options.threads() if threads is None else int(threads))
    return (Patches(patch_rows, patch_cols, h.n_events, ev, det, row, col, mask, adc, cluster), order, hit_patch,
            slot)


def extract_reference(h: Hits, patch_rows: int = 4, patch_cols: int = 8, module_rows: int = DEFAULT_MODULE_ROWS,
                      module_cols: int = DEFAULT_MODULE_COLS) -> tuple[Patches, np.ndarray, np.ndarray, np.ndarray]:
    """Cut the hits' clusters into patches (numpy).

    Returns (patches, hit_order, hit_patch, hit_slot): hit ``hit_order[k]`` of ``h`` sits in patch
    ``hit_patch[k]`` at slot ``hit_slot[k]`` (= r * patch_cols + c)."""
    if patch_rows * patch_cols > 64:
        raise ValueError(f"patch {patch_rows}x{patch_cols} has more than 64 pixels")
    order, lab = cluster_labels(h, module_rows, module_cols)
    r, c = h.row[order], h.col[order]
    ev, det = h.event[order], h.det[order]
    ncl = int(lab.max()) + 1 if len(lab) else 0
    rmin = np.full(ncl, np.iinfo(np.int64).max)
    cmin = np.full(ncl, np.iinfo(np.int64).max)
    np.minimum.at(rmin, lab, r)
    np.minimum.at(cmin, lab, c)
    arow = rmin[lab] + (r - rmin[lab]) // patch_rows * patch_rows
    acol = cmin[lab] + (c - cmin[lab]) // patch_cols * patch_cols
    # patches sorted by (event, det, anchor col, anchor row, cluster): one int64 key.  Hits come sorted by
    # (event, det, row, col), so clusters are numbered in that order and the cluster's rank inside its group
    # (< rows * cols) breaks ties between clusters whose tiles share an anchor.
    newgrp = np.ones(len(lab), dtype=bool)
    if len(lab):
        newgrp[1:] = (ev[1:] != ev[:-1]) | (det[1:] != det[:-1])
    grp = np.cumsum(newgrp) - 1
    lab_base = lab[newgrp]
    size = module_rows * module_cols
    pkey = ((grp * module_cols + acol) * module_rows + arow) * size + (lab - lab_base[grp])
    porder_hits = np.argsort(pkey, kind="stable")
    sk = pkey[porder_hits]
    first = np.ones(len(sk), dtype=bool)
    if len(sk):
        first[1:] = sk[1:] != sk[:-1]
    pid_sorted = np.cumsum(first) - 1
    hit_patch = np.empty(len(order), dtype=np.int64)
    hit_patch[porder_hits] = pid_sorted
    firsts = porder_hits[first]
    n = len(firsts)
    slot = (r - arow) * patch_cols + (c - acol)
    adc = np.zeros((n, patch_rows * patch_cols), dtype=np.int64)
    adc[hit_patch, slot] = h.adc[order]
    mask = np.zeros(n, dtype=np.uint64)
    np.bitwise_or.at(mask, hit_patch, np.left_shift(np.uint64(1), slot.astype(np.uint64)))
    p = Patches(patch_rows, patch_cols, h.n_events, ev[firsts], det[firsts], arow[firsts], acol[firsts], mask, adc,
                lab[firsts])
    return p, order, hit_patch, slot


def scatter(p: Patches, adc: np.ndarray | None = None) -> Hits:
    """Hits of the patches (those with a mask bit set), sorted by (event, detId, row, col).

    ``adc`` (n, size) overrides the patches' own ADC values (e.g. decoded ones)."""
    values = p.adc if adc is None else adc
    dense = p.dense_mask()
    pi, slot = np.nonzero(dense)
    row = p.row[pi] + slot // p.cols
    col = p.col[pi] + slot % p.cols
    h = Hits(p.n_events, p.event[pi], p.det[pi], row, col, values[pi, slot].astype(np.int64))
    return h.take(sort_order(h))


def canonical(h: Hits) -> Hits:
    """The hits sorted by (event, detId, row, col): the order decoders produce."""
    return h.take(sort_order(h))
