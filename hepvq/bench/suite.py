"""The evaluation suite behind ``hepvq-bench``: every compressor of the project and its peers, on the same
simulated samples in the same run, scored with the same metrics.

Methods (a family, a setting):

* ``root``      lossless: the collection as a plain ROOT TTree written by uproot, ZSTD level 5 / LZMA level 9;
* ``raw+zstd``  lossless: the raw columns (input schema) concatenated, zstd -19 / xz -9;
* ``sparse``    hepvq.baselines.sparse: lossless delta-coded coordinates + ADC requantised to 4/5/6 bits
                (linear bins over [threshold, ADC max]) or lossless;
* ``sz3`` / ``zfp``  error-bounded dense compressors on the dense form of the data (pixel: one 160 x 416 image
                per module that has hits, stacked per event; TPC: the (24, 192, 249, 16) volume of an event);
                the reconstruction is rounded to integer ADC and the zero-suppression threshold is applied
                again before scoring (otherwise every zero becomes a small non-zero "hit");
* hepvq codecs through ``hepvq.codecs.codec_class``: ``pixel_vq`` (shipped model data/models/pixel_vq),
  ``pixel_sparse`` and ``tpc_inr`` (shipped amortised model when present, else per-sector fitting), when their
  modules exist.  Their size = the products written to a ROOT file (ZSTD 5) + the metadata blobs once
  (decoder ONNX, tables), i.e. what a compressed file holds.

Metrics, per method (hits matched by their exact coordinates within the event):

* bits per hit = 8 x compressed bytes / input hits; compression ratio = raw input-schema bytes / compressed bytes;
* hit recall (input hits present in the output) and precision (output hits present in the input);
* ADC MSE over the union of input and output hits (a missing hit counts with ADC 0 on its side), PSNR =
  10 log10(ADC_max^2 / MSE) (ADC_max 255 pixel, 1023 TPC), ADC MAE over matched hits;
* clusters (8-connected in (row, col) per module, in (phi, z) per TPC sector and layer) of the input: each is
  matched to the output cluster holding its highest-ADC surviving pixel; relative charge residual
  (Q_out - Q_in) / Q_in and charge-weighted centroid residual (pixel: um with 100 x 150 um pitch; TPC: pad and
  time-bin units); cluster efficiency = matched fraction;
* encode and decode throughput in hits per second (wall clock, one process; ``root``/``raw`` include writing
  and reading).
"""
from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np

from hepvq.detectors import DETECTORS

# ----------------------------------------------------------------------------------------------------------
# detectors and samples
# ----------------------------------------------------------------------------------------------------------
TPC_SHAPE = (24, 192, 249, 16)  # sector, phi, z, layer (hepvq.tpc.grid.SHAPE per sector)
# the pixel_vq model directories of data/models that the repository ships: the only ones the published tables
# show unless asked (hepvq-bench --model / --all-models), so that a model a user trained there never leaks in
SHIPPED_PIXEL_MODELS = ("pixel_vq",)


@dataclasses.dataclass
class Sample:
    detector: str
    hits: ak.Array          # jagged records in the input schema, one entry per event
    cols: dict              # flat numpy columns, plus "event"
    offsets: np.ndarray     # n_events + 1
    threshold: int
    source: str

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_hits(self) -> int:
        return int(self.offsets[-1])

    @property
    def raw_bytes(self) -> int:
        """Uncompressed input-schema bytes: the hit columns plus one uint32 counter per event."""
        per_hit = sum(np.dtype(t).itemsize for t in DETECTORS[self.detector]["dtypes"].values())
        return per_hit * self.n_hits + 4 * self.n_events


def _flat(hits: ak.Array, detector: str):
    d = DETECTORS[detector]
    counts = ak.to_numpy(ak.num(hits, axis=1)).astype(np.int64)
    cols = {f: ak.to_numpy(ak.flatten(hits[f])).astype(t) for f, t in d["dtypes"].items()}
    cols["event"] = np.repeat(np.arange(len(counts)), counts)
    return cols, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def make_sample(detector: str, hits: ak.Array, source: str = "", threshold: int | None = None) -> Sample:
    d = DETECTORS[detector]
    hits = ak.zip({f: ak.values_astype(hits[f], t) for f, t in d["dtypes"].items()})
    cols, offsets = _flat(hits, detector)
    if threshold is None:
        threshold = d["threshold"] if d["threshold"] is not None else (int(cols["adc"].min()) if len(cols["adc"]) else 1)
    return Sample(detector, hits, cols, offsets, int(threshold), source)


