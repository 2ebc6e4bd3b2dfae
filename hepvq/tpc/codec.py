"""TpcInrCodec ("tpc_inr"): TPC hits compressed into implicit neural representations.

Two ways to get the networks (``method``):
- ``fit`` (the paper): one small INR (SIREN / FFNet / WIRE) fitted per sector, batched across all sectors of a
  chunk of events (hepvq.tpc.fit); the quantised weights (fp16 or int8 per-layer scales) are the code.
- ``amortised``: an encoder (ONNX, no torch) maps each sector to a latent grid that modulates a shared INR
  decoder (hepvq.tpc.amortised); the int8 latents are the code, the decoder ONNX travels in the metadata.

Two ways to use them (``mode``):
- ``dense`` (the paper): the INR represents the whole (192, 249, 16) sector, zeros included; decode evaluates
  it on the full grid and re-applies the 64 ADC threshold. Hit positions are lossy.
- ``hybrid``: the hit positions are coded losslessly (hepvq.tpc.coords) and the INR
  only represents the charge at the hits (fitted on hits only); decode evaluates it at the stored positions
  and clips to [64, 1023]. Hit precision and recall are 1 by construction; only the ADC values are lossy.
  With ``adc_error_bound`` B >= 0 the INR becomes a *predictor*: the residual of every hit against the
  decoded prediction is stored, quantised with step 2B + 1 (hepvq.codecs.residual), so every decoded ADC is
  within B of the input (B = 0: lossless). The better the INR predicts, the fewer bits the residuals take.

Products per event (jagged records, one level):
- ``""``        {sector: uint8, nbytes: uint32}: the coded sectors and the size of each one's blob;
- ``"weights"`` {byte: uint8}: the concatenated blobs: zstd(quantised network weights or latents). In hybrid
  mode the amortised latents of cells that no stored hit can reach are zeroed first (they do not change any
  decoded value), so zstd removes them;
- ``"coords"``  {byte: uint8}: hybrid mode only, the coded hit positions.
- ``"residuals"`` {byte: uint8}: hybrid mode with an ADC error bound only, the quantised residuals in the
  coords' hit order (zigzag, varint, zstd).

Formats (``format``, stored in the config; files of every format keep decoding):
- 1: coords = key gaps as varints + zstd-19; residuals = zigzag varints, the smaller of zstd and LZMA2;
- 2 (default): coords and residuals are streams of the core's rANS coder (hepvq.baselines.sparse_streams, the
  layout of pixel_sparse format 2: plane = (sector, layer), column = phi, row = z) with static tables fitted on
  training events (``tables``; default the shipped data/models/tpc_coords.rans, python -m
  hepvq.baselines.sparse_streams tpc), stored in the file as metadata 'tables' (sha256 in the config); the
  residual stream's tables adapt within each event to the predictor and the bound.

decode() needs numpy, awkward, zstandard and (amortised only) onnxruntime: no torch.
"""
from __future__ import annotations

import hashlib
import json
import time

import zstandard

import awkward as ak
import numpy as np

from hepvq.codecs import residual
from hepvq.codecs.base import Codec, EncodeResult, register_codec
from hepvq.errors import DataError, ModelError
from hepvq.tpc import coords as coordcode
from hepvq.tpc import inr_np, quantise
from hepvq.tpc.grid import ADC_MAX, N_SECTORS, SHAPE, THRESHOLD, events_from_columns, grid_coords, mask_context, normalise

ADC_MAX_CODE = 1023  # TpcHit_adc is 10-bit

FORMAT_VERSION = 2
FORMATS = (1, 2)
DEFAULT_ARCH = {"kind": "siren", "width": 48, "depth": 3, "in_dim": 3, "omega0": 30.0, "omega": 30.0}
DEFAULT_FIT = {"strategy": "importance", "ratio": 0.05, "epochs": 200, "batch_size": 4096, "lr": None,
               "eps": "auto", "seed": 0, "max_sectors": 48}


def _bytes_records(chunks: list[bytes], field: str = "byte") -> ak.Array:
    counts = np.array([len(c) for c in chunks], dtype=np.int64)
    flat = np.frombuffer(b"".join(chunks), dtype=np.uint8) if counts.sum() else np.zeros(0, np.uint8)
    return ak.unflatten(ak.zip({field: ak.Array(flat)}), counts)


