#include "hepvq/pixel_vq.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>

#include "hepvq/parallel.hpp"

namespace hepvq {

namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

void check_perm(const std::vector<std::int32_t>& perm, std::size_t contexts, std::size_t symbols, const char* name) {
  if (perm.empty()) return;
  if (perm.size() != contexts * symbols)
    throw std::invalid_argument(std::string("pixel_vq model: rank table '") + name + "' has " +
                                std::to_string(perm.size()) + " entries, expected " +
                                std::to_string(contexts) + " x " + std::to_string(symbols));
  for (std::int32_t v : perm)
    if (v < 0 || static_cast<std::size_t>(v) >= symbols)
      throw std::invalid_argument(std::string("pixel_vq model: rank table '") + name + "' has symbol " +
                                  std::to_string(v) + " outside 0.." + std::to_string(symbols - 1));
}

// std::nearbyint (round half to even, as numpy's rint) without the library call for 0 <= v < 2^52: adding and
// subtracting 2^52 rounds in the default rounding mode, which is to nearest, ties to even.
inline double rint_fast(double v) {
  constexpr double two52 = 4503599627370496.0;
  if (v >= 0.0 && v < two52) {
#if FLT_EVAL_METHOD == 0
    const double t = v + two52;  // rounded to double here (no excess precision: SSE2, not x87)
#else
    volatile double t = v + two52;
#endif
    return t - two52;
  }
  return std::nearbyint(v);
}

}  // namespace

void PixelVQModel::validate() const {
  if (size() <= 0 || size() > 64)
    throw std::invalid_argument("pixel_vq model: patch of " + std::to_string(size()) + " pixels (1..64 supported)");
  if (levels.empty()) throw std::invalid_argument("pixel_vq model: no charge levels");
  const std::size_t n_sym = shapes.size() + 1;
  check_perm(shape_perm, ctx_keys.size() + 1, n_sym, "shape");
  check_perm(charge_perm, n_sym, levels.size(), "charge");
  if (!code_perm.empty() && code_perm.size() != codebook_sizes.size())
    throw std::invalid_argument("pixel_vq model: rank tables for " + std::to_string(code_perm.size()) +
                                " stages but " + std::to_string(codebook_sizes.size()) + " stages");
  for (std::size_t s = 0; s < code_perm.size(); ++s)
    check_perm(code_perm[s], n_sym, static_cast<std::size_t>(codebook_sizes[s]), "codes");
  if (!codebooks.empty()) {
    if (codebooks.size() != codebook_sizes.size())
      throw std::invalid_argument("pixel_vq model: " + std::to_string(codebooks.size()) + " codebooks for " +
                                  std::to_string(codebook_sizes.size()) + " stages");
    for (std::size_t s = 0; s < codebooks.size(); ++s)
      if (codebooks[s].size() != static_cast<std::size_t>(codebook_sizes[s]) * size())
        throw std::invalid_argument("pixel_vq model: codebook " + std::to_string(s) + " has " +
                                    std::to_string(codebooks[s].size()) + " values, expected " +
                                    std::to_string(codebook_sizes[s]) + " x " + std::to_string(size()));
  }
  if (!std::is_sorted(ctx_keys.begin(), ctx_keys.end()))
    throw std::invalid_argument("pixel_vq model: shape context keys are not sorted");
}

std::int64_t PixelVQModel::det_context(std::int64_t det) const {
  if (ctx_bitfields.empty() || ctx_keys.empty()) return 0;
  std::int64_t key = 0;
  for (const auto& [shift, mask] : ctx_bitfields) key = key * (mask + 1) + ((det >> shift) & mask);
  auto it = std::lower_bound(ctx_keys.begin(), ctx_keys.end(), key);
  return (it != ctx_keys.end() && *it == key) ? (it - ctx_keys.begin()) + 1 : 0;
}