def load_sample(detector: str, path, n_events: int | None = None, *, max_groups: int | None = None) -> Sample:
    """Read a sample file (input schema); keep the first `n_events`, and (quick mode) only the first
    `max_groups` modules (pixel, by detId) or sectors (TPC) of each event."""
    import uproot

    d = DETECTORS[detector]
    coll = d["collection"]
    with uproot.open(path) as f:
        t = f["Events"]
        stop = min(n_events, t.num_entries) if n_events else t.num_entries
        arrays = t.arrays([f"{coll}_{k}" for k in d["dtypes"]], entry_stop=stop)
    hits = ak.zip({k: arrays[f"{coll}_{k}"] for k in d["dtypes"]})
    if max_groups:
        g = d["group"][0]
        keep = np.unique(ak.to_numpy(ak.flatten(hits[g])))[:max_groups]
        hits = hits[_isin_jagged(hits[g], keep)]
    return make_sample(detector, hits, str(path))


def _isin_jagged(jagged: ak.Array, values) -> ak.Array:
    counts = ak.num(jagged, axis=1)
    return ak.unflatten(np.isin(ak.to_numpy(ak.flatten(jagged)), values), counts)


# ----------------------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Result:
    detector: str
    family: str
    setting: str
    lossless: bool
    nbytes: int
    t_encode: float
    t_decode: float
    metrics: dict
    residuals: dict = dataclasses.field(default_factory=dict, repr=False)
    decoded: dict | None = dataclasses.field(default=None, repr=False)  # event 0 only (the event display)
    note: str = ""
    meta_bytes: int = 0     # per-file metadata included in nbytes (codec models, tables), 0 for the peers

    @property
    def name(self) -> str:
        return f"{self.family} {self.setting}".strip()

    def row(self, sample: Sample) -> dict:
        m = self.metrics
        return {"detector": self.detector, "method": self.name, "lossless": self.lossless, "bytes": self.nbytes,
                "bits_per_hit": 8.0 * self.nbytes / max(sample.n_hits, 1), "meta_bytes": self.meta_bytes,
                "bits_per_hit_no_meta": 8.0 * (self.nbytes - self.meta_bytes) / max(sample.n_hits, 1),
                "ratio": sample.raw_bytes / max(self.nbytes, 1),
                "encode_hits_per_s": sample.n_hits / self.t_encode if self.t_encode > 0 else float("nan"),
                "decode_hits_per_s": sample.n_hits / self.t_decode if self.t_decode > 0 else float("nan"),
                **m, "note": self.note}


# ----------------------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------------------
def score(sample: Sample, dec: dict) -> tuple[dict, dict]:
    """Metrics of decoded flat columns `dec` against the sample -> (summary dict, residual arrays), by
    hepvq.metrics.fidelity (the one matcher, clusterer and set of fidelity figures).

    Scored event by event and summed (hits only ever match within their event), so that the memory is that of
    one event: a lossy method can return many times the input hits (dense INRs: ~3 M per TPC event)."""
    from hepvq.metrics import fidelity as F

    d = DETECTORS[sample.detector]
    ev = np.asarray(dec["event"]) if len(dec.get("event", ())) else np.zeros(0, np.int64)
    order = np.argsort(ev, kind="stable")
    bounds = np.searchsorted(ev[order], np.arange(sample.n_events + 1))
    parts = []
    for e in range(max(sample.n_events, 1)):
        ref = {k: v[sample.offsets[e]:sample.offsets[e + 1]] for k, v in sample.cols.items()} \
            if sample.n_events else sample.cols
        sel = order[bounds[e]:bounds[e + 1]] if sample.n_events else order
        parts.append(F.parts(ref, {k: np.asarray(v)[sel] for k, v in dec.items()}, d["group"], d["spatial"],
                             d["pitch"]))
    p = F.merge(parts)
    return F.summarise(p, float(d["adc_max"])), F.residuals(p)


