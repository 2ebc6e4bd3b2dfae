"""Sparse hit positions (and one small integer per hit) as symbol streams for the core's rANS coder.

The entropy-coded layouts of the sparse baseline (pixel_sparse format 2) and of tpc_inr's coordinate and
residual streams (format 2): the same coder as pixel_vq format 2 (hepvq.codecs.entropy), with static
conditional tables fitted on training events and shipped with the model and in every file.

Hits live on 2-D *planes* (a pixel module: col x row; a TPC (sector, layer): phi x z) listed in a table of plane
keys (pixel: detId; TPC: sector * 16 + layer); the second coordinate (``row``) is the fast one, along which
clusters extend. Each stream's contexts are computed from the streams decoded before it, so every stream
decodes in one vectorised call. Two layouts (the tables say which):

* ``clusters`` (what both codecs ship): 8-connected clusters, each an anchor and a shape from a fitted shape
  book, then the values -- hepvq.baselines.sparse_clusters;
* ``columns`` (the per-hit layout, kept for comparison): hits sorted by (plane, col, row) as five streams:

========== ================================== =========================================================
stream     one symbol per                     symbol | context
========== ================================== =========================================================
columns    plane of the event's plane list    occupied columns | the plane's occupancy class (training
                                              quantile; planes missing from the table: a pooled class)
col_gap    occupied column                    first column of the plane: its column, else gap - 1 |
                                              first? x log2 bucket of the plane's column count
col_count  occupied column                    hits in the column - 1 | previous column adjacent x next
                                              column adjacent x class quarter
row        hit                                first hit of a column next to an occupied column: zigzag
                                              offset from that column's first row, else its row; other
                                              hits: gap to the previous row - 1 | which case x the
                                              columns' hit counts x position in the column
value      hit                                the value (4-bit ADC code / zigzag residual) | occupied
                                              4-neighbours (up, down, left, right) x column count
========== ================================== =========================================================

Planes with hits that are not in the table are listed per event (varint key deltas) and use the pooled class.
Symbols beyond a table's trained range are escapes (raw bits), so any input is codable.
Measured on held-out events (benchmarks/entropy_streams.py, docs/pixel.md): the pixel baseline's 8.6 bits/hit
as zstd-19/LZMA blobs become ~8.25 with the columns layout and ~6.6 with the clusters layout.

    tables = fit(events, n_cols=..., n_rows=..., value_alphabet=..., layout="clusters")
                                                      # events: [(plane keys, col, row, value) per event]
    blob = encode_event(plane_keys, col, row, value, tables)   # one event, hits in any order
    plane_keys, col, row, value = decode_event(blob, tables)   # sorted by (plane key, col, row)
    tables.to_bytes() / StreamTables.from_bytes(data)  # the blob stored in models and files
    python -m hepvq.baselines.sparse_streams pixel data/pixel_pu200_sample.root -o tables.rans   # refit
"""
from __future__ import annotations

import hashlib
import io
import json
import struct

import numpy as np

from hepvq.codecs import entropy
from hepvq.baselines.sparse import _Reader
from hepvq.errors import DataError, ModelError

MAGIC = b"HVST"
TABLES_VERSION = 1
STREAMS = ("columns", "col_gap", "col_count", "row", "value")
N_CLASSES = 16


def zigzag(a) -> np.ndarray:
    a = np.asarray(a, np.int64)
    return np.where(a >= 0, 2 * a, -2 * a - 1)


def unzigzag(z) -> np.ndarray:
    z = np.asarray(z, np.int64)
    return np.where(z & 1, -((z + 1) >> 1), z >> 1)


def _bucket(n) -> np.ndarray:
    return np.minimum(np.floor(np.log2(np.maximum(np.asarray(n, np.float64), 1))).astype(np.int64), 15)


