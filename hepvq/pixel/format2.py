"""pixel_vq format 2: the same patches, shape table and charge model as format 1, written as entropy-coded
streams (the core's rANS coder, hepvq.codecs.entropy) with per-cluster anchors and rate-aware code choice.

Per event every stream is one rANS blob, stored as a jagged uint8 branch ``<label>_s_<stream>``; the main
product ``<label>_nmod / _ncl / _npatch`` (uint32 per event) gives the counts the decoder starts from, and
detIds unknown to the tables go to ``<label>_fardet`` (uint32). Streams, in decoding order:

=========  ===============  =========================================================================
stream     per              symbol | context
=========  ===============  =========================================================================
mod        module           gap in the trained detId list + 1 (0: unknown detId -> fardet) | -
ncl        module           clusters - 1 | (layer, module) shape context of the detId
dcol       cluster          column of the cluster origin - previous origin's in the module | (layer,
                            bucket of the module's cluster count)
row        cluster          origin row, or row - previous origin row when the column delta is 0
                            | (layer, absolute or delta)
layout     cluster          (tile rows - 1) * NJ + tile cols - 1 of the cluster's 4x8 tiles | (layer, module)
tiles      tile of a 2-D    1 if the tile has hits (clusters spanning >= 2 tile rows and columns) | -
           layout
shape      patch            shape-table index or escape | ((layer, module), place of the tile in its cluster)
esc        escaped patch    one symbol per patch row: the row's occupancy bits | (patch row, (layer, module))
charge     patch            log-grid charge index | (shape bucket, layer, one- or multi-tile cluster)
code<s>    multi-hit patch  VQ code of stage s | (shape bucket, charge bucket)
=========  ===============  =========================================================================

Shape bucket: the shape's own index for the ``OWN_SHAPES`` most frequent shapes, else the hit count (capped).
A cluster's anchor is the lower corner of its bounding box; its tiles sit at (row0 + 4 i, col0 + 8 j), in
raster order. Contexts never depend on a symbol of their own stream, so each stream decodes for all events
at once.

The static tables (one ``hepvq_core.RansTables`` per stream) and the context parameters (known detIds,
layers, bucket edges) are fitted by ``hepvq-train pixel-vq-tables`` per *operating point* (charge step, mu),
stored in the model directory as ``format2_<point>.tables`` and copied into every compressed file as the blob
``<label>/tables`` (sha256 in the provenance, and in the settings blob, so a file is self-describing).

Rate-aware code choice: among the ``RATE_TOPK`` nearest codes the encoder keeps the one minimising
(centroid error)^2 + lambda (fraction error)^2 + mu * bits(code | context), bits from the code tables
(lambda: the model's centroid_lambda). An operating point may set its own ``rate_topk`` and ``rate_lambda``;
they are written into its tables' header and the settings blob (encode-time only: the decoder decodes whatever
code was chosen, so files of any point decode alike)."""
from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

import awkward as ak
import numpy as np

from hepvq.codecs.options import threads as job_threads
from hepvq.errors import DataError, ModelError
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec, Symbols, charge_levels, quantise_charge, segmented_cumsum

STREAM_FORMAT = 2
SETTINGS_VERSION = 2
MAGIC = b"HEPVQ-PXF2\n"
TABLES_FILE = "format2_{point}.tables"
#: named operating points: (relative charge step of the log grid, weight mu of the code's bits in the code choice;
#: optionally the code choice's rate_lambda and rate_topk, see RATE_KEYS; docs/pixel.md "Operating-point scan")
OPERATING_POINTS = {
    "fine": {"charge_step": 0.10, "mu": 0.0025, "rate_lambda": 0.1, "rate_topk": 32,
             "what": "today's fidelity: <= 2.8 % cluster charge RMS, <= 0.05 px centroid RMS"},
    "default": {"charge_step": 0.14, "mu": 0.01,
                "what": "~3.8 % charge RMS, ~0.07 px centroid RMS"},
    "coarse": {"charge_step": 0.18, "mu": 0.015,
               "what": "towards the fidelity goals (5 % charge RMS, 0.1 px centroid RMS)"},
}
OWN_SHAPES = 32      # shapes with their own context for charge and code; the others by hit count
NHIT_BUCKETS = 8     # hit-count buckets (1..8+) of the other shapes
CHARGE_BUCKETS = 4   # code context: total charge quantiles of the training multi-hit patches
NCL_EDGES = (2, 4, 8, 16, 32)
TILE_POSITIONS = 17  # shape context: single tile + 16 (row > 0, col > 0, tile to the right, tile below)  # module cluster-count buckets for the column gap
RATE_TOPK = 16
#: shapes the tables add to the model's table: the most frequent escaped masks of the fitting events (coded by the
#: shape stream like table shapes; 768 minimised the held-out bits of docs/pixel.md's study: escapes 0.32 -> 0.10
#: bits/hit, shapes +0.16, on 10 fitting events)
EXTRA_SHAPES = 768
STREAMS_BASE = ("mod", "ncl", "dcol", "row", "layout", "tiles", "shape", "esc", "charge")


def stream_names(stages: int) -> tuple[str, ...]:
    return STREAMS_BASE + tuple(f"code{s}" for s in range(stages))


#: the code choice's keys of an operating point that only some points set (absent: RATE_TOPK, the model's lambda)
RATE_KEYS = ("rate_lambda", "rate_topk")


def operating_point(name: str) -> dict:
    if name not in OPERATING_POINTS:
        raise ModelError(f"pixel_vq format 2: unknown operating point {name!r}; known: "
                         + ", ".join(f"{k} (charge step {v['charge_step']}, mu {v['mu']})" for k, v in OPERATING_POINTS.items()))
    return OPERATING_POINTS[name]