# ----------------------------------------------------------------------------------------------------------
# methods
# ----------------------------------------------------------------------------------------------------------
def _flat_from_hits(hits: ak.Array, detector: str) -> dict:
    return _flat(ak.zip({f: hits[f] for f in DETECTORS[detector]["dtypes"]}), detector)[0]


def run_root(sample: Sample, compression: str, level: int) -> Result:
    import uproot

    from hepvq.baselines.lossless import _compression

    coll = DETECTORS[sample.detector]["collection"]
    fd, path = tempfile.mkstemp(suffix=".root", prefix=".hepvq-tmp-bench-")
    os.close(fd)
    try:
        t0 = time.perf_counter()
        with uproot.recreate(path, compression=_compression(compression, level)) as f:
            t = f.mktree("Events", {coll: sample.hits.type.content})
            t.extend({coll: sample.hits})
        t1 = time.perf_counter()
        nbytes = os.path.getsize(path)
        with uproot.open(path) as f:
            arr = f["Events"].arrays(library="ak")
        t2 = time.perf_counter()
    finally:
        os.unlink(path)
    dec = {f: ak.to_numpy(ak.flatten(arr[f"{coll}_{f}"])) for f in DETECTORS[sample.detector]["dtypes"]}
    dec["event"] = np.repeat(np.arange(len(arr)), ak.to_numpy(arr[f"n{coll}"]))
    return _finish(sample, "root", f"{compression}-{level}", True, nbytes, t1 - t0, t2 - t1, dec)


def run_raw(sample: Sample, algo: str) -> Result:
    import lzma

    import zstandard

    from hepvq.baselines.lossless import columns_bytes

    coll = DETECTORS[sample.detector]["collection"]
    t0 = time.perf_counter()
    raw = columns_bytes({f"{coll}_{f}": sample.hits[f] for f in DETECTORS[sample.detector]["dtypes"]})
    blob = zstandard.ZstdCompressor(level=19).compress(raw) if algo == "zstd-19" else lzma.compress(raw, preset=9)
    t1 = time.perf_counter()
    back = zstandard.ZstdDecompressor().decompress(blob) if algo == "zstd-19" else lzma.decompress(blob)
    t2 = time.perf_counter()
    assert back == raw
    return _finish(sample, "raw+" + algo.split("-")[0], algo, True, len(blob), t1 - t0, t2 - t1, sample.cols)


def run_sparse(sample: Sample, bits: int | None, mode: str = "linear", fast: bool = False) -> Result:
    from hepvq.baselines.sparse import decode_sparse, encode_sparse

    d = DETECTORS[sample.detector]
    c = sample.cols
    vmin, vmax = float(sample.threshold), float(d["adc_max"])
    kw = {"level": 3, "try_lzma": False} if fast else {}
    t0 = time.perf_counter()
    blob = encode_sparse([c[k] for k in d["keys"]], c["adc"], value_bits=bits, value_min=vmin, value_max=vmax,
                         event_offsets=sample.offsets, mode=mode, **kw)
    t1 = time.perf_counter()
    keys, values, offs = decode_sparse(blob)
    adc = values if bits is None else np.clip(np.rint(values), vmin, vmax)
    t2 = time.perf_counter()
    dec = {k: v for k, v in zip(d["keys"], keys)}
    dec["adc"] = adc.astype(np.uint16)
    dec["event"] = np.repeat(np.arange(len(offs) - 1), np.diff(offs))
    setting = ("lossless" if bits is None else f"{bits}-bit {mode}") + (" (fast)" if fast else "")
    return _finish(sample, "sparse", setting, bits is None, len(blob), t1 - t0, t2 - t1, dec)


