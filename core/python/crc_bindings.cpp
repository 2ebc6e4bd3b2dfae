// Binding of the per-event CRC-32 of the decode guard (hepvq.codecs.guard.event_checksums).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "hepvq/crc32.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

void bind_crc(py::module_& m) {
  m.def(
      "event_crc32",
      [](const py::list& columns, std::size_t n_events, int threads) {
        std::vector<py::object> keep;
        std::vector<hepvq::CrcColumn> cols;
        for (const auto& item : columns) {
          auto t = item.cast<py::tuple>();
          if (t.size() != 3) throw std::invalid_argument("event_crc32: columns are (counts or None, raw, offsets)");
          auto raw = py::array_t<std::uint8_t, py::array::c_style>::ensure(t[1]);
          auto offs = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(t[2]);
          if (!raw || !offs || static_cast<std::size_t>(offs.size()) != n_events + 1)
            throw std::invalid_argument("event_crc32: raw must be uint8 and offsets hold n_events + 1 values");
          const std::int64_t* o = offs.data();
          for (std::size_t e = 0; e < n_events; ++e)
            if (o[e] < 0 || o[e + 1] < o[e] || o[e + 1] > raw.size())
              throw std::invalid_argument("event_crc32: offsets outside the raw bytes");
          hepvq::CrcColumn c;
          c.raw = raw.data();
          c.offsets = o;
          if (!t[0].is_none()) {
            auto cnt = py::array_t<std::uint32_t, py::array::c_style | py::array::forcecast>::ensure(t[0]);
            if (!cnt || static_cast<std::size_t>(cnt.size()) != n_events)
              throw std::invalid_argument("event_crc32: counts must hold one value per event");
            c.counts = cnt.data();
            keep.push_back(cnt);
          }
          keep.push_back(raw);
          keep.push_back(offs);
          cols.push_back(c);
        }
        py::array_t<std::uint32_t> out(static_cast<py::ssize_t>(n_events));
        std::uint32_t* op = out.mutable_data();
        {
          py::gil_scoped_release release;
          hepvq::event_crc32(cols, n_events, threads, op);
        }
        return out;
      },
      "columns"_a, "n_events"_a, "threads"_a = 1,
      "uint32 CRC-32 per event chained over columns [(counts uint32 per event or None, raw uint8, byte offsets "
      "(n_events + 1))]: zlib.crc32 of each event's count (4 little-endian bytes, jagged columns) then bytes.");
  m.def(
      "crc32",
      [](py::array_t<std::uint8_t, py::array::c_style> data, std::uint32_t crc) {
        return hepvq::crc32_update(crc, data.data(), static_cast<std::size_t>(data.size()));
      },
      "data"_a, "crc"_a = 0, "zlib.crc32(data, crc) of a uint8 array.");
}