# ---- tables container ------------------------------------------------------------------------------------
class Tables:
    """Context parameters (header) + one rANS table per stream for one operating point."""

    def __init__(self, header: dict, tables: dict):
        self.header = header
        self.tables = tables
        self.known_dets = np.asarray(header["known_dets"], dtype=np.int64)
        self.layers = np.asarray(header["layers"], dtype=np.int64)
        self.charge_edges = np.asarray(header["charge_edges"], dtype=np.float64)

    def to_bytes(self) -> bytes:
        names = list(self.tables)
        blobs = [self.tables[n].to_bytes() for n in names]
        head = dict(self.header, streams=names, sizes=[len(b) for b in blobs])
        hj = json.dumps(head, sort_keys=True).encode()
        return MAGIC + struct.pack("<I", len(hj)) + hj + b"".join(blobs)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "tables") -> "Tables":
        from hepvq.codecs.entropy import Tables as RT

        data = bytes(data)
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
            raise ModelError(f"{source}: not pixel_vq format-2 tables (bad magic)")
        (n,) = struct.unpack_from("<I", data, len(MAGIC))
        pos = len(MAGIC) + 4
        try:
            head = json.loads(data[pos:pos + n].decode())
            pos += n
            tables = {}
            for name, size in zip(head["streams"], head["sizes"]):
                if pos + size > len(data):
                    raise ValueError(f"table '{name}' truncated")
                tables[name] = RT.from_bytes(data[pos:pos + size])
                pos += size
            if pos != len(data):
                raise ValueError(f"{len(data) - pos} trailing bytes")
            return cls(head, tables)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise ModelError(f"{source}: pixel_vq format-2 tables are corrupt ({str(err).splitlines()[0]})") from err
        except Exception as err:  # the core's DataError on a damaged table
            raise ModelError(f"{source}: pixel_vq format-2 tables are corrupt ({str(err).splitlines()[0]})") from err