def _dense_events(sample: Sample):
    """Yield (event, dense float32 array, (inverse: array -> flat columns of hits >= threshold), side bytes)."""
    d = DETECTORS[sample.detector]
    c = sample.cols
    for e in range(sample.n_events):
        s = slice(sample.offsets[e], sample.offsets[e + 1])
        if sample.detector == "pixel":
            dets, mod = np.unique(c["detId"][s], return_inverse=True)
            arr = np.zeros((max(len(dets), 1),) + d["plane"], np.float32)
            arr[mod, c["row"][s], c["col"][s]] = c["adc"][s]
            side = np.diff(dets.astype(np.int64), prepend=0).astype(np.uint32).tobytes()

            def inverse(rec, dets=dets):
                m, r, cc = np.nonzero(rec)
                return {"detId": dets[m].astype(np.uint32), "row": r.astype(np.uint16), "col": cc.astype(np.uint16)}
        else:
            arr = np.zeros(TPC_SHAPE, np.float32)
            arr[c["sector"][s], c["phi"][s], c["z"][s], c["layer"][s]] = c["adc"][s]
            side = b""

            def inverse(rec):
                sec, ph, z, lay = np.nonzero(rec)
                return {"sector": sec.astype(np.uint16), "phi": ph.astype(np.uint16), "z": z.astype(np.uint16),
                        "layer": lay.astype(np.uint16)}
        yield e, arr, inverse, side


def run_dense(sample: Sample, family: str, bound: float) -> Result:
    import zstandard

    from hepvq.baselines.dense import apply_threshold, sz3_roundtrip, zfp_roundtrip

    d = DETECTORS[sample.detector]
    parts, nbytes, t_enc = [], 0, 0.0
    t_dec = 0.0
    for e, arr, inverse, side in _dense_events(sample):
        t0 = time.perf_counter()
        if family == "sz3":
            rec, nb = sz3_roundtrip(arr, bound)
        else:
            rec, nb = zfp_roundtrip(arr, tolerance=bound)
        t1 = time.perf_counter()
        # zero suppression again: round to integer ADC, keep >= threshold (see hepvq.baselines.dense)
        rec = apply_threshold(np.clip(np.rint(rec), 0, d["adc_max"]), sample.threshold)
        cols = inverse(rec)
        cols["adc"] = rec[np.nonzero(rec)].astype(np.uint16)
        cols["event"] = np.full(len(cols["adc"]), e)
        t2 = time.perf_counter()
        parts.append(cols)
        # the roundtrip time is compression + decompression: split it evenly (neither API times them apart)
        t_enc += (t1 - t0) / 2
        t_dec += (t1 - t0) / 2 + (t2 - t1)
        nbytes += nb + (len(zstandard.ZstdCompressor(level=19).compress(side)) if side else 0)
    dec = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    note = "module list (detIds) counted; " if sample.detector == "pixel" else ""
    note += "threshold re-applied"
    if bound >= sample.threshold:
        note += (f"; the error bound reaches the threshold ({sample.threshold}): noise in empty cells can pass it "
                 "(fake hits)")
    return _finish(sample, family, f"eb={bound:g}", False, nbytes, t_enc, t_dec, dec, note=note)


# events a codec encodes and decodes at once: the sample streams through in chunks, so that the peak memory is
# that of one chunk (tpc_inr dense evaluates the whole grid of every sector: ~2 GB for one TPC event)
CODEC_CHUNK_EVENTS = {"pixel": 5, "tpc": 1}


def run_codec(sample: Sample, codec, setting: str = "", note: str = "") -> Result:
    from hepvq.metrics.size import metadata_bytes, products_root_bytes

    step = CODEC_CHUNK_EVENTS.get(sample.detector, 1)
    parts, decoded, t_enc, t_dec = [], [], 0.0, 0.0
    for start in range(0, max(sample.n_events, 1), step):
        hits = sample.hits[start:start + step]
        t0 = time.perf_counter()
        products = codec.encode(hits).products
        t1 = time.perf_counter()
        decoded.append(_flat_from_hits(codec.decode(products), sample.detector))
        t_enc, t_dec = t_enc + t1 - t0, t_dec + time.perf_counter() - t1
        decoded[-1]["event"] = decoded[-1]["event"] + start
        parts.append(products)
    products = {k: ak.concatenate([p[k] for p in parts]) if len(parts) > 1 else parts[0][k] for k in parts[0]}
    meta = codec.metadata()
    meta_bytes = metadata_bytes(meta)
    nbytes = products_root_bytes(products) + meta_bytes
    dec = {k: np.concatenate([d[k] for d in decoded]) for k in decoded[0]}
    return _finish(sample, codec.name, setting, False, nbytes, t_enc, t_dec, dec,
                   note=(note + "; " if note else "") + f"per-file metadata {meta_bytes:,} B (zstd) included in "
                                                        "bits/hit, left out in bits/hit w/o meta",
                   meta_bytes=meta_bytes)