PixelVQPatches pixel_vq_patches(const PixelVQModel& m, const PixelVQStreams& s) {
  PixelVQPatches p;
  const std::size_t n = s.patches;
  p.n_events = s.n_events;
  p.event_patch_start.assign(s.n_events + 1, 0);
  for (std::size_t e = 0; e < s.n_events; ++e) p.event_patch_start[e + 1] = p.event_patch_start[e] + s.n_patch[e];
  if (static_cast<std::size_t>(p.event_patch_start[s.n_events]) != n)
    throw DataError("pixel_vq decode: patch counts per event add up to " + str(p.event_patch_start[s.n_events]) +
                    " but the main product has " + str(n) + " patches");
  std::int64_t npatch_total = 0;
  for (std::size_t i = 0; i < s.modules; ++i) {
    if (s.npatch[i] < 0) throw DataError("pixel_vq decode: negative patch count in the module table");
    npatch_total += s.npatch[i];
  }
  if (static_cast<std::size_t>(npatch_total) != n)
    throw DataError("pixel_vq decode: module table counts " + str(npatch_total) + " patches but there are " + str(n));
  p.det.resize(n);
  p.row.resize(n);
  p.col.resize(n);
  p.mask.resize(n);
  p.q.resize(n);
  p.multi_row.resize(n);
  const int esc = m.escape();
  const int stages = m.stages();
  const std::uint64_t size_mask = m.size() == 64 ? ~0ULL : ((1ULL << m.size()) - 1);
  const std::size_t n_shape_sym = m.shapes.size() + 1;
  const std::size_t n_levels = m.levels.size();

  // module table: detIds delta-coded within each event, patches of a module consecutive
  std::size_t mod = 0, pat = 0, esc_i = 0, far_i = 0;
  for (std::size_t e = 0; e < s.n_events; ++e) {
    std::int64_t det = 0;
    for (std::int64_t k = 0; k < s.n_module[e]; ++k, ++mod) {
      if (mod >= s.modules) throw DataError("pixel_vq decode: module counts per event exceed the module table");
      det += s.ddet[mod];
      if (det < 0 || det > 0xFFFFFFFFLL)
        throw DataError("pixel_vq decode: module table gives detId " + str(det) + " outside uint32 (event " +
                        str(static_cast<std::int64_t>(e)) + " of the chunk)");
      std::int64_t col = 0;
      for (std::int64_t j = 0; j < s.npatch[mod]; ++j, ++pat) {
        std::int64_t dc = s.dcol[pat];
        if (dc == 255) {
          if (far_i >= s.n_farcols)
            throw DataError("pixel_vq decode: more column deltas of 255 than 'farcols' entries (" +
                            str(static_cast<std::int64_t>(s.n_farcols)) + ")");
          dc += s.farcols[far_i++];
        }
        col = j == 0 ? dc : col + dc;
        p.det[pat] = det;
        p.col[pat] = col;
        p.row[pat] = s.row[pat];
      }
    }
    if (static_cast<std::int64_t>(pat) != p.event_patch_start[e + 1])
      throw DataError("pixel_vq decode: the module table of event " + str(static_cast<std::int64_t>(e)) +
                      " of the chunk covers " + str(static_cast<std::int64_t>(pat) - p.event_patch_start[e]) +
                      " patches but the event has " + str(s.n_patch[e]));
  }
  if (mod != s.modules)
    throw DataError("pixel_vq decode: module counts per event add up to " + str(static_cast<std::int64_t>(mod)) +
                    " but the module table has " + str(static_cast<std::int64_t>(s.modules)) + " rows");
  if (far_i != s.n_farcols)
    throw DataError("pixel_vq decode: " + str(static_cast<std::int64_t>(far_i)) + " far columns but " +
                    str(static_cast<std::int64_t>(s.n_farcols)) + " 'farcols' entries");

  // shapes, masks, charges; multi-hit patches get a row of codes
  std::size_t multi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t shape = s.shape[i];
    if (shape < 0 || shape > esc)
      throw DataError("pixel_vq decode: shape code " + str(shape) + " beyond the table (" + str(esc) +
                      " shapes + escape)");
    if (!m.shape_perm.empty())
      shape = m.shape_perm[static_cast<std::size_t>(m.det_context(p.det[i])) * n_shape_sym + shape];
    std::uint64_t mask;
    if (shape < esc) {
      mask = m.shapes[shape];
    } else {
      if (esc_i >= s.n_escapes)
        throw DataError("pixel_vq decode: more escaped shapes than escape masks (" +
                        str(static_cast<std::int64_t>(s.n_escapes)) + ")");
      mask = s.escapes[esc_i++];
    }
    mask &= size_mask;
    p.mask[i] = mask;
    std::int64_t ch = s.charge[i];
    if (ch < 0 || static_cast<std::size_t>(ch) >= n_levels)
      throw DataError("pixel_vq decode: charge index " + str(ch) + " beyond the " +
                      str(static_cast<std::int64_t>(n_levels)) + " levels");
    if (!m.charge_perm.empty()) ch = m.charge_perm[static_cast<std::size_t>(shape) * n_levels + ch];
    p.q[i] = m.levels[ch];
    if (popcount64(mask) >= 2) {
      p.multi_row[i] = static_cast<std::int64_t>(multi++);
    } else {
      p.multi_row[i] = -1;
    }
  }
  if (esc_i != s.n_escapes)
    throw DataError("pixel_vq decode: " + str(static_cast<std::int64_t>(esc_i)) + " escaped shapes but " +
                    str(static_cast<std::int64_t>(s.n_escapes)) + " escape masks");
  if (multi != s.code_rows)
    throw DataError("pixel_vq decode: " + str(static_cast<std::int64_t>(s.code_rows)) +
                    " code rows for " + str(static_cast<std::int64_t>(multi)) + " multi-hit patches");
  if (static_cast<int>(s.codes.size()) != stages)
    throw DataError("pixel_vq decode: " + str(static_cast<std::int64_t>(s.codes.size())) +
                    " code fields for a " + str(stages) + "-stage model");
  p.n_multi = multi;
  p.codes.resize(multi * stages);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t r = p.multi_row[i];
    if (r < 0) continue;
    // the shape symbol again (context of the code ranks)
    std::int64_t shape = s.shape[i];
    if (!m.shape_perm.empty())
      shape = m.shape_perm[static_cast<std::size_t>(m.det_context(p.det[i])) * n_shape_sym + shape];
    for (int st = 0; st < stages; ++st) {
      std::int64_t c = s.codes[st][r];
      const std::int64_t k = m.codebook_sizes[st];
      if (c < 0 || c >= k)
        throw DataError("pixel_vq decode: stage " + str(st) + " code " + str(c) + " beyond the codebook size " + str(k));
      if (!m.code_perm.empty()) c = m.code_perm[st][static_cast<std::size_t>(shape) * k + c];
      p.codes[static_cast<std::size_t>(r) * stages + st] = c;
    }
  }
  return p;
}

