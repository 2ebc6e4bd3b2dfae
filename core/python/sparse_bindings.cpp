// Bindings of the sparse stream decode (hepvq/sparse_streams.hpp): tpc_inr format 2's coordinate and residual
// streams (hepvq.tpc.coords.decode_rans, hepvq.codecs.residual.unpack_rans) and the generic cluster-layout
// decode of hepvq.baselines.sparse_streams. Python glue: hepvq.baselines.sparse_streams_core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "hepvq/sparse_streams.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using hepvq::sparse::Tables;

namespace {

using i64array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

std::pair<const std::uint8_t*, std::size_t> bytes_of(const py::buffer& b, py::buffer_info& info) {
  info = b.request();
  return {static_cast<const std::uint8_t*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize)};
}

py::array_t<std::int64_t> array(const std::vector<std::int64_t>& v) {
  py::array_t<std::int64_t> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

}  // namespace

void bind_sparse(py::module_& m) {
  py::class_<Tables>(m, "SparseTables", "Cluster-layout stream tables of hepvq.baselines.sparse_streams.")
      .def(py::init([](std::int64_t n_cols, std::int64_t n_rows, std::int64_t value_alphabet, std::int64_t n_classes,
                       i64array keys, i64array classes, std::vector<hepvq::rans::Tables> streams, py::buffer book) {
             Tables t;
             t.n_cols = n_cols;
             t.n_rows = n_rows;
             t.value_alphabet = value_alphabet;
             t.n_classes = n_classes;
             t.keys.assign(keys.data(), keys.data() + keys.size());
             t.classes.assign(classes.data(), classes.data() + classes.size());
             t.streams = std::move(streams);
             py::buffer_info info;
             auto [p, len] = bytes_of(book, info);
             t.book = hepvq::sparse::ShapeBook::from_bytes(p, len);
             t.check();
             return t;
           }),
           "n_cols"_a, "n_rows"_a, "value_alphabet"_a, "n_classes"_a, "keys"_a, "classes"_a, "streams"_a, "book"_a)
      .def_readonly("n_cols", &Tables::n_cols)
      .def_readonly("n_rows", &Tables::n_rows)
      .def_readonly("value_alphabet", &Tables::value_alphabet);

  m.def(
      "sparse_decode_event",
      [](py::buffer blob, const Tables& t, bool with_value, const std::string& what) {
        py::buffer_info info;
        auto [p, len] = bytes_of(blob, info);
        hepvq::sparse::Hits h;
        {
          py::gil_scoped_release release;
          hepvq::sparse::decode_event(p, len, t, with_value, what, h);
        }
        return py::make_tuple(array(h.plane_key), array(h.col), array(h.row),
                              with_value ? py::object(array(h.value)) : py::object(py::none()));
      },
      "blob"_a, "tables"_a, "with_value"_a, "what"_a,
      "One event's blob -> (plane keys, col, row, value or None), sorted by (plane key, col, row).");
  m.def(
      "sparse_decode_values",
      [](py::buffer blob, i64array plane_keys, i64array col, i64array row, const Tables& t, const std::string& what) {
        const auto n = static_cast<std::size_t>(col.size());
        if (static_cast<std::size_t>(plane_keys.size()) != n || static_cast<std::size_t>(row.size()) != n)
          throw std::invalid_argument("sparse_decode_values: plane_keys, col and row differ in length");
        py::buffer_info info;
        auto [p, len] = bytes_of(blob, info);
        py::array_t<std::int64_t> out(static_cast<py::ssize_t>(n));
        std::int64_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          hepvq::sparse::decode_values(p, len, plane_keys.data(), col.data(), row.data(), n, t, what, o);
        }
        return out;
      },
      "blob"_a, "plane_keys"_a, "col"_a, "row"_a, "tables"_a, "what"_a);
  m.def(
      "tpc_decode_coords",
      [](py::buffer blob, const Tables& t, std::int64_t P, std::int64_t Z, std::int64_t L, const std::string& what) {
        py::buffer_info info;
        auto [p, len] = bytes_of(blob, info);
        hepvq::sparse::TpcHitsKeyOrder h;
        {
          py::gil_scoped_release release;
          hepvq::sparse::tpc_decode_coords(p, len, t, P, Z, L, what, h);
        }
        return py::make_tuple(array(h.sector), array(h.layer), array(h.phi), array(h.z));
      },
      "blob"_a, "tables"_a, "P"_a, "Z"_a, "L"_a, "what"_a,
      "tpc_inr format-2 coordinate stream -> (sector, layer, phi, z) int64 in key order.");
  m.def(
      "sparse_unpack_residuals",
      [](py::buffer blob, i64array plane_keys, i64array col, i64array row, const Tables& t, const std::string& what) {
        const auto n = static_cast<std::size_t>(col.size());
        if (static_cast<std::size_t>(plane_keys.size()) != n || static_cast<std::size_t>(row.size()) != n)
          throw std::invalid_argument("sparse_unpack_residuals: plane_keys, col and row differ in length");
        py::buffer_info info;
        auto [p, len] = bytes_of(blob, info);
        py::array_t<std::int64_t> out(static_cast<py::ssize_t>(n));
        std::int64_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          hepvq::sparse::unpack_residuals(p, len, plane_keys.data(), col.data(), row.data(), n, t, what, o);
        }
        return out;
      },
      "blob"_a, "plane_keys"_a, "col"_a, "row"_a, "tables"_a, "what"_a,
      "hepvq.codecs.residual.unpack_rans: residual stream of hits sorted by (plane key, col, row) -> q (int64).");
  m.def(
      "sparse_encode_event",
      [](i64array plane_keys, i64array col, i64array row, py::object value, const Tables& t) {
        const auto n = static_cast<std::size_t>(col.size());
        if (static_cast<std::size_t>(plane_keys.size()) != n || static_cast<std::size_t>(row.size()) != n)
          throw std::invalid_argument("sparse_encode_event: plane_keys, col and row differ in length");
        i64array v;
        if (!value.is_none()) {
          v = i64array::ensure(value);
          if (!v || static_cast<std::size_t>(v.size()) != n)
            throw std::invalid_argument("sparse_encode_event: value must be an integer array of the hits' length");
        }
        std::vector<std::uint8_t> out;
        {
          py::gil_scoped_release release;
          out = hepvq::sparse::encode_event(plane_keys.data(), col.data(), row.data(),
                                            value.is_none() ? nullptr : v.data(), n, t);
        }
        return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
      },
      "plane_keys"_a, "col"_a, "row"_a, "value"_a, "tables"_a,
      "sparse_streams.encode_event (cluster layout) by the core: the same bytes.");
  m.def(
      "sparse_pack_residuals",
      [](i64array q, i64array plane_keys, i64array col, i64array row, const Tables& t) {
        const auto n = static_cast<std::size_t>(col.size());
        if (static_cast<std::size_t>(plane_keys.size()) != n || static_cast<std::size_t>(row.size()) != n ||
            static_cast<std::size_t>(q.size()) != n)
          throw std::invalid_argument("sparse_pack_residuals: q, plane_keys, col and row differ in length");
        std::vector<std::uint8_t> out;
        {
          py::gil_scoped_release release;
          out = hepvq::sparse::pack_residuals(q.data(), plane_keys.data(), col.data(), row.data(), n, t);
        }
        return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
      },
      "q"_a, "plane_keys"_a, "col"_a, "row"_a, "tables"_a,
      "hepvq.codecs.residual.pack_rans by the core: the same bytes.");
}
