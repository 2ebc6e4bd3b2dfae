// Bindings of the pixel codecs: numpy arrays in (no copy when already int64 and contiguous), numpy arrays out
// (the result vectors are handed over, not copied), the GIL released while the core runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <numeric>
#include <optional>

#include "hepvq/pixel_vq.hpp"
#include "hepvq/pixel_vq_f2.hpp"
#include "hepvq/pixel_vq_f2_encode.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// numpy array owning a moved-in vector
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape = {}) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  if (shape.empty()) shape = {static_cast<py::ssize_t>(heap->size())};
  return py::array_t<T>(shape, heap->data(), owner);
}

// The first n values of a malloc'd array, which the numpy array then owns.
template <class T>
py::array_t<T> to_numpy(hepvq::MallocArray<T>&& a, std::size_t n) {
  T* data = a.get();
  py::capsule owner(a.release(), [](void* p) { std::free(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(n)}, data, owner);
}

template <class T>
std::vector<T> to_vector(const carray<T>& a) {
  return std::vector<T>(a.data(), a.data() + a.size());
}

// format2.py's context dict (decode_core / encode: the tables header plus the module's constants)
hepvq::PixelVQF2Context f2_context(const py::dict& context) {
  hepvq::PixelVQF2Context c;
  c.known_dets = context["known_dets"].cast<std::vector<std::int64_t>>();
  c.layers = context["layers"].cast<std::vector<std::int64_t>>();
  c.charge_edges = context["charge_edges"].cast<std::vector<double>>();
  c.ncl_edges = context["ncl_edges"].cast<std::vector<std::int64_t>>();
  c.own_shapes = context["own_shapes"].cast<int>();
  c.nhit_buckets = context["nhit_buckets"].cast<int>();
  c.charge_buckets = context["charge_buckets"].cast<int>();
  c.tile_positions = context["tile_positions"].cast<int>();
  c.module_rows = context["module_rows"].cast<int>();
  c.module_cols = context["module_cols"].cast<int>();
  return c;
}

std::shared_ptr<hepvq::PixelVQModel> make_model(int patch_rows, int patch_cols, int adc_min, int adc_max,
                                                 carray<std::int64_t> levels, carray<std::uint64_t> shapes,
                                                 std::vector<std::pair<int, std::int64_t>> ctx_bitfields,
                                                 carray<std::int64_t> ctx_keys, carray<std::int32_t> shape_perm,
                                                 carray<std::int32_t> charge_perm,
                                                 std::vector<carray<std::int32_t>> code_perm,
                                                 std::vector<std::int64_t> codebook_sizes,
                                                 std::vector<carray<float>> codebooks) {
  auto m = std::make_shared<hepvq::PixelVQModel>();
  m->patch_rows = patch_rows;
  m->patch_cols = patch_cols;
  m->adc_min = adc_min;
  m->adc_max = adc_max;
  m->levels = to_vector(levels);
  m->shapes = to_vector(shapes);
  m->ctx_bitfields = std::move(ctx_bitfields);
  m->ctx_keys = to_vector(ctx_keys);
  m->shape_perm = to_vector(shape_perm);
  m->charge_perm = to_vector(charge_perm);
  for (auto& t : code_perm) m->code_perm.push_back(to_vector(t));
  m->codebook_sizes = std::move(codebook_sizes);
  for (auto& c : codebooks) m->codebooks.push_back(to_vector(c));
  m->validate();
  return m;
}

// The streams of one chunk; keeps the (possibly converted) input arrays alive while the core reads them.
struct Streams {
  std::vector<carray<std::int64_t>> keep;
  carray<std::uint64_t> escapes;
  hepvq::PixelVQStreams s;
};

void need_len(const carray<std::int64_t>& a, std::size_t n, const char* what) {
  if (static_cast<std::size_t>(a.size()) != n)
    throw hepvq::DataError(std::string("pixel_vq decode: ") + what + " has " + std::to_string(a.size()) +
                           " entries, expected " + std::to_string(n));
}

std::unique_ptr<Streams> make_streams(const py::dict& d, int adc_error_bound) {
  auto st = std::make_unique<Streams>();
  auto get = [&](const char* name) -> const std::int64_t* {
    if (!d.contains(name)) throw std::invalid_argument(std::string("pixel_vq decode: stream '") + name + "' missing");
    st->keep.push_back(carray<std::int64_t>::ensure(d[name]));
    if (!st->keep.back()) throw std::invalid_argument(std::string("pixel_vq decode: stream '") + name + "' is not an array");
    return st->keep.back().data();
  };
  auto len = [&]() { return static_cast<std::size_t>(st->keep.back().size()); };
  hepvq::PixelVQStreams& s = st->s;
  s.n_patch = get("n_patch");
  s.n_events = len();
  s.n_module = get("n_module");
  need_len(st->keep.back(), s.n_events, "module counts");
  s.shape = get("shape");
  s.patches = len();
  s.dcol = get("dcol");
  need_len(st->keep.back(), s.patches, "dcol");
  s.row = get("row");
  need_len(st->keep.back(), s.patches, "row");
  s.charge = get("charge");
  need_len(st->keep.back(), s.patches, "charge");
  s.ddet = get("ddet");
  s.modules = len();
  s.npatch = get("npatch");
  need_len(st->keep.back(), s.modules, "npatch");
  py::list codes = d["codes"];
  for (std::size_t i = 0; i < codes.size(); ++i) {
    st->keep.push_back(carray<std::int64_t>::ensure(codes[i]));
    if (i == 0) s.code_rows = len();
    need_len(st->keep.back(), s.code_rows, "a code stage");
    s.codes.push_back(st->keep.back().data());
  }
  st->escapes = carray<std::uint64_t>::ensure(d["escapes"]);
  s.escapes = st->escapes.data();
  s.n_escapes = static_cast<std::size_t>(st->escapes.size());
  s.farcols = get("farcols");
  s.n_farcols = len();
  if (d.contains("n_corr") && !d["n_corr"].is_none()) {
    s.n_corr = get("n_corr");
    need_len(st->keep.back(), s.n_events, "correction counts");
    s.dhit = get("dhit");
    s.n_corrections = len();
    s.dadc = get("dadc");
    need_len(st->keep.back(), s.n_corrections, "dadc");
  }
  s.adc_error_bound = adc_error_bound;
  return st;
}

py::tuple hits_tuple(hepvq::PixelHits&& h) {
  return py::make_tuple(to_numpy(std::move(h.counts)), to_numpy(std::move(h.det)), to_numpy(std::move(h.row)),
                        to_numpy(std::move(h.col)), to_numpy(std::move(h.adc)));
}

}  // namespace

