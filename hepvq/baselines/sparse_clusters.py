"""The cluster layout of hepvq.baselines.sparse_streams (pixel_sparse format 2): hits as 8-connected clusters, each
an anchor (its first pixel in (col, row) order) and a shape from a book of frequent shapes fitted on training
events (rare shapes escaped pixel by pixel), then one value per hit.

========== ======================= ======================================================================
stream     one symbol per          symbol | context
========== ======================= ======================================================================
clusters   plane of the event      clusters in the plane | the plane's occupancy class (pooled: unseen)
anchor_col cluster                 first of the plane: its column, else the column step | first? x log2
                                   bucket of the plane's cluster count
anchor_row cluster                 same column as the previous anchor: row gap - 2 (8-connected clusters
                                   anchored in one column are >= 2 rows apart), else its row | same column?
                                   x plane class
shape      cluster                 id in the shape book (0: escape) | plane class
esc_count  escaped cluster         pixels - 1 |
esc_dc     pixel of an escape      column step from the previous pixel (pixels in (col, row) order) |
esc_dr     pixel of an escape      same column: row gap - 1, else zigzag row step | column step 0 / 1 / more
value      hit                     the value | occupied 4-neighbours x cluster size (1, 2, 3, 4+)
========== ======================= ======================================================================

Measured on held-out PU-200 events (docs/pixel.md, benchmarks/entropy_streams.py): positions 4.1 bits/hit where
the per-column layout needs 5.6 (and zstd-19/LZMA of the delta-coded keys 5.6)."""
from __future__ import annotations

import numpy as np

from hepvq.errors import DataError, ModelError

STREAMS = ("clusters", "anchor_col", "anchor_row", "shape", "esc_count", "esc_dc", "esc_dr", "value")
MAX_SHAPES = 4095
_DR = 1 << 13  # shape codes: dc << 14 | (dr + 8192)


def n_contexts(n_classes: int) -> dict[str, int]:
    return {"clusters": n_classes + 1, "anchor_col": 32, "anchor_row": 2 * (n_classes + 1),
            "shape": n_classes + 1, "esc_count": 1, "esc_dc": 1, "esc_dr": 3, "value": 64}


def _ranges(starts, lengths) -> np.ndarray:
    """Concatenated arange(s, s + l) for each (s, l)."""
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    off = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, np.int64) - off, lengths) + np.arange(total)


