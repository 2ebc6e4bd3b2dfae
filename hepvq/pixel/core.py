"""The pixel codecs' bridge to the compiled core (module ``hepvq_core``, C++ in core/): the codec's tables as a
core model, products flattened to the core's streams, decoded hits back as awkward arrays.

The fractions of classical-VQ models (one or more summed codebook stages) are computed by the core itself,
in float32 exactly as the exported ``decoder.onnx`` does -- checked against onnxruntime on random patches
when the model is exported and recorded with the graph's sha256 (hepvq.pixel.core_check), or, for a graph
without a record, when the codec is first used; onnxruntime computes them if they differ (e.g. a kernel that
sums in another order).  Other charge models (VQ-VAE) run their ONNX decoder on the multi-hit patches the core lists."""
from __future__ import annotations

import awkward as ak
import numpy as np

import hepvq_core
from hepvq.codecs import options
from hepvq.pixel import core_check
from hepvq.pixel import patches as P

_SELF_CHECK_ROWS = 4096


# verdicts of the self-check of graphs without a recorded one, once per process for each (decoder graph,
# onnxruntime providers asked for): a job or an analysis opening many such files checks the model once
_AGREES: dict[tuple, bool] = {}


def core_model(codec) -> "hepvq_core.PixelVQModel":
    """The core's view of a PixelVQCodec (tables copied once); with the codebooks when the core's fractions
    agree with the ONNX decoder's."""
    books = _codebooks(codec)
    model = _make(codec, books or [])
    if books:
        agrees = core_check.recorded(codec.settings, "decoder", codec.decoder.sha256)
        if agrees is None:  # no verdict recorded for this graph: check it now (onnxruntime), once per process
            key = (codec.decoder.sha256, codec.decoder.requested_providers)
            if key not in _AGREES:
                _AGREES[key] = _fractions_agree(codec, model)
            agrees = _AGREES[key]
        if not agrees:
            model = _make(codec, [])
    return model


def _make(codec, books):
    empty32 = np.zeros(0, np.int32)
    ranks = codec.ranks
    return hepvq_core.PixelVQModel(
        codec.pr, codec.pc, codec.adc_min, codec.adc_max, codec.levels.astype(np.int64),
        codec.shapes.astype(np.uint64), [(int(a), int(b)) for a, b in codec.ctx_bitfields],
        codec.ctx_keys.astype(np.int64),
        ranks["shape"][0].astype(np.int32) if "shape" in ranks else empty32,
        ranks["charge"][0].astype(np.int32) if "charge" in ranks else empty32,
        [ranks[f"c{s}"][0].astype(np.int32) for s in range(codec.stages)] if "charge" in ranks else [],
        [int(k) for k in codec.codebook_sizes], books)


def _codebooks(codec) -> list[np.ndarray] | None:
    """float32 codebooks of a classical (residual) VQ decoder graph, None for other models."""
    from hepvq.pixel.fastsearch import onnx_initializer

    if codec.settings["model"].get("kind") not in ("vq", "rvq"):
        return None
    books = []
    for s, k in enumerate(codec.codebook_sizes):
        try:
            cb = onnx_initializer(codec.decoder_bytes, f"book{s}")
        except (ValueError, IndexError):
            return None
        if cb is None or cb.shape != (k, codec.size):
            return None
        books.append(np.ascontiguousarray(cb, dtype=np.float32))
    return books


def _fractions_agree(codec, model) -> bool:
    """Whether the core's fractions equal onnxruntime's, bit for bit, on random codes and masks."""
    rng = np.random.default_rng(2024)
    n = _SELF_CHECK_ROWS
    m = rng.random((n, codec.size)) < rng.uniform(0.05, 0.9, (n, 1))
    m[np.arange(n), rng.integers(0, codec.size, n)] = True
    m[np.arange(n), rng.integers(0, codec.size, n)] = True
    codes = np.stack([rng.integers(0, k, n) for k in codec.codebook_sizes], 1).astype(np.int64)
    ref = codec._run_onnx_decoder(codes, m.astype(np.float32))
    got = hepvq_core.pixel_vq_fractions(model, codes, P.dense_to_mask(m))
    return np.array_equal(ref.view(np.uint32), got.view(np.uint32))


def _flat(arr, field) -> np.ndarray:
    return ak.to_numpy(ak.flatten(arr[field], axis=None))


def _counts(arr) -> np.ndarray:
    return ak.to_numpy(ak.num(arr, axis=1)).astype(np.int64)


def streams(codec, products: dict) -> dict:
    """The core's streams (flat numpy arrays + per-event counts) of pixel_vq products."""
    pat, mods, codes, esc = products[""], products["modules"], products["codes"], products["escapes"]
    out = {
        "n_patch": _counts(pat), "n_module": _counts(mods),
        "shape": _flat(pat, "shape"), "dcol": _flat(pat, "dcol"), "row": _flat(pat, "row"),
        "charge": _flat(pat, "charge"), "ddet": _flat(mods, "ddet"), "npatch": _flat(mods, "npatch"),
        "codes": [_flat(codes, f"c{s}") for s in range(codec.stages)],
        "escapes": _flat(esc, "mask").astype(np.uint64),
        "farcols": _flat(products["farcols"], "dcol") if "farcols" in products else np.zeros(0, np.int64),
    }
    if "corrections" in products:
        corr = products["corrections"]
        out.update(n_corr=_counts(corr), dhit=_flat(corr, "dhit"), dadc=_flat(corr, "dadc"))
    return out


def decode(codec, products: dict) -> ak.Array:
    """pixel_vq products -> hits (jagged detId, row, col, adc) in canonical order, through the core."""
    s = streams(codec, products)
    model = codec.core_model
    fractions = None
    if not model.has_codebooks:
        codes, masks = hepvq_core.pixel_vq_multi(model, s)
        fractions = codec._run_decoder(codes, P.mask_to_dense(masks, codec.size).astype(np.float32))
    counts, det, row, col, adc = hepvq_core.pixel_vq_decode(model, s, max(codec.adc_error_bound, 0), fractions,
                                                            threads(codec))
    return hits_awkward(counts, det, row, col, adc)


def threads(codec) -> int:
    """Threads of the core's loops: the codec's ``threads`` attribute, else the job's (options.numberOfThreads),
    else one per core, at most 8 (hepvq.codecs.options)."""
    return options.threads(codec)


def hits_awkward(counts, det, row, col, adc) -> ak.Array:
    """Jagged records in the input schema from the core's flat arrays (no copies; the layout built directly:
    ak.zip + ak.unflatten cost ~0.7 ms on 4M hits, this ~0.07)."""
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    if offsets[-1] != len(det) or not len(det) == len(row) == len(col) == len(adc):
        raise ValueError(f"hits_awkward: counts add up to {offsets[-1]} but the arrays hold {len(det)}, {len(row)}, "
                         f"{len(col)}, {len(adc)} hits")
    fields = {"detId": det, "row": row, "col": col, "adc": adc}
    records = ak.contents.RecordArray([ak.contents.NumpyArray(np.asarray(v)) for v in fields.values()], list(fields))
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), records))