void bind_pixel(py::module_& m) {
  py::class_<hepvq::PixelVQModel, std::shared_ptr<hepvq::PixelVQModel>>(m, "PixelVQModel")
      .def(py::init(&make_model), "patch_rows"_a, "patch_cols"_a, "adc_min"_a, "adc_max"_a, "levels"_a, "shapes"_a,
           "ctx_bitfields"_a, "ctx_keys"_a, "shape_perm"_a, "charge_perm"_a, "code_perm"_a, "codebook_sizes"_a,
           "codebooks"_a)
      .def_property_readonly("has_codebooks", &hepvq::PixelVQModel::has_codebooks)
      .def("det_context", [](const hepvq::PixelVQModel& self, carray<std::int64_t> det) {
        std::vector<std::int64_t> out(det.size());
        for (py::ssize_t i = 0; i < det.size(); ++i) out[i] = self.det_context(det.data()[i]);
        return to_numpy(std::move(out));
      });

  m.def(
      "pixel_vq_decode",
      [](const hepvq::PixelVQModel& model, const py::dict& streams, int adc_error_bound, py::object fractions,
         int threads) {
        auto st = make_streams(streams, adc_error_bound);
        carray<float> fr;
        const float* f = nullptr;
        if (!fractions.is_none()) {
          fr = carray<float>::ensure(fractions);
          f = fr.data();
        }
        hepvq::PixelHits h;
        {
          py::gil_scoped_release release;
          hepvq::PixelVQPatches p = hepvq::pixel_vq_patches(model, st->s);
          if (f && static_cast<std::size_t>(fr.size()) != p.n_multi * model.size())
            throw std::invalid_argument("pixel_vq decode: fractions of the wrong size");
          h = hepvq::pixel_vq_hits(model, p, f, st->s, threads);
        }
        return hits_tuple(std::move(h));
      },
      "model"_a, "streams"_a, "adc_error_bound"_a = -1, "fractions"_a = py::none(), "threads"_a = 1,
      "Index streams of a chunk -> (counts, detId, row, col, adc) in canonical order. streams: dict of arrays "
      "n_patch, n_module, shape, dcol, row, charge, ddet, npatch, codes (list per stage), escapes, farcols and "
      "optionally n_corr, dhit, dadc. fractions: (n_multi, size) float32 from the ONNX decoder, or None to "
      "compute them from the model's codebooks.");

  m.def(
      "pixel_vq_multi",
      [](const hepvq::PixelVQModel& model, const py::dict& streams) {
        auto st = make_streams(streams, -1);
        hepvq::PixelVQPatches p;
        std::vector<std::uint64_t> masks;
        {
          py::gil_scoped_release release;
          p = hepvq::pixel_vq_patches(model, st->s);
          masks.reserve(p.n_multi);
          for (std::size_t i = 0; i < p.mask.size(); ++i)
            if (p.multi_row[i] >= 0) masks.push_back(p.mask[i]);
        }
        const auto stages = static_cast<py::ssize_t>(model.stages());
        return py::make_tuple(to_numpy(std::move(p.codes), {static_cast<py::ssize_t>(p.n_multi), stages}),
                              to_numpy(std::move(masks)));
      },
      "model"_a, "streams"_a,
      "(code symbols (n_multi, stages) int64, masks uint64) of the multi-hit patches: the inputs of the ONNX "
      "decoder when the fractions come from it.");

  m.def(
      "pixel_vq_fractions",
      [](const hepvq::PixelVQModel& model, carray<std::int64_t> codes, carray<std::uint64_t> masks) {
        hepvq::PixelVQPatches p;
        const std::size_t n = static_cast<std::size_t>(masks.size());
        const int stages = model.stages();
        if (static_cast<std::size_t>(codes.size()) != n * stages)
          throw std::invalid_argument("pixel_vq_fractions: codes must be (n, stages)");
        if (!model.has_codebooks()) throw std::invalid_argument("pixel_vq_fractions: the model has no codebooks");
        for (std::size_t i = 0; i < n * stages; ++i) {
          const std::int64_t c = codes.data()[i];
          if (c < 0 || c >= model.codebook_sizes[i % stages])
            throw hepvq::DataError("pixel_vq_fractions: code " + std::to_string(c) + " beyond the codebook");
        }
        p.n_multi = n;
        p.mask.assign(masks.data(), masks.data() + n);
        p.multi_row.resize(n);
        std::iota(p.multi_row.begin(), p.multi_row.end(), 0);
        p.codes.assign(codes.data(), codes.data() + n * stages);
        std::vector<float> f;
        {
          py::gil_scoped_release release;
          f = hepvq::pixel_vq_fractions(model, p);
        }
        return to_numpy(std::move(f), {static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(model.size())});
      },
      "model"_a, "codes"_a, "masks"_a, "Fractions (n, size) float32 of code rows and masks from the codebooks.");
}

