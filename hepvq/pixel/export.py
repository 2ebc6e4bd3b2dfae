"""ONNX export of a pixel_vq checkpoint (``hepvq-export pixel-vq --checkpoint X.pt --output DIR``).

Writes DIR/encoder.onnx ((x, mask) -> indices int64, dynamic batch), DIR/decoder.onnx ((indices, mask) ->
fractions) and DIR/codec.json (shape table, charge grid, ranges, model description).  Both ONNX files carry
metadata_props: kind, patch_rows, patch_cols, adc_max, adc_scaling, codebook_size, stages, version,
weights_sha256.  The graphs are plain tensor ops (matmul distances, argmin, gather, conv): no VQ library at
run time.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import hepvq
from hepvq.extras import require
from hepvq.pixel.codec import DECODER_FILE, ENCODER_FILE, SETTINGS_FILE

OPSET = 17


def export_modules(ckpt: dict):
    """(encoder module, decoder module) of a checkpoint, in eval mode."""
    from hepvq.models import vq

    model = ckpt["model"]
    if model["kind"] in ("vq", "rvq"):
        sel = selection(ckpt)
        enc = vq.RVQEncoder(model["codebooks"], topk=sel["centroid_topk"], lam=sel["centroid_lambda"],
                            cols=ckpt["settings"]["patch_cols"])
        return enc.eval(), vq.RVQDecoder(model["codebooks"]).eval()
    if model["kind"] == "vqvae":
        from hepvq.models.vqvae import PatchVQVAE, VQVAEDecoderExport, VQVAEEncoderExport

        net = PatchVQVAE(**model["config"])
        net.load_state_dict(model["state_dict"])
        net.eval()
        return VQVAEEncoderExport(net).eval(), VQVAEDecoderExport(net).eval()
    raise ValueError(f"unknown model kind {model['kind']!r}")


def selection(ckpt: dict) -> dict:
    """How the encoder picks codes: centroid-aware re-ranking of the top-k nearest codes (k=1: plain nearest)."""
    sel = dict(ckpt["model"].get("selection") or {})
    sel.setdefault("centroid_topk", 8 if ckpt["model"]["kind"] in ("vq", "rvq") else 1)
    sel.setdefault("centroid_lambda", 0.3)
    return sel


def _weights_sha(module) -> str:
    torch = require("torch")
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes() if t.dtype != torch.bool else bytes(t.tolist()))
    return h.hexdigest()


def _to_onnx(module, args, input_names, output_names, props: dict) -> bytes:
    torch = require("torch")
    onnx = require("onnx")
    buf = io.BytesIO()
    dyn = {n: {0: "batch"} for n in input_names + output_names}
    with torch.no_grad():
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, dynamic_axes=dyn)
    proto = onnx.load_from_string(buf.getvalue())
    del proto.metadata_props[:]
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(k), str(v)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_model(ckpt: dict, outdir) -> Path:
    torch = require("torch")
    settings = dict(ckpt["settings"])
    model = ckpt["model"]
    pr, pc = settings["patch_rows"], settings["patch_cols"]
    enc, dec = export_modules(ckpt)
    sha = _weights_sha(dec)
    props = {
        "hepvq_codec": "pixel_vq", "kind": model["kind"], "patch_rows": pr, "patch_cols": pc,
        "adc_max": settings["adc_max"], "adc_scaling": "fractions of the patch total charge (x = adc / sum adc)",
        "codebook_size": model["codebook_size"], "stages": model["stages"], "version": hepvq.__version__,
        "codebook_sizes": ",".join(str(k) for k in model.get("codebook_sizes", [model["codebook_size"]])),
        "format_version": settings["version"], "weights_sha256": sha,
        "centroid_topk": selection(ckpt)["centroid_topk"], "centroid_lambda": selection(ckpt)["centroid_lambda"],
    }
    size = pr * pc
    x = torch.rand(3, size)
    m = (torch.rand(3, size) > 0.5).float()
    m[:, 0] = 1.0
    x = x * m
    x = x / x.sum(1, keepdim=True)
    idx = enc(x, m)
    enc_bytes = _to_onnx(enc, (x, m), ["x", "mask"], ["indices"], props)
    dec_bytes = _to_onnx(dec, (idx, m), ["indices", "mask"], ["fractions"], props)
    settings["model"] = {"kind": model["kind"], "stages": model["stages"], "codebook_size": model["codebook_size"],
                         "codebook_sizes": list(model.get("codebook_sizes", [model["codebook_size"]])),
                         "weights_sha256": sha, "selection": selection(ckpt), "train_info": {k: v for k, v in model["train_info"].items()
                                                               if k != "history"}}
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    (out / ENCODER_FILE).write_bytes(enc_bytes)
    (out / DECODER_FILE).write_bytes(dec_bytes)
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=1, sort_keys=True))
    from hepvq.pixel import core_check

    core_check.record(out)  # whether the compiled core equals these graphs, once, so jobs need not re-check
    return out


def main(argv=None, prog="hepvq-export pixel-vq"):
    from hepvq.cli import _common

    ap = _common.parser(prog, __doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", "-c", required=True, help="checkpoint written by hepvq-train pixel-vq/pixel-vqvae")
    ap.add_argument("--output", "-o", required=True, help="model directory to write")
    args = ap.parse_args(argv)
    if not Path(args.checkpoint).is_file():
        ap.error(f"--checkpoint: no such file {args.checkpoint}")
    torch = require("torch")  # after parsing: --help and usage errors stay fast
    ckpt = torch.load(args.checkpoint, weights_only=False)
    out = export_model(ckpt, args.output)
    print(f"exported {out}: {', '.join(p.name for p in sorted(out.iterdir()))}")
    return 0


def main_vqvae(argv=None):
    return main(argv, prog="hepvq-export pixel-vqvae")


if __name__ == "__main__":
    raise SystemExit(main())
