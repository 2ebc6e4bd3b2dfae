"""The pixel_vq codec: exact positions, bounded charges, lossless-position mode, metadata round trip, bad input."""
import awkward as ak
import numpy as np
import pytest

pytest.importorskip("torch")

from hepvq.codecs import codec_class  # noqa: E402
from hepvq.errors import DataError, ModelError  # noqa: E402
from hepvq.pixel import metrics as M  # noqa: E402
from hepvq.pixel import patches as P  # noqa: E402
from hepvq.pixel.codec import PixelVQCodec, charge_levels, quantise_charge  # noqa: E402
from pixel_toydata import tiny_model, toy_events  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("pixmodel"), "rvq")[1]


def _roundtrip(codec, hits):
    prod = codec.encode(hits).products
    dec = codec_class("pixel_vq").from_metadata(codec.metadata()).decode(prod)
    return prod, dec


def test_registered_and_positions_exact(model_dir):
    codec = PixelVQCodec.from_directory(model_dir)
    hits = toy_events(3, seed=5)
    prod, dec = _roundtrip(codec, hits)
    assert set(prod) >= {"", "modules", "codes", "escapes"}
    assert len(dec) == len(hits)
    ref, out = P.canonical(P.flatten(hits)), P.flatten(dec)
    for f in ("event", "det", "row", "col"):
        assert np.array_equal(getattr(ref, f), getattr(out, f))
    m = M.compare(ref, out)
    assert m["recall"] == 1.0 and m["precision"] == 1.0
    assert m["charge_rms_rel"] < 0.2
    assert ak.fields(dec) == ["detId", "row", "col", "adc"]
    assert dec.detId.type.content.content.primitive == "uint32"
    # index branches are narrow integers (readable from ROOT as is)
    assert str(prod[""].shape.type.content.content) == "uint8"
    assert str(prod["codes"].c0.type.content.content) == "uint8"


@pytest.mark.parametrize("bound", [0, 3])
def test_adc_error_bound_mode(model_dir, bound):
    codec = PixelVQCodec.from_directory(model_dir, adc_error_bound=bound)
    hits = toy_events(2, seed=8)
    prod, dec = _roundtrip(codec, hits)
    ref, out = P.canonical(P.flatten(hits)), P.flatten(dec)
    assert np.array_equal(ref.row, out.row) and np.array_equal(ref.col, out.col)
    assert np.abs(ref.adc - out.adc).max() <= bound
    assert "corrections" in prod


def test_lossy_positions_mode_drops_only_rare_shapes(model_dir):
    codec = PixelVQCodec.from_directory(model_dir, lossless_positions=False)
    hits = toy_events(2, seed=9)
    prod, dec = _roundtrip(codec, hits)
    assert len(ak.flatten(prod["escapes"])) == 0
    m = M.compare(P.flatten(hits), P.flatten(dec))
    assert 0.5 < m["recall"] <= 1.0
    with pytest.raises(ModelError, match="lossless_positions"):
        PixelVQCodec.from_directory(model_dir, lossless_positions=False, adc_error_bound=0)


def test_empty_events_and_empty_chunk(model_dir):
    codec = PixelVQCodec.from_directory(model_dir)
    hits = toy_events(3, seed=1)
    empty_ev = ak.zip({f: ak.values_astype(ak.Array([[], []]), np.uint16 if f != "detId" else np.uint32)
                       for f in ("detId", "row", "col", "adc")})
    both = ak.concatenate([empty_ev, hits, empty_ev])
    prod, dec = _roundtrip(codec, both)
    assert len(dec) == len(both)
    assert ak.num(dec, axis=1).tolist() == ak.num(both, axis=1).tolist()
    prod, dec = _roundtrip(codec, empty_ev)
    assert ak.num(dec, axis=1).tolist() == [0, 0]
    prod, dec = _roundtrip(codec, both[:0])
    assert len(dec) == 0


