"""pixel_vq decode by the compiled core (hepvq_core) against the numpy oracle (PixelVQCodec.decode_reference):
the same DIGIs byte for byte, in every mode, on the shipped sample and on freshly simulated events."""
import awkward as ak
import numpy as np
import pytest
import uproot

import hepvq_core
from hepvq.errors import DataError
from hepvq.pixel import core
from hepvq.pixel import patches as P
from hepvq.pixel.codec import PixelVQCodec

MODEL = "data/models/pixel_vq"
MODES = {"lossless positions": {}, "bound 0": {"adc_error_bound": 0}, "bound 2": {"adc_error_bound": 2},
         "snapped shapes": {"lossless_positions": False}}


@pytest.fixture(scope="module")
def sample_hits():
    t = uproot.open("data/pixel_pu200_sample.root")["Events"]
    return ak.zip({f: t[f"PixelDigi_{f}"].array(entry_stop=2) for f in P.FIELDS})


@pytest.fixture(scope="module")
def simulated_hits():
    from hepvq.sim import pixel

    events, _ = pixel.simulate_events(2, pileup=200, seed=77)
    return events["PixelDigi"]


def assert_same_digis(ref: ak.Array, got: ak.Array):
    assert np.array_equal(ak.to_numpy(ak.num(ref)), ak.to_numpy(ak.num(got)))
    for f in P.FIELDS:
        a, b = ak.to_numpy(ak.flatten(ref[f])), ak.to_numpy(ak.flatten(got[f]))
        assert a.dtype == b.dtype, f
        assert a.tobytes() == b.tobytes(), f"{f}: {int((a != b).sum())} of {len(a)} differ"


@pytest.mark.parametrize("mode", list(MODES))
def test_core_decode_equals_oracle_on_shipped_sample(sample_hits, mode):
    codec = PixelVQCodec.from_directory(MODEL, **MODES[mode])
    products = codec.encode(sample_hits).products
    assert codec.core_model.has_codebooks  # the shipped model's fractions come from the core
    got = codec.decode(products)
    assert_same_digis(codec.decode_reference(products), got)
    if mode != "snapped shapes":  # every hit kept, at its position
        ref = P.canonical(P.flatten(sample_hits))
        h = P.flatten(got)
        assert np.array_equal(h.row, ref.row) and np.array_equal(h.col, ref.col) and np.array_equal(h.det, ref.det)
    if mode.startswith("bound"):
        bound = MODES[mode]["adc_error_bound"]
        assert np.abs(P.flatten(got).adc - P.canonical(P.flatten(sample_hits)).adc).max() <= bound


@pytest.mark.parametrize("mode", ["lossless positions", "bound 2", "snapped shapes"])
def test_core_decode_equals_oracle_on_simulated_events(simulated_hits, mode):
    codec = PixelVQCodec.from_directory(MODEL, **MODES[mode])
    products = codec.encode(simulated_hits).products
    assert_same_digis(codec.decode_reference(products), codec.decode(products))


def test_onnx_fraction_path_equals_core_fractions(sample_hits):
    """Models whose fractions the core cannot compute (VQ-VAE) run decoder.onnx on the patches the core lists:
    forced here on the shipped model, the result is the same."""
    codec = PixelVQCodec.from_directory(MODEL, adc_error_bound=2)
    products = codec.encode(sample_hits[:1]).products
    ref = codec.decode(products)
    codec._core_model = core._make(codec, [])
    assert not codec.core_model.has_codebooks
    assert_same_digis(ref, codec.decode(products))


def test_core_fractions_bit_identical_to_onnx_on_real_patches(sample_hits):
    codec = PixelVQCodec.from_directory(MODEL)
    products = codec.encode(sample_hits[:1]).products
    codes, masks = hepvq_core.pixel_vq_multi(codec.core_model, core.streams(codec, products))
    assert len(codes) > 10000
    ref = codec._run_onnx_decoder(codes, P.mask_to_dense(masks, codec.size).astype(np.float32))
    got = hepvq_core.pixel_vq_fractions(codec.core_model, codes, masks)
    assert ref.view(np.uint32).tobytes() == got.view(np.uint32).tobytes()


