"""The codec layer's contract (issue 13 item 6): encode returns EncodeResult(products, report) and leaves nothing
of the call on the codec; one encoder-module base (CodecEncoder) serves every codec, a plugin's too; run-time
options (providers, threads, batch size) are built once from process.options or hepvq.open's keywords and reach
every decode path."""
from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import pytest
import uproot
from conftest import write_uproot

import hepvq
import hepvq.config as cms
from hepvq.codecs import Codec, EncodeResult, register_codec
from hepvq.errors import ParameterError
from hepvq.framework import register_module, run_process
from hepvq.framework.encoder import CodecEncoder

REPO = Path(__file__).resolve().parents[1]
PIXEL = REPO / "data" / "pixel_pu200_sample.root"
TPC = REPO / "data" / "tpc_sample.root"
MODEL = REPO / "data" / "models" / "pixel_vq"


def _digis(n=1):
    a = uproot.open(PIXEL)["Events"].arrays(entry_stop=n)
    return ak.zip({f: a[f"PixelDigi_{f}"] for f in ("detId", "row", "col", "adc")})


def _codecs():
    from hepvq.pixel.codec import PixelSparseCodec, PixelVQCodec
    from hepvq.pixel.format2 import PixelVQFormat2

    return {"pixel_vq format 1": PixelVQCodec.from_directory(MODEL, adc_error_bound=2),
            "pixel_vq format 2": PixelVQFormat2.from_directory(MODEL),
            "pixel_sparse format 2": PixelSparseCodec(format=2, tables=REPO / "data/models/pixel_sparse/tables.rans")}


def _same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert ak.to_list(a[k]) == ak.to_list(b[k]), k


def test_encode_returns_products_and_report_and_keeps_no_call_state():
    """EncodeResult per call; encoding A, then B, then A again gives A's products and report (nothing of B stays
    on the codec), and the codec holds no attribute that a call set."""
    hits = _digis(2)
    a, b = hits[:1], hits[1:2, :4000]
    for what, codec in _codecs().items():
        first = codec.encode(a)
        assert isinstance(first, EncodeResult), what
        products, report = first
        assert report["events"] == 1 and report["hits"] == len(ak.flatten(a.adc)), what
        state = set(vars(codec))
        other = codec.encode(b, first_entry=1)
        assert other.report["hits"] == len(ak.flatten(b.adc)) and other.report["events"] == 1, what
        again = codec.encode(a)
        _same(products, again.products)
        assert again.report == report, what
        assert set(vars(codec)) == state, (what, set(vars(codec)) ^ state)  # lazily built caches come at once
        assert not [k for k in vars(codec) if k.startswith("_last") or k == "stats"], what


def test_pixel_vq_validate_report_is_the_decoders_fidelity():
    codec = _codecs()["pixel_vq format 2"]
    hits = _digis(1)[:, :5000]
    products, report = codec.encode(hits, validate=True)
    assert report["fidelity"]["recall"] == 1 and report["fidelity"]["precision"] == 1
    _same(products, codec.encode(hits).products)   # validating does not change what is written
    assert "fidelity" not in codec.encode(hits).report


# ---- one encoder-module base ----------------------------------------------------------------------------------
@register_codec
class _RawDigiCodec(Codec):
    """A plugin's codec: the DIGIs as they are (what a new codec has to write: encode, decode, metadata)."""

    name = "test_raw_digi"
    collection = "PixelDigi"

    def encode(self, hits, first_entry=0):
        return EncodeResult({"": hits}, {"hits": int(ak.sum(ak.num(hits, axis=1))), "calls": 1})

    def decode(self, products):
        return products[""]

    def metadata(self):
        return {"settings": self.json_blob({"version": 1})}

    @classmethod
    def from_metadata(cls, blobs):
        cls.read_json_blob(blobs, "settings")
        return cls()