def _records_bytes(arr: ak.Array, field: str = "byte") -> list[bytes]:
    a = arr[field] if field in ak.fields(arr) else arr
    counts = ak.to_numpy(ak.num(a)).astype(np.int64)
    flat = ak.to_numpy(ak.flatten(a)).astype(np.uint8)
    offs = np.concatenate([[0], np.cumsum(counts)])
    return [flat[offs[i]:offs[i + 1]].tobytes() for i in range(len(counts))]


@register_codec
class TpcInrCodec(Codec):
    name = "tpc_inr"
    collection = "TpcHit"

    def __init__(self, *, mode: str = "hybrid", method: str = "fit", arch: dict | None = None,
                 quant: str = "int8", fit: dict | None = None, amortised=None, threshold: int = THRESHOLD,
                 shape=SHAPE, n_sectors: int = N_SECTORS, adc_error_bound: int = -1, format: int = FORMAT_VERSION,
                 tables=None):  # noqa: A002 - the config's key
        if mode not in ("hybrid", "dense"):
            raise ModelError(f"tpc_inr: unknown mode '{mode}' (hybrid, dense)")
        if method not in ("fit", "amortised"):
            raise ModelError(f"tpc_inr: unknown method '{method}' (fit, amortised)")
        if quant not in quantise.MODES:
            raise ModelError(f"tpc_inr: unknown quantisation '{quant}' ({', '.join(quantise.MODES)})")
        if method == "amortised" and amortised is None:
            raise ModelError("tpc_inr: method 'amortised' needs an amortised model (hepvq.tpc.amortised.load)")
        if adc_error_bound >= 0 and mode != "hybrid":
            raise ModelError("tpc_inr: an ADC error bound needs mode 'hybrid' (stored hit positions)")
        if int(format) not in FORMATS:
            raise ModelError(f"tpc_inr: format {format} is not one this hepvq reads {FORMATS}")
        self.format = int(format)
        # format 2, hybrid: the rANS tables of the coordinate and residual streams
        self.tables = coordcode.load_tables(tables) if self.format == 2 and mode == "hybrid" else None
        self._tables_bytes = self.tables.to_bytes() if self.tables is not None else None
        self.mode, self.method, self.quant = mode, method, quant
        self.adc_error_bound = int(adc_error_bound)
        self.arch = dict(arch or DEFAULT_ARCH)
        self.fit = {**DEFAULT_FIT, **(fit or {})}
        self.amortised = amortised
        self.threshold, self.shape, self.n_sectors = int(threshold), tuple(shape), int(n_sectors)
        self.batch_size = None  # points per run of the amortised decoder graph (None: its default); RunOptions

    # ------------------------------------------------------------------ sizes
    def _tensor_shapes(self) -> list[tuple[int, ...]]:
        if self.method == "amortised":
            return [tuple(self.amortised.latent_shape)]
        shapes = []
        for fi, fo in inr_np.layer_shapes(self.arch):
            shapes += [(fi, fo), (fo,)]
        return shapes

    @property
    def blob_size(self) -> int:
        return quantise.blob_size(self._tensor_shapes(), self.quant)

    # ------------------------------------------------------------------ encode
    def encode(self, hits: ak.Array, first_entry: int = 0) -> EncodeResult:
        """EncodeResult(products, report of this call: events, hits, sectors (coded), sectors_without_code,
        seconds encode_time_s, fit_time_s and the split (issue 13) into the networks (encoder ONNX or fit, INR
        evaluation: encode_network_s) and the coordinate and residual streams (the compiled core, or zstd / LZMA
        for format 1: encode_streams_s)).  ``first_entry``: entry number of hits[0], for error messages."""
        t0 = time.perf_counter()
        st = {"events": len(hits), "hits": 0, "sectors": 0, "sectors_without_code": 0, "encode_time_s": 0.0,
              "fit_time_s": 0.0, "encode_network_s": 0.0, "encode_streams_s": 0.0}
        n_ev = len(hits)
        cols = {f: ak.to_numpy(ak.flatten(hits[f])).astype(np.int64) for f in ("sector", "layer", "phi", "z", "adc")}
        counts = ak.to_numpy(ak.num(hits["adc"])).astype(np.int64)
        offs = np.concatenate([[0], np.cumsum(counts)])
        st["hits"] = int(offs[-1])
        P, Z, L = self.shape
        for f, n in (("sector", self.n_sectors), ("phi", P), ("z", Z), ("layer", L), ("adc", 1024)):
            if len(cols[f]) and (cols[f].min() < 0 or cols[f].max() >= n):
                i = int(np.flatnonzero((cols[f] < 0) | (cols[f] >= n))[0])
                e = int(np.searchsorted(offs, i, side="right") - 1)
                raise DataError(f"tpc_inr: TpcHit_{f}={cols[f][i]} outside [0, {n}) at entry {first_entry + e}, "
                                f"hit {i - offs[e]}")
        ev_sectors, coord_blobs, jobs = [], [], []        # jobs: one volume per (event, sector)
        ev_hits = []                                      # hybrid: (sector, layer, phi, z, adc) in coords order
        for e in range(n_ev):
            sl = slice(offs[e], offs[e + 1])
            c = {f: v[sl] for f, v in cols.items()}
            secs = np.unique(c["sector"])
            ev_sectors.append(secs.astype(np.uint8))
            if self.mode == "hybrid":
                ts = time.perf_counter()
                try:
                    if self.tables is not None:
                        blob, order = coordcode.encode_rans(c["sector"], c["layer"], c["phi"], c["z"], self.tables,
                                                            self.shape)
                    else:
                        blob, order = coordcode.encode(c["sector"], c["layer"], c["phi"], c["z"], self.shape)
                except ValueError as err:  # duplicate positions: name the entry and the position
                    k = coordcode.keys(c["sector"], c["layer"], c["phi"], c["z"], self.shape)
                    u, first, cnt = np.unique(k, return_index=True, return_counts=True)
                    i = int(first[np.flatnonzero(cnt > 1)[0]])
                    raise DataError(f"tpc_inr: duplicate TPC hit at entry {first_entry + e}: sector={c['sector'][i]} "
                                    f"layer={c['layer'][i]} phi={c['phi'][i]} z={c['z'][i]} (hits must have distinct "
                                    "positions)") from err
                coord_blobs.append(blob)
                st["encode_streams_s"] += time.perf_counter() - ts
                ev_hits.append([c[f][order] for f in ("sector", "layer", "phi", "z", "adc")])
            for s in secs:
                m = c["sector"] == s
                vol = np.zeros(self.shape, dtype=np.uint16)
                vol[c["phi"][m], c["z"][m], c["layer"][m]] = c["adc"][m]
                jobs.append(vol)
        tn = time.perf_counter()
        blobs = self._encode_volumes(jobs, st)
        st["encode_network_s"] += time.perf_counter() - tn
        tr, net0 = time.perf_counter(), st["encode_network_s"]
        res_blobs = self._residuals(ev_sectors, ev_hits, blobs, st) if self.adc_error_bound >= 0 else None
        st["encode_streams_s"] += time.perf_counter() - tr - (st["encode_network_s"] - net0)
        per_event, j = [], 0
        for e in range(n_ev):
            k = len(ev_sectors[e])
            per_event.append(b"".join(blobs[j:j + k]))
            j += k
        sec_flat = np.concatenate(ev_sectors) if ev_sectors else np.zeros(0, np.uint8)
        nbytes = np.array([len(b) for b in blobs], dtype=np.uint32)
        out = {"": ak.unflatten(ak.zip({"sector": ak.Array(sec_flat), "nbytes": ak.Array(nbytes)}),
                                np.array([len(s) for s in ev_sectors], dtype=np.int64)),
               "weights": _bytes_records(per_event)}
        if self.mode == "hybrid":
            out["coords"] = _bytes_records(coord_blobs)
        if res_blobs is not None:
            out["residuals"] = _bytes_records(res_blobs)
        st["encode_time_s"] = time.perf_counter() - t0
        st["sectors"] = len(jobs)
        return EncodeResult(out, st)

    def _encode_volumes(self, vols: list[np.ndarray], st: dict) -> list[bytes]:
        if not vols:
            return []
        zc = zstandard.ZstdCompressor(level=19)
        if self.method == "amortised":
            vols = np.stack(vols)
            lat = self.amortised.encode(vols)
            if self.mode == "hybrid":
                lat = lat * self.amortised.needed_cells(vols)[:, None]
            return [zc.compress(quantise.pack([l], self.quant)) for l in lat]
        from hepvq.tpc.fit import fit_sectors  # torch: only on the encoding path of method 'fit'

        f = dict(self.fit)
        max_s = int(f.pop("max_sectors"))
        strategy = "hits" if self.mode == "hybrid" else f.pop("strategy")
        f.pop("strategy", None)
        out = []
        for i in range(0, len(vols), max_s):
            batch = np.stack(vols[i:i + max_s])
            # a progress bar when a caller asked for one (hepvq-bench --tpc-fit on a terminal)
            res = fit_sectors(batch, self.arch, strategy=strategy, quiet=not getattr(self, "progress", False), **f)
            st["fit_time_s"] += res.fit_time
            out += [zc.compress(quantise.pack(res.sector_params(s), self.quant)) for s in range(len(batch))]
        return out

    def _residuals(self, ev_sectors, ev_hits, blobs, st: dict) -> list[bytes]:
        """Per event, the quantised residuals against exactly what decode() predicts from the stored (quantised)
        code. A sector's code is dropped (blob b"": constant prediction, the threshold) where its residuals alone
        take fewer bytes than code + residuals, so the error-bounded codec never pays for an INR that does not
        predict well enough."""
        bound, out, j = self.adc_error_bound, [], 0
        for e, secs in enumerate(ev_sectors):
            s_, l_, p_, z_, adc = ev_hits[e]
            base = np.full(len(adc), self.threshold, dtype=np.int64)
            for s in secs:
                m = s_ == s
                tn = time.perf_counter()
                pred = self._predict_hits({int(s): self._sector_fn(blobs[j])}, s_[m], l_[m], p_[m], z_[m])
                st["encode_network_s"] += time.perf_counter() - tn
                pos = (s_[m], l_[m], p_[m], z_[m])
                with_code = len(blobs[j]) + len(self._pack(residual.quantise(adc[m] - pred, bound), *pos))
                if with_code < len(self._pack(residual.quantise(adc[m] - self.threshold, bound), *pos)):
                    base[m] = pred
                else:
                    blobs[j] = b""
                j += 1
            out.append(self._pack(residual.quantise(adc - base, bound), s_, l_, p_, z_))
        st["sectors_without_code"] = sum(not b for b in blobs)
        return out

    def _pack(self, q, s_, l_, p_, z_) -> bytes:
        """Residuals q of hits in key order: format 2 on the rANS coder (contexts from the positions), else v1."""
        if self.tables is None:
            return residual.pack(q)
        return residual.pack_rans(q, coordcode.plane_keys(s_, l_, self.shape), p_, z_, self.tables)

    # ------------------------------------------------------------------ decode
    def _sector_fn(self, blob: bytes):
        """blob -> function(normalised coords (n, 3)) -> ADC float (n,); an empty blob (error-bounded mode, code
        dropped) predicts the threshold everywhere."""
        if not len(blob):
            return lambda x, ctx=None: np.full(len(x), float(self.threshold), dtype=np.float32)
        raw = zstandard.ZstdDecompressor().decompress(bytes(blob), max_output_size=self.blob_size)
        tensors = quantise.unpack(raw, self._tensor_shapes(), self.quant)
        if self.method == "amortised":
            batch = {"batch": self.batch_size} if self.batch_size else {}
            return lambda x, ctx=None: self.amortised.decode(tensors[0], x, ctx, **batch) * ADC_MAX
        return lambda x, ctx=None: inr_np.forward(self.arch, tensors, x) * ADC_MAX

    def decode(self, products: dict[str, ak.Array]) -> ak.Array:
        return self.decode_timed(products)[0]

    def decode_timed(self, products: dict[str, ak.Array]) -> tuple[ak.Array, dict]:
        """(decoded hits, {decoded_sectors, decode_network_s, decode_streams_s} of this call): the time split of
        decode (the network's code and evaluation vs the coordinate / residual streams)."""
        st = {"decoded_sectors": 0, "decode_network_s": 0.0, "decode_streams_s": 0.0}
        if "" not in products or "weights" not in products:
            raise ModelError(f"tpc_inr: products '' and 'weights' are needed, found {sorted(products)}")
        main = products[""]
        if not {"sector", "nbytes"} <= set(ak.fields(main)):
            raise ModelError(f"tpc_inr: main product needs fields sector, nbytes; found {ak.fields(main)}")
        sec_counts = ak.to_numpy(ak.num(main["sector"])).astype(np.int64)
        sec_flat = ak.to_numpy(ak.flatten(main["sector"])).astype(np.int64)
        nb_flat = ak.to_numpy(ak.flatten(main["nbytes"])).astype(np.int64)
        sec_offs = np.concatenate([[0], np.cumsum(sec_counts)])
        weights = _records_bytes(products["weights"])
        coords = _records_bytes(products["coords"]) if self.mode == "hybrid" else None
        if self.mode == "hybrid" and "coords" not in products:
            raise ModelError("tpc_inr (hybrid): product 'coords' missing")
        residuals = None
        if self.adc_error_bound >= 0:
            if "residuals" not in products:
                raise ModelError(f"tpc_inr: the codec has ADC error bound {self.adc_error_bound} but product "
                                 f"'residuals' is missing (found {sorted(products)})")
            residuals = _records_bytes(products["residuals"])
        grid = None
        columns = []
        for e in range(len(sec_counts)):
            secs = sec_flat[sec_offs[e]:sec_offs[e + 1]]
            nb = nb_flat[sec_offs[e]:sec_offs[e + 1]]
            w = weights[e]
            if len(w) != nb.sum():
                raise ModelError(f"tpc_inr: event {e} has {len(w)} weight bytes, its sectors declare {nb.sum()}")
            o = np.concatenate([[0], np.cumsum(nb)])
            tn = time.perf_counter()  # the network's code (zstd, dequantised): network time
            fns = {int(s): self._sector_fn(w[o[i]:o[i + 1]]) for i, s in enumerate(secs)}
            st["decode_network_s"] += time.perf_counter() - tn
            st["decoded_sectors"] += len(secs)
            if self.mode == "hybrid":
                ts = time.perf_counter()
                if self.tables is not None:
                    s_, l_, p_, z_ = coordcode.decode_rans(coords[e], self.tables, self.shape,
                                                           what=f"tpc_inr coords of event {e}")
                else:
                    s_, l_, p_, z_ = coordcode.decode(coords[e], self.shape)
                tn = time.perf_counter()
                st["decode_streams_s"] += tn - ts
                adc = self._predict_hits(fns, s_, l_, p_, z_)
                st["decode_network_s"] += time.perf_counter() - tn
                if residuals is not None:
                    ts = time.perf_counter()
                    if self.tables is not None:
                        q = residual.unpack_rans(residuals[e], coordcode.plane_keys(s_, l_, self.shape), p_, z_,
                                                 self.tables, what=f"tpc_inr residuals of event {e}")
                    else:
                        q = residual.unpack(residuals[e])
                    st["decode_streams_s"] += time.perf_counter() - ts
                    if len(q) != len(adc):
                        raise ModelError(f"tpc_inr: event {e} has {len(q)} residuals for {len(adc)} hits")
                    # no clip to the threshold: below-threshold hits come back within the bound (B = 0: exactly)
                    adc = residual.apply(adc, q, self.adc_error_bound)
                    b = self.adc_error_bound
                    if len(adc) and (adc.min() < -b or adc.max() > ADC_MAX_CODE + b):
                        raise DataError(f"tpc_inr: event {e} decodes ADC {int(adc.min())}..{int(adc.max())}, outside "
                                        f"0..{ADC_MAX_CODE} by more than the bound {b}: the residuals are damaged")
                    adc = np.clip(adc, 0, ADC_MAX_CODE)
                columns.append({"sector": s_, "layer": l_, "phi": p_, "z": z_, "adc": adc})
            else:
                if grid is None:
                    grid = grid_coords(self.shape)
                parts = []
                for s, fn in fns.items():
                    tn = time.perf_counter()
                    a = np.clip(np.rint(fn(grid)), 0, 1023).reshape(self.shape)
                    st["decode_network_s"] += time.perf_counter() - tn
                    p_, z_, l_ = np.nonzero(a >= self.threshold)
                    parts.append({"sector": np.full(len(p_), s), "layer": l_, "phi": p_, "z": z_, "adc": a[p_, z_, l_]})
                columns.append({f: np.concatenate([p[f] for p in parts]) if parts else np.zeros(0, np.uint16)
                                for f in ("sector", "layer", "phi", "z", "adc")})
        return events_from_columns(columns), st

    def value_ranges(self) -> dict[str, tuple[int, int]]:
        P, Z, L = self.shape
        return {"sector": (0, self.n_sectors - 1), "phi": (0, P - 1), "z": (0, Z - 1), "layer": (0, L - 1),
                "adc": (0, ADC_MAX_CODE)}

    def _predict_hits(self, fns: dict, s_, l_, p_, z_) -> np.ndarray:
        """Hybrid mode: the INR's ADC (int64, rounded, clipped to [threshold, 1023]) at the stored hits."""
        adc = np.zeros(len(s_), dtype=np.float32)
        for s, fn in fns.items():
            m = s_ == s
            if m.any():
                idx = np.stack([p_[m], z_[m], l_[m]], axis=1)
                ctx = None
                if self.method == "amortised" and self.amortised.uses_context:
                    mask = np.zeros(self.shape, dtype=bool)
                    mask[idx[:, 0], idx[:, 1], idx[:, 2]] = True
                    ctx = mask_context(mask)[idx[:, 0], idx[:, 1], idx[:, 2]]
                adc[m] = fn(normalise(idx, self.shape), ctx)
        return np.clip(np.rint(adc), self.threshold, 1023).astype(np.int64)

    def evaluate(self, blob: bytes, idx: np.ndarray) -> np.ndarray:
        """Continuous reconstruction: one sector's coded blob evaluated at (fractional) voxel indices (n, 3)."""
        return self._sector_fn(blob)(normalise(idx, self.shape))

    # ------------------------------------------------------------------ metadata
    def config(self) -> dict:
        cfg = {"format": self.format, "mode": self.mode, "method": self.method, "quant": self.quant,
               "threshold": self.threshold, "shape": list(self.shape), "n_sectors": self.n_sectors,
               "blob_size": self.blob_size, "adc_error_bound": self.adc_error_bound}
        if self.method == "fit":
            cfg["arch"] = self.arch
            cfg["fit"] = self.fit
        else:
            cfg["amortised"] = self.amortised.config
        if self._tables_bytes is not None:
            cfg["tables_sha256"] = hashlib.sha256(self._tables_bytes).hexdigest()
        return cfg

    def metadata(self) -> dict[str, bytes]:
        blobs = {"config": self.json_blob(self.config())}
        if self.method == "amortised":
            blobs["decoder.onnx"] = self.amortised.decoder_bytes
        if self._tables_bytes is not None:
            blobs["tables"] = self._tables_bytes
        return blobs

    @classmethod
    def from_metadata(cls, blobs: dict[str, bytes], providers=None) -> "TpcInrCodec":
        """The codec of a file's blobs; ``providers``: onnxruntime providers of the amortised decoder graph."""
        cfg = cls.read_json_blob(blobs, "config")
        if cfg.get("format") not in FORMATS:
            raise ModelError(f"tpc_inr: metadata format {cfg.get('format')} is not one this hepvq reads {FORMATS}")
        tables = None
        if cfg["format"] == 2 and cfg["mode"] == "hybrid":
            if "tables" not in blobs:
                raise ModelError("tpc_inr: format-2 codec metadata lacks 'tables' (the rANS tables of coords and "
                                 "residuals)")
            if hashlib.sha256(bytes(blobs["tables"])).hexdigest() != cfg.get("tables_sha256"):
                raise ModelError("tpc_inr: metadata 'tables' does not match the sha256 in its config: the tables "
                                 "are damaged or belong to another file")
            tables = bytes(blobs["tables"])
        amortised = None
        if cfg["method"] == "amortised":
            from hepvq.tpc.amortised_rt import AmortisedRuntime

            if "decoder.onnx" not in blobs:
                raise ModelError("tpc_inr: amortised codec metadata lacks 'decoder.onnx'")
            amortised = AmortisedRuntime(cfg["amortised"], decoder_bytes=blobs["decoder.onnx"], providers=providers)
        codec = cls(mode=cfg["mode"], method=cfg["method"], arch=cfg.get("arch"), quant=cfg["quant"],
                    fit=cfg.get("fit"), amortised=amortised, threshold=cfg["threshold"], shape=cfg["shape"],
                    n_sectors=cfg["n_sectors"], adc_error_bound=cfg.get("adc_error_bound", -1),
                    format=cfg["format"], tables=tables)
        if codec.blob_size != cfg["blob_size"]:
            raise ModelError(f"tpc_inr: blob size {codec.blob_size} does not match the file's {cfg['blob_size']}")
        return codec

    def summary(self) -> dict:
        return dict(mode=self.mode, method=self.method, quant=self.quant, blob_bytes=self.blob_size,
                    adc_error_bound=self.adc_error_bound, format=self.format)


def config_json(codec: TpcInrCodec) -> str:
    return json.dumps(codec.config(), sort_keys=True)
