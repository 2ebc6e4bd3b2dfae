// pixel_vq format 2 in the C++ reader (hepvq/pixel/format2.py): the file's `<label>/tables` blob checked as
// PixelVQFormat2 checks it (sha256 in the settings, model, shapes and charge grid of the header, every stream
// table's size), the products of an entry read as per-stream rANS blobs, and a chunk of entries turned into
// patches by the core's decoder (core/src/pixel_vq_f2.cpp, the one Python's decode_core calls).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hepvq/pixel_vq.hpp"
#include "hepvq/pixel_vq_f2.hpp"
#include "hepvq/rans.hpp"
#include "internal.hpp"
#include "json_util.hpp"

namespace hepvq {
namespace detail {

class PixelVQF2Format {
 public:
  // settings: the codec's settings JSON (with "format2"); tables: the `tables` blob; model: set up from settings
  PixelVQF2Format(const json& settings, const std::string& tables, const PixelVQModel& model,
                  const std::string& where);
  // the products of one entry: main product counts, unknown detIds, one blob per stream (format2.stream_names)
  void symbolsOf(const Products& products, PixelVQF2Symbols& out) const;
  // the events' streams -> patches (DataError on damaged streams, as the core throws it)
  PixelVQPatches patches(const PixelVQModel& model, const std::vector<const PixelVQF2Symbols*>& events,
                         int threads) const;
  // the context parameters and the stream tables (format2.stream_names order): the encoder's too
  const PixelVQF2Context& context() const { return ctx_; }
  const std::vector<rans::Tables>& tables() const { return tables_; }
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::string where_;
  std::vector<std::string> names_;  // stream names in decoding order
  PixelVQF2Context ctx_;
  std::vector<rans::Tables> tables_;
};

}  // namespace detail
}  // namespace hepvq