def _damaged(products, instance, field, fn):
    out = dict(products)
    arr = products[instance]
    out[instance] = ak.with_field(arr, fn(arr[field]), field)
    return out


@pytest.mark.parametrize("damage, message", [
    (("", "shape", lambda a: ak.values_astype(a, np.int64) + 5000), "shape code .* beyond the table"),
    (("", "charge", lambda a: a * 0 + 250), "charge index 250 beyond the"),
    (("modules", "npatch", lambda a: a + 1), "module table counts .* patches but there are"),
    (("codes", "c0", lambda a: a[:, :-1]), "code rows for .* multi-hit patches"),
])
def test_damaged_streams_are_refused_in_one_line(sample_hits, damage, message):
    codec = PixelVQCodec.from_directory(MODEL)
    products = codec.encode(sample_hits[:1]).products
    instance, field, fn = damage
    if instance == "codes":
        bad = dict(products)
        bad["codes"] = products["codes"][:, :-1]
    else:
        bad = _damaged(products, instance, field, fn)
    with pytest.raises(DataError, match=message) as err:
        codec.decode(bad)
    assert "\n" not in str(err.value)


def test_damaged_corrections_are_refused(sample_hits):
    codec = PixelVQCodec.from_directory(MODEL, adc_error_bound=2)
    products = codec.encode(sample_hits[:1]).products
    bad = _damaged(products, "corrections", "dhit", lambda a: a + 10**6)
    with pytest.raises(DataError, match="correction for hit .* of event 0 of the chunk"):
        codec.decode(bad)
    bad = _damaged(products, "corrections", "dadc", lambda a: a * 0 + 1000)
    with pytest.raises(DataError, match="corrections are damaged"):
        codec.decode(bad)


@pytest.mark.slow
def test_core_decode_equals_oracle_on_50_simulated_events():
    from hepvq.sim import pixel

    events, _ = pixel.simulate_events(50, pileup=200, seed=2026)
    hits = events["PixelDigi"]
    for mode in ("lossless positions", "bound 2"):  # bound 2 also decodes the lossless positions' values
        codec = PixelVQCodec.from_directory(MODEL, **MODES[mode])
        for s in range(0, 50, 10):
            products = codec.encode(hits[s:s + 10]).products
            assert_same_digis(codec.decode_reference(products), codec.decode(products))


def patch_fractions_reference(masks, adc):
    """numpy totals, hit counts and fractions of the multi-hit patches (the core's patch_fractions)."""
    dense = P.mask_to_dense(masks, adc.shape[1])
    a = np.where(dense, adc, 0)
    total, nhit = a.sum(1), dense.sum(1)
    multi = nhit >= 2
    return total, nhit, (a[multi] / total[multi, None]).astype(np.float32)


def patch_fractions_hits_reference(masks, size, hit_patch, slot, order, adc, threads=1):
    """numpy version of the core's patch_fractions_hits (threads ignored): the dense ADC matrix, then patch_fractions_reference."""
    dense = np.zeros((len(masks), size), np.int64)
    dense[hit_patch, slot] = adc[order]
    return patch_fractions_reference(masks, dense)


def encode_reference(codec, hits, monkeypatch):
    """The numpy encoder: numpy patch extraction, fractions and code search; fractions by decoder.onnx."""
    with monkeypatch.context() as m:
        m.setattr(P, "extract",
                  lambda h, pr, pc, mr, mc, dense_adc=True, threads=None: P.extract_reference(h, pr, pc, mr, mc))
        m.setattr(hepvq_core, "patch_fractions", patch_fractions_reference)
        m.setattr(hepvq_core, "patch_fractions_hits", patch_fractions_hits_reference)
        if codec._fast is not None:
            m.setattr(codec._fast, "search", codec._fast.search_reference)
        m.setattr(codec, "_onnx_fractions", True, raising=False)
        return codec.encode(hits).products


def assert_same_products(ref: dict, got: dict):
    assert sorted(ref) == sorted(got)
    for inst in ref:
        assert ak.to_list(ak.num(ref[inst])) == ak.to_list(ak.num(got[inst])), inst
        for f in ak.fields(ref[inst]):
            a, b = ak.to_numpy(ak.flatten(ref[inst][f])), ak.to_numpy(ak.flatten(got[inst][f]))
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{inst}.{f}"