def _segmented_cumsum(values: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    from hepvq.pixel.codec import segmented_cumsum

    return segmented_cumsum(values, seg_start)


def n_contexts(n_classes: int = N_CLASSES, layout: str = "columns") -> dict[str, int]:
    if layout == "clusters":
        from hepvq.baselines import sparse_clusters

        return sparse_clusters.n_contexts(n_classes)
    return {"columns": n_classes + 1, "col_gap": 32, "col_count": 16, "row": 32, "value": 64}


def layout_streams(layout: str) -> tuple:
    if layout == "clusters":
        from hepvq.baselines import sparse_clusters

        return sparse_clusters.STREAMS
    if layout == "columns":
        return STREAMS
    raise ModelError(f"unknown sparse stream layout '{layout}' (columns, clusters)")


# ---------------------------------------------------------------------------------------------------------------
# layout: hits -> symbols and contexts; the contexts of each stream from the streams before it
# ---------------------------------------------------------------------------------------------------------------
def _column_contexts(ncols_of_col, cfirst, gap, cclass, n_classes):
    adjp = (~cfirst) & (gap == 0)
    adjn = np.zeros(adjp.size, bool)
    adjn[:-1] = adjp[1:]
    gap_ctx = 2 * _bucket(ncols_of_col) + cfirst
    count_ctx = adjp + 2 * adjn + 4 * np.minimum(cclass * 4 // n_classes, 3)
    return adjp, gap_ctx, count_ctx


def _row_contexts(ccount, adjp):
    """Per column: context of its first row; the within-column contexts depend on position and count only."""
    prev_count = np.concatenate([[0], ccount[:-1]]).astype(np.int64)
    return np.where(adjp, 1 + np.minimum(prev_count - 1, 3) + 4 * np.minimum(ccount - 1, 3), 0)


def _within_contexts(pos, hit_count):
    return 17 + np.minimum(pos - 1, 2) + 3 * np.minimum(hit_count - 2, 4)


def _value_contexts(plane, col, row, hit_count):
    """Occupied 4-neighbours (up, down, left, right) + 16 x min(hit_count - 1, 3), hits in any order."""
    n = plane.size
    if n == 0:
        return np.zeros(0, np.int64)
    key = np.sort((plane.astype(np.int64) * (1 << 20) + col) * (1 << 20) + row)

    def has(dc, dr):
        k = (plane.astype(np.int64) * (1 << 20) + col + dc) * (1 << 20) + row + dr
        i = np.minimum(np.searchsorted(key, k), n - 1)
        return key[i] == k

    pattern = has(0, -1) + 2 * has(0, 1) + 4 * has(-1, 0) + 8 * has(1, 0)
    return pattern + 16 * np.minimum(hit_count - 1, 3)


def event_symbols(plane, col, row, value, n_planes: int, classes: np.ndarray, n_classes: int = N_CLASSES):
    """{stream: (symbols, contexts)} of one event whose hits are sorted by (plane, col, row); plane: index into
    the event's plane list (n_planes long, classes[i] its class)."""
    plane, col, row = (np.asarray(x, np.int64) for x in (plane, col, row))
    n = plane.size
    newc = np.ones(n, bool)
    newc[1:] = (plane[1:] != plane[:-1]) | (col[1:] != col[:-1])
    cs = np.flatnonzero(newc)
    cplane, ccol = plane[cs], col[cs]
    ccount = np.diff(np.append(cs, n))
    ncols = np.bincount(cplane, minlength=n_planes).astype(np.int64)
    cfirst = np.ones(cs.size, bool)
    cfirst[1:] = cplane[1:] != cplane[:-1]
    gap = np.where(cfirst, ccol, ccol - np.concatenate([[0], ccol[:-1]]) - 1)
    adjp, gap_ctx, count_ctx = _column_contexts(ncols[cplane], cfirst, gap, classes[cplane], n_classes)
    colid = np.cumsum(newc) - 1
    pos = np.arange(n) - cs[colid]
    first_row = row[cs]
    first_sym = np.where(adjp, zigzag(first_row - np.concatenate([[0], first_row[:-1]])), first_row)
    hit_count = ccount[colid]
    is_first = pos == 0
    prev_row = np.concatenate([[0], row[:-1]])
    row_sym = np.where(is_first, first_sym[colid], row - prev_row - 1)
    row_ctx = np.where(is_first, _row_contexts(ccount, adjp)[colid], _within_contexts(pos, hit_count))
    out = {"columns": (ncols, classes.astype(np.int64)), "col_gap": (gap, gap_ctx),
           "col_count": (ccount - 1, count_ctx), "row": (row_sym, row_ctx)}
    if value is not None:
        out["value"] = (np.asarray(value, np.int64), _value_contexts(plane, col, row, hit_count))
    return out


# ---------------------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------------------
class StreamTables:
    """Plane table (sorted keys, occupancy class of each) + one rANS table per stream + the layout's limits."""

    def __init__(self, info: dict, keys: np.ndarray, classes: np.ndarray, tables: dict, book=None):
        self.info = dict(info)
        self.layout = self.info.get("layout", "columns")
        self.streams = layout_streams(self.layout)
        self.book = book
        if self.layout == "clusters" and book is None:
            raise ModelError("sparse stream tables: the cluster layout needs its shape book")
        self.n_cols, self.n_rows = int(info["n_cols"]), int(info["n_rows"])
        self.value_alphabet = int(info["value_alphabet"])
        self.n_classes = int(info["n_classes"])
        self.keys = np.asarray(keys, np.int64)
        self.classes = np.asarray(classes, np.int64)
        self.tables = tables
        if self.keys.size != self.classes.size or (self.keys.size > 1 and np.any(np.diff(self.keys) <= 0)):
            raise ModelError("sparse stream tables: plane keys not strictly increasing or classes of another size")
        want = n_contexts(self.n_classes, self.layout)
        for name in self.streams:
            if name not in tables:
                raise ModelError(f"sparse stream tables: stream '{name}' has no table")
            if tables[name].n_contexts != want[name]:
                raise ModelError(f"sparse stream tables: stream '{name}' has {tables[name].n_contexts} contexts, "
                                 f"the layout uses {want[name]}")

    def to_bytes(self) -> bytes:
        """MAGIC, version byte, zstd-19 of (header lengths, JSON info, plane keys, classes, each stream's tables).
        Deterministic: the same tables give the same bytes (and sha256)."""
        import zstandard

        head = json.dumps(self.info, sort_keys=True).encode()
        out = io.BytesIO()
        out.write(struct.pack("<II", len(head), self.keys.size) + head)
        out.write(self.keys.astype("<i8").tobytes() + self.classes.astype(np.uint8).tobytes())
        for name in self.streams:
            t = self.tables[name].to_bytes()
            out.write(struct.pack("<I", len(t)) + t)
        if self.book is not None:
            b = self.book.to_bytes()
            out.write(struct.pack("<I", len(b)) + b)
        return MAGIC + bytes([TABLES_VERSION]) + zstandard.ZstdCompressor(level=19).compress(out.getvalue())

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "sparse stream tables") -> "StreamTables":
        import zstandard

        data = bytes(data)
        try:
            if data[:4] != MAGIC:
                raise ValueError("bad magic")
            if data[4] != TABLES_VERSION:
                raise ValueError(f"version {data[4]} (this hepvq reads {TABLES_VERSION})")
            data = zstandard.ZstdDecompressor().decompress(data[5:], max_output_size=1 << 28)
            lh, m = struct.unpack_from("<II", data, 0)
            p = 8
            info = json.loads(data[p:p + lh].decode())
            p += lh
            keys = np.frombuffer(data, "<i8", m, p).astype(np.int64)
            p += 8 * m
            classes = np.frombuffer(data, np.uint8, m, p).astype(np.int64)
            p += m
            tables, parts = {}, []
            layout = info.get("layout", "columns")
            for name in layout_streams(layout) + (("shape book",) if layout == "clusters" else ()):
                (lt,) = struct.unpack_from("<I", data, p)
                p += 4
                if p + lt > len(data):
                    raise ValueError("truncated")
                parts.append((name, data[p:p + lt]))
                p += lt
            book = None
            for name, part in parts:
                if name == "shape book":
                    from hepvq.baselines.sparse_clusters import ShapeBook

                    book = ShapeBook.from_bytes(part)
                else:
                    tables[name] = entropy.Tables.from_bytes(part)
            if p != len(data):
                raise ValueError(f"{len(data) - p} trailing bytes")
        except ModelError:
            raise
        except Exception as err:  # noqa: BLE001 - any damage is one line naming what
            raise ModelError(f"{what}: not a valid table blob ({str(err).splitlines()[0] if str(err) else type(err).__name__})") \
                from err
        return cls(info, keys, classes, tables, book)

    def plane_list(self, keys_present: np.ndarray):
        """(sorted plane keys of the event: the table's and the extra ones, their classes, the extra keys)."""
        keys_present = np.asarray(keys_present, np.int64)
        i = np.minimum(np.searchsorted(self.keys, keys_present), max(self.keys.size - 1, 0))
        known = (self.keys[i] == keys_present) if self.keys.size else np.zeros(keys_present.size, bool)
        extra = np.unique(keys_present[~known])
        return self._merge(extra) + (extra,)

    def _merge(self, extra: np.ndarray):
        allk = np.concatenate([self.keys, extra])
        cls_ = np.concatenate([self.classes, np.full(extra.size, self.n_classes, np.int64)])
        o = np.argsort(allk, kind="stable")
        return allk[o], cls_[o]


def fit(events, *, n_cols: int, n_rows: int, value_alphabet: int, n_classes: int = N_CLASSES, kind: str = "",
        adapt_period: int = 0, adapt_strength: int = 0, adapt_streams=("value",), layout: str = "columns",
        max_shapes: int | None = None, value_direct: int = 0) -> StreamTables:
    """Tables fitted on training events [(plane keys, col, row, value) per event, any hit order].

    adapt_period / adapt_strength: adaptation within an event (hepvq.codecs.entropy) of the streams named in
    adapt_streams (the others static).
    layout: "columns" or "clusters"; max_shapes: the clusters layout's shape book size (default 4095; smaller
    books make smaller tables, rarer shapes escaped); value_direct: values at or above it are escapes (raw bits)
    in the value stream (0: every trained value has its own entry).

    Plane classes: quantiles of each plane's mean hit count over the events; the pooled class (planes missing
    from the table) is fitted on all planes together, as is every context's fallback."""
    keys = np.unique(np.concatenate([np.asarray(e[0], np.int64) for e in events])) if events else np.zeros(0, np.int64)
    occ = np.zeros(keys.size)
    for e in events:
        occ += np.bincount(np.searchsorted(keys, np.asarray(e[0], np.int64)), minlength=keys.size)
    rank = np.argsort(np.argsort(occ, kind="stable"), kind="stable")
    classes = (rank * n_classes // max(keys.size, 1)).astype(np.int64)
    info = {"kind": kind, "n_cols": int(n_cols), "n_rows": int(n_rows), "value_alphabet": int(value_alphabet),
            "n_classes": int(n_classes), "adapt_period": int(adapt_period), "adapt_strength": int(adapt_strength)}
    if layout != "columns":
        info["layout"] = layout
    streams = layout_streams(layout)
    proto = StreamTables.__new__(StreamTables)
    proto.keys, proto.classes, proto.n_classes, proto.layout = keys, classes, n_classes, layout
    proto.n_rows, proto.n_cols, proto.book = int(n_rows), int(n_cols), None
    evs = [tuple(np.asarray(x, np.int64) for x in e) for e in events]
    if layout == "clusters":  # the shape book first: the shapes of the training clusters
        from hepvq.baselines import sparse_clusters

        shape_keys = []
        for plane_keys, col, row, _ in evs:
            plist, _, _ = proto.plane_list(plane_keys)
            shape_keys.append(sparse_clusters.clusters(np.searchsorted(plist, plane_keys), col, row, n_rows,
                                                       n_cols)[5])
        proto.book = sparse_clusters.ShapeBook.fit(shape_keys, max_shapes or sparse_clusters.MAX_SHAPES)
    sym = {s: [] for s in streams}
    ctx = {s: [] for s in streams}
    for plane_keys, col, row, value in evs:
        for s, (a, c) in _event_symbols(proto, plane_keys, col, row, value)[0].items():
            sym[s].append(a)
            ctx[s].append(np.zeros(a.size, np.int64) if c is None else c)
    alphabets = {"columns": n_cols + 1, "col_gap": n_cols, "col_count": n_rows, "row": 2 * n_rows,
                 "value": value_alphabet, "clusters": n_cols * n_rows // 2 + 1, "anchor_col": n_cols,
                 "anchor_row": n_rows, "shape": len(proto.book) + 1 if proto.book is not None else 1,
                 "esc_count": n_cols * n_rows, "esc_dc": n_cols, "esc_dr": 2 * n_rows}
    pooled = {"columns", "clusters", "anchor_row", "shape"}  # streams whose contexts include the plane class
    tables = {}
    for s in streams:
        a = np.concatenate(sym[s]) if sym[s] else np.zeros(0, np.int64)
        c = np.concatenate(ctx[s]) if ctx[s] else np.zeros(0, np.int64)
        if s in pooled:  # the pooled class (planes not in the table): every plane's statistics
            base = c - c % (n_classes + 1)
            a, c = np.concatenate([a, a]), np.concatenate([c, base + n_classes])
        tables[s] = entropy.fit_tables(a, c, alphabet=alphabets[s], n_contexts=n_contexts(n_classes, layout)[s],
                                       direct=value_direct if s == "value" else 0,
                                       adapt_period=adapt_period if s in adapt_streams else 0,
                                       adapt_strength=adapt_strength if s in adapt_streams else 0)
    return StreamTables(info, keys, classes, tables, proto.book)


def _event_symbols(tables, plane_keys, col, row, value):
    """({stream: (symbols, contexts)}, extra plane keys) of one event in the tables' layout."""
    plist, pclass, extra = tables.plane_list(plane_keys)
    idx = np.searchsorted(plist, plane_keys)
    if tables.layout == "clusters":
        from hepvq.baselines import sparse_clusters

        syms = sparse_clusters.symbols(idx, col, row, value, plist.size, pclass, tables.n_classes, tables.book,
                                       tables.n_rows, tables.n_cols)[0]
    else:
        o = np.lexsort((row, col, idx))
        syms = event_symbols(idx[o], col[o], row[o], None if value is None else value[o], plist.size, pclass,
                             tables.n_classes)
    return syms, extra


# ---------------------------------------------------------------------------------------------------------------
# one event <-> one blob
# ---------------------------------------------------------------------------------------------------------------
def _varints(values) -> bytes:
    from hepvq.tpc.coords import varint_bytes

    return varint_bytes(np.asarray(values, np.uint64))


def encode_event(plane_keys, col, row, value, tables: StreamTables, *, header: bytes = b"") -> bytes:
    """One event's blob: header + varints (hits, extra planes, their key deltas) + per stream (byte count,
    rANS bytes). value: None to code positions only. Hits are coded sorted by (plane key, col, row)."""
    plane_keys, col, row = (np.asarray(x, np.int64) for x in (plane_keys, col, row))
    n = plane_keys.size
    if n and (int(col.min()) < 0 or int(col.max()) >= tables.n_cols or int(row.min()) < 0
              or int(row.max()) >= tables.n_rows):
        raise ValueError(f"sparse streams: hits outside the tables' {tables.n_cols} x {tables.n_rows} planes")
    syms, extra = _event_symbols(tables, plane_keys, col, row, None if value is None else np.asarray(value, np.int64))
    out = io.BytesIO()
    out.write(header + _varints([n, extra.size]))
    if extra.size:
        out.write(_varints(zigzag(np.diff(extra, prepend=0))))
    for s in tables.streams:
        if s not in syms:
            continue
        a, c = syms[s]
        blob = entropy.encode(a, c, tables.tables[s])
        out.write(_varints([len(blob)]) + blob)
    return out.getvalue()


def _sorted_index(plane_keys, col, row):
    """(plane index, col, row, order) of hits sorted by (plane key, col, row)."""
    plane_keys, col, row = (np.asarray(x, np.int64) for x in (plane_keys, col, row))
    _, idx = np.unique(plane_keys, return_inverse=True)
    o = np.lexsort((row, col, idx))
    return idx.reshape(-1)[o], col[o], row[o], o


def _hit_counts(plane, col) -> np.ndarray:
    n = plane.size
    newc = np.ones(n, bool)
    newc[1:] = (plane[1:] != plane[:-1]) | (col[1:] != col[:-1])
    cs = np.flatnonzero(newc)
    return np.repeat(np.diff(np.append(cs, n)), np.diff(np.append(cs, n)))


def _layout_value_contexts(tables: StreamTables, plane, col, row) -> np.ndarray:
    """The value contexts of hits sorted by (plane, col, row), as the tables' layout defines them (the hit
    count of the column, or the size of the hit's 8-connected cluster)."""
    if tables.layout == "clusters":
        from hepvq.baselines import sparse_clusters

        hit_order, cid = sparse_clusters.clusters(plane, col, row, tables.n_rows, tables.n_cols)[:2]
        size = np.empty(plane.size, np.int64)
        size[hit_order] = np.bincount(cid, minlength=int(cid.max(initial=-1)) + 1)[cid]
        return _value_contexts(plane, col, row, size)
    return _value_contexts(plane, col, row, _hit_counts(plane, col))


def encode_values(plane_keys, col, row, value, tables: StreamTables) -> bytes:
    """The value stream alone (rANS bytes), in (plane key, col, row) order, its contexts from the positions: for
    a codec that stores the positions elsewhere (tpc_inr's residuals next to its coords)."""
    plane, c, r, o = _sorted_index(plane_keys, col, row)
    v = np.asarray(value, np.int64)[o]
    return entropy.encode(v, _layout_value_contexts(tables, plane, c, r), tables.tables["value"])


def decode_values(blob, plane_keys, col, row, tables: StreamTables, what: str = "value stream") -> np.ndarray:
    """Inverse of encode_values given the positions sorted by (plane key, col, row) (decode_event's order)."""
    plane, c, r, o = _sorted_index(plane_keys, col, row)
    if not np.array_equal(o, np.arange(o.size)):
        raise ValueError("decode_values: positions must come sorted by (plane key, col, row)")
    try:
        v = entropy.decode(bytes(blob), c.size, _layout_value_contexts(tables, plane, c, r), tables.tables["value"])
    except DataError as err:
        raise DataError(f"{what}: {err}") from err
    if v.size and int(v.max()) >= tables.value_alphabet:
        raise DataError(f"{what}: decodes {int(v.max())} beyond {tables.value_alphabet - 1}")
    return v


def decode_event(blob, tables: StreamTables, *, with_value: bool = True, offset: int = 0, what: str = "sparse blob"):
    """-> (plane keys, col, row, value or None) int64, sorted by (plane key, col, row)."""
    r = _Reader(bytes(blob), what)
    r.pos = offset
    n, n_extra = r.varint(), r.varint()
    if n > 1 << 40 or n_extra > 1 << 32:
        raise DataError(f"{what}: corrupt header ({n} hits, {n_extra} extra planes)")
    extra = np.cumsum(unzigzag(np.array([r.varint() for _ in range(n_extra)], np.int64))) if n_extra \
        else np.zeros(0, np.int64)
    plist, pclass = tables._merge(extra)
    if n_extra and (np.any(np.diff(plist) <= 0)):
        raise DataError(f"{what}: extra plane keys repeat a table key or each other")
    P = plist.size

    def stream(name, count, ctx):
        nbytes = r.varint()
        data = r.take(nbytes)
        try:
            return entropy.decode(data, count, ctx, tables.tables[name])
        except DataError as err:
            raise DataError(f"{what}: stream '{name}': {err}") from err

    if tables.layout == "clusters":
        from hepvq.baselines import sparse_clusters

        plane, col, row, value = sparse_clusters.decode(stream, n, P, pclass, tables.n_classes, tables.book,
                                                        tables.n_rows, tables.n_cols, with_value, what)
        if with_value and n and int(value.max()) >= tables.value_alphabet:
            raise DataError(f"{what}: stream 'value' decodes {int(value.max())} beyond {tables.value_alphabet - 1}")
        if r.pos != len(r.buf):
            raise DataError(f"{what}: {len(r.buf) - r.pos} trailing bytes")
        o = np.lexsort((row, col, plane))
        return plist[plane[o]], col[o], row[o], None if value is None else value[o]
    ncols = stream("columns", P, pclass)
    if np.any(ncols > tables.n_cols) or int(ncols.sum()) > n:
        raise DataError(f"{what}: stream 'columns' decodes {int(ncols.sum())} columns for {n} hits")
    C = int(ncols.sum())
    cplane = np.repeat(np.arange(P), ncols)
    cfirst = np.ones(C, bool)
    cfirst[1:] = cplane[1:] != cplane[:-1]
    gap_ctx = 2 * _bucket(ncols[cplane]) + cfirst
    gap = stream("col_gap", C, gap_ctx)
    ccol = _segmented_cumsum(gap + 1, cfirst) - 1 if C else np.zeros(0, np.int64)
    if C and int(ccol.max()) >= tables.n_cols:
        raise DataError(f"{what}: stream 'col_gap' decodes column {int(ccol.max())} beyond {tables.n_cols - 1}")
    adjp, _, count_ctx = _column_contexts(ncols[cplane], cfirst, gap, pclass[cplane], tables.n_classes)
    ccount = stream("col_count", C, count_ctx) + 1
    if int(ccount.sum()) != n:
        raise DataError(f"{what}: columns hold {int(ccount.sum())} hits, the header says {n}")
    colid = np.repeat(np.arange(C), ccount)
    cs = np.concatenate([[0], np.cumsum(ccount)[:-1]]).astype(np.int64)
    pos = np.arange(n) - cs[colid] if n else np.zeros(0, np.int64)
    is_first = pos == 0
    hit_count = ccount[colid]
    row_ctx = np.where(is_first, _row_contexts(ccount, adjp)[colid] if C else 0, _within_contexts(pos, hit_count))
    rsym = stream("row", n, row_ctx)
    first_val = np.where(adjp, unzigzag(rsym[cs]), rsym[cs]) if C else np.zeros(0, np.int64)
    first_row = _segmented_cumsum(first_val, ~adjp) if C else first_val
    row = _segmented_cumsum(np.where(is_first, first_row[colid] if C else 0, rsym + 1), is_first) if n \
        else np.zeros(0, np.int64)
    if n and (int(row.min()) < 0 or int(row.max()) >= tables.n_rows):
        raise DataError(f"{what}: stream 'row' decodes row {int(row.min())}..{int(row.max())} outside "
                        f"0..{tables.n_rows - 1}")
    plane, col = cplane[colid], ccol[colid]
    value = None
    if with_value:
        value = stream("value", n, _value_contexts(plane, col, row, hit_count))
        if n and int(value.max()) >= tables.value_alphabet:
            raise DataError(f"{what}: stream 'value' decodes {int(value.max())} beyond {tables.value_alphabet - 1}")
    if r.pos != len(r.buf):
        raise DataError(f"{what}: {len(r.buf) - r.pos} trailing bytes")
    return plist[plane], col, row, value


# ---------------------------------------------------------------------------------------------------------------
# fitting the shipped tables
# ---------------------------------------------------------------------------------------------------------------
PIXEL_PLANE = 4096  # pixel planes: columns and rows below this (trained range coded directly, the rest escaped)


def pixel_events(path, adc_bits: int = 4, adc_min: float = 1, adc_max: float = 255, mode: str = "log",
                 entries=None):
    """[(detId, col, row, ADC code) per event] of the PixelDigi collection of a ROOT file."""
    import uproot

    from hepvq.baselines.sparse import requantize

    with uproot.open(str(path)) as f:
        t = f["Events"]
        start, stop = (None, None) if entries is None else entries
        a = t.arrays(["PixelDigi_detId", "PixelDigi_col", "PixelDigi_row", "PixelDigi_adc"], library="np",
                     entry_start=start, entry_stop=stop)
    return [(a["PixelDigi_detId"][e].astype(np.int64), a["PixelDigi_col"][e].astype(np.int64),
             a["PixelDigi_row"][e].astype(np.int64),
             requantize(a["PixelDigi_adc"][e], adc_bits, adc_min, adc_max, mode).astype(np.int64))
            for e in range(len(a["PixelDigi_detId"]))]


def fit_pixel(path, adc_bits: int = 4, adc_min: float = 1, adc_max: float = 255, mode: str = "log",
              entries=None, **kw) -> StreamTables:
    """pixel_sparse format-2 tables fitted on the PixelDigi events of a ROOT file."""
    return fit(pixel_events(path, adc_bits, adc_min, adc_max, mode, entries), n_cols=PIXEL_PLANE,
               n_rows=PIXEL_PLANE, value_alphabet=1 << int(adc_bits), kind="pixel_sparse",
               **{"layout": "clusters", **kw})


def main(argv=None):
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m hepvq.baselines.sparse_streams",
                                 description="Fit the rANS stream tables of pixel_sparse format 2 or tpc_inr format 2 "
                                             "on training events and write them (the model file the codecs ship).")
    ap.add_argument("detector", choices=["pixel", "tpc"])
    ap.add_argument("input", help="training ROOT file (Events tree in the input schema)")
    ap.add_argument("-o", "--output", required=True, help="tables file to write")
    ap.add_argument("--adc-bits", type=int, default=4, help="pixel: ADC bits (default 4, log bins over 1..255)")
    args = ap.parse_args(argv)
    if args.detector == "pixel":
        t = fit_pixel(args.input, args.adc_bits)
    else:
        from hepvq.tpc.coords import fit_tables

        t = fit_tables(args.input)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(t.to_bytes())
    print(f"{out}: {len(t.to_bytes())} bytes, {t.keys.size} planes, sha256 {t.sha256}")


if __name__ == "__main__":
    main()
