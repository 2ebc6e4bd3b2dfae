"""Whether the compiled core computes what a pixel_vq model's ONNX graphs compute, checked once per graph and
recorded, so that jobs do not start onnxruntime to re-check it (issue 13).

The core serves a classical-VQ model from its codebooks alone: the code search (hepvq_core.VQSearch, for the
one-stage ``vq`` encoder.onnx) and the decoded fractions (hepvq_core.pixel_vq_fractions, for decoder.onnx).
Both are compared with onnxruntime on random patches (``search_agrees``, ``hepvq.pixel.core._fractions_agree``)
when the model is exported (hepvq-export) or by ``python -m hepvq.pixel.core_check MODEL_DIR``, and the
verdicts are written to codec.json under ``core_check`` with the sha256 of the graph each was made on::

    "core_check": {"decoder": {"equal": true, "rows": 4096, "sha256": "..."},
                   "encoder": {"equal": true, "rows": 1024, "sha256": "..."}, "onnxruntime": "1.20.1"}

The settings travel into the compressed file's metadata (blobs hash-verified on open), so a reader trusts the
verdict for the decoder.onnx it holds when that graph's sha256 is the recorded one.  A graph without a record,
or whose sha256 differs from it, is checked at construction as before (onnxruntime imported then, once per
process and graph); a verdict "not equal" keeps onnxruntime on the path (no fast search; fractions by the
graph).  That the core's arithmetic equals the graph *structure* hepvq exports is pinned by the tests
(tests/test_core_search.py, tests/test_core_pixel_vq.py), which run both on the shipped model.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

KEY = "core_check"
SEARCH_ROWS = 1024


def recorded(settings: dict, role: str, sha256: str) -> bool | None:
    """The recorded verdict for the ``role`` graph ("encoder": search, "decoder": fractions) if it was made on
    the graph with this sha256, else None (not checked, or another graph)."""
    rec = settings.get(KEY)
    entry = rec.get(role) if isinstance(rec, dict) else None
    if not isinstance(entry, dict) or entry.get("sha256") != sha256 or not isinstance(entry.get("equal"), bool):
        return None
    return entry["equal"]


def search_agrees(codec, fast) -> bool:
    """Whether the core's search (FastVQSearch) picks the ONNX encoder's codes on random patches (rows it
    declares ambiguous excepted: those always go through onnxruntime)."""
    from hepvq.pixel import patches as P

    rng = np.random.default_rng(12345)
    n = SEARCH_ROWS
    m = rng.random((n, codec.size)) < rng.uniform(0.05, 0.6, (n, 1))
    m[np.arange(n), rng.integers(0, codec.size, n)] = True
    m[np.arange(n), rng.integers(0, codec.size, n)] = True
    adc = np.where(m, rng.integers(codec.adc_min, codec.adc_max + 1, m.shape), 0)
    x = (adc / adc.sum(1, keepdims=True)).astype(np.float32)
    mf = m.astype(np.float32)
    keep = m.sum(1) >= 2
    x, mf = x[keep], mf[keep]
    idx, amb = fast.search(x, mf, P.dense_to_mask(mf > 0))
    ref = codec._run_onnx_encoder(x, mf)[:, 0]
    return bool(np.array_equal(idx[~amb], ref[~amb]))


def verdicts(model_dir) -> dict:
    """Run both checks with onnxruntime on the model directory's graphs (any record in codec.json ignored):
    the ``core_check`` entry to record."""
    import hashlib

    import onnxruntime

    from hepvq.pixel import core, fastsearch
    from hepvq.pixel.codec import DECODER_FILE, ENCODER_FILE, PixelVQCodec

    d = Path(model_dir)
    codec = PixelVQCodec.from_directory(d, fast_search=False)
    codec.settings = {k: v for k, v in codec.settings.items() if k != KEY}
    out = {"onnxruntime": onnxruntime.__version__}
    books = core._codebooks(codec)
    if books:
        out["decoder"] = {"sha256": hashlib.sha256((d / DECODER_FILE).read_bytes()).hexdigest(),
                          "equal": bool(core._fractions_agree(codec, core._make(codec, books))),
                          "rows": core._SELF_CHECK_ROWS}
    fast = fastsearch.from_onnx(codec.encoder_bytes, dict(codec.encoder.metadata), codec.pc)
    if fast is not None:
        out["encoder"] = {"sha256": hashlib.sha256((d / ENCODER_FILE).read_bytes()).hexdigest(),
                          "equal": search_agrees(codec, fast), "rows": SEARCH_ROWS}
    return out


def record(model_dir) -> dict:
    """Check the model directory's graphs and write the verdicts into its codec.json (as hepvq-export writes
    it: indent 1, keys sorted); returns them."""
    from hepvq.pixel.codec import SETTINGS_FILE

    path = Path(model_dir) / SETTINGS_FILE
    found = verdicts(model_dir)
    settings = json.loads(path.read_text())
    settings[KEY] = found
    path.write_text(json.dumps(settings, indent=1, sort_keys=True))
    return found


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m hepvq.pixel.core_check MODEL_DIR  (records in MODEL_DIR/codec.json whether the "
              "compiled core equals the model's ONNX graphs)", file=sys.stderr)
        return 2
    print(json.dumps(record(args[0]), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
