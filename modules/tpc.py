"""TPC compression modules with implicit neural representations: TpcInrEncoder (TpcHit -> tpc_inr products);
decoding is HepvqDecoder's (modules/decode.py; its alias TpcInrDecoder: tpc_inr products -> TpcHit).

Decoding needs numpy, awkward, zstandard and onnxruntime only; encoding with method="amortised" too (the
encoder is ONNX); method="fit" (the paper's per-sector fitting) needs torch."""
from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

import hepvq.config as cms
from hepvq.errors import ModelError, ParameterError
from hepvq.codecs import residual
from hepvq.framework import register_module
from hepvq.framework.encoder import CodecEncoder


def _resolve(path: str) -> Path:
    """A model path as given, else relative to the hepvq checkout (like FileInPath, but only looked up when
    the method needs it)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return Path(__file__).resolve().parents[1] / path


@register_module
class TpcInrEncoder(CodecEncoder):
    """Compress TPC hits into implicit neural representations (codec tpc_inr), one per sector.

    method "amortised": the ONNX encoder maps each sector to int8 latents of a shared decoder (one forward
    pass, ~ms per sector); method "fit": one SIREN/FFNet/WIRE fitted per sector, batched across sectors
    (torch). mode "hybrid": hit positions stored losslessly, the INR carries the ADC values (recall = 1);
    mode "dense": the INR represents the whole sector volume (the paper), decoded with the 64 ADC threshold."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("src", cms.InputTag("TpcHit"), "TPC hit collection (jagged sector,layer,phi,z,adc)")
        desc.add("method", cms.string("amortised"), "amortised (ONNX encoder, fast) or fit (per-sector fitting, torch)")
        desc.add("mode", cms.string("hybrid"), "hybrid (lossless positions + INR charge) or dense (paper: INR volume)")
        desc.add("encoderModel", cms.string("data/models/tpc_amortised_encoder.onnx"),
                 "amortised encoder ONNX (method amortised; relative paths: cwd, then the hepvq checkout)")
        desc.add("decoderModel", cms.string("data/models/tpc_amortised_decoder.onnx"),
                 "amortised shared decoder ONNX (method amortised; stored in the output file)")
        desc.add("adcErrorBound", cms.int32(-1),
                 "mode hybrid: >= 0 stores every hit's residual against the INR so that |ADC error| <= this "
                 "(0: lossless ADC); -1: the INR's ADC only")
        desc.add("quant", cms.string("int8"), "quantisation of weights / latents: int8 (per-layer scales), fp16, fp32")
        desc.add("kind", cms.string("siren"), "method fit: siren, ffnet or wire")
        desc.add("width", cms.int32(48), "method fit: hidden width")
        desc.add("depth", cms.int32(3), "method fit: hidden layers")
        desc.add("strategy", cms.string("importance"), "method fit, mode dense: importance, entropy, random, full")
        desc.add("samplingRatio", cms.double(0.05), "method fit: voxels drawn per epoch / voxels per sector")
        desc.add("epochs", cms.int32(200), "method fit: epochs")
        desc.add("batchSize", cms.int32(4096), "method fit: points per step and sector")
        desc.add("maxSectors", cms.int32(48), "method fit: sectors fitted at once (batched)")
        desc.add("seed", cms.int32(0), "method fit: random seed")
        desc.add("threads", cms.untracked.int32(2), "method fit: torch threads")
        desc.add("validate", cms.untracked.bool(True),
                 "decode while encoding and report hit MSE, precision/recall and bits per hit")

    def __init__(self, label, params, context):
        super().__init__(label, params, context)
        checks = [("method", params.method in ("amortised", "fit"), "amortised or fit"),
                  ("mode", params.mode in ("hybrid", "dense"), "hybrid or dense"),
                  ("quant", params.quant in ("int8", "fp16", "fp32"), "int8, fp16 or fp32"),
                  ("kind", params.kind in ("siren", "ffnet", "wire"), "siren, ffnet or wire"),
                  ("strategy", params.strategy in ("importance", "entropy", "random", "full"),
                   "importance, entropy, random or full"),
                  ("adcErrorBound", params.adcErrorBound >= -1 and (params.adcErrorBound < 0 or params.mode == "hybrid"),
                   ">= -1, and -1 unless mode is hybrid"),
                  ("width", params.width > 0, "positive"), ("depth", params.depth > 0, "positive"),
                  ("samplingRatio", 0 < params.samplingRatio <= 1, "in (0, 1]"), ("epochs", params.epochs > 0, "positive")]
        for name, ok, want in checks:
            if not ok:
                raise ParameterError(f"must be {want}, got {getattr(params, name)!r}", label=label,
                                     module_type=type(self).__name__, parameter=name)

    def make_codec(self):
        from hepvq.tpc.codec import TpcInrCodec

        p = self.params
        amortised = None
        if p.method == "amortised":
            from hepvq.tpc.amortised_rt import AmortisedRuntime

            amortised = AmortisedRuntime.load(encoder=_resolve(p.encoderModel), decoder=_resolve(p.decoderModel),
                                              providers=self.context.providers)
            if (amortised.config.get("mode") or "hybrid") != p.mode:
                raise ModelError(f"TpcInrEncoder '{self.label}': the amortised model {p.decoderModel} was trained "
                                 f"for mode '{amortised.config.get('mode')}', not '{p.mode}'")
            arch = None
        else:
            try:
                from hepvq.models.inr import make_arch
            except ImportError as err:  # torch missing
                raise ModelError(f"TpcInrEncoder '{self.label}': method 'fit' needs torch ({err})") from err
            import torch

            torch.set_num_threads(max(1, p.threads))
            arch = make_arch(p.kind, p.width, p.depth, seed=p.seed)
        fit = {"strategy": p.strategy, "ratio": p.samplingRatio, "epochs": p.epochs, "batch_size": p.batchSize,
               "seed": p.seed, "max_sectors": p.maxSectors}
        return TpcInrCodec(mode=p.mode, method=p.method, arch=arch, quant=p.quant, fit=fit, amortised=amortised,
                           adc_error_bound=p.adcErrorBound)

    def beginJob(self):  # noqa: N802
        super().beginJob()
        self.parts = []

    def score(self, hits, result):
        """Fidelity against the input, event by event (hepvq.metrics.fidelity: hits matched by their cell,
        2-D clusters per sector and layer in (phi, z), centroid and charge of each input cluster against the
        decoded cluster holding its seed); the decode's time split goes to the totals."""
        from hepvq.metrics import fidelity as F

        dec, timing = self.codec.decode_timed(result.products)
        for key, value in timing.items():
            self.totals[key] = self.totals.get(key, 0) + value
        fields = ("sector", "layer", "phi", "z", "adc")
        for e in range(len(hits)):
            a, b = hits[e], dec[e]
            ref = {f: ak.to_numpy(a[f]) for f in fields}
            out = {f: ak.to_numpy(b[f]) for f in fields}
            ref["event"] = np.zeros(len(ref["adc"]), np.int64)
            out["event"] = np.zeros(len(out["adc"]), np.int64)
            self.parts.append(F.parts(ref, out, ("sector", "layer"), ("phi", "z")))
        if len(self.parts) > 64:     # keep the list short: sums and residual arrays merge losslessly
            self.parts = [F.merge(self.parts)]

    def summary(self, s: dict) -> dict:
        c = self.codec
        s = {"events": 0, "hits": 0, "sectors": 0, "fit_time_s": 0.0, "encode_network_s": 0.0,
             "encode_streams_s": 0.0, "decoded_sectors": 0, **s}
        rep = {"events": s["events"], "hits": s["hits"], "method": c.method, "mode": c.mode, "quant": c.quant,
               "sectors coded": s["sectors"], "encode time [s]": round(s["encode_s"], 3),
               "encode time per sector [ms]": round(1000 * s["encode_s"] / max(s["sectors"], 1), 2)}
        if c.method == "fit":
            rep["fit time [s]"] = round(s["fit_time_s"], 2)
        # per coded sector: the networks vs the coordinate / residual streams (docs/tpc.md, "Time per sector")
        ms = lambda key, n: round(1000 * s[key] / max(n, 1), 2)  # noqa: E731
        rep.update({"encode per sector: network [ms]": ms("encode_network_s", s["sectors"]),
                    "encode per sector: streams [ms]": ms("encode_streams_s", s["sectors"])})
        if s["decoded_sectors"]:  # validate: the job decodes what it wrote
            rep.update({"decode per sector: network [ms]": ms("decode_network_s", s["decoded_sectors"]),
                        "decode per sector: streams [ms]": ms("decode_streams_s", s["decoded_sectors"])})
        if self.params.validate and s["hits"]:
            from hepvq.metrics import fidelity as F

            p = F.merge(self.parts)
            f = F.summarise(p)
            rep.update({"bits per hit (zstd-1 estimate)": round(8 * s["bytes_out"] / s["hits"], 3),
                        "ratio vs input hits (zstd-1 estimate)": round(s["bytes_in"] / max(s["bytes_out"], 1), 2),
                        "hit recall": round(f["recall"], 5),
                        "hit precision": round(f["precision"], 5),
                        "MSE on original hits [ADC^2]": round(f["adc_mse_ref"], 2),
                        "ADC mode": (residual.mode_text(self.params.adcErrorBound) if c.mode == "hybrid"
                                     else "lossy (dense INR volume: positions and ADC)"),
                        "max |ADC error| on original hits": f["adc_max_abs_error_ref"],
                        "clusters (phi, z per sector and layer)": f["clusters"],
                        "cluster efficiency": round(f["cluster_efficiency"], 5),
                        "cluster charge RMS error [%]": round(100 * f["charge_rms_rel"], 3),
                        "cluster charge bias [%]": round(100 * f["charge_bias_rel"], 3),
                        "cluster centroid RMS residual phi [bins]": round(f["centroid_rms_phi"], 4),
                        "cluster centroid RMS residual z [bins]": round(f["centroid_rms_z"], 4)})
        return rep
