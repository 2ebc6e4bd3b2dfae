// Python bindings of the codec core (module hepvq_core): numpy arrays in and out, no copies of the inputs,
// the GIL released around every loop so chunks run in parallel on Python threads.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "hepvq/stream.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

py::bytes varint_bytes(carray<std::uint64_t> values) {
  const std::uint64_t* v = values.data();
  const std::size_t n = static_cast<std::size_t>(values.size());
  std::string out;
  {
    py::gil_scoped_release release;
    out.resize(hepvq::varint_size(v, n));
    hepvq::varint_encode(v, n, reinterpret_cast<std::uint8_t*>(&out[0]));
  }
  return py::bytes(out);
}

py::array_t<std::int64_t> varint_values(py::buffer data) {
  py::buffer_info info = data.request();
  const auto* p = static_cast<const std::uint8_t*>(info.ptr);
  const std::size_t len = static_cast<std::size_t>(info.size * info.itemsize);
  std::size_t n;
  {
    py::gil_scoped_release release;
    n = hepvq::varint_count(p, len);
  }
  py::array_t<std::int64_t> out(static_cast<py::ssize_t>(n));
  auto* o = reinterpret_cast<std::uint64_t*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    hepvq::varint_decode(p, len, o);
  }
  return out;
}

py::array_t<std::uint64_t> zigzag(carray<std::int64_t> x) {
  py::array_t<std::uint64_t> out(x.size());
  const std::int64_t* a = x.data();
  std::uint64_t* o = out.mutable_data();
  py::gil_scoped_release release;
  for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = hepvq::zigzag(a[i]);
  return out;
}

py::array_t<std::int64_t> unzigzag(carray<std::uint64_t> z) {
  py::array_t<std::int64_t> out(z.size());
  const std::uint64_t* a = z.data();
  std::int64_t* o = out.mutable_data();
  py::gil_scoped_release release;
  for (py::ssize_t i = 0; i < z.size(); ++i) o[i] = hepvq::unzigzag(a[i]);
  return out;
}

py::array_t<std::uint64_t> key_gaps(carray<std::int64_t> keys) {
  py::array_t<std::uint64_t> out(keys.size());
  const std::int64_t* k = keys.data();
  std::uint64_t* o = out.mutable_data();
  py::gil_scoped_release release;
  hepvq::key_gaps(k, static_cast<std::size_t>(keys.size()), o);
  return out;
}

py::array_t<std::int64_t> keys_from_gaps(carray<std::uint64_t> gaps) {
  py::array_t<std::int64_t> out(gaps.size());
  const std::uint64_t* g = gaps.data();
  std::int64_t* o = out.mutable_data();
  py::gil_scoped_release release;
  hepvq::keys_from_gaps(g, static_cast<std::size_t>(gaps.size()), o);
  return out;
}

}  // namespace

void bind_pixel(py::module_& m);
void bind_search(py::module_& m);
void bind_patches(py::module_& m);
void bind_rans(py::module_& m);
void bind_crc(py::module_& m);
void bind_sparse(py::module_& m);

PYBIND11_MODULE(hepvq_core, m) {
  m.doc() = "hepvq codec core (C++17): stream coding and the pixel codecs' hot paths";
  static py::exception<hepvq::DataError> data_error(m, "CoreDataError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const hepvq::DataError& e) {
      // surface as hepvq.errors.DataError so callers see one error family
      py::object cls = py::module_::import("hepvq.errors").attr("DataError");
      PyErr_SetString(cls.ptr(), e.what());
    }
  });
  m.def("varint_bytes", &varint_bytes, "values"_a, "Unsigned integers -> LEB128 varint bytes.");
  m.def("varint_values", &varint_values, "data"_a, "LEB128 varint bytes -> int64 values.");
  m.def("zigzag", &zigzag, "x"_a);
  m.def("unzigzag", &unzigzag, "z"_a);
  m.def("key_gaps", &key_gaps, "keys"_a, "Strictly increasing keys -> gaps key[i] - key[i-1] - 1.");
  m.def("keys_from_gaps", &keys_from_gaps, "gaps"_a);
  bind_pixel(m);
  bind_search(m);
  bind_patches(m);
  bind_rans(m);
  bind_crc(m);
  bind_sparse(m);
}
