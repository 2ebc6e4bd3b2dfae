"""Pixel DIGI compression modules: PixelDigiVQEncoder (DIGIs -> pixel_vq format 2 streams or format 1 indices) and
PixelDigiSparseEncoder (the pixel_sparse baseline).  Decoding: HepvqDecoder (modules/decode.py; its alias
PixelDigiVQDecoder).  Run time only: numpy, awkward, onnxruntime (no torch)."""
from __future__ import annotations

import awkward as ak
import numpy as np

import hepvq.config as cms
from hepvq.errors import ModelError, ParameterError
from hepvq.codecs import residual
from hepvq.framework import register_module
from hepvq.framework.encoder import CodecEncoder
from hepvq.pixel import metrics as M
from hepvq.pixel.codec import PixelVQCodec
from hepvq.pixel.format2 import OPERATING_POINTS, PixelVQFormat2, products_bytes


@register_module
class PixelDigiVQEncoder(CodecEncoder):
    """Compress pixel DIGIs with the pixel_vq codec (exact positions, VQ'd charges) into stream or index products.

    format 2 (the default): per event the counts nmod, ncl, npatch and one rANS byte stream per field
    (s_mod, s_ncl, s_dcol, s_row, s_layout, s_tiles, s_shape, s_esc, s_charge, s_code0, ...; docs/pixel.md
    "Format 2"); debugIndices=True adds readable symbol branches <label>_debug_*.  format 1: integer
    products (instances of the module label) "" per patch (shape, dcol, row, charge), "modules" per module
    (ddet, npatch), "codes" per multi-hit patch (c0.. one per VQ stage), "escapes" (masks of rare shapes),
    "farcols" (column deltas >= 255) and, with adcErrorBound >= 0, "corrections" (dhit, dadc).  shape, charge
    and codes hold context ranks (see docs/pixel.md).  The codec's settings and decoder ONNX are stored in the
    output file's metadata under "<label>/settings" and "<label>/decoder.onnx"."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("src", cms.InputTag("PixelDigi"), "DIGI collection to encode (jagged detId,row,col,adc)")
        desc.add("model", cms.FileInPath("data/models/pixel_vq"),
                 "model directory from hepvq-export (codec.json, encoder.onnx, decoder.onnx)")
        desc.add("losslessPositions", cms.bool(True),
                 "keep every hit (rare shapes escape to an explicit mask); False: snap to the nearest known shape")
        desc.add("adcErrorBound", cms.int32(-1),
                 "if >= 0: store sparse corrections so that |decoded ADC - ADC| <= bound for every hit (0: lossless)")
        desc.add("batchSize", cms.int32(16384),
                 "onnxruntime batch size (patches); bounds the encoder's memory (~150 MB)")
        desc.add("format", cms.int32(2),
                 "stream format: 2 (default) = rANS-coded byte streams per event with per-cluster anchors and "
                 "rate-aware codes (5.6 bits/hit at operatingPoint default, passes the 23 premixing criteria, "
                 "docs/validation.md; tables from hepvq-train pixel-vq-tables, see docs/pixel.md 'Format 2'); "
                 "1 = integer index branches readable in ROOT without hepvq (6.8 bits/hit)")
        desc.add("operatingPoint", cms.string("default"),
                 "format 2 only: named (charge step, mu) setting: " + "; ".join(
                     f"{k}: charge step {v['charge_step']}, mu {v['mu']} ({v['what']})"
                     for k, v in OPERATING_POINTS.items()))
        desc.add("debugIndices", cms.untracked.bool(False),
                 "format 2 only: also write the decoded per-patch symbols as integer branches <label>_debug_* "
                 "(shape, charge, code) for ROOT macros such as examples/root/read_compressed.C")
        desc.add("validate", cms.untracked.bool(True),
                 "compute the decoder's output while encoding and put recall, ADC and cluster figures in the "
                 "end-of-job report (cheap in lossless-position mode)")

    def __init__(self, label, params, context):
        super().__init__(label, params, context)
        if params.adcErrorBound >= 0 and not params.losslessPositions:
            raise ParameterError("adcErrorBound >= 0 needs losslessPositions = True", label=label,
                                 module_type=type(self).__name__, parameter="adcErrorBound")
        if params.batchSize <= 0:
            raise ParameterError(f"must be positive, got {params.batchSize}", label=label,
                                 module_type=type(self).__name__, parameter="batchSize")
        if params.format not in (1, 2):
            raise ParameterError(f"must be 1 or 2, got {params.format}", label=label,
                                 module_type=type(self).__name__, parameter="format")
        if params.format == 2:
            if params.operatingPoint not in OPERATING_POINTS:
                raise ParameterError(f"unknown operating point {params.operatingPoint!r}; known: "
                                     f"{', '.join(OPERATING_POINTS)}", label=label,
                                     module_type=type(self).__name__, parameter="operatingPoint")

    def make_codec(self):
        p = self.params
        cls, point = (PixelVQFormat2, {"operating_point": p.operatingPoint}) if p.format == 2 else (PixelVQCodec, {})
        return cls.from_directory(p.model, lossless_positions=p.losslessPositions, adc_error_bound=p.adcErrorBound,
                                  batch_size=p.batchSize, providers=self.context.providers, **point)

    def beginJob(self):  # noqa: N802
        super().beginJob()
        self.sums: dict[str, float] = {}

    def encode_options(self) -> dict:
        return {"validate": self.params.validate}

    def extra_products(self, result) -> dict:
        if self.params.format == 2 and self.params.debugIndices:  # readable symbols, not needed to decode
            ind = self.codec.indices(result.products)
            return {"debug": ak.zip({"shape": ind.shape, "charge": ind.charge}),
                    "debugcodes": ak.zip({"code": ind.code[ind.code >= 0]})}
        return {}

    def products_bytes(self, products: dict) -> int:
        return products_bytes(products) if self.params.format == 2 else super().products_bytes(products)

    def score(self, hits, result):
        # hit-weighted and cluster-weighted accumulation of the figures
        m, nh = result.report["fidelity"], result.report["hits"]
        for key in ("recall", "precision", "adc_mae"):
            if np.isfinite(m[key]):
                self.sums[key] = self.sums.get(key, 0.0) + m[key] * nh
        ncl = m["clusters"]
        for key in ("charge_rms_rel", "centroid_rms_px", "centroid_rms_um"):
            if np.isfinite(m[key]):
                self.sums[key] = self.sums.get(key, 0.0) + m[key] ** 2 * ncl
        self.sums["clusters"] = self.sums.get("clusters", 0) + ncl
        self.sums["hitw"] = self.sums.get("hitw", 0) + nh
        self.sums["adc_max_abs_error"] = max(self.sums.get("adc_max_abs_error", 0), m["adc_max_abs_error"])

    def summary(self, s: dict) -> dict:
        s = {"events": 0, "hits": 0, "patches": 0, "escapes": 0, "corrections": 0, **s}
        rep = {"events": s["events"], "hits": s["hits"], "patches": s["patches"],
               **({"escaped shapes": s["escapes"]} if self.params.format == 1 else {}),
               "model": self.codec.describe()["kind"],
               "model sha256": self.codec.model_hash[:16], "encode time [s]": round(s["encode_s"], 3)}
        if self.params.format == 2:
            rep.update({"format": 2, "operating point": self.codec.op_name, "mu": self.codec.mu,
                        "charge step": self.codec.settings["charge_step"]})
        if self.params.adcErrorBound >= 0:
            rep["ADC corrections"] = s["corrections"]
        if self.params.validate and s["hits"]:
            hw, ncl = max(self.sums["hitw"], 1), max(self.sums["clusters"], 1)
            rep.update({
                ("bits per hit (rANS streams)" if self.params.format == 2 else "bits per hit (zstd-1 estimate)"):
                    round(M.bits_per_hit(s["bytes_out"], s["hits"]), 3),
                "compression ratio vs DIGIs (zstd-1 estimate)": round(M.compression_ratio(s["bytes_in"],
                                                                                          s["bytes_out"]), 2),
                "hit recall": round(self.sums.get("recall", 0.0) / hw, 6),
                "hit precision": round(self.sums.get("precision", 0.0) / hw, 6),
                "ADC MAE": round(self.sums.get("adc_mae", 0.0) / hw, 3),
                "ADC mode": residual.mode_text(self.params.adcErrorBound),
                "max |ADC error|": int(self.sums["adc_max_abs_error"]),
                "cluster charge RMS error [%]": round(100 * np.sqrt(self.sums.get("charge_rms_rel", 0) / ncl), 3),
                "cluster centroid RMS residual [pixel]": round(float(np.sqrt(self.sums.get("centroid_rms_px", 0) / ncl)),
                                                             4),
                "cluster centroid RMS residual [um]": round(float(np.sqrt(self.sums.get("centroid_rms_um", 0) / ncl)),
                                                          2),
            })
        return rep


@register_module
class PixelDigiSparseEncoder(CodecEncoder):
    """Compress pixel DIGIs with the pixel_sparse baseline codec (exact positions, ADC requantised to a few bits).

    One uint8 jagged branch <label>_blob per event; decode with HepvqDecoder / hepvq.open like pixel_vq."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("src", cms.InputTag("PixelDigi"), "DIGI collection to encode")
        desc.add("adcBits", cms.int32(4), "bits per requantised ADC value (1..16)")
        desc.add("adcMin", cms.int32(1), "lowest ADC (zero-suppression threshold)")
        desc.add("adcMax", cms.int32(255), "highest ADC")
        desc.add("mode", cms.string("log"), "requantisation bins: log or linear")
        desc.add("format", cms.int32(1), "blob format: 1 (zstd/LZMA streams, read by the C++ reader) or 2 (the core's "
                                         "rANS coder with fitted tables, as pixel_vq format 2)")
        desc.add("tables", cms.FileInPath("data/models/pixel_sparse/tables.rans"),
                 "format 2: rANS tables (python -m hepvq.baselines.sparse_streams pixel), stored in the output")

    def make_codec(self):
        from hepvq.pixel.codec import PixelSparseCodec

        p = self.params
        try:
            tables = p.tables if p.format == 2 else None
            return PixelSparseCodec(p.adcBits, p.adcMin, p.adcMax, p.mode, format=p.format, tables=tables)
        except ModelError as err:
            raise ParameterError(str(err), label=self.label, module_type=type(self).__name__) from err

    def summary(self, totals: dict) -> dict:
        return {"hits": totals.get("hits", 0), "codec": f"pixel_sparse ({self.codec.adc_bits}-bit {self.codec.mode} ADC)"}
