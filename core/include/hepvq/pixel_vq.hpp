// pixel_vq decode: index streams of one chunk -> pixel DIGIs in canonical order (event, detId, row, col).
//
// The format is described in hepvq/pixel/codec.py (docs/pixel.md): per event a module table (delta-coded
// detIds, patch counts), per patch an anchor (column delta within the module, row), a shape (table index
// or escape; context rank when the model has rank tables), a charge level index (rank given the shape) and,
// for patches with two or more hits, VQ code ranks given the shape.  Fractions come from the codebooks
// (one or more stages summed, masked, clipped, normalised) computed here in float32 exactly as the
// exported decoder.onnx does, or are supplied by the caller (any other charge model, run by onnxruntime).
#pragma once

#include <cstdint>
#include <vector>

#include "hepvq/stream.hpp"

namespace hepvq {

// Bit count without a library call on baseline x86-64 (no POPCNT instruction assumed).
inline int popcount64(std::uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
  return static_cast<int>((x * 0x0101010101010101ULL) >> 56);
}

// Everything decode needs from the codec settings (codec.json / the file's metadata).
struct PixelVQModel {
  int patch_rows = 4, patch_cols = 8;
  int adc_min = 1, adc_max = 255;
  std::vector<std::int64_t> levels;   // charge level values
  std::vector<std::uint64_t> shapes;  // shape table; code shapes.size() is the escape
  // shape context of a module: its detId bit-fields (shift, mask) folded into a key, looked up in ctx_keys
  std::vector<std::pair<int, std::int64_t>> ctx_bitfields;
  std::vector<std::int64_t> ctx_keys;  // sorted
  // rank tables perm[context * n_symbols + rank] = symbol; empty = identity
  std::vector<std::int32_t> shape_perm;               // (ctx_keys.size() + 1, n_shapes + 1)
  std::vector<std::int32_t> charge_perm;              // (n_shapes + 1, levels.size())
  std::vector<std::vector<std::int32_t>> code_perm;   // per stage: (n_shapes + 1, codebook_sizes[s])
  std::vector<std::int64_t> codebook_sizes;           // one per stage
  // codebooks (float32, stage s: codebook_sizes[s] x patch size) when decode computes the fractions itself
  std::vector<std::vector<float>> codebooks;