#include "hepvq/patches.hpp"

void bind_patches(py::module_& m) {
  m.def(
      "extract_patches",
      [](carray<std::int64_t> event, carray<std::int64_t> det, carray<std::int64_t> row, carray<std::int64_t> col,
         carray<std::int64_t> adc, int patch_rows, int patch_cols, int module_rows, int module_cols, bool dense_adc,
         int threads) {
        hepvq::PixelHitsIn h;
        h.n = static_cast<std::size_t>(event.size());
        for (auto* a : {&det, &row, &col, &adc})
          if (static_cast<std::size_t>(a->size()) != h.n)
            throw std::invalid_argument("extract_patches: hit arrays of different lengths");
        h.event = event.data();
        h.det = det.data();
        h.row = row.data();
        h.col = col.data();
        h.adc = adc.data();
        hepvq::PatchSet p;
        {
          py::gil_scoped_release release;
          p = hepvq::extract_patches(h, patch_rows, patch_cols, module_rows, module_cols, dense_adc, threads);
        }
        const auto np_ = static_cast<py::ssize_t>(p.event.size());
        py::object dense = py::none();
        if (dense_adc) dense = to_numpy(std::move(p.adc), {np_, static_cast<py::ssize_t>(patch_rows * patch_cols)});
        return py::make_tuple(to_numpy(std::move(p.event)), to_numpy(std::move(p.det)), to_numpy(std::move(p.row)),
                              to_numpy(std::move(p.col)), to_numpy(std::move(p.mask)), dense,
                              to_numpy(std::move(p.cluster)), to_numpy(std::move(p.order)),
                              to_numpy(std::move(p.hit_patch)), to_numpy(std::move(p.slot)));
      },
      "event"_a, "det"_a, "row"_a, "col"_a, "adc"_a, "patch_rows"_a, "patch_cols"_a, "module_rows"_a,
      "module_cols"_a, "dense_adc"_a = true, "threads"_a = 1,
      "(event, det, row, col, mask, adc (n, size) or None without dense_adc, cluster, order, hit_patch, slot) of "
      "the patches of flat hits: hepvq.pixel.patches.extract.");
  m.def(
      "patch_fractions_hits",
      [](carray<std::uint64_t> masks, int size, carray<std::int64_t> hit_patch, carray<std::int64_t> slot,
         carray<std::int64_t> order, carray<std::int64_t> adc, int threads) {
        const std::size_t n = static_cast<std::size_t>(masks.size()), nh = static_cast<std::size_t>(order.size());
        if (size < 1 || size > 64) throw std::invalid_argument("patch_fractions_hits: size must be 1..64");
        if (static_cast<std::size_t>(hit_patch.size()) != nh || static_cast<std::size_t>(slot.size()) != nh ||
            static_cast<std::size_t>(adc.size()) != nh)
          throw std::invalid_argument("patch_fractions_hits: hit arrays of different lengths");
        py::array_t<std::int64_t> total(static_cast<py::ssize_t>(n)), nhit(static_cast<py::ssize_t>(n));
        const std::uint64_t* mp = masks.data();
        const std::int64_t *hp = hit_patch.data(), *sp = slot.data(), *op = order.data(), *ap = adc.data();
        std::int64_t* tp = total.mutable_data();
        std::int64_t* np_ = nhit.mutable_data();
        std::size_t n_multi = 0;
        {
          py::gil_scoped_release release;
          n_multi = hepvq::patch_totals_hits(mp, n, size, hp, sp, op, ap, nh, tp, np_);
        }
        // the fractions straight into the returned array
        py::array_t<float> x({static_cast<py::ssize_t>(n_multi), static_cast<py::ssize_t>(size)});
        float* xp = x.mutable_data();
        {
          py::gil_scoped_release release;
          hepvq::patch_fractions_hits(mp, n, size, hp, sp, op, ap, nh, tp, np_, xp, threads);
        }
        return py::make_tuple(total, nhit, x);
      },
      "masks"_a, "size"_a, "hit_patch"_a, "slot"_a, "order"_a, "adc"_a, "threads"_a = 1,
      "patch_fractions from extract_patches' per-hit outputs (no dense ADC matrix): adc in input order, hit "
      "order[k] in patch hit_patch[k] at slot slot[k]; refuses two hits at one (patch, slot). threads: of the "
      "fractions' pass (same output for any number).");
  m.def(
      "hit_adc",
      [](carray<float> fractions, carray<bool> multi, carray<std::int64_t> level, carray<std::int64_t> hit_patch,
         carray<std::int64_t> slot, std::int64_t adc_min, std::int64_t adc_max) {
        const std::size_t np_ = static_cast<std::size_t>(multi.size()), nh = static_cast<std::size_t>(hit_patch.size());
        if (fractions.ndim() != 2 || fractions.shape(1) < 1 || fractions.shape(1) > 64)
          throw std::invalid_argument("hit_adc: fractions must be (n_multi, size <= 64)");
        if (static_cast<std::size_t>(level.size()) != np_ || static_cast<std::size_t>(slot.size()) != nh)
          throw std::invalid_argument("hit_adc: one level per patch and one slot per hit");
        py::array_t<std::int64_t> adc(static_cast<py::ssize_t>(nh));
        const float* fp = fractions.data();
        const auto* mp = reinterpret_cast<const std::uint8_t*>(multi.data());
        const std::int64_t *lp = level.data(), *hp = hit_patch.data(), *sp = slot.data();
        std::int64_t* ap = adc.mutable_data();
        const auto rows = static_cast<std::size_t>(fractions.shape(0));
        const int size = static_cast<int>(fractions.shape(1));
        {
          py::gil_scoped_release release;
          hepvq::hit_adc(fp, rows, size, mp, lp, np_, hp, sp, nh, adc_min, adc_max, ap);
        }
        return adc;
      },
      "fractions"_a, "multi"_a, "level"_a, "hit_patch"_a, "slot"_a, "adc_min"_a, "adc_max"_a,
      "Decoded ADC per hit (int64): clip(rint(fraction of its (patch, slot) * patch level), adc_min, adc_max); "
      "fractions: rows of the multi-hit patches in patch order; a one-hit patch takes its whole level.");
  m.def(
      "patch_fractions",
      [](carray<std::uint64_t> masks, carray<std::int64_t> adc) {
        const std::size_t n = static_cast<std::size_t>(masks.size());
        if (adc.ndim() != 2 || static_cast<std::size_t>(adc.shape(0)) != n || adc.shape(1) > 64)
          throw std::invalid_argument("patch_fractions: adc must be (n, size <= 64)");
        const int size = static_cast<int>(adc.shape(1));
        py::array_t<std::int64_t> total(static_cast<py::ssize_t>(n)), nhit(static_cast<py::ssize_t>(n));
        std::vector<float> x;
        const std::uint64_t* mp = masks.data();
        const std::int64_t* ap = adc.data();
        std::int64_t* tp = total.mutable_data();
        std::int64_t* hp = nhit.mutable_data();
        {
          py::gil_scoped_release release;
          hepvq::patch_fractions(mp, ap, n, size, tp, hp, x);
        }
        const auto rows = static_cast<py::ssize_t>(x.size() / std::max(size, 1));
        return py::make_tuple(total, nhit, to_numpy(std::move(x), {rows, static_cast<py::ssize_t>(size)}));
      },
      "masks"_a, "adc"_a,
      "(total charge, hit count, fractions (n_multi, size) float32 of the patches with >= 2 hits) over the masks.");

  m.def(
      "pixel_vq_f2_decode",
      [](const hepvq::PixelVQModel& model, const py::dict& context, const py::list& tables, const py::list& streams,
         carray<std::int64_t> nmod, carray<std::int64_t> ncl, carray<std::int64_t> npatch,
         carray<std::int64_t> fardet, carray<std::int64_t> fardet_counts, int threads, int adc_error_bound,
         py::object n_corr, py::object dhit, py::object dadc) {
        const hepvq::PixelVQF2Context c = f2_context(context);
        std::vector<const hepvq::rans::Tables*> t;  // the codec's, not copied (the list holds them)
        for (auto& x : tables) t.push_back(&x.cast<const hepvq::rans::Tables&>());
        const std::size_t n_ev = static_cast<std::size_t>(nmod.size());
        if (ncl.size() != nmod.size() || npatch.size() != nmod.size() || fardet_counts.size() != nmod.size())
          throw std::invalid_argument("pixel_vq_f2_decode: per-event counts of different lengths");
        std::vector<carray<std::uint8_t>> data;
        std::vector<carray<std::int64_t>> offs;
        hepvq::PixelVQF2Input in;
        in.n_events = n_ev;
        in.nmod = nmod.data();
        in.ncl = ncl.data();
        in.npatch = npatch.data();
        in.fardet = fardet.data();
        in.fardet_counts = fardet_counts.data();
        in.n_fardet = static_cast<std::size_t>(fardet.size());
        for (auto& x : streams) {
          auto pair = x.cast<py::tuple>();
          data.push_back(carray<std::uint8_t>::ensure(pair[0]));
          offs.push_back(carray<std::int64_t>::ensure(pair[1]));
          if (!data.back() || !offs.back() || static_cast<std::size_t>(offs.back().size()) != n_ev + 1 ||
              offs.back().data()[n_ev] != data.back().size())
            throw std::invalid_argument("pixel_vq_f2_decode: a stream is not (bytes, n_events + 1 byte offsets)");
          in.streams.push_back({data.back().data(), static_cast<std::size_t>(data.back().size()), offs.back().data()});
        }
        // ADC corrections (format 1's "corrections" product, applied by pixel_vq_hits as for format 1)
        hepvq::PixelVQStreams corr;
        corr.n_events = n_ev;
        corr.adc_error_bound = adc_error_bound;
        carray<std::int64_t> nc, dh, da;
        if (!n_corr.is_none()) {
          nc = carray<std::int64_t>::ensure(n_corr);
          dh = carray<std::int64_t>::ensure(dhit);
          da = carray<std::int64_t>::ensure(dadc);
          if (!nc || !dh || !da || static_cast<std::size_t>(nc.size()) != n_ev || dh.size() != da.size())
            throw std::invalid_argument("pixel_vq_f2_decode: corrections are not (n_events counts, dhit, dadc of "
                                        "one length) int64 arrays");
          corr.n_corr = nc.data();
          corr.dhit = dh.data();
          corr.dadc = da.data();
          corr.n_corrections = static_cast<std::size_t>(dh.size());
        }
        hepvq::PixelHitArrays h;
        {
          py::gil_scoped_release release;
          h = hepvq::pixel_vq_f2_hits(model, c, t, in, corr, threads);
        }
        return py::make_tuple(to_numpy(std::move(h.counts)), to_numpy(std::move(h.det), h.n),
                              to_numpy(std::move(h.row), h.n), to_numpy(std::move(h.col), h.n),
                              to_numpy(std::move(h.adc), h.n));
      },
      "model"_a, "context"_a, "tables"_a, "streams"_a, "nmod"_a, "ncl"_a, "npatch"_a, "fardet"_a, "fardet_counts"_a,
      "threads"_a = 1, "adc_error_bound"_a = -1, "n_corr"_a = py::none(), "dhit"_a = py::none(),
      "dadc"_a = py::none(),
      "pixel_vq format-2 streams of a chunk -> (counts, detId, row, col, adc) in canonical order (fractions from the "
      "model's codebooks). context: the tables header's known_dets, layers, charge_edges plus ncl_edges, "
      "own_shapes, nhit_buckets, charge_buckets, tile_positions, module_rows, module_cols; tables and streams "
      "(bytes, byte offsets) in format2.stream_names order; n_corr (per event), dhit, dadc: the 'corrections' "
      "product (adc_error_bound >= 0), None without.");

  m.def(
      "pixel_vq_f2_symbols",
      [](const hepvq::PixelVQModel& model, const py::dict& context, std::size_t n_events, carray<std::int64_t> event,
         carray<std::int64_t> det, carray<std::int64_t> row, carray<std::int64_t> col, carray<std::int64_t> cluster,
         carray<std::int64_t> shape, carray<std::uint64_t> mask, carray<std::int64_t> charge,
         carray<std::uint8_t> multi, carray<std::int64_t> codes, int threads) {
        const hepvq::PixelVQF2Context c = f2_context(context);
        const auto n = static_cast<std::size_t>(event.size());
        for (auto size : {det.size(), row.size(), col.size(), cluster.size(), shape.size(), mask.size(),
                          charge.size(), multi.size()})
          if (static_cast<std::size_t>(size) != n)
            throw std::invalid_argument("pixel_vq_f2_symbols: per-patch arrays of different lengths");
        std::size_t n_multi = 0;
        for (std::size_t i = 0; i < n; ++i) n_multi += multi.data()[i] != 0;
        if (static_cast<std::size_t>(codes.size()) != n_multi * static_cast<std::size_t>(model.stages()))
          throw std::invalid_argument("pixel_vq_f2_symbols: codes are not (multi-hit patches, stages)");
        hepvq::PixelVQF2PatchesIn in;
        in.n = n;
        in.n_events = n_events;
        in.event = event.data();
        in.det = det.data();
        in.row = row.data();
        in.col = col.data();
        in.cluster = cluster.data();
        in.shape = shape.data();
        in.mask = mask.data();
        in.charge = charge.data();
        in.multi = multi.data();
        in.codes = codes.data();
        in.n_multi = n_multi;
        hepvq::PixelVQF2Symbols s;
        {
          py::gil_scoped_release release;
          s = hepvq::pixel_vq_f2_symbols(model, c, in, threads);
        }
        py::list streams;
        for (std::size_t k = 0; k < s.sym.size(); ++k)
          streams.append(py::make_tuple(to_numpy(std::move(s.sym[k])), to_numpy(std::move(s.ctx[k])),
                                        to_numpy(std::move(s.ev[k]))));
        return py::make_tuple(streams, to_numpy(std::move(s.nmod)), to_numpy(std::move(s.ncl)),
                              to_numpy(std::move(s.npatch)), to_numpy(std::move(s.fardet)),
                              to_numpy(std::move(s.fardet_ev)));
      },
      "model"_a, "context"_a, "n_events"_a, "event"_a, "det"_a, "row"_a, "col"_a, "cluster"_a, "shape"_a, "mask"_a,
      "charge"_a, "multi"_a, "codes"_a, "threads"_a = 1,
      "pixel_vq format-2 encode: a chunk's patches -> ([(symbols, contexts, events) per stream in "
      "format2.stream_names order], nmod, ncl, npatch per event, unknown detIds, their events); int64 arrays. "
      "context as pixel_vq_f2_decode's; codes (multi-hit patches, stages) in patch order; threads: event ranges "
      "in parallel, the same output.");

  m.def(
      "pixel_vq_f2_rate_bits",
      [](const hepvq::rans::Tables& t, std::size_t k) {
        std::vector<double> b = hepvq::pixel_vq_f2_rate_bits(t, k);
        return to_numpy(std::move(b), {static_cast<py::ssize_t>(t.n_contexts), static_cast<py::ssize_t>(k)});
      },
      "tables"_a, "k"_a,
      "bits(code | context) (n_contexts, k) float64 of a format-2 code table: scale_bits - log2(freq), codes from "
      "`direct` on the escape entry's bits plus the raw escape bits (format2._bits_table).");
}
