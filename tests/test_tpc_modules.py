"""The TPC INR job end to end with the framework: tpc_inr_compress_cfg.py -> decompress_cfg.py and hepvq.open,
with a tiny amortised model trained here (and the per-sector 'fit' method with a tiny network)."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import hepvq  # noqa: E402
from hepvq.cli.run import run  # noqa: E402
from hepvq.errors import ParameterError  # noqa: E402
from hepvq.tpc.synthetic import events  # noqa: E402
from conftest import tpc_hit_table

REPO = Path(__file__).resolve().parents[1]
COMPRESS = str(REPO / "python_cfg" / "tpc_inr_compress_cfg.py")
DECOMPRESS = str(REPO / "python_cfg" / "decompress_cfg.py")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from hepvq.tpc import amortised as am
    from hepvq.tpc.synthetic import sector_volumes

    tmp = tmp_path_factory.mktemp("tpcjob")
    cfg = am.default_config(latent_channels=4, c1=8, c2=8, width=16, depth=2)
    model, _ = am.train(sector_volumes(2, seed=3, n_tracks=10), cfg, steps=2, batch=1, points=256)
    enc, dec = tmp / "enc.onnx", tmp / "dec.onnx"
    am.export_onnx(model, enc, dec)
    ev = ak.concatenate([events(2, n_sectors=2, n_tracks=6), events(1, n_sectors=0)])
    n = len(ev)
    src = tmp / "in.root"
    with uproot.recreate(src) as f:
        f.mktree("Events", {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64,
                            "TpcHit": ev.TpcHit.type.content})
        f["Events"].extend({"run": np.ones(n, np.uint32), "luminosityBlock": np.ones(n, np.uint32),
                            "event": np.array([7, 3, 5], np.uint64), "TpcHit": ev.TpcHit})
    comp, out = tmp / "c.root", tmp / "d.root"
    report = run([COMPRESS, f"inputFiles={src}", f"outputFile={comp}", f"tpcInr.encoderModel={enc}",
                  f"tpcInr.decoderModel={dec}", "--no-progress"])
    run([DECOMPRESS, f"inputFiles={comp}", f"outputFile={out}", "--no-progress"])
    return {"tmp": tmp, "hits": ev.TpcHit, "comp": comp, "dec": out, "report": report, "enc": enc, "decm": dec,
            "src": src}


def test_compressed_file_holds_products_and_decoder(job):
    t = uproot.open(job["comp"])["Events"]
    names = set(t.keys())
    assert {"tpcInr_sector", "tpcInr_nbytes", "tpcInr_weights_byte", "tpcInr_coords_byte"} <= names
    assert not any(n.startswith("TpcHit") for n in names)
    from hepvq.io.metadata import read_metadata

    prov, blobs = read_metadata(str(job["comp"]))
    assert "tpcInr/config" in blobs and "tpcInr/decoder.onnx" in blobs


def test_decompressed_file_has_input_schema_same_events_same_order(job):
    t = uproot.open(job["dec"])["Events"]
    assert {"run", "luminosityBlock", "event", "TpcHit_sector", "TpcHit_layer", "TpcHit_phi", "TpcHit_z",
            "TpcHit_adc"} <= set(t.keys())
    assert t["event"].array(library="np").tolist() == [7, 3, 5]
    arr = t.arrays()
    dec = ak.zip({f: arr[f"TpcHit_{f}"] for f in ("sector", "layer", "phi", "z", "adc")})
    for a, b in zip(tpc_hit_table(job["hits"]), tpc_hit_table(dec)):
        np.testing.assert_array_equal(a[:, :4], b[:, :4])      # hybrid: every hit, exact positions
        assert len(b) == 0 or b[:, 4].min() >= 64


def test_hepvq_open_decodes_the_same(job):
    arr = hepvq.open(str(job["comp"])).arrays()
    assert arr["event"].tolist() == [7, 3, 5]
    for a, b in zip(tpc_hit_table(job["hits"]), tpc_hit_table(arr["TpcHit"])):
        np.testing.assert_array_equal(a[:, :4], b[:, :4])


def test_report_has_figures(job):
    text = str(job["report"])
    assert "hit recall" in text and "bits per hit" in text
    for side in ("encode", "decode"):  # the time split (issue 13): networks vs coordinate / residual streams
        assert f"{side} per sector: network [ms]" in text and f"{side} per sector: streams [ms]" in text


def test_tpc_decoder_module_and_fit_method(job, tmp_path):
    """method=fit (tiny SIREN) through the cfg, then TpcInrDecoder in a hand-written process."""
    import hepvq.config as cms
    from hepvq.framework.processor import EventProcessor

    comp = tmp_path / "fit.root"
    run([COMPRESS, f"inputFiles={job['src']}", f"outputFile={comp}", "tpcInr.method=fit", "tpcInr.width=8",
         "tpcInr.depth=2", "tpcInr.epochs=2", "tpcInr.samplingRatio=0.01", "--no-progress"])
    p = cms.Process("DEC")
    p.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(comp)))
    p.dec = cms.EDProducer("TpcInrDecoder", src=cms.InputTag("tpcInr"))
    p.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(tmp_path / "d.root")),
                             outputCommands=cms.untracked.vstring("drop *", "keep dec"),
                             branchAliases=cms.untracked.PSet(dec=cms.untracked.string("TpcHit")))
    p.path = cms.Path(p.dec)
    p.e = cms.EndPath(p.out)
    EventProcessor(p, progress=False).run()
    t = uproot.open(tmp_path / "d.root")["Events"]
    assert t["nTpcHit"].array(library="np").tolist() == [len(x) for x in tpc_hit_table(job["hits"])]


def test_bad_parameters_are_named(job, tmp_path):
    with pytest.raises(ParameterError, match="method"):
        run([COMPRESS, f"inputFiles={job['src']}", f"outputFile={tmp_path / 'x.root'}", "tpcInr.method=magic",
             "--no-progress"])
    assert not (tmp_path / "x.root").exists()


@pytest.mark.parametrize("bound", [0, 5])
def test_adc_error_bound_holds_for_every_hit_through_root(job, tmp_path, bound):
    """hybrid + adcErrorBound: the INR predicts, the residuals are stored; every decoded ADC (decompress_cfg.py
    and hepvq.open) is within the bound of the input, B = 0 is lossless; the tiny model predicts badly, so the
    residuals are large: the bound must hold anyway."""
    comp, out = tmp_path / "c.root", tmp_path / "d.root"
    report = run([COMPRESS, f"inputFiles={job['src']}", f"outputFile={comp}", f"tpcInr.encoderModel={job['enc']}",
                  f"tpcInr.decoderModel={job['decm']}", f"tpcInr.adcErrorBound={bound}", "--no-progress"])
    assert "tpcInr_residuals_byte" in uproot.open(comp)["Events"].keys()
    assert report["reports"]["tpcInr"]["max |ADC error| on original hits"] <= bound
    run([DECOMPRESS, f"inputFiles={comp}", f"outputFile={out}", "--no-progress"])
    arr = uproot.open(out)["Events"].arrays()
    dec = ak.zip({f: arr[f"TpcHit_{f}"] for f in ("sector", "layer", "phi", "z", "adc")})
    opened = hepvq.open(str(comp)).arrays()["TpcHit"]
    worst = 0
    for a, b, c in zip(tpc_hit_table(job["hits"]), tpc_hit_table(dec), tpc_hit_table(opened)):
        np.testing.assert_array_equal(a[:, :4], b[:, :4])
        np.testing.assert_array_equal(b, c)
        if len(a):
            worst = max(worst, int(np.abs(a[:, 4] - b[:, 4]).max()))
    assert worst <= bound
    if bound == 0:
        assert worst == 0


def test_adc_error_bound_needs_hybrid_and_residuals(job, tmp_path):
    from hepvq.errors import ModelError
    from hepvq.tpc.amortised_rt import AmortisedRuntime
    from hepvq.tpc.codec import TpcInrCodec

    with pytest.raises(ParameterError, match="adcErrorBound"):
        run([COMPRESS, f"inputFiles={job['src']}", f"outputFile={tmp_path / 'x.root'}", "tpcInr.mode=dense",
             "tpcInr.adcErrorBound=3", "--no-progress"])
    assert not (tmp_path / "x.root").exists()
    am = AmortisedRuntime.load(encoder=job["enc"], decoder=job["decm"])
    codec = TpcInrCodec(method="amortised", mode="hybrid", amortised=am, adc_error_bound=3)
    prod = codec.encode(job["hits"]).products
    again = TpcInrCodec.from_metadata(codec.metadata())
    assert again.adc_error_bound == 3
    with pytest.raises(ModelError, match="residuals"):
        again.decode({k: v for k, v in prod.items() if k != "residuals"})


def test_error_bounded_codec_keeps_a_code_only_where_it_pays(job, monkeypatch):
    """A predictor that is exact makes every residual zero: the code is kept (its bytes are cheaper than the
    residuals), decode uses it, and the bound holds; the tiny trained model predicts badly: codes dropped."""
    from hepvq.tpc.amortised_rt import AmortisedRuntime
    from hepvq.tpc.codec import TpcInrCodec

    am = AmortisedRuntime.load(encoder=job["enc"], decoder=job["decm"])
    codec = TpcInrCodec(method="amortised", mode="hybrid", amortised=am, adc_error_bound=2)
    hits = job["hits"]
    truth = {}
    for t in tpc_hit_table(hits):
        for s, l, p, z, a in t:
            truth[(s, l, p, z)] = a
    real_predict = TpcInrCodec._predict_hits

    def perfect(self, fns, s_, l_, p_, z_):
        return np.array([truth[(s, l, p, z)] for s, l, p, z in zip(s_, l_, p_, z_)], dtype=np.int64)

    monkeypatch.setattr(TpcInrCodec, "_predict_hits", perfect)
    prod, report = codec.encode(hits)
    assert report["sectors_without_code"] == 0
    assert ak.max(ak.num(prod["residuals"]["byte"])) <= 64   # all-zero residuals: a few bytes per event
    for a, b in zip(tpc_hit_table(hits), tpc_hit_table(codec.decode(prod))):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(TpcInrCodec, "_predict_hits", real_predict)
    bad = TpcInrCodec(method="amortised", mode="hybrid", amortised=am, adc_error_bound=2)
    prod, report = bad.encode(hits)
    assert report["sectors_without_code"] == report["sectors"] > 0
    assert ak.sum(ak.num(prod["weights"]["byte"])) == 0
    for a, b in zip(tpc_hit_table(hits), tpc_hit_table(bad.decode(prod))):
        assert len(a) == 0 or np.abs(a[:, 4] - b[:, 4]).max() <= 2


def test_tpc_decoder_each_file_with_its_own_model(job, tmp_path):
    """Two input files compressed with different amortised models: TpcInrDecoder (now HepvqDecoder with src)
    decodes each with its own codec -- it used to decode every file with the first file's codec."""
    import hepvq.config as cms
    from hepvq.framework.processor import EventProcessor
    from hepvq.tpc import amortised as am
    from hepvq.tpc.synthetic import sector_volumes

    cfg = am.default_config(latent_channels=2, c1=4, c2=4, width=8, depth=1)
    model, _ = am.train(sector_volumes(1, seed=5, n_tracks=4), cfg, steps=1, batch=1, points=64)
    enc, dec = tmp_path / "enc2.onnx", tmp_path / "dec2.onnx"
    am.export_onnx(model, enc, dec)
    comp2 = tmp_path / "c2.root"
    run([COMPRESS, f"inputFiles={job['src']}", f"outputFile={comp2}", f"tpcInr.encoderModel={enc}",
         f"tpcInr.decoderModel={dec}", "--no-progress"])
    p = cms.Process("DEC")
    p.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(job["comp"]), str(comp2)))
    p.dec = cms.EDProducer("TpcInrDecoder", src=cms.InputTag("tpcInr"))
    p.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(tmp_path / "d.root")),
                             outputCommands=cms.untracked.vstring("drop *", "keep dec"),
                             branchAliases=cms.untracked.PSet(dec=cms.untracked.string("TpcHit")))
    p.path = cms.Path(p.dec)
    p.e = cms.EndPath(p.out)
    EventProcessor(p, progress=False).run()
    arr = uproot.open(tmp_path / "d.root")["Events"].arrays()
    got = ak.zip({f: arr[f"TpcHit_{f}"] for f in ("sector", "layer", "phi", "z", "adc")})
    first, second = hepvq.open(str(job["comp"])).arrays()["TpcHit"], hepvq.open(str(comp2)).arrays()["TpcHit"]
    assert ak.to_list(first.adc) != ak.to_list(second.adc)  # the two models decode the same hits differently
    assert ak.to_list(got) == ak.to_list(ak.concatenate([first, second]))