# ---- contexts (shared by encoder, decoder and fitting) ---------------------------------------------------
class Contexts:
    def __init__(self, codec: PixelVQCodec, header: dict):
        self.c = codec
        self.header = header
        self.known = np.asarray(header["known_dets"], dtype=np.int64)
        self.layers = np.asarray(header["layers"], dtype=np.int64)
        self.charge_edges = np.asarray(header["charge_edges"], dtype=np.float64)
        self.n_layer = len(self.layers) + 1
        self.n_det = codec.n_shape_ctx
        self.nj = -(-codec.module_cols // codec.pc)
        self.ni = -(-codec.module_rows // codec.pr)
        self.n_shape_b = OWN_SHAPES + NHIT_BUCKETS
        # the code context's charge bucket of each charge level: one lookup per patch instead of a search
        self._charge_bucket = np.searchsorted(self.charge_edges, codec.levels.astype(np.float64), side="right")

    def layer(self, det):
        if not self.c.ctx_bitfields or not len(self.layers):
            return np.zeros(len(det), dtype=np.int64)
        shift, mask = self.c.ctx_bitfields[0]
        v = (np.asarray(det, np.int64) >> shift) & mask
        pos = np.minimum(np.searchsorted(self.layers, v), len(self.layers) - 1)
        return np.where(self.layers[pos] == v, pos + 1, 0)

    def shape_bucket(self, shape, nhit):
        return np.where(shape < OWN_SHAPES, shape, OWN_SHAPES + np.minimum(nhit, NHIT_BUCKETS) - 1)

    def charge_bucket(self, charge):
        return self._charge_bucket[charge]

    def spec(self) -> dict:
        """{stream: (alphabet, n_contexts, direct)}"""
        c = self.c
        out = {"mod": (len(self.known) + 1, 1, 0), "ncl": (c.module_rows * c.module_cols, self.n_det, 0),
               "dcol": (c.module_cols, self.n_layer * (len(NCL_EDGES) + 1), c.module_cols),
               "row": (c.module_rows, 2 * self.n_layer, c.module_rows),
               "layout": (self.ni * self.nj, self.n_det, 0), "tiles": (2, 1, 2),
               "shape": (c.escape + 1, TILE_POSITIONS * self.n_det, c.escape + 1), "esc": (1 << c.pc, c.pr * self.n_det, min(1 << c.pc, 65536)),
               "charge": (len(c.levels), self.n_shape_b * self.n_layer * 2, len(c.levels))}
        for s, k in enumerate(c.codebook_sizes):
            out[f"code{s}"] = (k, self.n_shape_b * (CHARGE_BUCKETS + 1), min(k, 65536))
        return out

    def ncl(self, det):
        return self.c.det_context(det)

    def dcol(self, det_c, ncl_c):
        return self.layer(det_c) * (len(NCL_EDGES) + 1) + np.searchsorted(np.asarray(NCL_EDGES), ncl_c, side="right")

    def row(self, det_c, rel):
        return self.layer(det_c) + self.n_layer * rel.astype(np.int64)

    def layout(self, det_c):
        return self.c.det_context(det_c)

    def shape(self, det_p, ti, tj, ni, nj):
        """(layer, module) x the tile's place in its cluster: single tile, else (below the first tile row, right
        of the first tile column, a tile to its right, a tile below) -- edges a tile shares with its neighbours"""
        pos = np.where((ni == 1) & (nj == 1), 0,
                       1 + (ti > 0) + 2 * (tj > 0) + 4 * (tj < nj - 1) + 8 * (ti < ni - 1))
        return self.c.det_context(det_p) * TILE_POSITIONS + pos

    def esc(self, det_esc):
        """one context per row of each escaped patch: (patch row, (layer, module) context)"""
        return (np.arange(self.c.pr)[None, :] * self.n_det + self.c.det_context(det_esc)[:, None]).ravel()

    def charge(self, det_p, shape, nhit, multitile):
        return (self.shape_bucket(shape, nhit) * self.n_layer + self.layer(det_p)) * 2 + multitile.astype(np.int64)

    def code(self, shape, nhit, charge):
        return self.shape_bucket(shape, nhit) * (CHARGE_BUCKETS + 1) + self.charge_bucket(charge)


def _popcount(mask):
    return np.bitwise_count(np.asarray(mask, dtype=np.uint64)).astype(np.int64)


def _first_of_groups(*keys) -> np.ndarray:
    n = len(keys[0])
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return new


# ---- patches -> streams ----------------------------------------------------------------------------------
def core_context(codec: PixelVQCodec, header: dict) -> dict:
    """The context parameters the compiled core's format-2 encode and decode take."""
    return {"known_dets": list(header["known_dets"]), "layers": list(header["layers"]),
            "charge_edges": list(header["charge_edges"]), "ncl_edges": list(NCL_EDGES), "own_shapes": OWN_SHAPES,
            "nhit_buckets": NHIT_BUCKETS, "charge_buckets": CHARGE_BUCKETS, "tile_positions": TILE_POSITIONS,
            "module_rows": codec.module_rows, "module_cols": codec.module_cols}


def cluster_streams(codec: PixelVQCodec, ctx: Contexts | None, p: P.Patches, shape, mask, charge, codes, multi):
    """{stream: (symbols, contexts, event of each symbol)} of a chunk's patches, the per-event counts (nmod, ncl,
    npatch) of the main product and {"fardet": (unknown detIds, their events)}: by the compiled core
    (hepvq_core.pixel_vq_f2_symbols, core/src/pixel_vq_f2_encode.cpp, which the C++ encoder calls too);
    cluster_streams_reference is its numpy oracle (and serves ctx None: contexts zero)."""
    if ctx is None:
        return cluster_streams_reference(codec, ctx, p, shape, mask, charge, codes, multi)
    import hepvq_core

    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    codes = np.asarray(codes, dtype=np.int64).reshape(int(np.count_nonzero(multi)), codec.stages)
    res = hepvq_core.pixel_vq_f2_symbols(
        codec.core_model, core_context(codec, ctx.header), int(p.n_events), i64(p.event), i64(p.det), i64(p.row),
        i64(p.col), i64(p.cluster), i64(shape), np.ascontiguousarray(mask, dtype=np.uint64), i64(charge),
        np.ascontiguousarray(multi, dtype=np.uint8), np.ascontiguousarray(codes), job_threads(codec))
    streams, nmod, ncl, npatch, fardet, fardet_ev = res
    out = dict(zip(stream_names(codec.stages), (tuple(t) for t in streams)))
    return out, {"nmod": nmod, "ncl": ncl, "npatch": npatch}, {"fardet": (fardet, fardet_ev)}


def cluster_streams_reference(codec: PixelVQCodec, ctx: Contexts | None, p: P.Patches, shape, mask, charge, codes,
                              multi):
    """The numpy oracle of cluster_streams: {stream: (symbols, contexts, event of each symbol)} of a chunk's
    patches (ctx None: contexts zero, for the first fitting pass) and the per-event counts (nmod, ncl, npatch) of
    the main product."""
    pr, pc = codec.pr, codec.pc
    n = len(p)
    u, inv = np.unique(p.cluster, return_inverse=True)
    nc = len(u)
    big = np.iinfo(np.int64).max
    row0 = np.full(nc, big)
    col0 = np.full(nc, big)
    np.minimum.at(row0, inv, p.row)
    np.minimum.at(col0, inv, p.col)
    ti = (p.row - row0[inv]) // pr
    tj = (p.col - col0[inv]) // pc
    ni = np.zeros(nc, np.int64)
    nj = np.zeros(nc, np.int64)
    np.maximum.at(ni, inv, ti + 1)
    np.maximum.at(nj, inv, tj + 1)
    ev_c = np.zeros(nc, np.int64)
    det_c = np.zeros(nc, np.int64)
    ev_c[inv] = p.event
    det_c[inv] = p.det
    corder = np.lexsort((np.arange(nc), row0, col0, det_c, ev_c))
    crank = np.empty(nc, np.int64)
    crank[corder] = np.arange(nc)
    porder = np.lexsort((tj, ti, crank[inv]))
    ev_c, det_c, row0, col0, ni, nj = (a[corder] for a in (ev_c, det_c, row0, col0, ni, nj))
    pcl = crank[inv][porder]  # cluster (sorted number) of each patch, patches in stream order
    ti, tj = ti[porder], tj[porder]
    ntile = np.bincount(pcl, minlength=nc)
    line = (ni == 1) | (nj == 1)
    if (ntile[line] != (ni * nj)[line]).any():
        raise DataError("pixel_vq format 2: a one-row or one-column cluster has an empty tile (patches do not come "
                        "from 8-connected clusters)")
    # modules
    newmod = _first_of_groups(ev_c, det_c)
    mstart = np.flatnonzero(newmod)
    mod_ev, mod_det = ev_c[mstart], det_c[mstart]
    ncl_m = np.diff(np.append(mstart, nc))
    mod_of_c = np.cumsum(newmod) - 1
    known = ctx.known if ctx is not None else np.zeros(0, np.int64)
    if len(known):
        pos = np.minimum(np.searchsorted(known, mod_det), len(known) - 1)
        isknown = known[pos] == mod_det
    else:
        pos, isknown = np.zeros(len(mod_det), np.int64), np.zeros(len(mod_det), bool)
    newev_m = _first_of_groups(mod_ev)
    # previous known index within the event (-1 at the start), over known modules only
    kidx = np.where(isknown, pos, -1)
    last = np.maximum.accumulate(np.where(isknown, np.arange(len(kidx)), -1)) if len(kidx) else kidx
    ev_start = np.maximum.accumulate(np.where(newev_m, np.arange(len(kidx)), 0)) if len(kidx) else kidx
    prev_i = np.concatenate([[-1], last[:-1]]) if len(kidx) else kidx
    prev_known = np.where(prev_i >= ev_start, kidx[np.maximum(prev_i, 0)], -1)
    mod_sym = np.where(isknown, kidx - prev_known, 0)
    fardet = mod_det[~isknown]
    fardet_ev = mod_ev[~isknown]
    # clusters
    firstc = newmod
    prev_col = np.concatenate([[0], col0[:-1]]) if nc else col0
    dcol = np.where(firstc, col0, col0 - prev_col)
    rel = (~firstc) & (dcol == 0)
    prev_row = np.concatenate([[0], row0[:-1]]) if nc else row0
    row_sym = np.where(rel, row0 - prev_row, row0)
    layout = (ni - 1) * (ctx.nj if ctx else -(-codec.module_cols // pc)) + (nj - 1)
    two_d = (ni > 1) & (nj > 1)
    # tile presence bits of 2-D layouts, raster order
    cells = (ni * nj)[two_d]
    cid = np.flatnonzero(two_d)
    tile_c = np.repeat(cid, cells)
    cstart = np.cumsum(cells) - cells
    tile_bits = np.zeros(int(cells.sum()), np.int64)
    local = np.full(nc, -1, np.int64)
    local[cid] = np.arange(len(cid))
    in2d = two_d[pcl]
    tile_bits[cstart[local[pcl[in2d]]] + ti[in2d] * nj[pcl[in2d]] + tj[in2d]] = 1
    # patches in stream order
    shp, msk, chg = shape[porder], mask[porder], charge[porder]
    pdet = det_c[pcl]
    pev = ev_c[pcl]
    nhit = _popcount(msk)
    full_codes = np.full((n, codes.shape[1]), -1, np.int64)
    full_codes[np.flatnonzero(multi)] = codes
    full_codes = full_codes[porder]
    mul = multi[porder]
    esc = shp == codec.escape
    rowmask = (1 << pc) - 1
    esc_sym = ((msk[esc][:, None] >> (np.arange(pr, dtype=np.uint64) * np.uint64(pc))[None, :])
               & np.uint64(rowmask)).astype(np.int64)
    z = (lambda a: np.zeros(len(a), np.int64)) if ctx is None else None
    out = {
        "mod": (mod_sym, np.zeros(len(mod_sym), np.int64), mod_ev),
        "ncl": (ncl_m - 1, z(ncl_m) if z else ctx.ncl(mod_det), mod_ev),
        "dcol": (dcol, z(dcol) if z else ctx.dcol(det_c, ncl_m[mod_of_c]), ev_c),
        "row": (row_sym, z(row_sym) if z else ctx.row(det_c, rel), ev_c),
        "layout": (layout, z(layout) if z else ctx.layout(det_c), ev_c),
        "tiles": (tile_bits, np.zeros(len(tile_bits), np.int64), ev_c[tile_c]),
        "shape": (shp, z(shp) if z else ctx.shape(pdet, ti, tj, ni[pcl], nj[pcl]), pev),
        "esc": (esc_sym.ravel(), np.zeros(esc_sym.size, np.int64) if z else ctx.esc(pdet[esc]),
                np.repeat(pev[esc], pr)),
        "charge": (chg, z(chg) if z else ctx.charge(pdet, shp, nhit, ntile[pcl] > 1), pev),
    }
    for s in range(codes.shape[1]):
        out[f"code{s}"] = (full_codes[mul, s], z(full_codes[mul]) if z else ctx.code(shp[mul], nhit[mul], chg[mul]),
                           pev[mul])
    counts = {"nmod": np.bincount(mod_ev, minlength=p.n_events), "ncl": np.bincount(ev_c, minlength=p.n_events),
              "npatch": np.bincount(pev, minlength=p.n_events)}
    extra = {"fardet": (fardet, fardet_ev), "mod_det": mod_det, "pdet": pdet, "shape": shp, "nhit": nhit,
             "charge": chg, "multi": mul}
    return out, counts, extra


# ---- the codec -------------------------------------------------------------------------------------------
class PixelVQFormat2(PixelVQCodec):
    """pixel_vq with format-2 streams (see the module docstring). Same model directory as format 1 plus the
    tables of the operating point (``hepvq-train pixel-vq-tables``)."""

    def __init__(self, settings: dict, decoder_bytes: bytes, encoder_bytes: bytes | None = None, *,
                 operating_point: str | None = None, tables: bytes | None = None, threads: int | None = None,
                 **kwargs):
        source = kwargs.get("source", "<metadata>")
        settings = dict(settings)
        f2 = settings.get("format2")
        if f2 is None:  # from a model directory: the operating point picks charge grid, mu and tables
            name = operating_point or "default"
            op = _op(name)
            q_max = int(settings["charge_levels"][-1])
            settings.pop("ranks", None)  # format 1's rank tables: format 2 codes symbols, not ranks
            settings["charge_step"] = op["charge_step"]
            settings["charge_levels"] = charge_levels(op["charge_step"], q_max).tolist()
            if tables is None:
                path = Path(source) / TABLES_FILE.format(point=name)
                if not path.is_file():
                    raise ModelError(f"pixel_vq model {source} has no format-2 tables for operating point '{name}' "
                                     f"({path.name}); fit them with: hepvq-train pixel-vq-tables --model {source} "
                                     "--input data/pixel_pu200_sample.root")
                tables = path.read_bytes()
            head = Tables.from_bytes(tables, f"{source}: {TABLES_FILE.format(point=name)}").header
            # the tables' extra shapes extend the model's table; the settings blob of a file carries the whole table
            settings["shapes"] = list(settings["shapes"]) + list(head.get("extra_shapes", []))
            if ((head.get("operating_point"), head.get("mu"), head.get("charge_step")) != (name, op["mu"],
                                                                                         op["charge_step"])
                    or any(head.get(k) != op.get(k) for k in RATE_KEYS)):
                raise ModelError(f"pixel_vq model {source}: the format-2 tables were fitted for operating point "
                                 f"{head.get('operating_point')!r} ({_point_text(head)}), not {name!r} "
                                 f"({_point_text(op)}); refit with "
                                 f"hepvq-train pixel-vq-tables --model {source} --input data/pixel_pu200_sample.root")
            settings["format2"] = {"operating_point": name, "charge_step": op["charge_step"], "mu": op["mu"],
                                   "tables_sha256": hashlib.sha256(tables).hexdigest(),
                                   **{k: op[k] for k in RATE_KEYS if k in op}}
            settings["version"] = SETTINGS_VERSION
        elif tables is None:
            raise ModelError("compressed file lacks metadata 'tables' of the pixel_vq format-2 codec")
        if int(settings.get("version", 0)) > SETTINGS_VERSION:
            raise ModelError(f"{source}: pixel_vq format version {settings['version']} is newer than this hepvq "
                             f"({SETTINGS_VERSION}); upgrade hepvq")
        # the format-1 constructor reads everything else (it refuses versions above its own, as old readers do)
        super().__init__(dict(settings, version=1), decoder_bytes, encoder_bytes, **kwargs)
        self.settings = settings
        f2 = settings["format2"]
        if hashlib.sha256(tables).hexdigest() != f2.get("tables_sha256"):
            raise ModelError(f"{source}: pixel_vq format-2 tables do not match the sha256 in the settings "
                             f"({f2.get('tables_sha256', '?')[:16]}...); the tables belong to another model or "
                             "operating point")
        self.tables_bytes = bytes(tables)
        self.tab = Tables.from_bytes(tables, f"{source}: tables")
        self.op_name, self.mu = f2["operating_point"], float(f2["mu"])
        self.threads = threads
        h = self.tab.header
        want = {"model_sha256": self.settings["model"].get("weights_sha256"), "n_shapes": len(self.shapes),
                "charge_levels": [int(v) for v in self.levels]}
        for key, value in want.items():
            if h.get(key) != value:
                raise ModelError(f"{source}: pixel_vq format-2 tables were fitted for another model or operating "
                                 f"point ({key} differs); refit with hepvq-train pixel-vq-tables")
        self.ctx = Contexts(self, h)
        spec = self.ctx.spec()
        for name in stream_names(self.stages):
            t = self.tab.tables.get(name)
            if t is None or (t.alphabet, t.n_contexts) != spec[name][:2]:
                raise ModelError(f"{source}: pixel_vq format-2 table '{name}' is missing or has the wrong size; "
                                 "refit with hepvq-train pixel-vq-tables")
        self._rate = None

    @classmethod
    def from_metadata(cls, blobs: dict[str, bytes], **kwargs) -> "PixelVQFormat2":
        settings = cls.read_json_blob(blobs, "settings")
        if "decoder.onnx" not in blobs:
            raise ModelError("compressed file lacks metadata 'decoder.onnx' of the pixel_vq codec")
        if "tables" not in blobs:
            raise ModelError("compressed file lacks metadata 'tables' of the pixel_vq format-2 codec")
        return cls(settings, blobs["decoder.onnx"], None, tables=blobs["tables"], **kwargs)

    def metadata(self) -> dict[str, bytes]:
        out = super().metadata()
        out["tables"] = self.tables_bytes
        return out

    def describe(self) -> dict:
        return dict(super().describe(), format=STREAM_FORMAT, operating_point=self.op_name, mu=self.mu)

    # ---- encode --------------------------------------------------------------------------------------------
    def rate_bits(self) -> list[np.ndarray]:
        """bits(code | context) per stage: (n_contexts, codebook size) from the code tables."""
        if self._rate is None:
            self._rate = [_bits_table(self.tab.tables[f"code{s}"], k) for s, k in enumerate(self.codebook_sizes)]
        return self._rate

    def _rate_search(self):
        from hepvq.pixel.fastsearch import TOL, FastVQSearch

        if getattr(self, "_fast_rate", None) is None:
            f = self._fast
            f2 = self.settings["format2"]
            self._fast_rate = FastVQSearch(f.cb, int(f2.get("rate_topk", RATE_TOPK)),
                                           float(f2.get("rate_lambda", f.lam)), self.pc, threads=f.threads)
            self._fast_rate._core.tol = TOL
            self._fast_rate._core.set_rate(self.rate_bits()[0], self.mu)
        return self._fast_rate

    def _run_encoder_rate(self, x, mask_m, ctx_m, reference: bool = False):
        """Rate-aware code choice (one-stage VQ): obj + mu * bits(code | ctx), by the compiled core
        (VQSearch.search_rate); the rows it finds within TOL of a tie, and everything with reference=True, by
        the numpy search (FastVQSearch.search_reference with rate: the oracle, same codes bit for bit)."""
        if self.mu <= 0 or self._fast is None or len(x) == 0:
            return self._run_encoder(x, None, mask_m)
        fr = self._rate_search()
        ctx_m = np.asarray(ctx_m, dtype=np.int64)
        bits = self.rate_bits()[0]
        if reference:
            idx, _amb = fr.search_reference(x, P.mask_to_dense(mask_m, self.size).astype(np.float32), mask_m,
                                            rate=(bits, ctx_m, self.mu))
            return idx[:, None]
        idx, amb = fr._core.search_rate(np.ascontiguousarray(x, dtype=np.float32),
                                        np.asarray(mask_m, dtype=np.uint64), ctx_m, job_threads(self))
        if amb.any():
            r = np.flatnonzero(amb)
            idx[r] = fr.search_reference(x[r], P.mask_to_dense(mask_m[r], self.size).astype(np.float32), mask_m[r],
                                         rate=(bits, ctx_m[r], self.mu))[0]
        return idx[:, None]

    def _symbols(self, hits, first_entry=0) -> Symbols:
        h, p, order, hit_patch, slot = self._extract(hits, first_entry, dense_adc=False)
        import hepvq_core

        shape, mask = self.shape_index(p.mask)
        # from the hits, as format 1: no dense (patches, size) ADC matrix (the biggest array of a chunk)
        total, nhit, x = hepvq_core.patch_fractions_hits(mask, self.size, hit_patch, slot, order, h.adc,
                                                          job_threads(self))
        charge = quantise_charge(total, self.levels)
        multi = nhit >= 2
        ctx_m = self.ctx.code(shape[multi], np.asarray(nhit)[multi].astype(np.int64), charge[multi])
        codes = self._run_encoder_rate(x, mask[multi], ctx_m)
        return Symbols(h, p, shape, mask, charge, codes, multi, order, hit_patch, slot, None, True)

    def _encode(self, hits, first_entry: int, want_reconstruction: bool):
        if self.encoder is None:
            raise ModelError("this pixel_vq codec was read from a compressed file's metadata and can only decode; "
                             "load the model directory to encode")
        sym = self._symbols(hits, first_entry)
        h, p, shape, mask, charge, codes, multi = sym[:7]
        streams, counts, extra = cluster_streams(self, self.ctx, p, shape, mask, charge, codes, multi)
        out = encode_products(self, streams, counts, extra["fardet"], h.n_events)
        ref = dec = None
        if want_reconstruction or self.adc_error_bound >= 0:
            if self.lossless_positions:  # every hit decodes at its own place: no scatter (as format 1)
                order, hit_patch, slot = sym.order, sym.hit_patch, sym.slot
                ref = h.ordered(order)
                dec = P.Hits(h.n_events, ref.event, ref.det, ref.row, ref.col,
                             self._decode_hit_adc(mask, charge, codes, multi, hit_patch, slot))
            else:
                dec = self._reconstruct(h.n_events, p.event, p.det, p.row, p.col, mask, charge, codes, multi)
                ref = P.canonical(h)
        if self.adc_error_bound >= 0:  # format 1's corrections product (lossless positions: same hits)
            out["corrections"] = self._corrections(ref, dec, h.n_events)
        return out, sym, ref, dec

    def _patch_count(self, products: dict) -> int:
        return int(ak.sum(products[""]["npatch"]))  # per event: counts, the patches are in the streams

    # ---- decode --------------------------------------------------------------------------------------------
    def decode(self, products: dict[str, ak.Array]) -> ak.Array:
        """Streams -> hits in canonical order, by the compiled core (core/src/pixel_vq_f2.cpp) when the model's
        fractions come from codebooks, else by decode_reference."""
        if not self.core_model.has_codebooks:
            return self.decode_reference(products)
        return decode_core(self, products)

    def decode_reference(self, products: dict[str, ak.Array]) -> ak.Array:
        """The numpy decoder (fractions by the ONNX decoder where the core has no codebooks): the oracle of the
        compiled core's decode."""
        d = decode_symbols(self, products)
        h = self._reconstruct(d["n_events"], d["event"], d["det"], d["row"], d["col"], d["mask"], d["charge"],
                              d["codes"], d["multi"])
        return self._apply_corrections(products, h, d["n_events"])  # format 1's (none without the product)

    def indices(self, products: dict[str, ak.Array]) -> ak.Array:
        d = decode_symbols(self, products)
        return indices_array(self, d)


def _op(name):
    return operating_point(name)


def _point_text(d: dict) -> str:
    """'charge step X, mu Y[, rate_topk K, rate_lambda L]' of an operating point or a tables header"""
    return ", ".join([f"charge step {d.get('charge_step')}", f"mu {d.get('mu')}"]
                     + [f"{k} {d[k]}" for k in RATE_KEYS if d.get(k) is not None])


def _bits_table(t, k: int) -> np.ndarray:
    """bits(code | context) (n_contexts, k) of a code table, by the compiled core (pixel_vq_f2_rate_bits, which the
    C++ encoder calls too); _bits_table_reference is its numpy oracle."""
    import hepvq_core

    return hepvq_core.pixel_vq_f2_rate_bits(t, int(k))


def _bits_table_reference(t, k: int) -> np.ndarray:
    f = np.asarray(t.freqs, dtype=np.float64)
    # the C library's log2 (math.log2), as the core's std::log2: numpy's SIMD log2 may differ in the last bit
    values, where = np.unique(f, return_inverse=True)
    log2 = np.array([math.log2(v) if v > 0 else -math.inf for v in values], dtype=np.float64)
    bits = t.scale_bits - log2[where].reshape(f.shape)
    if k > t.direct:  # escaped codes: the escape entry plus raw bits
        esc = bits[:, t.direct:t.direct + 1] + t.escape_bits
        bits = np.concatenate([bits[:, :t.direct], np.repeat(esc, k - t.direct, 1)], 1)
    return np.ascontiguousarray(bits[:, :k])


def _jagged_bytes(data, byte_counts) -> ak.Array:
    return ak.unflatten(np.asarray(data, dtype=np.uint8), np.asarray(byte_counts, dtype=np.int64))


def encode_products(codec: PixelVQFormat2, streams: dict, counts: dict, fardet, n_events: int) -> dict:
    from hepvq.codecs import entropy

    threads = job_threads(codec)  # the codec's own, else the job's -j / numberOfThreads
    out = {"": ak.zip({k: v.astype(np.uint32) for k, v in counts.items()})}
    for name in stream_names(codec.stages):
        sym, ctx, ev = streams[name]
        if len(ev) > 1 and (np.diff(ev) < 0).any():  # symbols of a stream come grouped by event already
            order = np.argsort(ev, kind="stable")
            sym, ctx, ev = sym[order], ctx[order], ev[order]
        data, nbytes = entropy.encode_events(sym, ctx, np.bincount(ev, minlength=n_events), codec.tab.tables[name],
                                             threads=threads)
        out[f"s_{name}"] = _jagged_bytes(data, nbytes)
    det, ev = fardet
    out["fardet"] = ak.unflatten(det.astype(np.uint32), np.bincount(ev, minlength=n_events))
    return out


def _counts(arr) -> np.ndarray:
    return ak.to_numpy(ak.num(arr, axis=1)).astype(np.int64)


def _check_instances(codec: PixelVQFormat2, products: dict[str, ak.Array]) -> list[str]:
    """The stream names of the codec, after checking that every product instance a decode needs is present."""
    names = stream_names(codec.stages)
    need = ("", "fardet") + tuple(f"s_{n}" for n in names) + (("corrections",) if codec.adc_error_bound >= 0 else ())
    for inst in need:
        if inst not in products:
            raise DataError(f"pixel_vq format 2 decode: product instance '{inst}' is missing (have: "
                            f"{', '.join(repr(k) for k in products)})")
    if codec.adc_error_bound < 0 and "corrections" in products:
        raise DataError("pixel_vq format 2 decode: product 'corrections' present but the settings have no ADC error "
                        "bound (adc_error_bound -1): settings and products do not belong together")
    return names


def decode_symbols(codec: PixelVQFormat2, products: dict[str, ak.Array]) -> dict:
    """Every patch of the products: event, det, anchor row/col, shape, mask, charge, codes, multi (stream
    order), after checking every count against the main product."""
    from hepvq.codecs import entropy

    names = _check_instances(codec, products)
    main = products[""]
    n_ev = len(main)
    nmod = ak.to_numpy(main["nmod"]).astype(np.int64)
    ncl_ev = ak.to_numpy(main["ncl"]).astype(np.int64)
    npatch_ev = ak.to_numpy(main["npatch"]).astype(np.int64)
    ctx = codec.ctx
    threads = job_threads(codec)  # the codec's own, else the job's -j / numberOfThreads

    def dec(name, counts, contexts):
        arr = products[f"s_{name}"]
        data = ak.to_numpy(ak.flatten(arr, axis=None)).astype(np.uint8)
        try:
            return entropy.decode_events(data, _counts(arr), counts, contexts, codec.tab.tables[name], threads)
        except (DataError, ValueError) as err:
            raise DataError(f"stream '{name}': {str(err).splitlines()[0]}") from err

    def ev_of(counts):
        return np.repeat(np.arange(n_ev), counts)

    # modules
    mod_sym = dec("mod", nmod, None)
    mod_ev = ev_of(nmod)
    unknown = mod_sym == 0
    far = products["fardet"]
    far_det = ak.to_numpy(ak.flatten(far, axis=None)).astype(np.int64)
    if not np.array_equal(_counts(far), np.bincount(mod_ev[unknown], minlength=n_ev)):
        raise DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'")
    newev_m = _first_of_groups(mod_ev)
    kk = segmented_cumsum(np.where(unknown, 0, mod_sym), newev_m) - 1
    if len(kk) and kk.max() >= len(ctx.known):
        raise DataError(f"pixel_vq format 2 decode: module index {int(kk.max())} beyond the {len(ctx.known)} known")
    mod_det = np.where(unknown, 0, ctx.known[np.clip(kk, 0, max(len(ctx.known) - 1, 0))] if len(ctx.known) else 0)
    mod_det[unknown] = far_det
    ncl_m = dec("ncl", nmod, ctx.ncl(mod_det)) + 1
    if not np.array_equal(np.bincount(mod_ev, weights=ncl_m, minlength=n_ev).astype(np.int64), ncl_ev):
        raise DataError("pixel_vq format 2 decode: clusters per module do not add up to the event's cluster count")
    # clusters
    mod_of_c = np.repeat(np.arange(len(ncl_m)), ncl_m)
    det_c = mod_det[mod_of_c]
    ev_c = mod_ev[mod_of_c]
    firstc = np.zeros(len(mod_of_c), bool)
    firstc[(np.cumsum(ncl_m) - ncl_m)] = True if len(ncl_m) else False
    dcol = dec("dcol", ncl_ev, ctx.dcol(det_c, ncl_m[mod_of_c]))
    col0 = segmented_cumsum(dcol, firstc)
    rel = (~firstc) & (dcol == 0)
    row_sym = dec("row", ncl_ev, ctx.row(det_c, rel))
    row0 = segmented_cumsum(row_sym, ~rel)
    layout = dec("layout", ncl_ev, ctx.layout(det_c))
    ni, nj = layout // ctx.nj + 1, layout % ctx.nj + 1
    if len(col0) and (col0.max() >= codec.module_cols or row0.max() >= codec.module_rows or
                      (row0 + (ni - 1) * codec.pr).max() >= codec.module_rows or
                      (col0 + (nj - 1) * codec.pc).max() >= codec.module_cols):
        raise DataError("pixel_vq format 2 decode: a cluster lies outside the module")
    two_d = (ni > 1) & (nj > 1)
    cells = ni * nj
    tiles_ev = np.bincount(ev_c[two_d], weights=cells[two_d], minlength=n_ev).astype(np.int64)
    bits = dec("tiles", tiles_ev, None)
    # every cell of every cluster, raster order; present unless a 2-D layout's bit says empty
    cell_c = np.repeat(np.arange(len(cells)), cells)
    cell_k = np.arange(len(cell_c)) - np.repeat(np.cumsum(cells) - cells, cells)
    present = np.ones(len(cell_c), bool)
    present[two_d[cell_c]] = bits.astype(bool)
    pcl = cell_c[present]
    k = cell_k[present]
    ti, tj = k // nj[pcl], k % nj[pcl]
    ntile = np.bincount(pcl, minlength=len(cells))
    if not np.array_equal(np.bincount(ev_c[pcl], minlength=n_ev), npatch_ev):
        raise DataError("pixel_vq format 2 decode: the tile layouts do not add up to the event's patch count")
    event, det = ev_c[pcl], det_c[pcl]
    row, col = row0[pcl] + ti * codec.pr, col0[pcl] + tj * codec.pc
    multitile = ntile[pcl] > 1
    shape = dec("shape", npatch_ev, ctx.shape(det, ti, tj, ni[pcl], nj[pcl]))
    esc = shape == codec.escape
    esc_rows = dec("esc", np.bincount(event[esc], minlength=n_ev) * codec.pr, ctx.esc(det[esc]))
    mask = np.zeros(len(shape), np.uint64)
    mask[~esc] = codec.shapes[shape[~esc]]
    if esc.any():
        rows = esc_rows.reshape(-1, codec.pr).astype(np.uint64)
        mask[esc] = np.bitwise_or.reduce(rows << (np.arange(codec.pr, dtype=np.uint64) * np.uint64(codec.pc)), 1)
    nhit = _popcount(mask)
    if (nhit == 0).any():
        raise DataError("pixel_vq format 2 decode: an escaped shape has no hit")
    charge = dec("charge", npatch_ev, ctx.charge(det, shape, nhit, multitile))
    multi = nhit >= 2
    n_multi = np.bincount(event[multi], minlength=n_ev)
    codes = np.stack([dec(f"code{s}", n_multi, ctx.code(shape[multi], nhit[multi], charge[multi]))
                      for s in range(codec.stages)], 1) if codec.stages else np.zeros((int(multi.sum()), 0), np.int64)
    return {"n_events": n_ev, "event": event, "det": det, "row": row, "col": col, "shape": shape, "mask": mask,
            "charge": charge, "codes": codes, "multi": multi}


def decode_core(codec: PixelVQFormat2, products: dict[str, ak.Array]) -> ak.Array:
    """decode() in the compiled core: the same checks and hits as decode_symbols + _reconstruct."""
    import hepvq_core

    from hepvq.codecs.guard import jagged_offsets
    from hepvq.pixel import core

    names = _check_instances(codec, products)
    main = products[""]
    context = core_context(codec, codec.tab.header)
    streams = []
    for n in names:
        offsets, data = jagged_offsets(products[f"s_{n}"])
        streams.append((data.astype(np.uint8, copy=False), offsets))

    def col(name):
        return ak.to_numpy(main[name]).astype(np.int64)

    far = products["fardet"]
    corr = {}
    if "corrections" in products:
        c = products["corrections"]
        corr = {"n_corr": _counts(c), "dhit": ak.to_numpy(ak.flatten(c["dhit"], axis=None)).astype(np.int64),
                "dadc": ak.to_numpy(ak.flatten(c["dadc"], axis=None)).astype(np.int64)}
    counts, det, row, col_, adc = hepvq_core.pixel_vq_f2_decode(
        codec.core_model, context, [codec.tab.tables[n] for n in names], streams, col("nmod"), col("ncl"),
        col("npatch"), ak.to_numpy(ak.flatten(far, axis=None)).astype(np.int64), _counts(far), core.threads(codec),
        adc_error_bound=codec.adc_error_bound, **corr)
    return core.hits_awkward(counts, det, row, col_, adc)


def indices_array(codec: PixelVQCodec, d: dict) -> ak.Array:
    """Per event, per patch: detId, anchor row/col, shape (table index; escape = len(table)), mask, charge
    (level index), charge_adc (decoded total), code (stage-0 VQ code, -1 for single-hit patches; code<s>
    for further stages)."""
    n = len(d["event"])
    fields = {"detId": d["det"].astype(np.uint32), "row": d["row"].astype(np.uint16),
              "col": d["col"].astype(np.uint16), "shape": d["shape"].astype(np.int32),
              "mask": d["mask"].astype(np.uint64), "charge": d["charge"].astype(np.int32),
              "charge_adc": codec.levels[d["charge"]].astype(np.int64)}
    for s in range(codec.stages):
        c = np.full(n, -1, np.int32)
        c[d["multi"]] = d["codes"][:, s]
        fields["code" if s == 0 else f"code{s}"] = c
    order = np.lexsort((d["col"], d["row"], d["det"], d["event"]))
    fields = {k: v[order] for k, v in fields.items()}
    return ak.unflatten(ak.zip(fields), np.bincount(d["event"], minlength=d["n_events"]))


# ---- fitting (hepvq-train pixel-vq-tables) ---------------------------------------------------------------
def frequent_escapes(codec: PixelVQCodec, hits: ak.Array, n: int) -> list[int]:
    """The n most frequent masks of `hits`' patches that the codec's shape table escapes (ties: smaller mask
    first), as ints: the tables' extra shapes."""
    if n <= 0:
        return []
    _h, p, *_ = codec._extract(hits, 0, dense_adc=False)
    code, _ = codec.shape_index(p.mask)
    masks, counts = np.unique(np.asarray(p.mask, dtype=np.uint64)[code == codec.escape], return_counts=True)
    return [int(v) for v in masks[np.lexsort((masks, -counts))[:n]]]


def fit_tables(model_dir, hits: ak.Array, point: str, *, iterations: int = 2, adapt_period: int = 0,
               adapt_strength: int = 0, extra_shapes: int = EXTRA_SHAPES, source: str = "", quiet: bool = True) -> bytes:
    """The format-2 tables of one operating point fitted on `hits` with the model of `model_dir`: the extra shapes
    (frequent_escapes), contexts and tables from the plain (centroid-aware) codes, then `iterations` rounds of
    rate-aware codes and refits."""
    from hepvq.codecs import entropy
    from hepvq.pixel.codec import DECODER_FILE, ENCODER_FILE, SETTINGS_FILE
    from hepvq.progress import bar as progress_bar

    op = _op(point)
    d = Path(model_dir)
    base = PixelVQCodec.from_directory(d)
    settings = dict(base.settings)
    settings.pop("ranks", None)
    q_max = int(settings["charge_levels"][-1])
    settings["charge_levels"] = charge_levels(op["charge_step"], q_max).tolist()
    plain = PixelVQCodec(settings, (d / DECODER_FILE).read_bytes(), (d / ENCODER_FILE).read_bytes(), source=str(d))
    model_settings = dict(settings)  # what PixelVQFormat2 extends by the tables' extra shapes
    extra = frequent_escapes(plain, hits, extra_shapes)
    if extra:
        settings["shapes"] = list(settings["shapes"]) + extra
        plain = PixelVQCodec(settings, plain.decoder_bytes, plain.encoder_bytes, source=str(d))
    bar = progress_bar(total=iterations + 1, desc=f"format-2 tables '{point}'", unit="pass", quiet=quiet)
    h, p, shape, mask, charge, codes, multi = plain._symbols(hits)[:7]
    layers = []
    if plain.ctx_bitfields:
        shift, m = plain.ctx_bitfields[0]
        layers = sorted(int(v) for v in np.unique((p.det >> shift) & m))
    qm = plain.levels[charge[multi]].astype(np.float64)
    edges = np.quantile(qm, np.linspace(0, 1, CHARGE_BUCKETS + 1)[1:-1]) if len(qm) else np.zeros(CHARGE_BUCKETS - 1)
    header = {"format": "hepvq-pixel-vq-format2-tables", "version": 1, "operating_point": point,
              "charge_step": op["charge_step"], "mu": op["mu"], **{k: op[k] for k in RATE_KEYS if k in op},
              "charge_levels": [int(v) for v in plain.levels],
              "model_sha256": settings["model"].get("weights_sha256"), "n_shapes": len(plain.shapes),
              **({"extra_shapes": extra} if extra else {}),
              "known_dets": [int(v) for v in np.unique(p.det)], "layers": layers,
              "charge_edges": [float(v) for v in edges], "adapt_period": int(adapt_period),
              "trained_on": {"source": str(source), "events": int(h.n_events), "hits": int(len(h))}}
    ctx = Contexts(plain, header)
    spec = ctx.spec()

    def fit(streams):
        out = {}
        for name in stream_names(plain.stages):
            sym, c, _ev = streams[name]
            alphabet, n_ctx, direct = spec[name]
            out[name] = entropy.fit_tables(sym, c, alphabet, n_ctx, direct=direct, adapt_period=adapt_period,
                                           adapt_strength=adapt_strength)
        return Tables(header, out).to_bytes()

    blob = fit(cluster_streams(plain, ctx, p, shape, mask, charge, codes, multi)[0])
    bar.update(1)
    for _ in range(iterations if op["mu"] > 0 else 0):
        codec = PixelVQFormat2(model_settings, plain.decoder_bytes, plain.encoder_bytes, operating_point=point,
                               tables=blob, source=str(d))
        _h, p2, shape2, mask2, charge2, codes2, multi2 = codec._symbols(hits)[:7]
        blob = fit(cluster_streams(codec, codec.ctx, p2, shape2, mask2, charge2, codes2, multi2)[0])
        bar.update(1)
    bar.close()
    return blob


def tables_path(model_dir, point: str) -> Path:
    return Path(model_dir) / TABLES_FILE.format(point=point)


def products_bytes(products: dict) -> int:
    """Bytes of format-2 products as stored, before ROOT's baskets: the stream blobs, the unknown detIds, the
    three uint32 counts per event and the ADC corrections (what the encoder module's report counts)."""
    total = 12 * len(products[""])
    for k, v in products.items():
        if k.startswith("s_") or k in ("fardet", "corrections"):
            for field in ak.fields(v) or [None]:  # corrections: dhit and dadc; the others: one plain array
                total += ak.to_numpy(ak.flatten(v if field is None else v[field], axis=None)).nbytes
    return total