@register_module
class RawDigiTestEncoder(CodecEncoder):
    """Test encoder: only what differs from every other encoder module."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("src", cms.InputTag("PixelDigi"), "DIGIs")

    def make_codec(self):
        return _RawDigiCodec()

    def summary(self, totals):
        return {"hits": totals["hits"], "calls": totals["calls"]}


def test_encoder_base_serves_a_plugin_codec_end_to_end(tmp_path):
    """A codec + a CodecEncoder subclass of a few lines: metadata stored, codec declared, checksummed products,
    the report summed over chunks, and hepvq.open decodes the file with nothing more."""
    from hepvq.framework import module_class

    assert all(issubclass(module_class(name), CodecEncoder)
               for name in ("PixelDigiVQEncoder", "PixelDigiSparseEncoder", "TpcInrEncoder"))
    out = tmp_path / "raw.root"
    process = cms.Process("RAW")
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(PIXEL)))
    process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(3))
    process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(2))
    process.raw = cms.EDProducer("RawDigiTestEncoder")
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(out)),
                                   outputCommands=cms.untracked.vstring("drop *", "keep raw_*"))
    process.p = cms.Path(process.raw)
    process.e = cms.EndPath(process.out)
    rep = run_process(process)
    ref = _digis(3)
    assert rep["reports"]["raw"] == {"hits": len(ak.flatten(ref.adc)), "calls": 2}  # two chunks
    keys = uproot.open(out)["Events"].keys()
    assert "raw_crc" in keys and "PixelDigi_adc" not in keys
    with hepvq.open(out) as r:
        assert r.provenance["codecs"]["raw"]["codec"] == "test_raw_digi"
        got = r.arrays().PixelDigi
    for f in ("detId", "row", "col", "adc"):
        assert ak.to_list(got[f]) == ak.to_list(ref[f])


# ---- run-time options -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    """A pixel file (pixel_vq format 2 + pixel_sparse format 2, 2 events) and a tpc_inr file (one sector's hits
    of a few layers: quick to decode), both written by jobs."""
    d = tmp_path_factory.mktemp("runopts")
    pix = d / "pixel.root"
    process = cms.Process("C")
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(PIXEL)))
    process.maxEvents = cms.untracked.PSet(input=cms.untracked.int32(2))
    process.vq = cms.EDProducer("PixelDigiVQEncoder", validate=cms.untracked.bool(False))
    process.sp = cms.EDProducer("PixelDigiSparseEncoder", format=cms.int32(2))
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(pix)),
                                   outputCommands=cms.untracked.vstring("drop *", "keep vq_*", "keep sp_*"))
    process.p = cms.Path(process.vq + process.sp)
    process.e = cms.EndPath(process.out)
    run_process(process)

    a = uproot.open(TPC)["Events"].arrays(entry_stop=1)
    h = ak.zip({f: a[f"TpcHit_{f}"] for f in ("sector", "layer", "phi", "z", "adc")})
    h = h[(h.sector == 0) & (h.layer < 6)]
    src = d / "tpc_in.root"
    write_uproot(src, {"run": ak.to_numpy(a.run), "luminosityBlock": ak.to_numpy(a.luminosityBlock),
                       "event": ak.to_numpy(a.event), "TpcHit": h})
    tpc = d / "tpc.root"
    process = cms.Process("T")
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(src)))
    process.tpcInr = cms.EDProducer("TpcInrEncoder", validate=cms.untracked.bool(False))  # ADC from the network
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(tpc)),
                                   outputCommands=cms.untracked.vstring("drop *", "keep tpcInr_*"))
    process.p = cms.Path(process.tpcInr)
    process.e = cms.EndPath(process.out)
    run_process(process)
    return {"pixel": pix, "tpc": tpc, "tpc_hits": h}


def _flat(arrays):
    return {coll: {f: ak.to_numpy(ak.flatten(arrays[coll][f])) for f in arrays[coll].fields}
            | {"counts": ak.to_numpy(ak.num(arrays[coll]))} for coll in arrays.fields if coll not in
            ("run", "luminosityBlock", "event")}


def test_hepvq_open_options_reach_every_codec_and_never_change_the_hits(compressed):
    """threads 1 and 3, batch sizes, explicit CPU provider: the same arrays bit for bit for pixel_vq, pixel_sparse
    and tpc_inr; the options are set on each reader's codecs (the tpc_inr decoder graph on the given provider)."""
    for key in ("pixel", "tpc"):
        ref = _flat(hepvq.open(compressed[key], threads=1).arrays())
        with hepvq.open(compressed[key], threads=3, batch_size=4099, providers=["CPUExecutionProvider"]) as r:
            codecs = [c for (c, _coll, _p) in r.codecs.values()]
            assert {c.threads for c in codecs} == {3}
            assert all(c.batch_size == 4099 for c in codecs if hasattr(c, "batch_size"))
            got = _flat(r.arrays())
        assert ref.keys() == got.keys() and ref
        for coll in ref:
            for f in ref[coll]:
                assert ref[coll][f].dtype == got[coll][f].dtype and ref[coll][f].tobytes() == got[coll][f].tobytes()
    with hepvq.open(compressed["tpc"], providers=["CPUExecutionProvider"]) as r:
        (codec, _c, _p), = r.codecs.values()
        assert codec.amortised.providers == ["CPUExecutionProvider"]
    # hybrid tpc_inr: the positions are the input's, the ADC the network's (decoded in batches of 1000 points)
    tpc_default = ref["TpcHit"]  # the last file of the loop: tpc_inr with the default options
    dec = hepvq.open(compressed["tpc"], batch_size=1000).arrays()
    assert _flat(dec)["TpcHit"]["adc"].tobytes() == tpc_default["adc"].tobytes()
    pos = lambda h: sorted(zip(*(ak.to_list(h[f]) for f in ("sector", "layer", "phi", "z"))))  # noqa: E731
    assert pos(ak.flatten(dec.TpcHit)) == pos(ak.flatten(compressed["tpc_hits"]))


