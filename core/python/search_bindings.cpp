// Binding of the VQ nearest-code search (hepvq.pixel.fastsearch uses it).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "hepvq/parallel.hpp"
#include "hepvq/vq_search.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

void bind_search(py::module_& m) {
  py::class_<hepvq::VQSearch> cls(m, "VQSearch");
  cls
      .def(py::init([](py::array_t<double, py::array::c_style | py::array::forcecast> cb, int topk, double lam,
                       int cols, double tol) {
             if (cb.ndim() != 2) throw std::invalid_argument("VQSearch: the codebook must be 2-d");
             std::vector<double> v(cb.data(), cb.data() + cb.size());
             hepvq::VQSearch s(std::move(v), static_cast<std::size_t>(cb.shape(0)),
                               static_cast<std::size_t>(cb.shape(1)), topk, lam, cols);
             s.tol = tol;
             return s;
           }),
           "codebook"_a, "topk"_a, "lam"_a, "cols"_a, "tol"_a = 1e-9)
      .def_readwrite("tol", &hepvq::VQSearch::tol);
  using Fn = void (hepvq::VQSearch::*)(const float*, const std::uint64_t*, std::size_t, std::int64_t*,
                                       std::uint8_t*) const;
  auto def_search = [&](const char* name, Fn fn, const char* doc) {
    cls.def(
        name,
          [fn](const hepvq::VQSearch& s, py::array_t<float, py::array::c_style | py::array::forcecast> x,
             py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast> masks, int threads) {
            const std::size_t n = static_cast<std::size_t>(masks.size());
            if (static_cast<std::size_t>(x.size()) != n * s.d)
              throw std::invalid_argument("VQSearch.search: x must be (n, " + std::to_string(s.d) + ")");
            py::array_t<std::int64_t> idx(static_cast<py::ssize_t>(n));
            py::array_t<bool> amb(static_cast<py::ssize_t>(n));
            const float* xp = x.data();
            const std::uint64_t* mp = masks.data();
            std::int64_t* ip = idx.mutable_data();
            auto* ap = reinterpret_cast<std::uint8_t*>(amb.mutable_data());
            {
              py::gil_scoped_release release;
              hepvq::parallel_ranges(n, threads, 2048, [&](std::size_t a, std::size_t b) {
                (s.*fn)(xp + a * s.d, mp + a, b - a, ip + a, ap + a);
              });
            }
            return py::make_tuple(idx, amb);
          },
          "x"_a, "masks"_a, "threads"_a = 1,
          doc);
  };
  def_search("search", &hepvq::VQSearch::search,
             "(indices int64, ambiguous bool) of fractions x (n, D) float32 and their masks; ambiguous rows belong "
             "to the ONNX graph.");
  def_search("search_exhaustive", &hepvq::VQSearch::search_exhaustive,
             "search() with the float64 distance to every code (the previous implementation: search's oracle).");
  cls.def(
      "set_rate",
      [](hepvq::VQSearch& s, py::array_t<double, py::array::c_style | py::array::forcecast> bits, double mu) {
        if (bits.ndim() != 2 || static_cast<std::size_t>(bits.shape(1)) != s.k || bits.shape(0) < 1)
          throw std::invalid_argument("VQSearch.set_rate: bits must be (n_contexts, " + std::to_string(s.k) + ")");
        s.rate_bits.assign(bits.data(), bits.data() + bits.size());
        s.rate_contexts = static_cast<std::size_t>(bits.shape(0));
        s.rate_mu = mu;
      },
      "bits"_a, "mu"_a, "bits(code | context) (n_contexts, K) and their weight mu for search_rate.");
  cls.def(
      "search_rate",
      [](const hepvq::VQSearch& s, py::array_t<float, py::array::c_style | py::array::forcecast> x,
         py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast> masks,
         py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> ctx, int threads) {
        const std::size_t n = static_cast<std::size_t>(masks.size());
        if (static_cast<std::size_t>(x.size()) != n * s.d || static_cast<std::size_t>(ctx.size()) != n)
          throw std::invalid_argument("VQSearch.search_rate: x must be (n, " + std::to_string(s.d) +
                                      "), ctx (n,)");
        py::array_t<std::int64_t> idx(static_cast<py::ssize_t>(n));
        py::array_t<bool> amb(static_cast<py::ssize_t>(n));
        const float* xp = x.data();
        const std::uint64_t* mp = masks.data();
        const std::int64_t* cp = ctx.data();
        std::int64_t* ip = idx.mutable_data();
        auto* ap = reinterpret_cast<std::uint8_t*>(amb.mutable_data());
        {
          py::gil_scoped_release release;
          hepvq::parallel_ranges(n, threads, 2048, [&](std::size_t a, std::size_t b) {
            s.search_rate(xp + a * s.d, mp + a, cp + a, b - a, ip + a, ap + a);
          });
        }
        return py::make_tuple(idx, amb);
      },
      "x"_a, "masks"_a, "ctx"_a, "threads"_a = 1,
      "search() with mu * bits[ctx, code] added to each candidate's objective (pixel_vq format 2's rate-aware "
      "choice); ambiguous rows belong to the numpy search (FastVQSearch.search_reference with rate).");
}
