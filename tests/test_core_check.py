"""The compiled core's equality with a pixel_vq model's ONNX graphs is checked once and recorded in codec.json
(hepvq.pixel.core_check): jobs and readers of the shipped model never start onnxruntime, a graph without a
matching record is checked at construction, and a graph that disagrees keeps onnxruntime on the path."""
import shutil
import sys

import awkward as ak
import numpy as np
import pytest
import uproot

from hepvq.pixel import core, core_check
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec
from hepvq.pixel.format2 import PixelVQFormat2
from hepvq.runtime import session

MODEL = "data/models/pixel_vq"


@pytest.fixture(scope="module")
def hits():
    t = uproot.open("data/pixel_pu200_sample.root")["Events"]
    return ak.zip({f: t[f"PixelDigi_{f}"].array(entry_stop=1) for f in P.FIELDS})


def _products(codec, hits):
    return codec._encode(hits, 0, False)[0]


def _same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for k in a:
        assert ak.array_equal(a[k], b[k]), k


def test_shipped_record_is_what_onnxruntime_says():
    """The verdicts recorded for the shipped model are those onnxruntime gives now, on these very graphs (the
    oracle stays in the tests, not on the run path)."""
    rec = dict(PixelVQCodec.from_directory(MODEL).settings[core_check.KEY])
    now = core_check.verdicts(MODEL)
    rec.pop("onnxruntime"), now.pop("onnxruntime")
    assert rec == now and rec["decoder"]["equal"] and rec["encoder"]["equal"]


def test_encode_and_decode_without_onnxruntime(hits, monkeypatch):
    """With the record, format 1 and 2 encode (validated) and decode run with onnxruntime unimportable, no
    session built, and give what a codec that checks the graphs with onnxruntime gives."""
    checked = {}
    for cls in (PixelVQCodec, PixelVQFormat2):
        c = cls.from_directory(MODEL)
        c.settings = {k: v for k, v in c.settings.items() if k != core_check.KEY}
        c._fast = c._make_fast_search()  # the check with onnxruntime, as for a model without a record
        checked[cls] = (_products(c, hits), c)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # any import of it now raises ImportError
    monkeypatch.setattr(session.OnnxModel, "_make_session", lambda self: pytest.fail(f"session for {self.name}"))
    monkeypatch.setattr(core, "_AGREES", {})
    monkeypatch.setattr(session, "_CACHE", {})  # fresh models: a session would have to be built
    for cls in (PixelVQCodec, PixelVQFormat2):
        c = cls.from_directory(MODEL)
        assert c._fast is not None and c.core_model.has_codebooks
        got = _products(c, hits)
        _same(checked[cls][0], got)
        reader = PixelVQCodec.from_metadata(c.metadata())
        assert type(reader) is cls and reader.core_model.has_codebooks
        dec = reader.decode(got)
        assert ak.array_equal(dec, checked[cls][1].decode(checked[cls][0]))


def test_record_of_another_graph_is_not_trusted(monkeypatch):
    """A verdict made on another graph (sha256 differs) is ignored: the check runs; a recorded 'not equal'
    keeps onnxruntime (no core search, fractions by the graph)."""
    calls = []
    real = core._fractions_agree
    monkeypatch.setattr(core, "_AGREES", {})
    monkeypatch.setattr(core, "_fractions_agree", lambda c, m: calls.append(c) or real(c, m))
    searched = []
    real_search = core_check.search_agrees
    monkeypatch.setattr(core_check, "search_agrees", lambda c, f: searched.append(c) or real_search(c, f))
    codec = PixelVQCodec.from_directory(MODEL)
    assert not calls and not searched and codec.core_model.has_codebooks
    for role in ("decoder", "encoder"):
        codec.settings[core_check.KEY][role]["sha256"] = "0" * 64
    again = PixelVQCodec(codec.settings, codec.decoder_bytes, codec.encoder_bytes)
    assert len(searched) == 1 and again._fast is not None
    assert again.core_model.has_codebooks and len(calls) == 1
    for role in ("decoder", "encoder"):  # this graph's sha256, verdict "not equal"
        codec.settings[core_check.KEY][role].update(sha256=getattr(again, role).sha256, equal=False)
    no = PixelVQCodec(codec.settings, codec.decoder_bytes, codec.encoder_bytes)
    assert no._fast is None and not no.core_model.has_codebooks and len(calls) == 1 and len(searched) == 1


def _altered(graph: bytes, output: str, op: str, value) -> bytes:
    """The graph with one more node on its output (op(output, value)): the same inputs, metadata and
    initializers (codebooks), another result."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    m = onnx.load_from_string(graph)
    g = m.graph
    for node in g.node:
        node.output[:] = [f"{output}_raw" if o == output else o for o in node.output]
    g.initializer.append(numpy_helper.from_array(np.asarray(value), f"{output}_alter"))
    g.node.append(helper.make_node(op, [f"{output}_raw", f"{output}_alter"], [output]))
    return m.SerializeToString()


def test_graphs_that_disagree_with_the_core_keep_onnxruntime(tmp_path):
    """A model directory whose graphs compute something else than the core (fractions scaled, codes clipped)
    while keeping the codebooks and the old record: the record does not cover them, the checks find the
    difference, and encode/decode run those graphs through onnxruntime."""
    d = tmp_path / "model"
    shutil.copytree(MODEL, d)
    dec = _altered((d / "decoder.onnx").read_bytes(), "fractions", "Mul", np.float32(1.0 + 2 ** -20))
    enc = _altered((d / "encoder.onnx").read_bytes(), "indices", "Min", np.int64(64))
    (d / "decoder.onnx").write_bytes(dec)
    (d / "encoder.onnx").write_bytes(enc)
    codec = PixelVQCodec.from_directory(d)
    assert codec._fast is None and not codec.core_model.has_codebooks
    rng = np.random.default_rng(3)
    m = rng.random((200, codec.size)) < 0.3
    m[:, :2] = True
    x = np.where(m, rng.random(m.shape), 0).astype(np.float32)
    x /= x.sum(1, keepdims=True)
    codes = codec._run_encoder(x, None, P.dense_to_mask(m))
    assert codes.max() == 64 and codes.min() < 64  # the graph's codes (clipped at 64), not the core's search
    frac = codec._run_decoder(codes, m.astype(np.float32))
    core_frac = core._make(codec, core._codebooks(codec))
    import hepvq_core

    want = hepvq_core.pixel_vq_fractions(core_frac, codes, P.dense_to_mask(m)) * np.float32(1.0 + 2 ** -20)
    assert np.array_equal(frac, want)  # the graph's fractions (the core's, scaled), not the core's
    found = core_check.verdicts(d)
    assert not found["decoder"]["equal"] and not found["encoder"]["equal"]
