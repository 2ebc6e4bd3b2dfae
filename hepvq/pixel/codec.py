"""Pixel DIGI codecs: ``pixel_vq`` (exact hit positions + vector-quantised charges) and ``pixel_sparse`` (the
lossless-sparse-coordinates + requantised-ADC baseline of hepvq.baselines.sparse, usable as a real codec).

pixel_vq design (docs/pixel.md has the measurements behind it):

* **where the hits are** is coded exactly: each cluster's bounding box is cut into patches (hepvq.pixel.patches);
  a patch's anchor is delta-coded per module (column delta ``dcol``, row ``row``), modules per event are
  delta-coded detIds; the occupancy pattern of the patch is an index into a learned table of frequent shapes
  (``shape``; the table sits in the metadata; a rare shape is an escape code plus its explicit bit mask in
  the ``escapes`` product).
* **the charges**: the total charge of the patch is scalar-quantised on a log grid (``charge``: uint8 index
  into ``charge_levels``), and the vector of charge *fractions* over the occupied pixels is vector-quantised
  by the charge model (ONNX encoder/decoder; classical VQ, residual VQ or VQ-VAE) into ``codes`` (one row per
  patch with two or more hits; one uint8/uint16 field per VQ stage).  Fractions sum to one, so cluster
  charge comes from the total and the centroid from the fractions.
* **lossless-position mode** is the default: every hit survives (recall = precision = 1).  With
  ``adc_error_bound >= 0`` the codec adds sparse ``corrections`` (hit index delta, quantised ADC correction)
  so that |decoded ADC - ADC| <= bound for every hit (bound 0: lossless).  ``lossless_positions=False``
  replaces a rare shape by the largest frequent one inside it instead of escaping (cheaper, loses hits, never
  invents one).

All index streams are narrow integer branches (uint8 where they fit), readable as is from ROOT; ROOT's ZSTD
entropy-codes them (docs/pixel.md compares with the ideal static entropy).  With the static context-rank
tables of the settings, ``shape`` holds the shape's rank in its module context and ``charge`` / ``codes``
the symbol's rank given the shape, which brings ZSTD's order-0 coder close to the conditional entropy.
torch is not imported here.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import awkward as ak
import numpy as np

from hepvq.codecs import options, residual
from hepvq.codecs.base import Codec, EncodeResult, register_codec
from hepvq.errors import DataError, ModelError
from hepvq.pixel import patches as P
from hepvq.runtime.session import load_model

FORMAT = "hepvq-pixel-vq"
FORMAT_VERSION = 1
SETTINGS_FILE = "codec.json"
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"


def charge_levels(step: float, q_max: int) -> np.ndarray:
    """Quantisation levels of a patch's total charge: every integer while the relative step is below ``step``,
    then a geometric grid of ratio 1 + step up to q_max (so the relative error is at most ~step/2)."""
    levels = [1]
    while levels[-1] < q_max:
        q = levels[-1]
        levels.append(max(q + 1, int(round(q * (1.0 + step)))))
    return np.asarray(levels, dtype=np.int64)


def quantise_charge(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest level in log space (boundaries at geometric means)."""
    bounds = np.sqrt(levels[:-1].astype(np.float64) * levels[1:])
    q = np.asarray(q)
    top = int(np.ceil(bounds[-1])) + 1 if len(bounds) else 0  # every charge >= top falls above the last bound
    if q.dtype.kind in "iu" and len(q) and top <= 4 * len(q) and int(q.min()) >= 0:
        # integer charges (ADC sums): the same searchsorted once per value up to top, then a table lookup
        # instead of a binary search per patch (~40 ns each, unpredictable branches)
        index_of = np.searchsorted(bounds, np.arange(top + 1, dtype=np.float64)).astype(np.int64)
        return index_of[np.minimum(q, top)]
    return np.searchsorted(bounds, q.astype(np.float64)).astype(np.int64)


class ShapeHash:
    """Multiplicative hash of a sorted shape table without collisions: candidate(masks) gives, per mask, the
    table position that holds it if any holds it (the caller compares). One multiply, shift and gather per
    mask instead of a binary search (np.searchsorted: ~40 ns per patch of unpredictable branches). A table
    of 2n^2 slots makes a random odd factor collision-free with probability ~0.8; tables too large for that
    (or unlucky) keep the binary search."""

    MAX_BYTES = 4 << 20  # of positions: int16 up to 2^15 shapes (the 1023 of format 2's tables: 2^21 slots)

    def __init__(self, shapes_sorted: np.ndarray):
        self.shapes_sorted = np.asarray(shapes_sorted, np.uint64)
        n = len(self.shapes_sorted)
        self.bits = 2 * max(int(n - 1).bit_length(), 1) + 1
        self.table = None
        dtype = np.int16 if n <= np.iinfo(np.int16).max else np.int32
        if (1 << self.bits) * np.dtype(dtype).itemsize > self.MAX_BYTES:
            return
        for self.factor in self._odd_factors(32):
            slot = self._slot(self.shapes_sorted)
            if len(np.unique(slot)) == n:
                self.table = np.zeros(1 << self.bits, dtype)  # empty slots: position 0, rejected by the compare
                self.table[slot] = np.arange(n, dtype=dtype)
                return

    @staticmethod
    def _odd_factors(n: int):
        """n odd 64-bit factors, the same in every process (splitmix64; no numpy.random import on the read path)"""
        x = 0
        for _ in range(n):
            x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
            z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
            yield np.uint64((z ^ (z >> 31)) | 1)

    def _slot(self, masks: np.ndarray) -> np.ndarray:
        return (masks * self.factor) >> np.uint64(64 - self.bits)  # uint64 products wrap: mod 2^64

    def candidate(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, np.uint64)
        if self.table is None:
            return np.minimum(np.searchsorted(self.shapes_sorted, masks), max(len(self.shapes_sorted) - 1, 0))
        return self.table[self._slot(masks)]


def _uint_dtype(max_value: int):
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return dt
    return np.uint64