class ShapeBook:
    """Frequent cluster shapes: offsets (dc, dr) of the pixels after the anchor, id = 1 + rank."""

    def __init__(self, shapes: list[bytes]):
        self.keys = list(shapes)
        self.index = {k: i + 1 for i, k in enumerate(self.keys)}
        codes = [np.frombuffer(k, "<i4").astype(np.int64) for k in self.keys]
        self.length = np.array([0] + [c.size for c in codes], np.int64)        # id 0: escape
        self.start = np.concatenate([[0], np.cumsum(self.length)[:-1]]).astype(np.int64)
        flat = np.concatenate(codes) if codes else np.zeros(0, np.int64)
        self.dc, self.dr = flat >> 14, (flat & ((1 << 14) - 1)) - _DR

    def __len__(self):
        return len(self.keys)

    def to_bytes(self) -> bytes:
        from hepvq.tpc.coords import varint_bytes

        lens = np.array([len(k) // 4 for k in self.keys], np.uint64)
        flat = np.frombuffer(b"".join(self.keys), "<i4").astype(np.uint64)
        return varint_bytes(np.concatenate([[len(self.keys)], lens, flat]).astype(np.uint64))

    @classmethod
    def from_bytes(cls, data: bytes) -> "ShapeBook":
        from hepvq.tpc.coords import varint_values

        v = varint_values(data)
        if v.size < 1:
            raise ValueError("empty shape book")
        s = int(v[0])
        lens = v[1:1 + s]
        if lens.size != s or v.size != 1 + s + int(lens.sum()):
            raise ValueError("shape book of inconsistent size")
        flat = v[1 + s:].astype("<i4")
        off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        return cls([flat[off[i]:off[i + 1]].tobytes() for i in range(s)])

    @classmethod
    def fit(cls, keys_per_event, max_shapes: int = MAX_SHAPES, min_count: int = 2) -> "ShapeBook":
        from collections import Counter

        cnt = Counter()
        for keys in keys_per_event:
            cnt.update(keys)
        common = [k for k, c in sorted(cnt.items(), key=lambda kc: (-kc[1], kc[0])) if c >= min_count]
        return cls(common[:max_shapes])


def clusters(plane, col, row, n_rows: int, n_cols: int):
    """Hits -> (hit order: clusters by (plane, anchor col, anchor row), pixels by (col, row); cluster id of each
    ordered hit; per cluster: plane, anchor col, anchor row; shape key bytes per cluster)."""
    from hepvq.pixel import patches as P

    n = plane.size
    if n == 0:
        z = np.zeros(0, np.int64)
        return z, z, z, z, z, []
    h = P.Hits(1, np.zeros(n, np.int64), plane, row, col, np.ones(n, np.int64))
    order, lab = P.cluster_labels(h, n_rows, n_cols)
    label = np.empty(n, np.int64)
    label[order] = lab
    o = np.lexsort((row, col, label))
    first = np.ones(n, bool)
    first[1:] = label[o][1:] != label[o][:-1]
    a = o[first]                                   # anchor hit of each cluster (label order)
    crank = np.empty(a.size, np.int64)
    corder = np.lexsort((row[a], col[a], plane[a]))
    crank[corder] = np.arange(a.size)
    hit_order = np.lexsort((row, col, crank[label]))
    cid = crank[label][hit_order]
    ca = a[corder]
    cp, cc, cr = plane[ca], col[ca], row[ca]
    dc = col[hit_order] - cc[cid]
    dr = row[hit_order] - cr[cid]
    code = ((dc << 14) | (dr + _DR)).astype("<i4")
    starts = np.flatnonzero(np.concatenate([[True], cid[1:] != cid[:-1]]))
    ends = np.append(starts[1:], n)
    big = (dc >= 1 << 17) | (np.abs(dr) >= _DR)
    keys = [code[s + 1:e].tobytes() for s, e in zip(starts.tolist(), ends.tolist())]
    if big.any():  # a shape too wide for the codes: never in the book, always escaped
        for c in np.unique(cid[big]).tolist():
            keys[c] = b"\xff" + keys[c]
    return hit_order, cid, cp, cc, cr, keys


def _value_contexts(plane, col, row, size):
    from hepvq.baselines.sparse_streams import _value_contexts as vc

    return vc(plane, col, row, size)


def symbols(plane, col, row, value, n_planes, classes, n_classes, book: ShapeBook, n_rows, n_cols):
    """{stream: (symbols, contexts)} of one event (plane: index into the event's plane list)."""
    from hepvq.baselines.sparse_streams import _bucket, zigzag

    hit_order, cid, cp, cc, cr, keys = clusters(plane, col, row, n_rows, n_cols)
    C = cp.size
    ncl = np.bincount(cp, minlength=n_planes).astype(np.int64)
    cfirst = np.ones(C, bool)
    cfirst[1:] = cp[1:] != cp[:-1]
    prev_c = np.concatenate([[0], cc[:-1]])
    prev_r = np.concatenate([[0], cr[:-1]])
    ac = np.where(cfirst, cc, cc - prev_c)
    same = (~cfirst) & (ac == 0)
    ar = np.where(same, cr - prev_r - 2, cr)
    if (ar < 0).any():
        raise AssertionError("two clusters anchored in one column closer than 2 rows")
    sid = np.array([book.index.get(k, 0) for k in keys], np.int64)
    size = np.bincount(cid, minlength=C).astype(np.int64)
    out = {"clusters": (ncl, classes.astype(np.int64)),
           "anchor_col": (ac, 2 * _bucket(ncl[cp]) + cfirst),
           "anchor_row": (ar, same * (n_classes + 1) + classes[cp]),
           "shape": (sid, classes[cp])}
    # escapes: the pixels after the anchor
    col_o, row_o = col[hit_order], row[hit_order]
    esc_hit = (sid[cid] == 0)
    is_anchor = np.concatenate([[True], cid[1:] != cid[:-1]]) if cid.size else np.zeros(0, bool)
    px = np.flatnonzero(esc_hit & ~is_anchor)
    dc = col_o[px] - cc[cid[px]]
    dr = row_o[px] - cr[cid[px]]
    first_px = is_anchor[px - 1] if px.size else np.zeros(0, bool)
    pdc = np.where(first_px, 0, np.concatenate([[0], dc[:-1]]))
    pdr = np.where(first_px, 0, np.concatenate([[0], dr[:-1]]))
    inc = dc - pdc
    out["esc_count"] = (size[sid == 0] - 1, np.zeros(int((sid == 0).sum()), np.int64))
    out["esc_dc"] = (inc, np.zeros(inc.size, np.int64))
    out["esc_dr"] = (np.where(inc == 0, dr - pdr - 1, zigzag(dr - pdr)), np.minimum(inc, 2))
    if value is not None:
        out["value"] = (np.asarray(value, np.int64)[hit_order],
                        _value_contexts(plane[hit_order], col_o, row_o, size[cid]))
    return out, hit_order, keys


def decode(stream, n, P, pclass, n_classes, book: ShapeBook, n_rows, n_cols, with_value, what):
    """The streams of one event -> (plane index, col, row, value or None) in coding order."""
    from hepvq.baselines.sparse_streams import _bucket, _segmented_cumsum, unzigzag

    ncl = stream("clusters", P, pclass)
    C = int(ncl.sum())
    if C > n:
        raise DataError(f"{what}: stream 'clusters' decodes {C} clusters for {n} hits")
    cp = np.repeat(np.arange(P), ncl)
    cfirst = np.ones(C, bool)
    cfirst[1:] = cp[1:] != cp[:-1]
    ac = stream("anchor_col", C, 2 * _bucket(ncl[cp]) + cfirst)
    same = (~cfirst) & (ac == 0)
    ar = stream("anchor_row", C, same * (n_classes + 1) + pclass[cp])
    cc = _segmented_cumsum(ac, cfirst) if C else ac
    cr = _segmented_cumsum(np.where(same, ar + 2, ar), ~same) if C else ar
    sid = stream("shape", C, pclass[cp])
    if C and int(sid.max()) > len(book):
        raise DataError(f"{what}: stream 'shape' decodes shape {int(sid.max())} beyond the book's {len(book)}")
    esc = sid == 0
    m = stream("esc_count", int(esc.sum()), None)
    M = int(m.sum())
    if M > n:
        raise DataError(f"{what}: stream 'esc_count' decodes {M} escaped pixels for {n} hits")
    inc = stream("esc_dc", M, None)
    drs = stream("esc_dr", M, np.minimum(inc, 2))
    seg = np.zeros(M, bool)
    seg[(np.cumsum(m) - m)[m > 0]] = True
    dc_e = _segmented_cumsum(inc, seg) if M else inc
    dr_e = _segmented_cumsum(np.where(inc == 0, drs + 1, unzigzag(drs)), seg) if M else drs
    extra = book.length[sid].copy()
    extra[esc] = m
    size = extra + 1
    if int(size.sum()) != n:
        raise DataError(f"{what}: clusters hold {int(size.sum())} hits, the header says {n}")
    base = np.cumsum(size) - size
    dc = np.zeros(n, np.int64)
    dr = np.zeros(n, np.int64)
    known = ~esc
    dst = _ranges(base[known] + 1, extra[known])
    src = _ranges(book.start[sid[known]], extra[known])
    dc[dst], dr[dst] = book.dc[src], book.dr[src]
    dst = _ranges(base[esc] + 1, m)
    dc[dst], dr[dst] = dc_e, dr_e
    cid = np.repeat(np.arange(C), size)
    col, row, plane = cc[cid] + dc, cr[cid] + dr, cp[cid]
    if n and (int(col.min()) < 0 or int(col.max()) >= n_cols or int(row.min()) < 0 or int(row.max()) >= n_rows):
        raise DataError(f"{what}: decoded pixels outside the {n_cols} x {n_rows} plane")
    key = (plane * n_cols + col) * n_rows + row
    if n > 1 and np.unique(key).size != n:
        raise DataError(f"{what}: decoded clusters overlap (the same pixel twice)")
    value = None
    if with_value:
        value = stream("value", n, _value_contexts(plane, col, row, size[cid]))
    return plane, col, row, value


def check_book(book: ShapeBook, what: str):
    if len(book) > MAX_SHAPES:
        raise ModelError(f"{what}: {len(book)} shapes, at most {MAX_SHAPES}")