  int size() const { return patch_rows * patch_cols; }
  int escape() const { return static_cast<int>(shapes.size()); }
  int stages() const { return static_cast<int>(codebook_sizes.size()); }
  bool has_codebooks() const { return !codebooks.empty(); }
  // Throws std::invalid_argument naming the inconsistent table.
  void validate() const;
  // Shape context (0 = unseen) of a detId.
  std::int64_t det_context(std::int64_t det) const;
};

// The index products of one chunk as flat arrays (values widened to int64) with per-event counts.
struct PixelVQStreams {
  std::size_t n_events = 0;
  const std::int64_t* n_patch = nullptr;  // per event: patches (main product rows)
  const std::int64_t* n_module = nullptr;  // per event: module table rows
  const std::int64_t* n_corr = nullptr;    // per event: corrections (nullptr: none)
  // per patch
  const std::int64_t *shape = nullptr, *dcol = nullptr, *row = nullptr, *charge = nullptr;
  std::size_t patches = 0;
  // per module
  const std::int64_t *ddet = nullptr, *npatch = nullptr;
  std::size_t modules = 0;
  // per multi-hit patch, one array per stage
  std::vector<const std::int64_t*> codes;
  std::size_t code_rows = 0;
  const std::uint64_t* escapes = nullptr;  // masks of the escaped shapes
  std::size_t n_escapes = 0;
  const std::int64_t* farcols = nullptr;   // remainders of the column deltas of 255
  std::size_t n_farcols = 0;
  const std::int64_t *dhit = nullptr, *dadc = nullptr;  // corrections
  std::size_t n_corrections = 0;
  int adc_error_bound = -1;
};

// Decoded patches (symbols resolved): what the fractions are computed from.
struct PixelVQPatches {
  std::size_t n_events = 0;
  std::vector<std::int64_t> event_patch_start;  // n_events + 1
  std::vector<std::int64_t> det, row, col;       // per patch
  std::vector<std::uint64_t> mask;               // per patch (patch-size bits)
  std::vector<std::int64_t> q;                   // per patch: the charge level's value
  std::vector<std::int64_t> multi_row;           // per patch: row in codes/fractions, -1 for one-hit patches
  std::vector<std::int64_t> codes;               // (n_multi, stages) code symbols
  std::size_t n_multi = 0;
};

// Decoded hits of a chunk, canonical order, the input schema's types.
struct PixelHits {
  std::vector<std::int64_t> counts;  // per event
  std::vector<std::uint32_t> det;
  std::vector<std::uint16_t> row, col, adc;
};

// Streams -> patches; throws DataError (one line naming the product) on inconsistent streams.
PixelVQPatches pixel_vq_patches(const PixelVQModel& model, const PixelVQStreams& s);
// Fractions (n_multi x size, float32) of the multi-hit patches from the model's codebooks.
std::vector<float> pixel_vq_fractions(const PixelVQModel& model, const PixelVQPatches& p);
// Patches + fractions (n_multi x size; nullptr: from the codebooks) + corrections -> hits.
// Events are decoded on `threads` threads.
PixelHits pixel_vq_hits(const PixelVQModel& model, const PixelVQPatches& p, const float* fractions,
                        const PixelVQStreams& s, int threads = 1);

// Hits of patches written in canonical order, event by event, without a comparison sort in the common case: the
// hits of a module (a run of one detId) are counted per row (rows < 256), put in row order (stable), and written
// out when every row's columns then ascend; otherwise (or with a row beyond 256) the module takes the stable sort
// of canonical_order, and an event whose detIds are not ascending is buffered and given to canonical_order. Same
// order as canonical_order. Per-thread scratch (a few kB); nothing is allocated per patch.
class CanonicalWriter {
 public:
  CanonicalWriter();
  // Hits of the event go to det/row/col/adc from index k on (the caller provides room for all of them);
  // det_ascending: whether the event's detIds (of patches with hits) never decrease.
  void begin_event(std::uint32_t* det, std::uint16_t* row, std::uint16_t* col, std::uint16_t* adc, std::size_t k,
                   bool det_ascending);
  void module(std::uint32_t det) {  // the following hits are of this detId
    if (n_ && det != det_) flush();
    det_ = det;
  }
  struct Hit {
    std::uint32_t det;
    std::uint16_t row, col, adc;
  };
  std::uint32_t det() const { return det_; }
  // room for the hits of one patch (n <= 64), which the caller writes there in emission order, then patch(n)
  Hit* patch_room() {
    if (n_ + 64 > list_.size()) list_.resize(2 * n_ + 128);
    return list_.data() + n_;
  }
  void patch(int n) {
    const Hit* h = list_.data() + n_;
    n_ += static_cast<std::size_t>(n);
    if (!event_sorted_) return;
    for (int k = 0; k < n; ++k) {
      const int r = h[k].row;
      if (r < kRows) {
        ++count_[r];
        rows_[r >> 6] |= 1ull << (r & 63);
      } else {
        beyond_ = true;
      }
    }
  }
  std::size_t end_event();  // writes what is left; returns the index after the event's last hit

 private:
  static constexpr int kRows = 256;
  void flush();
  // list_ -> row, col, adc in row order (the module's place in the output); whether every row's columns ascend
  bool by_row(std::uint16_t* row, std::uint16_t* col, std::uint16_t* adc);
  std::uint32_t count_[kRows] = {};                  // hits per row of the module (then their places in sorted_)
  std::uint64_t rows_[kRows / 64] = {0, 0, 0, 0};    // rows with hits
  std::vector<Hit> list_;            // the module's (or the unsorted event's) hits in emission order
  std::vector<std::uint64_t> keys_;
  std::size_t n_ = 0, k_ = 0;
  std::uint32_t det_ = 0;
  bool beyond_ = false, event_sorted_ = true;
  std::uint32_t* det_out_ = nullptr;
  std::uint16_t *row_out_ = nullptr, *col_out_ = nullptr, *adc_out_ = nullptr;
};

// The hits of one patch (anchor row/col, mask, charge value) into w, ADC = clip(rint(fraction * q)): fractions
// from the codebooks for `codes` (one per stage; multi-hit patches), else from `fractions` (patch size values),
// else 1 (one-hit patches).
void write_patch_hits(const PixelVQModel& m, CanonicalWriter& w, std::int64_t row, std::int64_t col,
                      std::uint64_t mask, std::int64_t q, const std::int64_t* codes, const float* fractions);

// The ADC corrections of s (n_corr, dhit, dadc; none when n_corr is null) applied to the adc of hits in canonical
// order (counts: per event).
void apply_corrections(const PixelVQModel& m, const std::vector<std::int64_t>& counts, std::uint16_t* adc,
                       const std::vector<std::int64_t>& event_start, const PixelVQStreams& s);

// Stable canonical order of the hits of events [e0, e1) (hits of event e at event_start[e]..): sorts each
// (event, detId) run by (row, col), ties keeping their order.  Used by every pixel decoder.
void canonical_order(PixelHits& h, const std::vector<std::int64_t>& event_start, std::size_t e0, std::size_t e1);

}  // namespace hepvq