def segmented_cumsum(values: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting where seg_start is True."""
    cs = np.cumsum(values)
    if len(values) == 0:
        return cs
    starts = np.flatnonzero(seg_start)
    seg = np.cumsum(seg_start) - 1
    offset = cs[starts] - values[starts]
    return cs - offset[seg]


def _read_onnx_props(model) -> dict:
    return dict(model.metadata)


@register_codec
class PixelVQCodec(Codec):
    """Exact positions (cluster patches + learned shape table), VQ'd charge fractions, log-quantised totals."""

    name = "pixel_vq"
    collection = "PixelDigi"

    def __init__(self, settings: dict, decoder_bytes: bytes, encoder_bytes: bytes | None = None, *,
                 lossless_positions: bool | None = None, adc_error_bound: int | None = None, batch_size: int = 16384,
                 providers=None, source: str = "<metadata>", fast_search: bool = True):
        if settings.get("format") != FORMAT:
            raise ModelError(f"{source}: not a pixel_vq model (format {settings.get('format')!r}, expected {FORMAT!r})")
        if int(settings.get("version", 0)) > FORMAT_VERSION:
            raise ModelError(f"{source}: pixel_vq format version {settings['version']} is newer than this hepvq "
                             f"({FORMAT_VERSION}); upgrade hepvq")
        self.settings = settings
        self.source = source
        self.pr, self.pc = int(settings["patch_rows"]), int(settings["patch_cols"])
        self.size = self.pr * self.pc
        self.module_rows, self.module_cols = int(settings["module_rows"]), int(settings["module_cols"])
        self.adc_min, self.adc_max = int(settings["adc_min"]), int(settings["adc_max"])
        self.levels = np.asarray(settings["charge_levels"], dtype=np.int64)
        self.shapes = np.asarray([int(s) for s in settings["shapes"]], dtype=np.uint64)
        self.escape = len(self.shapes)
        order = np.argsort(self.shapes)
        self._shape_sorted, self._shape_order = self.shapes[order], order
        self._check_shapes(source)
        self._shape_hash = None  # built by the first shape_index (encoders only)
        self.stages = int(settings["model"]["stages"])
        self.codebook_size = int(settings["model"]["codebook_size"])
        self.codebook_sizes = [int(k) for k in settings["model"].get("codebook_sizes",
                                                                     [self.codebook_size] * self.stages)]
        enc = settings.get("encoding", {})
        sc = settings.get("shape_context") or {}
        self.ctx_bitfields = [(int(a), int(b)) for a, b in sc.get("bitfields", [])]
        self.ctx_keys = np.asarray(sc.get("keys", []), dtype=np.int64)
        self.n_shape_ctx = len(self.ctx_keys) + 1
        self.ranks = _load_ranks(settings.get("ranks"), self.escape + 1,
                                 {"charge": len(self.levels), **{f"c{s}": k for s, k in enumerate(self.codebook_sizes)}})
        if self.ranks and "shape" in (settings.get("ranks") or {}):
            self.ranks.update(_load_ranks({"shape": settings["ranks"]["shape"]}, self.n_shape_ctx,
                                          {"shape": self.escape + 1}))
        self.lossless_positions = bool(enc.get("lossless_positions", True) if lossless_positions is None
                                       else lossless_positions)
        self.adc_error_bound = int(enc.get("adc_error_bound", -1) if adc_error_bound is None else adc_error_bound)
        if self.adc_error_bound >= 0 and not self.lossless_positions:
            raise ModelError("adc_error_bound needs lossless_positions=True (corrections refer to every input hit)")
        self.batch_size = int(batch_size)
        self.decoder_bytes = decoder_bytes
        self.encoder_bytes = encoder_bytes
        self.decoder = load_model(decoder_bytes, providers=providers, name=f"{source}/{DECODER_FILE}")
        self._check_onnx(self.decoder, "decoder")
        self.encoder = None
        if encoder_bytes is not None:
            self.encoder = load_model(encoder_bytes, providers=providers, name=f"{source}/{ENCODER_FILE}")
            self._check_onnx(self.encoder, "encoder")
        self._fast = None
        if self.encoder is not None and fast_search:
            self._fast = self._make_fast_search()
        self._code_dtypes = [_uint_dtype(k - 1) for k in self.codebook_sizes]
        self._shape_dtype = _uint_dtype(self.escape)
        self._mask_dtype = _uint_dtype((1 << self.size) - 1)

    # ---- construction -----------------------------------------------------------------------------------
    @classmethod
    def from_directory(cls, path, **kwargs) -> "PixelVQCodec":
        """A model directory made by hepvq-export: codec.json, encoder.onnx, decoder.onnx."""
        d = Path(path)
        if not d.is_dir():
            raise ModelError(f"pixel_vq model directory {d} does not exist (expected {SETTINGS_FILE}, {ENCODER_FILE}, "
                             f"{DECODER_FILE})")
        files = {n: d / n for n in (SETTINGS_FILE, ENCODER_FILE, DECODER_FILE)}
        missing = [n for n, f in files.items() if not f.is_file()]
        if missing:
            raise ModelError(f"pixel_vq model directory {d} lacks {', '.join(missing)}")
        try:
            settings = json.loads(files[SETTINGS_FILE].read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ModelError(f"{files[SETTINGS_FILE]} is not valid JSON: {err}") from err
        try:
            return cls(settings, files[DECODER_FILE].read_bytes(), files[ENCODER_FILE].read_bytes(), source=str(d),
                       **kwargs)
        except KeyError as err:  # one line naming the file and the key, not a traceback
            raise ModelError(f"{files[SETTINGS_FILE]} lacks key {err} (re-export the model with hepvq-export)") from err
        except (TypeError, ValueError, IndexError) as err:  # e.g. tables whose sizes disagree with the graph
            raise ModelError(f"pixel_vq model {d}: {SETTINGS_FILE} and the ONNX graphs do not fit together "
                             f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err

    def metadata(self) -> dict[str, bytes]:
        settings = dict(self.settings)
        settings["encoding"] = {"lossless_positions": self.lossless_positions, "adc_error_bound": self.adc_error_bound}
        return {"settings": self.json_blob(settings), "decoder.onnx": self.decoder_bytes}

    @classmethod
    def from_metadata(cls, blobs: dict[str, bytes], **kwargs) -> "PixelVQCodec":
        settings = cls.read_json_blob(blobs, "settings")
        if cls is PixelVQCodec and int(settings.get("version", 1)) >= 2:  # format 2: hepvq.pixel.format2
            from hepvq.pixel.format2 import PixelVQFormat2

            return PixelVQFormat2.from_metadata(blobs, **kwargs)
        if "decoder.onnx" not in blobs:
            raise ModelError("compressed file lacks metadata 'decoder.onnx' of the pixel_vq codec")
        return cls(settings, blobs["decoder.onnx"], None, **kwargs)

    @property
    def model_hash(self) -> str:
        return hashlib.sha256(self.decoder_bytes).hexdigest()

    def _check_onnx(self, model, role):
        props = _read_onnx_props(model)
        want = {"patch_rows": self.pr, "patch_cols": self.pc, "adc_max": self.adc_max, "stages": self.stages,
                "codebook_size": self.codebook_size}
        for key, value in want.items():
            if key not in props:
                raise ModelError(f"{self.source}: {role} ONNX model lacks metadata '{key}'")
            if int(props[key]) != int(value):
                raise ModelError(f"{self.source}: {role} ONNX model has {key}={props[key]} but the codec settings "
                                 f"say {value} (model and settings do not belong together)")

    # ---- encode ------------------------------------------------------------------------------------------
    def patches(self, hits: ak.Array, first_entry: int = 0, dense_adc: bool = True):
        """(hits, patches) of one call (see _extract for where each hit went)."""
        return self._extract(hits, first_entry, dense_adc)[:2]

    def _extract(self, hits: ak.Array, first_entry: int = 0, dense_adc: bool = True):
        """(hits h, patches p, order, hit_patch, slot): hit order[k] of h sits in patch hit_patch[k], slot slot[k]."""
        h = P.flatten(hits)
        P.check_range(h, self.module_rows, self.module_cols, self.adc_max, first_entry)
        refuse_zero_adc(h, first_entry, self.name)
        try:
            p, order, hit_patch, slot = P.extract(h, self.pr, self.pc, self.module_rows, self.module_cols,
                                                  dense_adc, threads=options.threads(self))
        except (DataError, ValueError) as err:  # the compiled core's CoreDataError is a ValueError
            raise_duplicate(h, first_entry, err)
            raise
        return h, p, order, hit_patch, slot

    def _check_shapes(self, source: str) -> None:
        """Shape codes must name one mask each, a non-empty one inside the patch (a table extended by format-2
        tables' extra shapes included): else encoder and decoder could disagree on a patch's pixels."""
        s = self._shape_sorted
        if len(s) and (int(s[0]) == 0 or (self.size < 64 and int(s[-1]) >> self.size)):
            raise ModelError(f"{source}: the shape table holds an empty mask or one beyond the {self.pr}x{self.pc} patch")
        repeated = s[1:][np.diff(s) == 0]
        if len(repeated):
            raise ModelError(f"{source}: the shape table holds mask {int(repeated[0])} twice")

    def shape_index(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shape code, mask actually coded): table index or escape; without lossless positions a rare mask is
        replaced by the largest table shape inside it (drops hits, never adds one: P.largest_subset_shape),
        and escaped only when no table shape fits inside it."""
        if self._shape_hash is None:
            self._shape_hash = ShapeHash(self._shape_sorted)
        pos = self._shape_hash.candidate(mask)
        found = self._shape_sorted[pos] == mask
        code = np.where(found, self._shape_order[pos], self.escape).astype(np.int64)
        coded = mask.copy()
        if not self.lossless_positions and (~found).any():
            rare = np.flatnonzero(~found)
            best = P.largest_subset_shape(mask[rare], self.shapes)
            rare, best = rare[best >= 0], best[best >= 0]
            code[rare] = best
            coded[rare] = self.shapes[best]
        return code, coded

    def encode(self, hits: ak.Array, first_entry: int = 0, validate: bool = False) -> EncodeResult:
        """EncodeResult(products, report): report {events, hits, patches, escapes, corrections} of this call;
        validate=True adds report["fidelity"], the figures of hepvq.pixel.metrics against the decoder's output,
        computed on the way (in lossless-position mode the hits stay aligned, so they cost little)."""
        products, sym, ref, dec = self._encode(hits, first_entry, validate)
        report = self._report(products, sym)
        if validate:
            from hepvq.pixel import metrics as M

            hit_cluster = sym.p.cluster[sym.hit_patch] if sym.hit_cluster is None else sym.hit_cluster
            report["fidelity"] = (M.compare_aligned(ref, dec, hit_cluster) if self.lossless_positions
                                  else M.compare(ref, dec, self.module_rows, self.module_cols))
        return EncodeResult(products, report)

    def _report(self, products: dict, sym: "Symbols") -> dict:
        """The additive figures of one encode call (what the encoder module sums for its end-of-job report)."""
        num = lambda inst: int(ak.sum(ak.num(products[inst], axis=1))) if inst in products else 0  # noqa: E731
        return {"events": int(sym.h.n_events), "hits": int(len(sym.h.adc)), "patches": self._patch_count(products),
                "escapes": num("escapes"), "corrections": num("corrections")}

    def _patch_count(self, products: dict) -> int:
        return int(ak.sum(ak.num(products[""], axis=1)))  # format 1: one row per patch

    def _encode(self, hits: ak.Array, first_entry: int, want_reconstruction: bool):
        if self.encoder is None:
            raise ModelError("this pixel_vq codec was read from a compressed file's metadata and can only decode; "
                             "load the model directory to encode")
        sym = self._symbols(hits, first_entry)
        h, p, shape, mask, charge, codes, multi = sym[:7]
        n_ev = h.n_events
        r_charge, r_codes = self._to_ranks(shape, charge, codes, multi)
        r_shape = self.ranks["shape"][1][self.det_context(p.det), shape] if "shape" in self.ranks else shape

        # module table and delta-coded anchors
        newmod = np.ones(len(p), dtype=bool)
        if len(p):
            newmod[1:] = (p.event[1:] != p.event[:-1]) | (p.det[1:] != p.det[:-1])
        mstart = np.flatnonzero(newmod)
        mod_event = p.event[mstart]
        mod_det = p.det[mstart]
        npatch = np.diff(np.append(mstart, len(p)))
        newev = np.ones(len(mstart), dtype=bool)
        if len(mstart):
            newev[1:] = mod_event[1:] != mod_event[:-1]
        ddet = mod_det - np.where(newev, 0, np.roll(mod_det, 1))
        prev_col = np.where(newmod, 0, np.roll(p.col, 1))
        dcol = p.col - prev_col

        ev_patch = np.bincount(p.event, minlength=n_ev)
        ev_mod = np.bincount(mod_event, minlength=n_ev)
        ev_multi = np.bincount(p.event[multi], minlength=n_ev)
        esc = shape == self.escape
        ev_esc = np.bincount(p.event[esc], minlength=n_ev)

        # dcol fits uint8 (narrow branches entropy-code best); the rare dcol >= 255 keep 255 here and their
        # remainder in the "farcols" product
        far = dcol >= 255
        ev_far = np.bincount(p.event[far], minlength=n_ev)
        out = {
            "": _jagged({"shape": r_shape.astype(self._shape_dtype), "dcol": np.minimum(dcol, 255).astype(np.uint8),
                         "row": p.row.astype(np.uint8 if self.module_rows <= 256 else np.uint16),
                         "charge": r_charge.astype(_uint_dtype(len(self.levels) - 1))}, ev_patch),
            "modules": _jagged({"ddet": ddet.astype(np.uint32), "npatch": npatch.astype(np.uint16)}, ev_mod),
            "codes": _jagged({f"c{s}": r_codes[:, s].astype(self._code_dtypes[s]) for s in range(self.stages)},
                             ev_multi),
            "escapes": _jagged({"mask": mask[esc].astype(self._mask_dtype)}, ev_esc),
            "farcols": _jagged({"dcol": (dcol[far] - 255).astype(np.uint16)}, ev_far),
        }
        ref = dec = None
        if self.adc_error_bound >= 0 or want_reconstruction:
            if self.lossless_positions and sym.all_kept:
                # every input hit is decoded at its own position: the decoder's output in canonical order is
                # the input's canonical order with the decoded ADC of each hit's (patch, slot) -- no scatter/sort
                order, hit_patch, slot = sym.order, sym.hit_patch, sym.slot
                ref = h.ordered(order)
                dec = P.Hits(n_ev, ref.event, ref.det, ref.row, ref.col,
                             self._decode_hit_adc(mask, charge, codes, multi, hit_patch, slot))
            else:
                dec = self._reconstruct(n_ev, p.event, p.det, p.row, p.col, mask, charge, codes, multi)
                ref = P.canonical(h)
        if self.adc_error_bound >= 0:
            out["corrections"] = self._corrections(ref, dec, n_ev)
        return out, sym, ref, dec

    def _corrections(self, ref: P.Hits, dec: P.Hits, n_ev: int) -> ak.Array:
        """The "corrections" product (per event: hit index delta in canonical order, quantised ADC correction)
        that brings every decoded ADC within adc_error_bound of the input; applies them to dec.adc.  ref and dec:
        the same hits in canonical order (lossless positions).  Shared by formats 1 and 2."""
        err = dec.adc - ref.adc
        idx = np.flatnonzero(np.abs(err) > self.adc_error_bound)
        corr = residual.quantise(-err[idx], self.adc_error_bound)
        ev_of = ref.event[idx]
        starts = np.searchsorted(ref.event, np.arange(n_ev))
        within = idx - starts[ev_of]
        newc = np.ones(len(idx), dtype=bool)
        if len(idx):
            newc[1:] = ev_of[1:] != ev_of[:-1]
        dhit = within - np.where(newc, 0, np.roll(within, 1))
        dec.adc[idx] = residual.apply(dec.adc[idx], corr, self.adc_error_bound)
        return _jagged({"dhit": dhit.astype(np.uint32), "dadc": corr.astype(np.int16)},
                       np.bincount(ev_of, minlength=n_ev))

    def _symbols(self, hits, first_entry=0) -> "Symbols":
        """The raw symbols of every patch of one call, and where each input hit went (see Symbols)."""
        h, p, order, hit_patch, slot = self._extract(hits, first_entry, dense_adc=False)
        import hepvq_core

        hit_cluster = p.cluster[hit_patch]
        shape, mask = self.shape_index(p.mask)
        # totals, hit counts and the multi-hit patches' fractions over the coded masks, in the core, from the hits
        # (no dense (patches, size) ADC matrix; hepvq_core.patch_fractions on it gives the same)
        total, nhit, x = hepvq_core.patch_fractions_hits(mask, self.size, hit_patch, slot, order, h.adc,
                                                          options.threads(self))
        keep = total > 0  # lossy-position mode may leave a patch with no hit (never a multi-hit one): drop it
        all_kept = bool(keep.all())
        if not all_kept:
            p = _take_patches(p, keep)
            shape, mask, total, nhit = shape[keep], mask[keep], total[keep], nhit[keep]
        charge = quantise_charge(total, self.levels)
        multi = nhit >= 2
        codes = self._run_encoder(x, None, mask[multi])
        return Symbols(h, p, shape, mask, charge, codes, multi, order, hit_patch, slot, hit_cluster, all_kept)

    # Context ranking: the charge index and the VQ codes depend strongly on the patch's shape (a 2-pixel patch
    # uses few codes, a big cluster large charges).  A static table per shape (from training, in the settings)
    # maps each symbol to its frequency rank *given the shape*; the branch holds ranks, whose order-0 entropy --
    # what ZSTD's Huffman stage reaches -- is close to the conditional entropy.  Without tables: identity.
    def det_context(self, det: np.ndarray) -> np.ndarray:
        """Shape context of each module: index (1..) of its detId bit-fields (e.g. CMS layer and module-along-z,
        which fix the track incidence angle and hence the cluster shapes) in the trained key list, 0 if unseen."""
        if not self.ctx_bitfields or not len(self.ctx_keys):
            return np.zeros(len(det), dtype=np.int64)
        key = np.zeros(len(det), dtype=np.int64)
        d = det.astype(np.int64)
        for shift, mask in self.ctx_bitfields:
            key = key * (mask + 1) + ((d >> shift) & mask)
        pos = np.minimum(np.searchsorted(self.ctx_keys, key), len(self.ctx_keys) - 1)
        return np.where(self.ctx_keys[pos] == key, pos + 1, 0)

    def _to_ranks(self, shape, charge, codes, multi):
        if not self.ranks:
            return charge, codes
        r_charge = self.ranks["charge"][1][shape, charge]
        r_codes = codes.copy()
        sm = shape[multi]
        for s in range(self.stages):
            r_codes[:, s] = self.ranks[f"c{s}"][1][sm, codes[:, s]]
        return r_charge, r_codes

    def _from_ranks(self, shape, r_charge, r_codes, multi):
        if not self.ranks:
            return r_charge, r_codes
        charge = self.ranks["charge"][0][shape, r_charge]
        codes = r_codes.copy()
        sm = shape[multi]
        for s in range(self.stages):
            codes[:, s] = self.ranks[f"c{s}"][0][sm, r_codes[:, s]]
        return charge, codes

    def _run_encoder(self, x, m, mask_id=None):
        """VQ indices (n, stages) of fractions x and masks m: the numpy fast path where it applies (identical
        indices, hepvq.pixel.fastsearch; near-tie rows go through onnxruntime), else the ONNX encoder."""
        if len(x) == 0:
            return np.zeros((0, self.stages), dtype=np.int64)
        if m is None:  # dense float masks only where onnxruntime needs them
            m = _LazyDense(mask_id, self.size)
        if self._fast is not None and mask_id is not None:
            from hepvq.codecs.options import threads

            self._fast.threads = threads(self)  # the job's numberOfThreads (-j) or the codec's own
            idx, amb = self._fast.search(x, m, mask_id)
            if amb.any():
                r = np.flatnonzero(amb)
                idx[r] = self._run_onnx_encoder(x[r], m[r])[:, 0]
            return idx[:, None]
        return self._run_onnx_encoder(x, m[:])

    def _run_onnx_encoder(self, x, m):
        return self.encoder.run({"x": x, "mask": m}, batch_size=self.batch_size)["indices"].astype(np.int64)

    def _make_fast_search(self):
        """The core's search of a one-stage VQ encoder: trusted when the settings record that it equals this
        encoder.onnx (hepvq.pixel.core_check, made at export), else checked against onnxruntime now."""
        from hepvq.pixel import core_check, fastsearch

        fast = fastsearch.from_onnx(self.encoder_bytes, _read_onnx_props(self.encoder), self.pc)
        if fast is None:
            return None
        agrees = core_check.recorded(self.settings, "encoder", self.encoder.sha256)
        if agrees is None:
            agrees = core_check.search_agrees(self, fast)
        return fast if agrees else None

    def _run_decoder(self, codes, m):
        """Fractions (n, size) float32 of code symbols and dense masks: from the core's codebooks where it has
        them (bit-identical to decoder.onnx, hepvq.pixel.core), else by the ONNX decoder."""
        if len(codes) and not getattr(self, "_onnx_fractions", False) and self.core_model.has_codebooks:
            import hepvq_core

            return hepvq_core.pixel_vq_fractions(self.core_model, codes.astype(np.int64), P.dense_to_mask(m > 0))
        return self._run_onnx_decoder(codes, m)

    def _run_onnx_decoder(self, codes, m):
        if len(codes) == 0:
            return np.zeros((0, self.size), dtype=np.float32)
        return self.decoder.run({"indices": codes.astype(np.int64), "mask": m}, batch_size=self.batch_size)["fractions"]

    def _decode_patch_adc(self, mask, charge, codes, multi) -> np.ndarray:
        """Decoded ADC (n_patches, size) of the patches (zero outside the mask)."""
        dense = P.mask_to_dense(mask, self.size)
        q = self.levels[charge].astype(np.float64)
        frac = dense.astype(np.float64)
        frac[multi] = self._run_decoder(codes, dense[multi].astype(np.float32))
        adc = np.rint(frac * q[:, None]).astype(np.int64)
        return np.where(dense, np.clip(adc, self.adc_min, self.adc_max), 0)

    def _decode_hit_adc(self, mask, charge, codes, multi, hit_patch, slot) -> np.ndarray:
        """Decoded ADC of hits given by (patch, slot), all inside their patch's mask: the values of
        _decode_patch_adc at those places, computed per hit only."""
        if len(codes) and not getattr(self, "_onnx_fractions", False) and self.core_model.has_codebooks:
            import hepvq_core  # the bit masks straight to the core (what _run_decoder does after a dense detour)

            frac_m = hepvq_core.pixel_vq_fractions(self.core_model, codes.astype(np.int64), mask[multi])
        else:
            frac_m = self._run_decoder(codes, P.mask_to_dense(mask[multi], self.size).astype(np.float32))
        if frac_m.dtype == np.float32:  # the core's gather (hit_adc_reference's arithmetic, one pass per hit)
            import hepvq_core

            return hepvq_core.hit_adc(frac_m, multi, self.levels[charge], hit_patch, slot, self.adc_min, self.adc_max)
        return self.hit_adc_reference(frac_m, charge, multi, hit_patch, slot)

    def hit_adc_reference(self, frac_m, charge, multi, hit_patch, slot) -> np.ndarray:
        """numpy: decoded ADC per hit from the multi-hit patches' fractions and the charge levels (the oracle of
        hepvq_core.hit_adc)."""
        midx = np.cumsum(multi) - 1  # row of each multi-hit patch in the decoder output
        hm = multi[hit_patch]
        frac = np.ones(len(hit_patch), dtype=np.float64)
        frac[hm] = frac_m[midx[hit_patch[hm]], slot[hm]]
        q = self.levels[charge].astype(np.float64)[hit_patch]
        adc = np.rint(frac * q).astype(np.int64)
        return np.clip(adc, self.adc_min, self.adc_max)

    def _reconstruct(self, n_ev, event, det, row, col, mask, charge, codes, multi) -> P.Hits:
        adc = self._decode_patch_adc(mask, charge, codes, multi)
        p = P.Patches(self.pr, self.pc, n_ev, event, det, row, col, mask, adc, np.arange(len(event)))
        return P.scatter(p)

    # ---- decode ------------------------------------------------------------------------------------------
    @property
    def core_model(self):
        """The compiled core's copy of the codec tables (hepvq.pixel.core), built on first use."""
        if getattr(self, "_core_model", None) is None:
            from hepvq.pixel import core

            self._core_model = core.core_model(self)
        return self._core_model

    def decode(self, products: dict[str, ak.Array]) -> ak.Array:
        """Index products -> hits in canonical order, by the compiled core (hepvq.pixel.core)."""
        from hepvq.pixel import core

        for inst in ("", "modules", "codes", "escapes"):
            if inst not in products:
                raise DataError(f"pixel_vq decode: product instance '{inst}' is missing (have: "
                                f"{', '.join(repr(k) for k in products)})")
        return core.decode(self, products)

    def decode_reference(self, products: dict[str, ak.Array]) -> ak.Array:
        """The numpy implementation of decode, fractions by decoder.onnx: the test oracle of the compiled core
        (not on the run path; not thread-safe)."""
        self._onnx_fractions = True
        try:
            return self._decode_numpy(products)
        finally:
            self._onnx_fractions = False

    def indices(self, products: dict[str, ak.Array]) -> ak.Array:
        """Per event, per patch: detId, anchor row/col, shape, mask, charge (level index), decoded total charge
        and VQ code(s) (-1 for single-hit patches), ranks turned back into symbols (hepvq.open(...).indices())."""
        from hepvq.pixel.format2 import indices_array

        return indices_array(self, self._decode_symbols(products))

    def _decode_numpy(self, products: dict[str, ak.Array]) -> ak.Array:
        d = self._decode_symbols(products)
        n_ev, event, det, row, col, mask, charge, codes, multi = (d[k] for k in (
            "n_events", "event", "det", "row", "col", "mask", "charge", "codes", "multi"))
        h = self._reconstruct(n_ev, event, det, row, col, mask, charge, codes, multi)
        return self._apply_corrections(products, h, n_ev)

    def _decode_symbols(self, products: dict[str, ak.Array]) -> dict:
        """Every patch of format-1 products: event, det, anchor row/col, shape, mask, charge, codes, multi."""
        for inst in ("", "modules", "codes", "escapes"):
            if inst not in products:
                raise DataError(f"pixel_vq decode: product instance '{inst}' is missing (have: "
                                f"{', '.join(repr(k) for k in products)})")
        pat, mods, codes_a, esc_a = products[""], products["modules"], products["codes"], products["escapes"]
        n_ev = len(pat)
        ev_patch = ak.to_numpy(ak.num(pat, axis=1)).astype(np.int64)
        event = np.repeat(np.arange(n_ev), ev_patch)

        def flat(arr, field):
            return ak.to_numpy(ak.flatten(arr[field], axis=None)).astype(np.int64)

        ddet = flat(mods, "ddet").astype(np.uint64)
        npatch = flat(mods, "npatch")
        ev_mod = ak.to_numpy(ak.num(mods, axis=1)).astype(np.int64)
        mod_event = np.repeat(np.arange(n_ev), ev_mod)
        newev = np.ones(len(ddet), dtype=bool)
        if len(ddet):
            newev[1:] = mod_event[1:] != mod_event[:-1]
        mod_det = segmented_cumsum(ddet, newev).astype(np.int64)
        if npatch.sum() != len(event):
            raise DataError(f"pixel_vq decode: module table counts {int(npatch.sum())} patches but there are {len(event)}")
        det = np.repeat(mod_det, npatch)
        newmod = np.zeros(len(event), dtype=bool)
        newmod[(np.cumsum(npatch) - npatch)[npatch > 0]] = True
        dcol = flat(pat, "dcol")
        far = dcol == 255
        if far.any():
            if "farcols" not in products:
                raise DataError("pixel_vq decode: column deltas of 255 but no 'farcols' product")
            extra = flat(products["farcols"], "dcol")
            if len(extra) != int(far.sum()):
                raise DataError(f"pixel_vq decode: {int(far.sum())} far columns but {len(extra)} 'farcols' entries")
            dcol[far] += extra
        col = segmented_cumsum(dcol, newmod)
        row = flat(pat, "row")
        shape = flat(pat, "shape")
        charge = flat(pat, "charge")
        if len(shape) and shape.max() > self.escape:
            raise DataError(f"pixel_vq decode: shape code {shape.max()} beyond the table ({self.escape} shapes + escape)")
        if "shape" in self.ranks:
            shape = self.ranks["shape"][0][self.det_context(det), shape]
        if len(charge) and charge.max() >= len(self.levels):
            raise DataError(f"pixel_vq decode: charge index {charge.max()} beyond the {len(self.levels)} levels")
        mask = np.zeros(len(shape), dtype=np.uint64)
        tab = shape < self.escape
        mask[tab] = self.shapes[shape[tab]]
        esc_mask = ak.to_numpy(ak.flatten(esc_a["mask"], axis=None)).astype(np.uint64)
        if int((~tab).sum()) != len(esc_mask):
            raise DataError(f"pixel_vq decode: {int((~tab).sum())} escaped shapes but {len(esc_mask)} escape masks")
        mask[~tab] = esc_mask
        nhit = P.mask_to_dense(mask, self.size).sum(1)
        multi = nhit >= 2
        codes = np.stack([flat(codes_a, f"c{s}") for s in range(self.stages)], 1) if self.stages else np.zeros((0, 0))
        if len(codes) != int(multi.sum()):
            raise DataError(f"pixel_vq decode: {len(codes)} code rows for {int(multi.sum())} multi-hit patches")
        for s, k in enumerate(self.codebook_sizes):
            if len(codes) and codes[:, s].max() >= k:
                raise DataError(f"pixel_vq decode: stage {s} code {codes[:, s].max()} beyond the codebook size {k}")
        charge, codes = self._from_ranks(shape, charge, codes, multi)
        return {"n_events": n_ev, "event": event, "det": det, "row": row, "col": col, "shape": shape, "mask": mask,
                "charge": charge, "codes": codes, "multi": multi}

    def _apply_corrections(self, products, h, n_ev) -> ak.Array:
        def flat(arr, field):
            return ak.to_numpy(ak.flatten(arr[field], axis=None)).astype(np.int64)

        if "corrections" in products:
            corr = products["corrections"]
            dhit = flat(corr, "dhit")
            dadc = flat(corr, "dadc")
            ev_c = np.repeat(np.arange(n_ev), ak.to_numpy(ak.num(corr, axis=1)))
            newc = np.ones(len(dhit), dtype=bool)
            if len(dhit):
                newc[1:] = ev_c[1:] != ev_c[:-1]
            within = segmented_cumsum(dhit, newc)
            starts = np.searchsorted(h.event, np.arange(n_ev))
            idx = starts[ev_c] + within
            if len(idx) and (idx.min() < 0 or idx.max() >= len(h.adc)):
                raise DataError(f"pixel_vq decode: a correction points at hit {int(idx.max())} of {len(h.adc)}")
            b = max(self.adc_error_bound, 0)
            adc = residual.apply(h.adc[idx], dadc, b)
            # the true ADC is in 1..adc_max and the corrected value within b of it: anything further is damage
            if len(adc) and (adc.min() < 1 - b or adc.max() > self.adc_max + b):
                raise DataError(f"pixel_vq decode: corrected ADC {int(adc.min())}..{int(adc.max())} outside "
                                f"1..{self.adc_max} by more than the bound {b}: the corrections are damaged")
            h.adc[idx] = np.clip(adc, 1, self.adc_max)
        return h.to_awkward()

    def value_ranges(self) -> dict[str, tuple[int, int]]:
        return {"row": (0, self.module_rows - 1), "col": (0, self.module_cols - 1),
                "adc": (min(1, self.adc_min), self.adc_max), "detId": (0, (1 << 32) - 1)}

    # ---- sizes for reports -------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {"patch": f"{self.pr}x{self.pc}", "shapes": len(self.shapes), "charge_levels": len(self.levels),
                "kind": self.settings["model"].get("kind"), "stages": self.stages,
                "codebook_sizes": self.codebook_sizes, "lossless_positions": self.lossless_positions,
                "adc_error_bound": self.adc_error_bound}


class Symbols(NamedTuple):
    """One encode call's patches and symbols (returned, never kept on the codec: a codec serves many callers).
    The first seven are what the stream writers use: ``h, p, shape, mask, charge, codes, multi = sym[:7]``."""

    h: P.Hits                 # the input hits (flattened, input order)
    p: P.Patches              # patches in canonical order (without the dropped empty ones)
    shape: np.ndarray         # shape code per patch (table index or escape)
    mask: np.ndarray          # mask actually coded per patch
    charge: np.ndarray        # charge level index per patch
    codes: np.ndarray         # VQ codes of the multi-hit patches (rows, stages)
    multi: np.ndarray         # multi-hit flag per patch
    order: np.ndarray         # hit order[k] of h sits in patch hit_patch[k] (of the patches before the drop),
    hit_patch: np.ndarray     # slot slot[k]
    slot: np.ndarray
    hit_cluster: np.ndarray | None  # cluster of each hit, canonical order; None: p.cluster[hit_patch] (no patch
                                    # dropped), computed by the validation only (format 2: a 1M-hit gather a chunk)
    all_kept: bool            # no patch dropped (always in lossless-position mode)


def refuse_zero_adc(h: P.Hits, first_entry: int, codec: str) -> None:
    """ADC 0 is below every zero-suppression threshold; the codecs cannot code it exactly (a patch's occupancy is
    "ADC > 0"), so such a hit is refused up front rather than dropped."""
    bad = h.adc < 1
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{codec}: pixel DIGI with ADC {h.adc[i]} at entry {first_entry + h.event[i]}, detId={h.det[i]} "
                        f"row={h.row[i]} col={h.col[i]} ({int(bad.sum())} such hit(s) in this chunk); the codec "
                        "cannot store ADC 0 -- drop these hits upstream (zero suppression) or give them ADC >= 1")


