// Clusters and patches of pixel hits (the C++ twin of hepvq/pixel/patches.py extract, same output):
// hits are grouped by (event, detId), clustered 8-connected, and each cluster's bounding box is cut into
// patch_rows x patch_cols tiles anchored at the box's lower corner.  Patches come sorted by (event, detId,
// anchor col, anchor row, cluster); masks have bit r * patch_cols + c for pixel (anchor + (r, c)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hepvq {

struct PixelHitsIn {
  std::size_t n = 0;
  const std::int64_t *event = nullptr, *det = nullptr, *row = nullptr, *col = nullptr, *adc = nullptr;
};

struct PatchSet {
  std::vector<std::int64_t> event, det, row, col;  // per patch: anchor
  std::vector<std::uint64_t> mask;
  std::vector<std::int64_t> adc;      // (n_patches, size)
  std::vector<std::int64_t> cluster;  // cluster number of each patch (0.. in order of first hit)
  std::vector<std::int64_t> order;      // hits sorted by (event, detId, row, col): input indices
  std::vector<std::int64_t> hit_patch;  // hit order[k] sits in patch hit_patch[k] ...
  std::vector<std::int64_t> slot;       // ... at slot slot[k]
};

// Sort order of hits by (event, detId, row, col) (the identity when already sorted), stable.
std::vector<std::int64_t> sort_order(const PixelHitsIn& h);

// Throws DataError on a duplicated pixel; rows/cols must be inside the module (checked by the caller).
// dense_adc = false leaves PatchSet::adc empty (patch_fractions_hits works from the hits instead).
// threads: the sortedness check and the (event, detId) groups' clustering and cutting run on up to that many
// threads (>= 65536 hits each); the output is the same for any number.
PatchSet extract_patches(const PixelHitsIn& h, int patch_rows, int patch_cols, int module_rows, int module_cols,
                         bool dense_adc = true, int threads = 1);

// Per patch (masks: the coded occupancy, adc: (n, size) values): total charge and hit count over the mask,
// and for the patches with two or more hits their charge fractions adc / total as float32 (zero outside
// the mask), the encoder's input.  x must hold (number of multi-hit patches) x size values.
void patch_fractions(const std::uint64_t* masks, const std::int64_t* adc, std::size_t n, int size,
                     std::int64_t* total, std::int64_t* nhit, std::vector<float>& x);

// patch_fractions without the dense (n, size) ADC matrix: the ADC of hit order[k] (adc in input order) sits in
// patch hit_patch[k] at slot slot[k] (extract_patches' outputs). Same totals, hit counts and fractions, straight
// from the hits; refuses two hits at one (patch, slot) (a dense matrix could not hold them either).
void patch_fractions_hits(const std::uint64_t* masks, std::size_t n, int size, const std::int64_t* hit_patch,
                          const std::int64_t* slot, const std::int64_t* order, const std::int64_t* adc,
                          std::size_t n_hits, std::int64_t* total, std::int64_t* nhit, std::vector<float>& x);
// The same in two steps, for a caller that owns the output: totals and hit counts (checks every hit; returns the
// number of multi-hit patches), then their fractions into x (n_multi x size values, zeroed here) on `threads`.
std::size_t patch_totals_hits(const std::uint64_t* masks, std::size_t n, int size, const std::int64_t* hit_patch,
                              const std::int64_t* slot, const std::int64_t* order, const std::int64_t* adc,
                              std::size_t n_hits, std::int64_t* total, std::int64_t* nhit);
void patch_fractions_hits(const std::uint64_t* masks, std::size_t n, int size, const std::int64_t* hit_patch,
                          const std::int64_t* slot, const std::int64_t* order, const std::int64_t* adc,
                          std::size_t n_hits, const std::int64_t* total, const std::int64_t* nhit, float* x,
                          int threads);

// The decoded ADC of hits given by (patch hit_patch[k], slot slot[k]) from the fractions of the multi-hit patches
// (fractions: one row of `size` per patch with multi[p], in patch order) and each patch's charge level:
// clip(rint(fraction * level), adc_min, adc_max), a one-hit patch taking its whole level -- the pixel_vq
// encoder's view of what its decoder will give (PixelVQCodec._decode_hit_adc's numpy arithmetic, in float64).
void hit_adc(const float* fractions, std::size_t n_multi, int size, const std::uint8_t* multi,
             const std::int64_t* level, std::size_t n_patches, const std::int64_t* hit_patch, const std::int64_t* slot,
             std::size_t n_hits, std::int64_t adc_min, std::int64_t adc_max, std::int64_t* adc);

}  // namespace hepvq
