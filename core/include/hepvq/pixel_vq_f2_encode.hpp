// pixel_vq format 2 encode: the patches of one chunk -> the symbols, contexts and events of every stream, the
// per-event counts of the main product and the unknown detIds (hepvq/pixel/format2.py's encode; its numpy
// cluster_streams_reference is the test oracle).  Used by format2.py's encoder (binding pixel_vq_f2_symbols) and by
// the C++ encoder (cpp/src/encoder_pixel_vq.cpp), which then rANS-code each stream per event (rans::encode_events).
#pragma once

#include <cstdint>
#include <vector>

#include "hepvq/pixel_vq.hpp"
#include "hepvq/pixel_vq_f2.hpp"

namespace hepvq {

// One chunk's patches (any order): event, detId, anchor row/col, cluster number, shape index (escape =
// shapes.size()), mask, charge level index, multi (>= 2 hits); codes (n_multi x stages, row-major) of the multi
// patches in patch order.
struct PixelVQF2PatchesIn {
  std::size_t n = 0, n_events = 0;
  const std::int64_t *event = nullptr, *det = nullptr, *row = nullptr, *col = nullptr, *cluster = nullptr;
  const std::int64_t *shape = nullptr, *charge = nullptr;
  const std::uint64_t* mask = nullptr;
  const std::uint8_t* multi = nullptr;
  const std::int64_t* codes = nullptr;
  std::size_t n_multi = 0;
};

struct PixelVQF2Symbols {
  // per stream (format2.stream_names order): symbols, contexts, event of each symbol (grouped by event)
  std::vector<std::vector<std::int64_t>> sym, ctx, ev;
  std::vector<std::int64_t> nmod, ncl, npatch;  // per event
  std::vector<std::int64_t> fardet, fardet_ev;  // detIds not in ctx.known_dets, in stream order
};

// format2.Contexts.code: the code streams' context of a multi-hit patch (shape index, hit count, charge level index).
std::int64_t pixel_vq_f2_code_context(const PixelVQModel& model, const PixelVQF2Context& ctx, std::int64_t shape,
                                      std::int64_t nhit, std::int64_t charge);

// format2._bits_table: bits(code | context) of a code table, (n_contexts, k) row-major: scale_bits - log2(freq),
// codes at or beyond `direct` the escape entry's bits plus the raw escape bits (the rate-aware choice's rate).
std::vector<double> pixel_vq_f2_rate_bits(const rans::Tables& t, std::size_t k);

// Throws DataError when a one-row or one-column cluster has an empty tile (patches not from 8-connected clusters).
// threads > 1: contiguous event ranges (patches in event order, cluster ids ascending between ranges) on that many
// threads, their streams concatenated in event order; the same output for any thread count.
PixelVQF2Symbols pixel_vq_f2_symbols(const PixelVQModel& model, const PixelVQF2Context& ctx,
                                     const PixelVQF2PatchesIn& in, int threads = 1);

}  // namespace hepvq