def _finish(sample, family, setting, lossless, nbytes, t_enc, t_dec, dec, note="", meta_bytes=0) -> Result:
    metrics, residuals = score(sample, dec)
    if lossless and not (metrics["recall"] == 1.0 and metrics["precision"] == 1.0 and metrics["adc_mse"] == 0):
        raise AssertionError(f"{family} {setting} claims to be lossless but is not: {metrics}")
    first = dec["event"] == 0 if len(dec.get("event", ())) else slice(None)
    # keep event 0 only (the event display needs no more): a full copy per method is what made the peak
    return Result(sample.detector, family, setting, lossless, int(nbytes), t_enc, t_dec, metrics, residuals,
                  decoded={k: np.asarray(v)[first] for k, v in dec.items()}, note=note, meta_bytes=int(meta_bytes))


# ----------------------------------------------------------------------------------------------------------
# hepvq codecs that exist
# ----------------------------------------------------------------------------------------------------------
def hepvq_codecs(detector: str, quick: bool, models_dir: Path, tpc_fit: bool = False,
                 pixel_models=SHIPPED_PIXEL_MODELS) -> list[tuple[str, object, str]]:
    """[(setting, codec, note)] for the hepvq codecs of a detector that can be built here; skipped ones are
    returned as (setting, None, why).  pixel_models: names of pixel_vq model directories in models_dir, or
    "all" for every one there (classical VQ, residual VQ, VQ-VAE variants: codec.json says)."""
    from hepvq.codecs import codec_class

    out = []
    if detector == "pixel":
        if pixel_models == "all":
            dirs = sorted(p.parent for p in models_dir.glob("*/codec.json")) if models_dir.is_dir() else []
        else:
            dirs = [models_dir / n for n in pixel_models if (models_dir / n / "codec.json").is_file()]
            out += [("", None, f"pixel_vq model {n}: no {models_dir / n / 'codec.json'}")
                    for n in pixel_models if not (models_dir / n / "codec.json").is_file()]
        if not dirs and pixel_models == "all":
            out.append(("", None, f"no pixel_vq model directory (with codec.json) in {models_dir}"))
        for d in dirs:
            try:
                vq = codec_class("pixel_vq").from_directory(d)
                kind = vq.settings.get("model", {}).get("kind", "?")
                what = f"{kind}, {vq.stages} stage{'s' if vq.stages > 1 else ''}"
                out.append((what if d.name == "pixel_vq" else f"{d.name} ({what})", vq, f"model data/models/{d.name}"))
            except Exception as err:  # noqa: BLE001 - a codec under construction must not stop the bench
                out.append(("", None, f"pixel_vq model {d.name} unavailable: {str(err).splitlines()[0][:120]}"))
        try:
            sp = codec_class("pixel_sparse")
            out.append(("4-bit log", sp(adc_bits=4, mode="log", **({"level": 3} if quick else {})), "per-event blobs"))
            out.append(("4-bit log, rANS (format 2)", sp(adc_bits=4, mode="log", format=2),
                        "the peer on the core's rANS coder: cluster layout, tables fitted on the shipped sample"))
        except Exception as err:  # noqa: BLE001
            out.append(("", None, f"pixel_sparse unavailable: {str(err).splitlines()[0][:120]}"))
    else:
        try:
            cls = codec_class("tpc_inr")
            amortised = None
            enc = models_dir / "tpc_amortised_encoder.onnx"
            if enc.exists():
                from hepvq.tpc.amortised_rt import AmortisedRuntime

                amortised = AmortisedRuntime.load(models_dir)
                out.append(("hybrid amortised", cls(mode="hybrid", method="amortised", amortised=amortised),
                            "shipped amortised model (positions lossless, INR carries the ADC)"))
            dense_enc = models_dir / "tpc_amortised_dense_encoder.onnx"
            dense_dec = models_dir / "tpc_amortised_dense_decoder.onnx"
            if dense_enc.exists() and dense_dec.exists() and quick:
                out.append(("dense amortised", None, "tpc_inr dense amortised not run in quick mode (it evaluates the "
                                                     "whole 192 x 249 x 16 grid of every sector; the full run has it)"))
            elif dense_enc.exists() and dense_dec.exists():
                from hepvq.tpc.amortised_rt import AmortisedRuntime

                rt = AmortisedRuntime.load(models_dir, encoder=dense_enc, decoder=dense_dec)
                out.append(("dense amortised", cls(mode="dense", method="amortised", amortised=rt),
                            "shipped dense amortised model (the INR represents the whole volume; threshold "
                            "re-applied by the codec)"))
            if not tpc_fit:
                out.append(("hybrid fit", None, "tpc_inr with per-sector fitting not run: it takes minutes per "
                                                 "event on a 2-core machine (hepvq-bench --tpc-fit runs it)"))
            else:
                import importlib.util

                if importlib.util.find_spec("torch") is not None:  # fitting imports torch itself
                    out.append(("hybrid fit", cls(mode="hybrid", method="fit"), "per-sector SIREN fit"))
                else:
                    out.append(("hybrid fit", None, "tpc_inr per-sector fitting needs torch"))
        except Exception as err:  # noqa: BLE001
            out.append(("", None, f"tpc_inr unavailable: {str(err).splitlines()[0][:120]}"))
    return out


