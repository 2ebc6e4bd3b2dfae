// pixel_vq format 2 decode: per-event rANS streams (hepvq/pixel/format2.py) -> the patches of pixel_vq.hpp, whose
// hits pixel_vq_hits() then computes as for format 1.  The contexts are those of format2.Contexts, computed
// from the symbols of the streams decoded before (the Python decoder, decode_symbols, is the test oracle).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "hepvq/pixel_vq.hpp"
#include "hepvq/rans.hpp"

namespace hepvq {

// The context parameters of a format-2 tables header and the constants of format2.py.
struct PixelVQF2Context {
  std::vector<std::int64_t> known_dets;  // sorted detIds of the training events
  std::vector<std::int64_t> layers;      // sorted layer values (first detId bit-field)
  std::vector<double> charge_edges;      // code context: total-charge bucket edges
  std::vector<std::int64_t> ncl_edges;   // column-gap context: module cluster-count bucket edges
  int own_shapes = 32, nhit_buckets = 8, charge_buckets = 4, tile_positions = 17;
  int module_rows = 160, module_cols = 416;
};

// One stream of a chunk: the events' blobs concatenated, byte_offsets (n_events + 1).
struct PixelVQF2Stream {
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  const std::int64_t* byte_offsets = nullptr;
};

struct PixelVQF2Input {
  std::size_t n_events = 0;
  const std::int64_t *nmod = nullptr, *ncl = nullptr, *npatch = nullptr;  // per event
  const std::int64_t* fardet = nullptr;                                   // unknown detIds, in order
  const std::int64_t* fardet_counts = nullptr;                            // per event
  std::size_t n_fardet = 0;
  // mod, ncl, dcol, row, layout, tiles, shape, esc, charge, code0, code1, ... (format2.stream_names)
  std::vector<PixelVQF2Stream> streams;
};

// Streams -> patches (det, anchor row/col, mask, charge value, codes), grouped by event and detId as format 1's;
// throws DataError (one line naming the stream) on damaged or inconsistent streams.  Events are independent
// (every context depends only on the event's own symbols): each is decoded whole, stream after stream, on one of
// `threads` threads.
PixelVQPatches pixel_vq_f2_patches(const PixelVQModel& model, const PixelVQF2Context& ctx,
                                   const std::vector<rans::Tables>& tables, const PixelVQF2Input& in, int threads);

// An array from std::malloc, released with std::free.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using MallocArray = std::unique_ptr<T[], FreeDeleter>;

// Decoded hits of a chunk (as PixelHits) in malloc'd arrays of at least n values: written in place by every
// thread, without the zero fill of a std::vector.
struct PixelHitArrays {
  std::vector<std::int64_t> counts;  // per event
  std::size_t n = 0;                 // hits
  MallocArray<std::uint32_t> det;
  MallocArray<std::uint16_t> row, col, adc;
};

// Streams -> hits in canonical order with the fractions from the model's codebooks, the ADC corrections of
// `corrections` applied (n_corr null: none): pixel_vq_hits(pixel_vq_f2_patches(...)) in one pass per event,
// the patches of an event never leaving its thread. tables: one per stream, held by the caller.
PixelHitArrays pixel_vq_f2_hits(const PixelVQModel& model, const PixelVQF2Context& ctx,
                                const std::vector<const rans::Tables*>& tables, const PixelVQF2Input& in,
                                const PixelVQStreams& corrections, int threads);

}  // namespace hepvq