def raise_duplicate(h: P.Hits, first_entry: int, err: Exception) -> None:
    """DataError naming the entry (in the job) of the first duplicated pixel, when that is what ``err`` was."""
    if len(h.event) < 2:
        return
    order = P.sort_order(h)  # the identity when the hits come sorted, as DIGIs usually do
    cols = [x[order] for x in (h.event, h.det, h.row, h.col)]
    same = np.logical_and.reduce([c[1:] == c[:-1] for c in cols])
    if same.any():
        i = int(order[int(np.flatnonzero(same)[0])])
        raise DataError(f"duplicate pixel DIGI at entry {first_entry + h.event[i]}: detId={h.det[i]} row={h.row[i]} "
                        f"col={h.col[i]} appears more than once (each pixel once per event)") from err


def encode_table(perm: np.ndarray) -> dict:
    """A (contexts, symbols) permutation table as JSON: shape, dtype and base64 bytes."""
    dt = np.uint8 if perm.max(initial=0) < 256 else np.uint16
    return {"shape": list(perm.shape), "dtype": np.dtype(dt).str,
            "data": base64.b64encode(np.ascontiguousarray(perm.astype(dt)).tobytes()).decode()}


def rank_table(context: np.ndarray, symbol: np.ndarray, n_context: int, n_symbol: int) -> np.ndarray:
    """perm[c, r] = the symbol of rank r in context c (most frequent first; ties and unseen symbols follow the
    global frequency, then the symbol number)."""
    glob = np.bincount(symbol, minlength=n_symbol).astype(np.float64)
    cnt = np.zeros((n_context, n_symbol))
    np.add.at(cnt, (context, symbol), 1.0)
    key = cnt * (glob.sum() + 1) + glob[None, :]
    return np.argsort(-key, axis=1, kind="stable")