namespace {

// Four float32 / int32 values of one SSE register (GCC vector extension: element-wise IEEE arithmetic).
using F4 = float __attribute__((vector_size(16)));
using I4 = std::int32_t __attribute__((vector_size(16)));

F4 load4(const float* p) {
  F4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// y[8g..8g+8) of the 8 slots of group g (mask bits `bits` of the group) and lanes (4 + 4) += them: the stages'
// code vectors summed in stage order from 0, masked, clipped at 0 (x > 0 ? x : +0, NaN to +0, element-wise).
void group_sums(const PixelVQModel& m, const std::int64_t* codes, int g, unsigned bits, float* y, F4& lane_lo,
                F4& lane_hi) {
  const int d = m.size(), j = 8 * g;
  F4 lo = {0, 0, 0, 0}, hi = {0, 0, 0, 0};
  for (int st = 0; st < m.stages(); ++st) {
    const float* c = m.codebooks[st].data() + codes[st] * d + j;
    lo = lo + load4(c);
    hi = hi + load4(c + 4);
  }
  const I4 b = {static_cast<std::int32_t>(bits), static_cast<std::int32_t>(bits), static_cast<std::int32_t>(bits),
                static_cast<std::int32_t>(bits)};
  const I4 bit_lo = {1, 2, 4, 8}, bit_hi = {16, 32, 64, 128};
  lo = reinterpret_cast<F4>(reinterpret_cast<I4>(lo) & ((b & bit_lo) != 0) & (lo > 0.0f));
  hi = reinterpret_cast<F4>(reinterpret_cast<I4>(hi) & ((b & bit_hi) != 0) & (hi > 0.0f));
  lane_lo += lo;
  lane_hi += hi;
  std::memcpy(y + j, &lo, sizeof lo);
  std::memcpy(y + j + 4, &hi, sizeof hi);
}

// The decoder graph's masked, clipped code vector y[0..size) of a multi-hit patch (y has 64 slots) and its sum
// (float32). The sum as onnxruntime's CPU kernel ReduceSum adds a row: 8 lanes, then halving (bit-identical on that kernel;
// hepvq.pixel.core checks this against onnxruntime on random patches before using it). A group of 8 slots
// outside the mask adds +0.0f to lanes that are >= +0, which changes nothing: it is skipped.
float patch_sums(const PixelVQModel& m, const std::int64_t* codes, std::uint64_t mask, float* y) {
  const int d = m.size(), groups = d / 8;
  F4 lane_lo = {0, 0, 0, 0}, lane_hi = {0, 0, 0, 0};
  for (int g = 0; g < groups; ++g) {
    const unsigned bits = static_cast<unsigned>(mask >> (8 * g)) & 0xFFu;
    if (bits) {
      group_sums(m, codes, g, bits, y, lane_lo, lane_hi);
    } else {
      std::memset(y + 8 * g, 0, 8 * sizeof(float));
    }
  }
  for (int j = 8 * groups; j < d; ++j) {
    float v = 0.0f;
    for (int st = 0; st < m.stages(); ++st) v = v + m.codebooks[st][codes[st] * d + j];
    v = ((mask >> j) & 1) ? v : 0.0f;
    y[j] = v > 0.0f ? v : 0.0f;
  }
  if (d < 64 && (mask >> d)) std::memset(y + d, 0, (64 - d) * sizeof(float));  // slots beyond the patch: 0
  const F4 half = lane_lo + lane_hi;  // lane[l] += lane[l + 4]
  float tot = (half[0] + half[2]) + (half[1] + half[3]);
  for (int j = 8 * groups; j < d; ++j) tot += y[j];
  return tot;
}

constexpr float kEps = 1e-6f;

// Fractions of one multi-hit patch (row r of the codes) into f[0..size): the decoder graph in float32
// (y / max(sum, eps) when the sum exceeds eps, else uniform over the mask).
void fractions_one(const PixelVQModel& m, const std::int64_t* codes, std::uint64_t mask, float* f) {
  const int d = m.size();
  float y[64];
  const float tot = patch_sums(m, codes, mask, y);
  if (tot > kEps) {
    const float t = std::max(tot, kEps);
    for (int k = 0; k < d; ++k) f[k] = y[k] / t;
  } else {
    const float nm = std::max(static_cast<float>(popcount64(mask)), 1.0f);
    for (int k = 0; k < d; ++k) f[k] = (((mask >> k) & 1) ? 1.0f : 0.0f) / nm;
  }
}

}  // namespace

std::vector<float> pixel_vq_fractions(const PixelVQModel& m, const PixelVQPatches& p) {
  const int d = m.size();
  std::vector<float> out(p.n_multi * d);
  for (std::size_t i = 0; i < p.mask.size(); ++i) {
    const std::int64_t r = p.multi_row[i];
    if (r >= 0) fractions_one(m, p.codes.data() + r * m.stages(), p.mask[i], out.data() + r * d);
  }
  return out;
}

void canonical_order(PixelHits& h, const std::vector<std::int64_t>& event_start, std::size_t e0, std::size_t e1) {
  std::vector<std::uint32_t> idx;
  std::vector<std::uint64_t> keys;
  std::vector<std::uint32_t> td;
  std::vector<std::uint16_t> tr, tc, ta;
  auto pix = [&](std::uint32_t i) { return (static_cast<std::uint64_t>(h.row[i]) << 16) + h.col[i]; };
  // stable sort of the hits of an event [lo, hi) by (detId, row, col), in place (events whose detIds are not
  // ascending: no pixel decoder writes them so)
  auto sort_event = [&](std::int64_t lo, std::int64_t hi) {
    auto less = [&](std::uint32_t u, std::uint32_t v) {
      if (h.det[u] != h.det[v]) return h.det[u] < h.det[v];
      return pix(u) < pix(v);
    };
    idx.resize(hi - lo);
    std::iota(idx.begin(), idx.end(), static_cast<std::uint32_t>(lo));
    std::stable_sort(idx.begin(), idx.end(), less);
    const std::size_t n = idx.size();
    td.resize(n);
    tr.resize(n);
    tc.resize(n);
    ta.resize(n);
    for (std::size_t t = 0; t < n; ++t) {
      td[t] = h.det[idx[t]];
      tr[t] = h.row[idx[t]];
      tc[t] = h.col[idx[t]];
      ta[t] = h.adc[idx[t]];
    }
    std::copy(td.begin(), td.end(), h.det.begin() + lo);
    std::copy(tr.begin(), tr.end(), h.row.begin() + lo);
    std::copy(tc.begin(), tc.end(), h.col.begin() + lo);
    std::copy(ta.begin(), ta.end(), h.adc.begin() + lo);
  };
  // stable sort of the hits of one detId [lo, hi) by (row, col): one 64-bit key per hit, (row, col, position
  // in the run), so that a plain sort is stable
  auto sort_module = [&](std::int64_t lo, std::int64_t hi) {
    bool sorted = true;
    for (std::int64_t i = lo + 1; i < hi && sorted; ++i)
      sorted = pix(static_cast<std::uint32_t>(i)) >= pix(static_cast<std::uint32_t>(i - 1));
    if (sorted) return;
    const std::size_t n = static_cast<std::size_t>(hi - lo);
    keys.resize(n);
    for (std::size_t t = 0; t < n; ++t)
      keys[t] = (pix(static_cast<std::uint32_t>(lo + t)) << 32) | static_cast<std::uint64_t>(t);
    std::sort(keys.begin(), keys.end());
    ta.resize(n);
    for (std::size_t t = 0; t < n; ++t) ta[t] = h.adc[lo + (keys[t] & 0xFFFFFFFFu)];
    for (std::size_t t = 0; t < n; ++t) {
      h.row[lo + t] = static_cast<std::uint16_t>(keys[t] >> 48);
      h.col[lo + t] = static_cast<std::uint16_t>(keys[t] >> 32);
      h.adc[lo + t] = ta[t];
    }
  };
  for (std::size_t e = e0; e < e1; ++e) {
    const std::int64_t a = event_start[e], b = event_start[e + 1];
    // runs of one detId (ascending within the event: every pixel decoder writes them so; else a full sort)
    bool det_sorted = true;
    for (std::int64_t i = a + 1; i < b && det_sorted; ++i) det_sorted = h.det[i] >= h.det[i - 1];
    if (!det_sorted) {
      sort_event(a, b);
      continue;
    }
    std::int64_t lo = a;
    for (std::int64_t i = a + 1; i <= b; ++i)
      if (i == b || h.det[i] != h.det[lo]) {
        sort_module(lo, i);
        lo = i;
      }
  }
}

CanonicalWriter::CanonicalWriter() : list_(256) {}

void CanonicalWriter::begin_event(std::uint32_t* det, std::uint16_t* row, std::uint16_t* col, std::uint16_t* adc,
                                  std::size_t k, bool det_ascending) {
  det_out_ = det;
  row_out_ = row;
  col_out_ = col;
  adc_out_ = adc;
  k_ = k;
  n_ = 0;
  event_sorted_ = det_ascending;
}

bool CanonicalWriter::by_row(std::uint16_t* row, std::uint16_t* col, std::uint16_t* adc) {
  // counts -> first place of each row, then the hits in emission order to their row's next place
  std::uint32_t t = 0;
  for (int rw = 0; rw < kRows / 64; ++rw)
    for (std::uint64_t rb = rows_[rw]; rb; rb &= rb - 1) {
      const int r = rw * 64 + __builtin_ctzll(rb);
      const std::uint32_t c = count_[r];
      count_[r] = t;
      t += c;
    }
  for (std::size_t i = 0; i < n_; ++i) {
    const Hit& h = list_[i];
    const std::uint32_t place = count_[h.row]++;
    row[place] = h.row;
    col[place] = h.col;
    adc[place] = h.adc;
  }
  bool ascending = true;
  for (std::size_t i = 1; i < n_; ++i)
    ascending &= (static_cast<std::uint32_t>(row[i - 1]) << 16 | col[i - 1]) <=
                 (static_cast<std::uint32_t>(row[i]) << 16 | col[i]);
  return ascending;
}

void CanonicalWriter::flush() {
  if (!event_sorted_ || !n_) return;
  std::uint32_t* const od = det_out_ + k_;
  std::uint16_t *const orow = row_out_ + k_, *const ocol = col_out_ + k_, *const oadc = adc_out_ + k_;
  std::fill_n(od, n_, det_);
  if (beyond_ || !by_row(orow, ocol, oadc)) {  // canonical_order's stable sort of a module: keys (row, col, position)
    keys_.resize(n_);
    for (std::size_t t = 0; t < n_; ++t)
      keys_[t] = (static_cast<std::uint64_t>(list_[t].row) << 48) | (static_cast<std::uint64_t>(list_[t].col) << 32) |
                 static_cast<std::uint64_t>(t);
    std::sort(keys_.begin(), keys_.end());
    for (std::size_t t = 0; t < n_; ++t) {
      const Hit& h = list_[keys_[t] & 0xFFFFFFFFu];
      orow[t] = h.row;
      ocol[t] = h.col;
      oadc[t] = h.adc;
    }
    beyond_ = false;
  }
  for (int rw = 0; rw < kRows / 64; ++rw) {
    for (std::uint64_t rb = rows_[rw]; rb; rb &= rb - 1) count_[rw * 64 + __builtin_ctzll(rb)] = 0;
    rows_[rw] = 0;
  }
  k_ += n_;
  n_ = 0;
}

std::size_t CanonicalWriter::end_event() {
  if (event_sorted_) {
    flush();
    return k_;
  }
  // detIds not ascending: canonical_order's full sort of the event
  PixelHits h;
  h.det.resize(n_);
  h.row.resize(n_);
  h.col.resize(n_);
  h.adc.resize(n_);
  for (std::size_t t = 0; t < n_; ++t) {
    h.det[t] = list_[t].det;
    h.row[t] = list_[t].row;
    h.col[t] = list_[t].col;
    h.adc[t] = list_[t].adc;
  }
  canonical_order(h, {0, static_cast<std::int64_t>(n_)}, 0, 1);
  std::copy(h.det.begin(), h.det.end(), det_out_ + k_);
  std::copy(h.row.begin(), h.row.end(), row_out_ + k_);
  std::copy(h.col.begin(), h.col.end(), col_out_ + k_);
  std::copy(h.adc.begin(), h.adc.end(), adc_out_ + k_);
  k_ += n_;
  n_ = 0;
  event_sorted_ = true;
  return k_;
}

void write_patch_hits(const PixelVQModel& m, CanonicalWriter& w, std::int64_t row, std::int64_t col,
                      std::uint64_t mask, std::int64_t q_value, const std::int64_t* codes, const float* fractions) {
  // fractions: given, or those of fractions_one (y / t), computed once for the patch
  float y[64];
  float t = 1.0f;
  if (codes) {
    const float tot = patch_sums(m, codes, mask, y);
    if (tot > kEps) {
      t = std::max(tot, kEps);
    } else {
      const float uniform = 1.0f / std::max(static_cast<float>(popcount64(mask)), 1.0f);
      for (int j = 0; j < 64; ++j) y[j] = uniform;
    }
  }
  const int cols = m.patch_cols;
  const int col_bits = (cols & (cols - 1)) == 0 ? __builtin_ctz(static_cast<unsigned>(cols)) : -1;
  const double q = static_cast<double>(q_value);
  const double lo = static_cast<double>(m.adc_min), hi = static_cast<double>(m.adc_max);
  // the hits (set slots in ascending order: row, then column), written straight into the writer's list
  CanonicalWriter::Hit* out = w.patch_room();
  const std::uint32_t det = w.det();
  int n = 0;
  for (std::uint64_t b = mask; b; b &= b - 1, ++n) {
    const int j = __builtin_ctzll(b);
    const int r = col_bits >= 0 ? j >> col_bits : j / cols;
    double frac = 1.0;
    if (codes)
      frac = static_cast<double>(y[j] / t);
    else if (fractions)
      frac = static_cast<double>(fractions[j]);
    double a = rint_fast(frac * q);  // round half to even, as numpy's rint
    a = std::min(std::max(a, lo), hi);
    out[n] = {det, static_cast<std::uint16_t>(row + r), static_cast<std::uint16_t>(col + (j - r * cols)),
              static_cast<std::uint16_t>(static_cast<std::int64_t>(a))};
  }
  w.patch(n);
}

PixelHits pixel_vq_hits(const PixelVQModel& m, const PixelVQPatches& p, const float* fractions,
                        const PixelVQStreams& s, int threads) {
  if (!fractions && p.n_multi && !m.has_codebooks())
    throw std::invalid_argument("pixel_vq decode: the model has no codebooks here; pass the fractions");
  const int d = m.size();
  PixelHits h;
  h.counts.assign(p.n_events, 0);
  std::vector<std::int64_t> event_start(p.n_events + 1, 0);
  for (std::size_t e = 0; e < p.n_events; ++e) {
    std::int64_t c = 0;
    for (std::int64_t i = p.event_patch_start[e]; i < p.event_patch_start[e + 1]; ++i) c += popcount64(p.mask[i]);
    h.counts[e] = c;
    event_start[e + 1] = event_start[e] + c;
  }
  const std::size_t total = static_cast<std::size_t>(event_start[p.n_events]);
  h.det.resize(total);
  h.row.resize(total);
  h.col.resize(total);
  h.adc.resize(total);
  // events are independent: hits in canonical order per range of events, in parallel
  parallel_ranges(p.n_events, threads, 1, [&](std::size_t e0, std::size_t e1) {
    CanonicalWriter w;
    for (std::size_t e = e0; e < e1; ++e) {
      const std::int64_t i0 = p.event_patch_start[e], i1 = p.event_patch_start[e + 1];
      bool ascending = true;
      std::int64_t last = -1;
      for (std::int64_t i = i0; i < i1 && ascending; ++i)
        if (p.mask[i]) {
          const std::int64_t dt = static_cast<std::uint32_t>(p.det[i]);
          ascending = dt >= last;
          last = dt;
        }
      w.begin_event(h.det.data(), h.row.data(), h.col.data(), h.adc.data(), static_cast<std::size_t>(event_start[e]),
                    ascending);
      for (std::int64_t i = i0; i < i1; ++i) {
        const std::int64_t r = p.multi_row[i];
        const std::int64_t* codes = nullptr;
        const float* f = nullptr;
        if (r >= 0) {
          if (fractions)
            f = fractions + static_cast<std::size_t>(r) * d;
          else
            codes = p.codes.data() + r * m.stages();
        }
        w.module(static_cast<std::uint32_t>(p.det[i]));
        write_patch_hits(m, w, p.row[i], p.col[i], p.mask[i], p.q[i], codes, f);
      }
      w.end_event();
    }
  });
  apply_corrections(m, h.counts, h.adc.data(), event_start, s);
  return h;
}

void apply_corrections(const PixelVQModel& m, const std::vector<std::int64_t>& counts, std::uint16_t* adc,
                       const std::vector<std::int64_t>& event_start, const PixelVQStreams& s) {
  // corrections: hit index deltas within each event (canonical order), quantised ADC corrections
  if (!s.n_corr) return;
  const std::int64_t bound = std::max(s.adc_error_bound, 0), step = 2 * bound + 1;
  std::size_t c = 0;
  const std::size_t n_events = counts.size();
  for (std::size_t e = 0; e < n_events; ++e) {
    std::int64_t within = 0;
    for (std::int64_t j = 0; j < s.n_corr[e]; ++j, ++c) {
      if (c >= s.n_corrections) throw DataError("pixel_vq decode: correction counts exceed the corrections product");
      within = j == 0 ? s.dhit[c] : within + s.dhit[c];
      if (within < 0 || within >= counts[e])
        throw DataError("pixel_vq decode: correction for hit " + str(within) + " of event " +
                        str(static_cast<std::int64_t>(e)) + " of the chunk, which has " + str(counts[e]) +
                        " hits");
      const std::size_t idx = static_cast<std::size_t>(event_start[e] + within);
      const std::int64_t a = static_cast<std::int64_t>(adc[idx]) + s.dadc[c] * step;
      // the true ADC is in 1..adc_max and the corrected value within the bound of it: further is damage
      if (a < 1 - bound || a > m.adc_max + bound)
        throw DataError("pixel_vq decode: corrected ADC " + str(a) + " outside 1.." + str(m.adc_max) +
                        " by more than the bound " + str(bound) + ": the corrections are damaged");
      adc[idx] = static_cast<std::uint16_t>(std::min<std::int64_t>(std::max<std::int64_t>(a, 1), m.adc_max));
    }
  }
  if (c != s.n_corrections)
    throw DataError("pixel_vq decode: correction counts per event add up to " + str(static_cast<std::int64_t>(c)) +
                    " but the corrections product has " + str(static_cast<std::int64_t>(s.n_corrections)));
}

}  // namespace hepvq