def test_unknown_provider_refused_in_one_line_and_unavailable_one_warned(compressed):
    with pytest.raises(ParameterError, match=r"parameter 'providers'.*unknown onnxruntime provider "
                                             r"'CPUExecutionProviderr' \(did you mean: CPUExecutionProvider") as err:
        hepvq.open(compressed["pixel"], providers=["CPUExecutionProviderr"])
    assert "\n" not in str(err.value)
    for bad, match in (("batch_size", "parameter 'batch_size'.*positive"), ("threads", "parameter 'threads'")):
        with pytest.raises(ParameterError, match=match):
            hepvq.open(compressed["pixel"], **{bad: 0})
    # a real provider that this installation lacks: one warning line, CPU used, same hits
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # the job's log setup may stop propagation: listen on the logger itself
    logger = logging.getLogger("hepvq.runtime")
    level, disabled = logger.level, logger.disabled
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.disabled = False
    try:
        with hepvq.open(compressed["tpc"], providers=["CoreMLExecutionProvider"]) as r:
            (codec, _c, _p), = r.codecs.values()
            r.arrays()
            assert codec.amortised._dec.providers == ["CPUExecutionProvider"]  # its session: on the CPU
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled
    lines = [rec.getMessage() for rec in records if "CoreMLExecutionProvider" in rec.getMessage()]
    assert len(lines) >= 1 and all("\n" not in m and "not available here" in m for m in lines)


def test_process_options_built_once_and_checked_when_the_job_is_built(tmp_path, compressed):
    """options.providers / numberOfThreads / batchSize -> context.run_options; a typo in a provider name or a bad
    batch size is refused before any file is opened; the decoder module hands the options to its codecs."""
    from hepvq.framework import EventProcessor

    def job(**options):
        process = cms.Process("D")
        process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(compressed["pixel"])))
        process.options = cms.untracked.PSet(**options)
        process.dvq = cms.EDProducer("HepvqDecoder", src=cms.InputTag("vq"))
        process.dsp = cms.EDProducer("HepvqDecoder", src=cms.InputTag("sp"))
        process.enc = cms.EDProducer("PixelDigiVQEncoder", batchSize=cms.int32(100))  # options.batchSize wins
        process.p = cms.Path(process.dvq + process.dsp + process.enc)
        return EventProcessor(process)

    ep = job(providers=cms.untracked.vstring("CPUExecutionProvider"), numberOfThreads=cms.untracked.int32(3),
             batchSize=cms.untracked.int32(512))
    ro = ep.context.run_options
    assert (ro.providers, ro.threads, ro.batch_size) == (("CPUExecutionProvider",), 3, 512)
    ep.context.input_files = [str(compressed["pixel"])]
    codecs = []
    for label in ("dvq", "dsp"):
        ep.modules[label].beginJob()
        codecs += [p[1] for p in ep.modules[label].plan]
    assert sorted(c.name for c in codecs) == ["pixel_sparse", "pixel_vq"]
    assert all(c.threads == 3 and getattr(c, "batch_size", 512) == 512 for c in codecs)
    ep.modules["enc"].beginJob()
    assert ep.modules["enc"].codec.batch_size == 512
    assert ep.context.providers == ["CPUExecutionProvider"]
    with pytest.raises(ParameterError, match=r"options.providers.*unknown onnxruntime provider 'CUDAExecutionProvidr'"):
        job(providers=cms.untracked.vstring("CUDAExecutionProvidr"))
    with pytest.raises(ParameterError, match=r"options.batchSize.*positive"):
        job(batchSize=cms.untracked.int32(-1))
    assert job().context.run_options.batch_size is None  # 0 (the default): each codec's own