# ----------------------------------------------------------------------------------------------------------
# the suite
# ----------------------------------------------------------------------------------------------------------
def plan(detector: str, quick: bool) -> list[tuple[str, tuple]]:
    """[(family, args)] of the peer methods to run on a detector."""
    steps = [("root", ("ZSTD", 5))]
    if not quick:
        steps += [("root", ("LZMA", 9)), ("raw", ("zstd-19",)), ("raw", ("xz-9",))]
    if quick:
        steps += [("sparse", (None, "linear", True)), ("sparse", (4, "linear", True))]
    else:
        steps += [("sparse", (None, "linear", False))] + [("sparse", (b, "linear", False)) for b in (6, 5, 4)]
        steps += [("sparse", (4, "log", False))]
    # ZFP's fixed-accuracy mode is conservative (errors far below the tolerance): give it larger tolerances
    bounds = {("pixel", "sz3"): (0.49, 4.0, 16.0), ("tpc", "sz3"): (0.49, 8.0, 32.0),
              ("pixel", "zfp"): (4.0, 16.0, 64.0), ("tpc", "zfp"): (8.0, 32.0, 128.0)}
    for fam in ("sz3", "zfp"):
        b = bounds[(detector, fam)]
        steps += [(fam, (x,)) for x in (b[1:2] if quick else b)]
    return steps