def _load_ranks(spec, n_context, sizes) -> dict:
    if not spec:
        return {}
    out = {}
    for name, n_sym in sizes.items():
        if name not in spec:
            raise ModelError(f"pixel_vq settings: rank table '{name}' missing")
        t = spec[name]
        try:
            perm = np.frombuffer(base64.b64decode(t["data"]), dtype=np.dtype(t["dtype"])).reshape(t["shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(f"pixel_vq settings: rank table '{name}' is corrupt ({err})") from err
        perm = perm.astype(np.int64)
        if perm.shape != (n_context, n_sym) or not np.all(np.sort(perm, axis=1) == np.arange(n_sym)[None, :]):
            raise ModelError(f"pixel_vq settings: rank table '{name}' has shape {perm.shape} or is not a permutation "
                             f"(expected ({n_context}, {n_sym}))")
        inv = np.empty_like(perm)
        np.put_along_axis(inv, perm, np.broadcast_to(np.arange(n_sym), perm.shape), axis=1)
        out[name] = (perm, inv)
    return out


class _LazyDense:
    """Dense float32 masks (n, size) of bit masks, made only for the rows indexed."""

    def __init__(self, masks, size):
        self.masks, self.size = masks, size

    def __getitem__(self, rows):
        return P.mask_to_dense(self.masks[rows], self.size).astype(np.float32)


def _take_patches(p: P.Patches, keep) -> P.Patches:
    return P.Patches(p.rows, p.cols, p.n_events, p.event[keep], p.det[keep], p.row[keep], p.col[keep], p.mask[keep],
                     None if p.adc is None else p.adc[keep], p.cluster[keep])


def _jagged(fields: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    return ak.unflatten(ak.zip(fields, depth_limit=1) if fields else ak.Array([{}] * int(counts.sum())),
                        counts.astype(np.int64))


@register_codec
class PixelSparseCodec(Codec):
    """The lossless-sparse baseline as a codec: per event one byte blob (uint8 jagged ``blob``), positions exact,
    ADC requantised to ``adc_bits`` bits (log bins above the threshold, CMS Phase-2 style).

    ``format=1``: hepvq.baselines.sparse blobs (sorted flat keys delta-coded, zstd-19/LZMA per stream; the C++
    reader decodes them). ``format=2``: the same hits as 8-connected clusters (anchor + shape from a fitted book)
    and ADC codes, context-modelled streams on the core's rANS coder (hepvq.baselines.sparse_streams /
    sparse_clusters), with static tables fitted on training events (``tables``: StreamTables,
    their bytes or a file; default the shipped data/models/pixel_sparse/tables.rans) stored in the file as
    metadata 'tables' (sha256 in the settings). Each blob starts with b"HVS" + its format byte, so decode reads
    both; a format-2 file needs its tables."""

    name = "pixel_sparse"
    collection = "PixelDigi"
    DEFAULT_TABLES = Path(__file__).resolve().parents[2] / "data/models/pixel_sparse/tables.rans"
    FORMATS = (1, 2)

    def __init__(self, adc_bits: int = 4, adc_min: int = 1, adc_max: int = 255, mode: str = "log", level: int = 19,
                 format: int = 1, tables=None):  # noqa: A002 - the parameter's name in cfgs and settings
        from hepvq.baselines import sparse_streams

        if not 1 <= int(adc_bits) <= 16:
            raise ModelError(f"pixel_sparse: adc_bits must be in 1..16, got {adc_bits}")
        if mode not in ("log", "linear"):
            raise ModelError(f"pixel_sparse: mode must be 'log' or 'linear', got {mode!r}")
        if int(format) not in self.FORMATS:
            raise ModelError(f"pixel_sparse: format {format} is not one this hepvq writes or reads {self.FORMATS}")
        self.adc_bits, self.adc_min, self.adc_max = int(adc_bits), int(adc_min), int(adc_max)
        self.mode, self.level, self.format = mode, int(level), int(format)
        self.tables = None
        if self.format == 2:
            src = self.DEFAULT_TABLES if tables is None else tables
            if isinstance(src, sparse_streams.StreamTables):
                self.tables = src
            elif isinstance(src, (bytes, bytearray)):
                self.tables = sparse_streams.StreamTables.from_bytes(src, "pixel_sparse tables")
            else:
                p = Path(src)
                if not p.is_file():
                    raise ModelError(f"pixel_sparse format 2: tables file {p} does not exist (fit one with "
                                     "python -m hepvq.baselines.sparse_streams pixel)")
                self.tables = sparse_streams.StreamTables.from_bytes(p.read_bytes(), f"pixel_sparse tables {p}")
            t = self.tables
            if t.value_alphabet != 1 << self.adc_bits or t.n_cols < 416 or t.n_rows < 160:
                raise ModelError(f"pixel_sparse format 2: the tables code {t.value_alphabet} ADC codes on "
                                 f"{t.n_cols} x {t.n_rows} planes, the codec needs {1 << self.adc_bits} "
                                 f"(adc_bits={self.adc_bits}): fit tables for this setting")
            self._tables_bytes = t.to_bytes()

    def settings(self) -> dict:
        s = {"adc_bits": self.adc_bits, "adc_min": self.adc_min, "adc_max": self.adc_max, "mode": self.mode}
        if self.format == 2:  # format-1 settings stay byte-identical to what older hepvq wrote
            s.update(format=2, tables_sha256=hashlib.sha256(self._tables_bytes).hexdigest())
        return s

    def metadata(self) -> dict[str, bytes]:
        out = {"settings": self.json_blob(self.settings())}
        if self.format == 2:
            out["tables"] = self._tables_bytes
        return out

    @classmethod
    def from_metadata(cls, blobs: dict[str, bytes], **kwargs) -> "PixelSparseCodec":
        s = cls.read_json_blob(blobs, "settings")
        fmt = int(s.get("format", 1))
        tables = None
        if fmt == 2:
            if "tables" not in blobs:
                raise ModelError("compressed file lacks metadata 'tables' of the pixel_sparse codec (format 2)")
            if hashlib.sha256(bytes(blobs["tables"])).hexdigest() != s.get("tables_sha256"):
                raise ModelError("metadata 'tables' of the pixel_sparse codec does not match the sha256 in its "
                                 "settings: the tables are damaged or belong to another file")
            tables = bytes(blobs["tables"])
        return cls(s["adc_bits"], s["adc_min"], s["adc_max"], s["mode"], format=fmt, tables=tables, **kwargs)

    def codes(self, adc) -> np.ndarray:
        from hepvq.baselines.sparse import requantize

        return requantize(adc, self.adc_bits, self.adc_min, self.adc_max, self.mode).astype(np.int64)

    def encode(self, hits: ak.Array, first_entry: int = 0) -> EncodeResult:
        """EncodeResult(one blob per event, report {events, hits})."""
        from hepvq.baselines import sparse_streams
        from hepvq.baselines.sparse import encode_sparse

        h = P.flatten(hits)
        P.check_range(h, 1 << 16, 1 << 16, None, first_entry)
        refuse_zero_adc(h, first_entry, self.name)
        raise_duplicate(h, first_entry, None)
        if self.format == 2:
            P.check_range(h, self.tables.n_rows, self.tables.n_cols, None, first_entry)
        starts = np.searchsorted(h.event, np.arange(h.n_events + 1))
        blobs = []
        for e in range(h.n_events):  # one blob per event (each call is vectorised over the event's hits)
            s = slice(starts[e], starts[e + 1])
            if self.format == 2:
                blob = sparse_streams.encode_event(h.det[s], h.col[s], h.row[s], self.codes(h.adc[s]), self.tables,
                                                   header=b"HVS\x02")
            else:
                blob = encode_sparse(
                    [h.det[s].astype(np.uint32), h.col[s].astype(np.uint16), h.row[s].astype(np.uint16)],
                    h.adc[s].astype(np.uint16), value_bits=self.adc_bits, value_min=self.adc_min,
                    value_max=self.adc_max, mode=self.mode, level=self.level)
            blobs.append(np.frombuffer(blob, dtype=np.uint8))
        counts = np.array([len(b) for b in blobs], dtype=np.int64)
        flat = np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)
        return EncodeResult({"": ak.unflatten(ak.zip({"blob": flat}), counts)},
                            {"events": int(h.n_events), "hits": int(len(h.adc))})

    def decode(self, products: dict[str, ak.Array]) -> ak.Array:
        """Format-2 blobs by the compiled core (core/src/sparse_streams.cpp, as the C++ reader decodes them)."""
        return self._decode(products, core=True)

    def decode_reference(self, products: dict[str, ak.Array]) -> ak.Array:
        """decode with the numpy decoder of format-2 blobs (sparse_streams.decode_event): the oracle of the core's."""
        return self._decode(products, core=False)

    def _decode(self, products: dict[str, ak.Array], core: bool) -> ak.Array:
        from hepvq.baselines import sparse_streams, sparse_streams_core
        from hepvq.baselines.sparse import decode_sparse, dequantize

        if "" not in products:
            raise DataError("pixel_sparse decode: the main product is missing")
        arr = products[""]
        counts = ak.to_numpy(ak.num(arr, axis=1))
        flat = ak.to_numpy(ak.flatten(arr["blob"], axis=None)).astype(np.uint8)
        offs = np.concatenate([[0], np.cumsum(counts)])
        parts = []
        for e in range(len(counts)):
            blob = flat[offs[e]:offs[e + 1]].tobytes()
            if blob[:4] == b"HVS\x02":  # format 2 (the blob says which, whatever the settings)
                if self.tables is None:
                    raise DataError(f"pixel_sparse: event {e} is a format-2 blob but the codec has no tables "
                                    "(settings say format 1): the file is damaged")
                what = f"pixel_sparse event {e}"
                if core and sparse_streams_core.core_tables(self.tables) is not None:  # the cluster layout
                    det, col, row, code = sparse_streams_core.decode_event(blob[4:], self.tables, what=what)
                else:
                    det, col, row, code = sparse_streams.decode_event(blob, self.tables, offset=4, what=what)
                values = dequantize(code, self.adc_bits, self.adc_min, self.adc_max, self.mode)
            else:
                keys, values, _ = decode_sparse(blob)
                det, col, row = keys
            adc = np.clip(np.rint(values), self.adc_min, self.adc_max).astype(np.int64)
            parts.append((np.full(len(det), e), np.asarray(det, np.int64), np.asarray(row, np.int64),
                          np.asarray(col, np.int64), adc))
        if parts:
            cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
        else:
            cols = [np.zeros(0, np.int64)] * 5
        h = P.Hits(len(counts), *cols)
        return P.canonical(h).to_awkward()

    def value_ranges(self) -> dict[str, tuple[int, int]]:
        return {"adc": (self.adc_min, self.adc_max), "row": (0, 65535), "col": (0, 65535)}