@pytest.mark.parametrize("mode", list(MODES))
def test_core_encode_index_branches_equal_oracle(sample_hits, simulated_hits, mode, monkeypatch):
    codec = PixelVQCodec.from_directory(MODEL, **MODES[mode])
    assert codec._fast is not None
    for hits in (sample_hits[:1], simulated_hits[:1]):
        assert_same_products(encode_reference(codec, hits, monkeypatch), codec.encode(hits).products)


def test_core_patches_equal_numpy_on_unsorted_hits(sample_hits):
    h = P.flatten(sample_hits[:1])
    h = h.take(np.random.default_rng(3).permutation(len(h)))
    got, ref = P.extract(h), P.extract_reference(h)
    for f in ("event", "det", "row", "col", "mask", "adc", "cluster"):
        a, b = getattr(got[0], f), getattr(ref[0], f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f
    for a, b in zip(got[1:], ref[1:]):
        assert np.array_equal(a, b)


def test_core_search_equals_onnx_encoder(sample_hits):
    """The core's nearest-code search gives encoder.onnx's indices on every real patch it does not flag."""
    codec = PixelVQCodec.from_directory(MODEL)
    h, p = codec.patches(sample_hits[:1])
    dense = p.dense_mask()
    multi = dense.sum(1) >= 2
    x = (p.adc[multi] / p.adc[multi].sum(1, keepdims=True)).astype(np.float32)
    m = dense[multi].astype(np.float32)
    idx, amb = codec._fast.search(x, m, p.mask[multi])
    ref = codec._run_onnx_encoder(x, m)[:, 0]
    assert len(x) > 10000 and amb.mean() < 0.01
    assert np.array_equal(idx[~amb], ref[~amb])


def test_threaded_decode_equals_one_thread(sample_hits):
    codec = PixelVQCodec.from_directory(MODEL, adc_error_bound=2)
    products = codec.encode(sample_hits).products
    codec.threads = 1
    one = codec.decode(products)
    codec.threads = 3
    assert_same_digis(one, codec.decode(products))


@pytest.mark.parametrize("mode", ["lossless positions", "snapped shapes"])
def test_fractions_from_hits_equal_fractions_from_the_dense_matrix(sample_hits, mode):
    """extract_patches without the dense ADC matrix + patch_fractions_hits (the encoder's path) give what
    extract_patches + patch_fractions on the dense matrix give, on the real and on the snapped (coded) masks."""
    codec = PixelVQCodec.from_directory(MODEL, **MODES[mode])
    h = P.flatten(sample_hits[:1])
    dense, *hits_dense = P.extract(h, codec.pr, codec.pc, codec.module_rows, codec.module_cols)
    light, *hits_light = P.extract(h, codec.pr, codec.pc, codec.module_rows, codec.module_cols, dense_adc=False)
    assert light.adc is None and dense.adc.shape == (len(dense.mask), codec.size)
    for f in ("event", "det", "row", "col", "mask", "cluster"):
        assert np.array_equal(getattr(dense, f), getattr(light, f)), f
    for a, b in zip(hits_dense, hits_light):
        assert np.array_equal(a, b)
    order, hit_patch, slot = hits_light
    _code, coded = codec.shape_index(dense.mask)
    assert mode == "lossless positions" or (coded != dense.mask).any()
    for masks in (dense.mask, coded):
        ref = hepvq_core.patch_fractions(masks, dense.adc)
        got = hepvq_core.patch_fractions_hits(masks, codec.size, hit_patch, slot, order, h.adc)
        for a, b in zip(ref, got):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()



def test_fraction_self_check_once_per_decoder_graph(monkeypatch):
    """A decoder graph without a recorded verdict (hepvq.pixel.core_check): the core-vs-onnxruntime check of the
    fractions runs once per process for it (and its providers): a second codec of the same model reuses the
    verdict, a failed verdict keeps the ONNX path."""
    calls = []
    real = core._fractions_agree
    monkeypatch.setattr(core, "_AGREES", {})
    monkeypatch.setattr(core, "_fractions_agree", lambda c, m: calls.append(c) or real(c, m))
    first = PixelVQCodec.from_directory(MODEL)
    first.settings.pop("core_check")  # as a model exported before verdicts were recorded
    assert first.core_model.has_codebooks
    again = PixelVQCodec.from_metadata(first.metadata())
    assert again.core_model.has_codebooks and len(calls) == 1
    monkeypatch.setattr(core, "_AGREES", {})
    monkeypatch.setattr(core, "_fractions_agree", lambda c, m: calls.append(c) and False)
    for _ in range(2):
        assert not PixelVQCodec.from_metadata(first.metadata()).core_model.has_codebooks
    assert len(calls) == 2


def test_core_hit_adc_equals_numpy(sample_hits):
    """hepvq_core.hit_adc (the encoder's validation: decoded ADC per hit) against its numpy oracle, on the real
    fractions of a sample event and on random fractions, levels and a clip range that bites."""
    codec = PixelVQCodec.from_directory(MODEL)
    sym = codec._symbols(sample_hits[:1])
    h, p, shape, mask, charge, codes, multi = sym[:7]
    hit_patch, slot = sym.hit_patch, sym.slot
    frac = hepvq_core.pixel_vq_fractions(codec.core_model, codes.astype(np.int64), mask[multi])
    got = hepvq_core.hit_adc(frac, multi, codec.levels[charge], hit_patch, slot, codec.adc_min, codec.adc_max)
    assert got.tobytes() == codec.hit_adc_reference(frac, charge, multi, hit_patch, slot).tobytes()
    rng = np.random.default_rng(9)
    n_p, n_h = 500, 3000
    multi = rng.random(n_p) < 0.6
    frac = (rng.random((int(multi.sum()), codec.size)) * 1.2).astype(np.float32)
    frac[:5, :4] = np.float32(0.5)  # exact halves: ties round to even as np.rint
    charge = rng.integers(0, len(codec.levels), n_p)
    hp, sl = rng.integers(0, n_p, n_h), rng.integers(0, codec.size, n_h)
    hp[:20] = np.repeat(np.flatnonzero(multi)[:5], 4)
    sl[:20] = np.tile(np.arange(4), 5)
    for lo, hi in ((codec.adc_min, codec.adc_max), (3, 40)):
        codec.adc_min, codec.adc_max = lo, hi
        got = hepvq_core.hit_adc(frac, multi, codec.levels[charge], hp, sl, lo, hi)
        assert got.tobytes() == codec.hit_adc_reference(frac, charge, multi, hp, sl).tobytes()
    with pytest.raises(ValueError, match="outside the patches"):
        hepvq_core.hit_adc(frac, multi, codec.levels[charge], hp + n_p, sl, 1, 255)


def test_core_decode_equals_oracle_on_overlapping_and_edge_patches(sample_hits):
    """Patches that overlap (two hits on one pixel: the canonical order keeps them in patch order) and anchors
    at rows 250-255 (hits beyond the core's 256-row pixel bitmap): the core's writer falls back to the sort."""
    codec = PixelVQCodec.from_directory(MODEL)
    products = dict(codec.encode(sample_hits).products)
    main = products[""]
    rows = ak.to_numpy(ak.flatten(main.row)).copy()
    dcol = ak.to_numpy(ak.flatten(main.dcol))
    same_col = np.flatnonzero(dcol[1:] == 0) + 1  # same column as the patch before (mostly the same module)
    rows[same_col[::3]] = rows[same_col[::3] - 1] + 1  # overlaps the patch before by three rows
    rows[::97] = 250 + np.arange(len(rows[::97])) % 6
    fields = {f: main[f] for f in ak.fields(main)}
    fields["row"] = ak.unflatten(rows.astype(np.uint8), ak.num(main))
    products[""] = ak.zip(fields)
    got = codec.decode(products)
    h = P.flatten(got)
    assert len(h.row) > 1000 and int(h.row.max()) > 255  # beyond the bitmap
    pix = np.stack([h.event, h.det, h.row, h.col])
    assert (np.diff(pix, axis=1) == 0).all(axis=0).any()  # some pixel twice
    assert_same_digis(codec.decode_reference(products), got)