def run_suite(samples: list[Sample], *, quick: bool = False, models_dir=None, log=print,
              with_codecs: bool = True, tpc_fit: bool = False, pixel_models=SHIPPED_PIXEL_MODELS,
              quiet: bool = True) -> tuple[list[Result], list[str]]:
    """Run every method on every sample -> (results, skipped lines).  quiet=False: a progress bar over the
    methods (on a terminal only); each method's line is printed when it ends."""
    from hepvq.progress import bar as progress_bar

    models_dir = Path(models_dir) if models_dir else Path(__file__).resolve().parents[2] / "data" / "models"
    results, skipped = [], []
    for s in samples:
        log(f"[{s.detector}] {s.n_events} events, {s.n_hits} hits from {s.source}")
        steps = plan(s.detector, quick)
        codecs = hepvq_codecs(s.detector, quick, models_dir, tpc_fit, pixel_models) if with_codecs else []
        bar = progress_bar(total=len(steps) + sum(c is not None for _, c, _ in codecs), desc=s.detector,
                           unit="method", quiet=quiet)
        say = _above_bar(log, bar)
        for family, args in steps:
            bar.set_postfix_str(f"{family} {' '.join(str(a) for a in args)}")
            t = time.perf_counter()
            if family == "root":
                r = run_root(s, *args)
            elif family == "raw":
                r = run_raw(s, *args)
            elif family == "sparse":
                r = run_sparse(s, *args)
            else:
                r = run_dense(s, family, *args)
            results.append(r)
            bar.update(1)
            say(f"  {r.name:28s} {8 * r.nbytes / max(s.n_hits, 1):7.3f} bits/hit  ({time.perf_counter() - t:.1f} s)")
        for setting, codec, note in codecs:
            if codec is None:
                skipped.append(f"{s.detector}: {note}")
                say(f"  skipped: {note}")
                continue
            bar.set_postfix_str(f"{codec.name} {setting}")
            t = time.perf_counter()
            codec.progress = not quiet  # codecs with long inner loops (tpc_inr fit) show their own bar
            try:
                r = run_codec(s, codec, setting, note)
            except Exception as err:  # noqa: BLE001 - report and go on
                skipped.append(f"{s.detector}: {codec.name} {setting} failed: {str(err).splitlines()[0][:160]}")
                say(f"  {codec.name} {setting} FAILED: {err}")
                bar.update(1)
                continue
            results.append(r)
            bar.update(1)
            meta = (f", {8 * (r.nbytes - r.meta_bytes) / max(s.n_hits, 1):.3f} without the {r.meta_bytes:,} B "
                    "metadata" if r.meta_bytes else "")
            say(f"  {r.name:28s} {8 * r.nbytes / max(s.n_hits, 1):7.3f} bits/hit{meta}  "
                f"({time.perf_counter() - t:.1f} s)")
        bar.close()
    return results, skipped


def _above_bar(log, bar):
    """Print through tqdm.write when the bar is shown, so that lines do not tear it."""
    if log is not print or getattr(bar, "disable", True):
        return log
    return lambda msg: bar.write(msg)


# ----------------------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------------------
def _fmt(x, nd=3):
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    if isinstance(x, float) and np.isinf(x):
        return "∞"
    if isinstance(x, float):
        if abs(x) >= 1e5:
            return f"{x:.3g}"
        return f"{x:.{nd}f}"
    return str(x)


def _shown_path(path: str) -> str:
    """A path relative to the repository when it lies inside it."""
    repo = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(repo))
    except ValueError:
        return str(path)


def machine_description() -> dict:
    import platform

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "python": platform.python_version()}


def versions() -> dict:
    import importlib.metadata as md

    out = {}
    for p in ("hepvq", "numpy", "awkward", "uproot", "onnxruntime", "zstandard", "pysz", "zfpy", "scipy", "torch"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    try:
        import subprocess

        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[2], timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parents[2], timeout=10).stdout.strip()
        if rev:
            out["git"] = rev + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


COLUMNS = [("method", "method"), ("bits_per_hit", "bits/hit"), ("bits_per_hit_no_meta", "bits/hit w/o meta"),
           ("meta_bytes", "meta B"), ("ratio", "ratio"), ("recall", "recall"),
           ("precision", "precision"), ("adc_rmse", "ADC RMSE"), ("psnr_db", "PSNR dB"),
           ("charge_rms_rel", "cluster Q RMS (rel)"), ("centroid_rms", "centroid RMS"),
           ("cluster_efficiency", "cluster eff."), ("encode_hits_per_s", "enc Mhit/s"),
           ("decode_hits_per_s", "dec Mhit/s")]


