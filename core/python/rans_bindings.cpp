// Bindings of the rANS entropy coder (hepvq/rans.hpp): uint32 arrays in and out, bytes blobs, GIL released.
// The Python API is hepvq.codecs.entropy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "hepvq/rans.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using hepvq::rans::Tables;

namespace {

using u32array = py::array_t<std::uint32_t, py::array::c_style | py::array::forcecast>;

const std::uint32_t* contexts_ptr(const py::object& contexts, u32array& keep, std::size_t n, const char* who) {
  if (contexts.is_none()) return nullptr;
  keep = u32array::ensure(contexts);
  if (!keep) throw std::invalid_argument(std::string(who) + ": contexts is not an array");
  if (static_cast<std::size_t>(keep.size()) != n)
    throw std::invalid_argument(std::string(who) + ": " + std::to_string(keep.size()) + " contexts for " +
                                std::to_string(n) + " symbols");
  return keep.data();
}

std::pair<const std::uint8_t*, std::size_t> bytes_of(const py::buffer& b, py::buffer_info& info) {
  info = b.request();
  return {static_cast<const std::uint8_t*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize)};
}

}  // namespace

void bind_rans(py::module_& m) {
  py::class_<Tables>(m, "RansTables", "Static rANS frequency tables (one per context); see hepvq.codecs.entropy.")
      .def_readonly("alphabet", &Tables::alphabet)
      .def_readonly("direct", &Tables::direct)
      .def_readonly("scale_bits", &Tables::scale_bits)
      .def_readonly("n_contexts", &Tables::n_contexts)
      .def_readonly("adapt_period", &Tables::adapt_period)
      .def_readonly("adapt_strength", &Tables::adapt_strength)
      .def_property_readonly("entries", &Tables::entries)
      .def_property_readonly("escape_bits", &Tables::escape_bits)
      .def_property_readonly("freqs",
                             [](const Tables& t) {
                               py::array_t<std::uint32_t> a({static_cast<py::ssize_t>(t.n_contexts),
                                                             static_cast<py::ssize_t>(t.entries())});
                               std::copy(t.freq.begin(), t.freq.end(), a.mutable_data());
                               return a;
                             })
      .def("to_bytes", [](const Tables& t) { return py::bytes(t.to_bytes()); })
      .def_static("from_bytes", [](py::buffer b) {
        py::buffer_info info;
        auto [p, len] = bytes_of(b, info);
        return Tables::from_bytes(p, len);
      });

  m.def(
      "rans_fit",
      [](u32array symbols, py::object contexts, std::uint32_t alphabet, std::uint32_t n_contexts,
         std::uint32_t direct, std::uint32_t scale_bits, std::uint32_t adapt_period, std::uint32_t adapt_strength) {
        const std::size_t n = static_cast<std::size_t>(symbols.size());
        u32array keep;
        const std::uint32_t* c = contexts_ptr(contexts, keep, n, "rans_fit");
        py::gil_scoped_release release;
        return hepvq::rans::fit(symbols.data(), c, n, alphabet, n_contexts, direct, scale_bits, adapt_period,
                                adapt_strength);
      },
      "symbols"_a, "contexts"_a, "alphabet"_a, "n_contexts"_a, "direct"_a = 0, "scale_bits"_a = 0,
      "adapt_period"_a = 0, "adapt_strength"_a = 0);
  m.def(
      "rans_encode",
      [](u32array symbols, py::object contexts, const Tables& t) {
        const std::size_t n = static_cast<std::size_t>(symbols.size());
        u32array keep;
        const std::uint32_t* c = contexts_ptr(contexts, keep, n, "rans_encode");
        std::vector<std::uint8_t> out;
        {
          py::gil_scoped_release release;
          out = hepvq::rans::encode(symbols.data(), c, n, t);
        }
        return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
      },
      "symbols"_a, "contexts"_a, "tables"_a);
  m.def(
      "rans_decode",
      [](py::buffer blob, std::size_t n, py::object contexts, const Tables& t) {
        py::buffer_info info;
        auto [p, len] = bytes_of(blob, info);
        u32array keep;
        const std::uint32_t* c = contexts_ptr(contexts, keep, n, "rans_decode");
        py::array_t<std::uint32_t> out(static_cast<py::ssize_t>(n));
        std::uint32_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          hepvq::rans::decode(p, len, n, c, t, o);
        }
        return out;
      },
      "blob"_a, "n"_a, "contexts"_a, "tables"_a);
  m.def(
      "rans_encode_events",
      [](u32array symbols, py::object contexts, py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> offsets,
         const Tables& t, int threads) {
        const std::size_t n = static_cast<std::size_t>(symbols.size());
        if (offsets.size() < 1) throw std::invalid_argument("rans_encode_events: offsets need n_events + 1 entries");
        const std::size_t n_events = static_cast<std::size_t>(offsets.size() - 1);
        if (offsets.data()[n_events] != static_cast<std::int64_t>(n))
          throw std::invalid_argument("rans_encode_events: offsets end at " + std::to_string(offsets.data()[n_events]) +
                                      " for " + std::to_string(n) + " symbols");
        u32array keep;
        const std::uint32_t* c = contexts_ptr(contexts, keep, n, "rans_encode_events");
        std::vector<std::uint8_t> bytes;
        std::vector<std::int64_t> boff;
        {
          py::gil_scoped_release release;
          hepvq::rans::encode_events(symbols.data(), c, offsets.data(), n_events, t, threads, bytes, boff);
        }
        py::array_t<std::uint8_t> b(static_cast<py::ssize_t>(bytes.size()));
        std::copy(bytes.begin(), bytes.end(), b.mutable_data());
        py::array_t<std::int64_t> o(static_cast<py::ssize_t>(boff.size()));
        std::copy(boff.begin(), boff.end(), o.mutable_data());
        return py::make_tuple(b, o);
      },
      "symbols"_a, "contexts"_a, "offsets"_a, "tables"_a, "threads"_a = 1,
      "One blob per event: (concatenated bytes uint8, byte offsets int64).");
  m.def(
      "rans_decode_events",
      [](py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> bytes,
         py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> byte_offsets,
         py::array_t<std::int64_t, py::array::c_style | py::array::forcecast> offsets, py::object contexts,
         const Tables& t, int threads) {
        if (offsets.size() < 1 || byte_offsets.size() != offsets.size())
          throw std::invalid_argument("rans_decode_events: byte_offsets and offsets need n_events + 1 entries each");
        const std::size_t n_events = static_cast<std::size_t>(offsets.size() - 1);
        const std::int64_t n = offsets.data()[n_events];
        if (n < 0) throw std::invalid_argument("rans_decode_events: negative symbol count");
        u32array keep;
        const std::uint32_t* c = contexts_ptr(contexts, keep, static_cast<std::size_t>(n), "rans_decode_events");
        py::array_t<std::uint32_t> out(static_cast<py::ssize_t>(n));
        std::uint32_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          hepvq::rans::decode_events(bytes.data(), static_cast<std::size_t>(bytes.size()), byte_offsets.data(),
                                     offsets.data(), n_events, c, t, threads, o);
        }
        return out;
      },
      "bytes"_a, "byte_offsets"_a, "offsets"_a, "contexts"_a, "tables"_a, "threads"_a = 1);
  m.def(
      "rans_code_length",
      [](u32array symbols, py::object contexts, const Tables& t) {
        const std::size_t n = static_cast<std::size_t>(symbols.size());
        u32array keep;
        const std::uint32_t* c = contexts_ptr(contexts, keep, n, "rans_code_length");
        py::gil_scoped_release release;
        return hepvq::rans::code_length_bits(symbols.data(), c, n, t);
      },
      "symbols"_a, "contexts"_a, "tables"_a, "Ideal code length in bits under the coder's model.");
}
