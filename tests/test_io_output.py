"""RootOutputModule (commands, aliases, compression, buffering, temp file, metadata) and hepvq.open."""
import json
import os

import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq
import hepvq.config as cms
from hepvq.codecs import Codec, EncodeResult, register_codec
from hepvq.errors import ParameterError
from hepvq.framework import EDProducer, EventProcessor, register_module
from hepvq.io.metadata import read_cfg, read_metadata
from hepvq.io.output import is_kept, parse_output_commands
from hepvq.io.reading import codecs_from_file, products_of


@register_codec
class HalfAdcCodec(Codec):
    """Test codec: keeps positions, stores adc // scale (lossy), plus a per-event hit count instance."""

    name = "test_half_adc"
    collection = "PixelDigi"

    def __init__(self, scale=2):
        self.scale = scale

    def encode(self, hits):
        packed = ak.zip({"detId": hits.detId, "row": hits.row, "col": hits.col,
                         "q": ak.values_astype(hits.adc // self.scale, np.uint8)})
        return EncodeResult({"": packed, "count": ak.values_astype(ak.num(hits), np.int32)}, {})

    def decode(self, products):
        p = products[""]
        assert np.array_equal(ak.to_numpy(products["count"]), ak.to_numpy(ak.num(p)))
        return ak.zip({"detId": p.detId, "row": p.row, "col": p.col,
                       "adc": ak.values_astype(p.q * self.scale, np.uint16)})

    def metadata(self):
        return {"settings": self.json_blob({"scale": self.scale}), "model": bytes(range(256)) * 4}

    @classmethod
    def from_metadata(cls, blobs):
        assert blobs["model"] == bytes(range(256)) * 4
        return cls(**cls.read_json_blob(blobs, "settings"))


@register_module
class HalfAdcEncoderForTests(EDProducer):
    """Encodes a collection with the test_half_adc codec."""

    @classmethod
    def fillDescriptions(cls, desc):
        desc.add("src", cms.InputTag("PixelDigi"), "")
        desc.add("scale", cms.int32(2), "")

    def beginJob(self):
        self.codec = HalfAdcCodec(self.params.scale)
        for k, v in self.codec.metadata().items():
            self.context.add_metadata(f"{self.label}/{k}", v)
        self.context.declare_codec(self.label, self.codec.name, self.codec.collection)

    def produce(self, chunk):
        for instance, arr in self.codec.encode(chunk.get(self.params.src)).products.items():
            chunk.put(arr, instance)


def run_job(infile, outfile, *, producers=(), chunk=16, **out_params):
    process = cms.Process("OUT")
    process.source = cms.Source("RootSource", fileNames=cms.untracked.vstring(str(infile)))
    process.options = cms.untracked.PSet(chunkSize=cms.untracked.int32(chunk))
    seq = None
    for label, mod in producers:
        setattr(process, label, mod)
        seq = mod if seq is None else seq + mod
    process.out = cms.OutputModule("RootOutputModule", fileName=cms.untracked.string(str(outfile)), **out_params)
    if seq is not None:
        process.p = cms.Path(seq)
    process.e = cms.EndPath(process.out)
    return EventProcessor(process).run()


def test_output_commands_last_match_wins():
    cmds = parse_output_commands(["keep *", "drop PixelDigi", "drop enc_*", "keep enc_count"])
    assert is_kept(cmds, "TpcHit", "")
    assert not is_kept(cmds, "PixelDigi", "")
    assert not is_kept(cmds, "enc", "") and not is_kept(cmds, "enc", "other")
    assert is_kept(cmds, "enc", "count")
    assert not is_kept(parse_output_commands([]), "x", "")
    with pytest.raises(ParameterError, match="outputCommands"):
        parse_output_commands(["keep"])


def test_copy_drop_alias_and_ids(tmp_path, pixel_file_uproot, pixel_events):
    out = tmp_path / "out.root"
    mult = cms.EDProducer("HitMultiplicityProducer")
    run_job(pixel_file_uproot, out, producers=[("mult", mult)],
            outputCommands=cms.untracked.vstring("keep *", "drop PixelDigi"),
            branchAliases=cms.untracked.PSet(mult=cms.untracked.string("Multiplicity")))
    with uproot.open(out) as f:
        t = f["Events"]
        assert set(t.keys()) == {"run", "luminosityBlock", "event", "Multiplicity_nhits", "Multiplicity_sumadc"}
        assert t["run"].interpretation.to_dtype == np.dtype("uint32")
        assert t["event"].interpretation.to_dtype == np.dtype("uint64")
        assert np.array_equal(t["event"].array(library="np"), pixel_events["event"])
        assert np.array_equal(t["luminosityBlock"].array(library="np"), pixel_events["luminosityBlock"])
        prov = json.loads(str(f["hepvq_provenance"]))
    assert prov["products"] == [{"label": "mult", "instance": "", "prefix": "Multiplicity", "kind": "record",
                                 "type": "{nhits: int32, sumadc: int64}"}]
    assert prov["process"] == "OUT" and prov["hepvq_version"] == hepvq.__version__ and prov["events"] == 60


def test_jagged_collection_shares_one_counter(tmp_path, pixel_file_stdvector, pixel_events):
    out = tmp_path / "copy.root"
    run_job(pixel_file_stdvector, out)
    with uproot.open(out) as f:
        t = f["Events"]
        assert t["PixelDigi_adc"].count_branch.name == "nPixelDigi"
        assert t["PixelDigi_detId"].count_branch.name == "nPixelDigi"
        arrays = t.arrays(["PixelDigi_adc", "PixelDigi_detId"])
    assert ak.array_equal(arrays.PixelDigi_adc, pixel_events["PixelDigi"].adc)
    assert ak.array_equal(arrays.PixelDigi_detId, pixel_events["PixelDigi"].detId)


@pytest.mark.parametrize("algo,level", [("ZSTD", 1), ("LZMA", 1), ("ZLIB", 1), ("LZ4", 1), ("none", 0)])
def test_compression(tmp_path, pixel_file_uproot, pixel_events, algo, level):
    out = tmp_path / f"{algo}.root"
    run_job(pixel_file_uproot, out, compressionAlgorithm=cms.untracked.string(algo),
            compressionLevel=cms.untracked.int32(level))
    r = hepvq.open(out)
    assert ak.array_equal(r.arrays().PixelDigi, pixel_events["PixelDigi"])
    assert r.provenance["compression"] == f"{algo.upper()}({level})"
    r.close()


def test_bad_compression_is_a_parameter_error(tmp_path, pixel_file_uproot):
    with pytest.raises(ParameterError, match="compressionAlgorithm"):
        run_job(pixel_file_uproot, tmp_path / "x.root", compressionAlgorithm=cms.untracked.string("BZIP"))
    with pytest.raises(ParameterError, match="compressionLevel.*1..22"):
        run_job(pixel_file_uproot, tmp_path / "x.root", compressionLevel=cms.untracked.int32(40))
    assert not list(tmp_path.iterdir())


def test_buffering_merges_small_chunks(tmp_path, pixel_file_uproot):
    big, small = tmp_path / "big.root", tmp_path / "small.root"
    run_job(pixel_file_uproot, big, chunk=4)
    run_job(pixel_file_uproot, small, chunk=4, minBasketBytes=cms.untracked.int32(1),
            maxBufferBytes=cms.untracked.int64(1))
    with uproot.open(big) as f, uproot.open(small) as g:
        assert f["Events"]["PixelDigi_adc"].num_baskets == 1  # 15 chunks, one extend
        assert g["Events"]["PixelDigi_adc"].num_baskets == 15
        assert ak.array_equal(f["Events"].arrays(), g["Events"].arrays())


def test_rntuple_output(tmp_path, pixel_file_uproot, pixel_events):
    out = tmp_path / "rn.root"
    run_job(pixel_file_uproot, out, treeFormat=cms.untracked.string("RNTuple"))
    with uproot.open(out) as f:
        assert f.classname_of("Events") == "ROOT::RNTuple"
        arr = f["Events"].arrays()
    assert np.array_equal(ak.to_numpy(arr.event), pixel_events["event"])
    assert ak.array_equal(arr.PixelDigi.adc, pixel_events["PixelDigi"].adc)


def test_temp_file_renamed_only_when_complete(tmp_path, pixel_file_uproot):
    out = tmp_path / "o.root"
    run_job(pixel_file_uproot, out)
    assert sorted(os.listdir(tmp_path)) == ["o.root"]


def test_codec_round_trip_through_hepvq_open(tmp_path, pixel_file_uproot, pixel_events):
    out = tmp_path / "enc.root"
    enc = cms.EDProducer("HalfAdcEncoderForTests", scale=cms.int32(4))
    run_job(pixel_file_uproot, out, producers=[("enc", enc)],
            outputCommands=cms.untracked.vstring("keep *", "drop PixelDigi"))
    prov, blobs = read_metadata(out)
    assert prov["codecs"] == {"enc": {"codec": "test_half_adc", "collection": "PixelDigi",
                                      "prefixes": {"": "enc", "count": "enc_count"}}}
    assert set(blobs) == {"enc/settings", "enc/model"} and prov["blobs"]["enc/model"]["bytes"] == 1024
    assert "HalfAdcEncoderForTests" in read_cfg(out)

    expected = pixel_events["PixelDigi"]
    expected_adc = (expected.adc // 4) * 4
    with hepvq.open(out) as r:
        assert r.num_entries == 60 and r.collections == ["PixelDigi"]
        assert "HalfAdcEncoderForTests" in r.cfg and r.provenance["process"] == "OUT"
        a = r.arrays()
        assert a.fields == ["run", "luminosityBlock", "event", "PixelDigi"]
        assert ak.array_equal(a.PixelDigi.adc, expected_adc)
        assert ak.array_equal(a.PixelDigi.row, expected.row)
        assert np.array_equal(ak.to_numpy(a.event), pixel_events["event"])
        part = r.arrays(entry_start=10, entry_stop=20)
        assert ak.array_equal(part.PixelDigi.adc, expected_adc[10:20])
        pieces = list(r.iterate(step_size=25))
        assert [len(p) for p in pieces] == [25, 25, 10]
        assert ak.array_equal(ak.concatenate([p.PixelDigi.adc for p in pieces]), expected_adc)

    codecs = codecs_from_file(out)
    codec, collection, prefixes = codecs["enc"]
    assert isinstance(codec, HalfAdcCodec) and codec.scale == 4 and collection == "PixelDigi"
    with uproot.open(out) as f:
        raw = f["Events"].arrays(library="ak")
    products = products_of(raw, prefixes)
    assert set(products) == {"", "count"} and products[""].fields == ["detId", "row", "col", "q"]
    assert ak.array_equal(codec.decode(products).adc, expected_adc)


def test_open_plain_file_passes_collections_through(pixel_file_uproot, pixel_events):
    with hepvq.open(pixel_file_uproot) as r:
        assert r.provenance == {} and r.collections == ["PixelDigi"]
        assert ak.array_equal(r.arrays().PixelDigi, pixel_events["PixelDigi"])


def test_source_reads_hepvq_output_by_label_and_instance(tmp_path, pixel_file_uproot):
    enc_out = tmp_path / "enc.root"
    run_job(pixel_file_uproot, enc_out, producers=[("enc", cms.EDProducer("HalfAdcEncoderForTests"))],
            outputCommands=cms.untracked.vstring("keep *", "drop PixelDigi"))
    from test_io_source import make_source
    (chunk,) = list(make_source([enc_out]).chunks(1000))
    assert chunk.get("enc").fields == ["detId", "row", "col", "q"]
    assert chunk.get(cms.InputTag("enc", "count")).type.content == ak.types.NumpyType("int32")


@register_module
class OptionProducerForTests(EDProducer):
    """Puts the per-event maximum ADC, None for empty events (not writable as is)."""

    def produce(self, chunk):
        chunk.put(ak.max(chunk.get("PixelDigi").adc, axis=1))


def test_unwritable_product_is_a_data_error_and_leaves_nothing(tmp_path, pixel_file_uproot):
    from hepvq.errors import DataError

    out = tmp_path / "o.root"
    with pytest.raises(DataError, match=r"product 'maxadc:'.*\?uint16.*fill_none"):
        run_job(pixel_file_uproot, out, producers=[("maxadc", cms.EDProducer("OptionProducerForTests"))])
    assert not list(tmp_path.iterdir())