def table(rows: list[dict], unit: str) -> str:
    head = [h + (f" ({unit})" if k == "centroid_rms" else "") for k, h in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|"]
    for r in rows:
        cells = []
        for k, _ in COLUMNS:
            v = r.get(k)
            if k in ("encode_hits_per_s", "decode_hits_per_s") and isinstance(v, float):
                v = v / 1e6
            nd = {"bits_per_hit": 2, "bits_per_hit_no_meta": 2, "ratio": 1, "psnr_db": 1, "recall": 4, "precision": 4,
                  "cluster_efficiency": 4, "adc_rmse": 2}.get(k, 3)
            cells.append(_fmt(v, nd))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(path, samples: list[Sample], results: list[Result], skipped: list[str], *, command: str,
                 figures: dict, elapsed: float, quick: bool) -> str:
    path = Path(path)
    m, v = machine_description(), versions()
    out = io.StringIO()
    w = out.write
    w("# hepvq-bench results\n\n")
    w(f"Produced by `{command}` in {elapsed:.0f} s{' (quick mode: reduced samples and settings)' if quick else ''}. "
      "Every method runs on the same events in the same process; see `hepvq/bench/suite.py` for the exact "
      "definitions (module docstring).\n\n")
    w(f"**Machine**: {m['cpu']}, {m['cores']} cores visible (shared with other jobs while this ran), {m['memory']}; "
      f"{m['platform']}; Python {m['python']}.  \n")
    w("**Versions**: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".\n\n")
    w("## How to read this\n\n"
      "- *bits/hit* = 8 x compressed bytes / input hits; *ratio* = raw input-schema bytes (10 B per hit + a 4 B "
      "counter per event) / compressed bytes.\n"
      "- *recall* / *precision*: input hits found in the output / output hits present in the input (same event "
      "and coordinates). *ADC RMSE* over the union of input and output hits (a missing hit counts as ADC 0 on its "
      "side); *PSNR* = 10 log10(ADC_max^2 / MSE) with ADC_max 255 (pixel) and 1023 (TPC).\n"
      "- *cluster Q RMS*: RMS of (Q_out - Q_in) / Q_in over input clusters (8-connected) matched through their "
      "highest-ADC surviving hit; *centroid RMS*: RMS of the 2-D charge-weighted centroid shift (pixel in um with "
      "100 x 150 um pitch; TPC in pad / time-bin units); *cluster eff.*: matched fraction.\n"
      "- Throughput: input hits per second, wall clock, one process; ROOT rows include writing/reading the file.\n"
      "- **SZ3 and ZFP are scored after re-applying the zero-suppression threshold** (reconstruction rounded to "
      "integer ADC, values below the detector threshold set to 0). Without it, both leave a small non-zero value "
      "in a large share of the empty cells, i.e. millions of fake hits (precision near 0). Their byte counts are "
      "the SZ3/ZFP streams (+ the zstd'd module list for the pixel detector).\n"
      "- hepvq codec sizes are their products written to a ROOT file (ZSTD 5) plus their metadata blobs "
      "(decoder ONNX, tables) once, i.e. what a compressed file holds. The metadata is a fixed cost per file "
      "(*meta B*, zstd-compressed), whatever the number of events: *bits/hit w/o meta* leaves it out, the figure "
      "a file of many events tends to; on a small sample *bits/hit* is dominated by it.\n\n")
    for s in samples:
        d = DETECTORS[s.detector]
        rows = [r.row(s) for r in results if r.detector == s.detector]
        w(f"## {s.detector} — {s.n_events} events, {s.n_hits:,} hits ({s.n_hits / max(s.n_events, 1):,.0f} per "
          f"event), `{_shown_path(s.source)}`\n\n")
        w(f"Raw input schema: {s.raw_bytes:,} bytes ({8 * s.raw_bytes / max(s.n_hits, 1):.1f} bits/hit). "
          f"Zero-suppression threshold: ADC >= {s.threshold}.\n\n")
        w(table(rows, d["unit"]) + "\n\n")
        notes = [f"- {r['method']}: {r['note']}" for r in rows if r.get("note")]
        if notes:
            w("Notes:\n" + "\n".join(notes) + "\n\n")
        for key in ("rd", "residuals", "display"):
            f = figures.get((s.detector, key))
            if f:
                w(f"![{s.detector} {key}]({os.path.relpath(f, path.parent)})\n\n")
    if skipped:
        w("## Not run\n\n" + "\n".join(f"- {x}" for x in skipped) + "\n")
    text = out.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text