def test_out_of_range_digi_names_detid_row_col(model_dir):
    codec = PixelVQCodec.from_directory(model_dir)
    bad = ak.zip({"detId": ak.Array([[np.uint32(4242)]]), "row": ak.Array([[np.uint16(3)]]),
                  "col": ak.Array([[np.uint16(999)]]), "adc": ak.Array([[np.uint16(40)]])})
    with pytest.raises(DataError, match=r"detId=4242 row=3 col=999"):
        codec.encode(bad)
    bad = ak.zip({"detId": ak.Array([[np.uint32(4242)]]), "row": ak.Array([[np.uint16(3)]]),
                  "col": ak.Array([[np.uint16(9)]]), "adc": ak.Array([[np.uint16(5000)]])})
    with pytest.raises(DataError, match=r"ADC outside the model's range 0\.\.255.*adc=5000"):
        codec.encode(bad)


def test_decode_only_codec_cannot_encode(model_dir):
    codec = PixelVQCodec.from_directory(model_dir)
    dec_only = PixelVQCodec.from_metadata(codec.metadata())
    with pytest.raises(ModelError, match="can only decode"):
        dec_only.encode(toy_events(1))
    with pytest.raises(ModelError, match="lacks metadata"):
        PixelVQCodec.from_metadata({"decoder.onnx": b""})


def test_charge_levels_relative_error():
    lv = charge_levels(0.1, 8160)
    assert lv[0] == 1 and lv[-1] >= 8160 and len(lv) < 256
    q = np.arange(1, 8000)
    rel = np.abs(lv[quantise_charge(q, lv)] - q) / q
    assert rel.max() <= 0.06


def test_charge_table_lookup_equals_the_binary_search():
    """quantise_charge's lookup table (integer charges) gives searchsorted's index for every charge, at and
    beyond the last boundary; float charges take the search itself."""
    levels = charge_levels(0.14, 8000)
    bounds = np.sqrt(levels[:-1].astype(np.float64) * levels[1:])
    q = np.concatenate([np.arange(0, 9000), [10**6, 2**40]]).astype(np.int64)
    assert np.array_equal(quantise_charge(q, levels), np.searchsorted(bounds, q.astype(np.float64)))
    assert np.array_equal(quantise_charge(q.astype(np.float64) + 0.5, levels), np.searchsorted(bounds, q + 0.5))


def test_shape_hash_finds_table_shapes_and_only_them(model_dir):
    """shape_index by the collision-free hash == the sorted-table search: every table shape found at its index,
    any other mask (random 32-bit patterns) escaped."""
    codec = PixelVQCodec.from_directory(model_dir)
    rng = np.random.default_rng(3)
    masks = np.concatenate([codec.shapes, rng.integers(1, 2**32, 5000).astype(np.uint64)])
    pos = np.minimum(np.searchsorted(codec._shape_sorted, masks), len(codec.shapes) - 1)
    expect = np.where(codec._shape_sorted[pos] == masks, codec._shape_order[pos], codec.escape)
    code, _coded = codec.shape_index(masks)
    assert np.array_equal(code, expect) and np.array_equal(code[:len(codec.shapes)], np.arange(len(codec.shapes)))


def test_context_rank_tables_are_checked(model_dir, tmp_path):
    import json
    import shutil

    settings = json.loads((model_dir / "codec.json").read_text())
    assert {"charge", "c0", "c1"} <= set(settings["ranks"])
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    settings["ranks"]["c0"]["shape"] = [1, 1]
    (bad / "codec.json").write_text(json.dumps(settings))
    with pytest.raises(ModelError, match="rank table 'c0'"):
        PixelVQCodec.from_directory(bad)


def test_ranks_change_the_stored_symbols_not_the_result(model_dir):
    import copy

    codec = PixelVQCodec.from_directory(model_dir)
    plain_settings = copy.deepcopy(codec.settings)
    plain_settings.pop("ranks")
    plain = PixelVQCodec(plain_settings, codec.decoder_bytes, codec.encoder_bytes)
    hits = toy_events(2, seed=4)
    a = codec.decode(codec.encode(hits).products)
    b = plain.decode(plain.encode(hits).products)
    assert ak.to_list(a) == ak.to_list(b)
