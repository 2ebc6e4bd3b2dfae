#include "hepvq/patches.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "hepvq/parallel.hpp"
#include "hepvq/stream.hpp"

namespace hepvq {

namespace {

struct Key {
  std::int64_t event, det, row, col;
  bool operator<(const Key& o) const {
    if (event != o.event) return event < o.event;
    if (det != o.det) return det < o.det;
    if (row != o.row) return row < o.row;
    return col < o.col;
  }
  bool operator==(const Key& o) const { return event == o.event && det == o.det && row == o.row && col == o.col; }
};

}  // namespace

std::vector<std::int64_t> sort_order(const PixelHitsIn& h) {
  std::vector<std::int64_t> order(h.n);
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](std::int64_t i) { return Key{h.event[i], h.det[i], h.row[i], h.col[i]}; };
  bool sorted = true;
  for (std::size_t i = 1; i < h.n && sorted; ++i) sorted = key(i - 1) < key(i);
  if (!sorted) std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return key(a) < key(b); });
  return order;
}

PatchSet extract_patches(const PixelHitsIn& h, int pr, int pc, int module_rows, int module_cols, bool dense_adc,
                         int threads) {
  if (pr * pc > 64) throw std::invalid_argument("patch of more than 64 pixels");
  PatchSet out;
  const std::size_t n = h.n;
  if (n >= (1ULL << 32)) throw std::invalid_argument("extract_patches: more than 2^32 hits in one call");
  out.order = sort_order(h);
  const auto& order = out.order;
  bool identity = true;
  for (std::size_t k = 0; k < n && identity; ++k) identity = order[k] == static_cast<std::int64_t>(k);
  // hits in sorted order: the input itself when it comes sorted (as DIGIs usually do), else sorted copies
  std::vector<std::int64_t> ev_v, det_v, r_v, c_v;
  const std::int64_t *ev = h.event, *det = h.det, *r = h.row, *c = h.col;
  if (!identity) {
    ev_v.resize(n);
    det_v.resize(n);
    r_v.resize(n);
    c_v.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      const std::int64_t i = order[k];
      ev_v[k] = h.event[i];
      det_v[k] = h.det[i];
      r_v[k] = h.row[i];
      c_v[k] = h.col[i];
    }
    ev = ev_v.data();
    det = det_v.data();
    r = r_v.data();
    c = c_v.data();
  }
  // groups of one (event, detId)
  std::vector<std::size_t> gstart;
  for (std::size_t k = 0; k < n; ++k)
    if (k == 0 || ev[k] != ev[k - 1] || det[k] != det[k - 1]) gstart.push_back(k);
  gstart.push_back(n);
  for (std::size_t k = 1; k < n; ++k)
    if (ev[k] == ev[k - 1] && det[k] == det[k - 1] && r[k] == r[k - 1] && c[k] == c[k - 1])
      throw DataError("duplicate pixel DIGI: event " + std::to_string(ev[k]) + ", detId=" + std::to_string(det[k]) +
                      " row=" + std::to_string(r[k]) + " col=" + std::to_string(c[k]));
  (void)module_rows;
  (void)module_cols;

  // 8-connected clusters: union-find whose root is the smallest member (sorted position)
  std::vector<std::uint32_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0u);
  auto find = [&](std::uint32_t i) {
    while (parent[i] != i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  auto unite = [&](std::uint32_t a, std::uint32_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (a < b) parent[b] = a;
    else parent[a] = b;
  };
  // the groups split into ranges of about equal hits, one per thread: every step that works group by group runs
  // on them in parallel (groups share no hit, cluster or patch; each range's patches follow the previous
  // range's, so the output does not depend on the number of threads)
  const std::size_t n_groups = gstart.size() - 1;
  const std::size_t workers =
      std::max<std::size_t>(1, std::min<std::size_t>(static_cast<std::size_t>(std::max(threads, 1)), n / 65536));
  std::vector<std::size_t> gcut(workers + 1, n_groups);
  gcut[0] = 0;
  for (std::size_t w = 1; w < workers; ++w)
    gcut[w] = static_cast<std::size_t>(
        std::lower_bound(gstart.begin(), gstart.begin() + static_cast<std::ptrdiff_t>(n_groups), n / workers * w) -
        gstart.begin());
  auto on_ranges = [&](auto&& fn) {  // fn(range w): groups gcut[w] .. gcut[w + 1]
    parallel_ranges(workers, static_cast<int>(workers), 1, [&](std::size_t u, std::size_t v) {
      for (std::size_t w = u; w < v; ++w) fn(w);
    });
  };
  on_ranges([&](std::size_t w) {
    for (std::size_t g = gcut[w]; g < gcut[w + 1]; ++g) {
      const std::size_t a = gstart[g], b = gstart[g + 1];
      std::size_t next = a;  // first hit of the row below the current hit's row
      for (std::size_t k = a; k < b; ++k) {
        if (k + 1 < b && r[k + 1] == r[k] && c[k + 1] == c[k] + 1)
          unite(static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(k + 1));
        // hits of row r + 1 with |col - c| <= 1 (sorted: a window found by advancing `next`)
        if (next <= k) next = k + 1;
        while (next < b && (r[next] < r[k] + 1 || (r[next] == r[k] + 1 && c[next] < c[k] - 1))) ++next;
        for (std::size_t q = next; q < b && r[q] == r[k] + 1 && c[q] <= c[k] + 1; ++q)
          unite(static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(q));
      }
    }
  });
  std::vector<std::uint32_t> lab(n);
  std::uint32_t ncl = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint32_t root = find(static_cast<std::uint32_t>(k));
    lab[k] = root == k ? ncl++ : lab[root];
  }
  parent = std::vector<std::uint32_t>();
  // bounding-box corners; a hit's anchor is corner + (offset / patch size) * patch size, computed once per hit
  // (shifts for the usual power-of-two patch sizes)
  std::vector<std::int64_t> rmin(ncl, INT64_MAX), cmin(ncl, INT64_MAX);
  std::vector<std::uint32_t> ar_v(n), ac_v(n);
  on_ranges([&](std::size_t w) {
    const std::size_t k0 = gstart[gcut[w]], k1 = gstart[gcut[w + 1]];
    for (std::size_t k = k0; k < k1; ++k) {
      rmin[lab[k]] = std::min(rmin[lab[k]], r[k]);
      cmin[lab[k]] = std::min(cmin[lab[k]], c[k]);
    }
    const bool pow2 = (pr & (pr - 1)) == 0 && (pc & (pc - 1)) == 0;
    const int sr = __builtin_ctz(static_cast<unsigned>(pr)), sc = __builtin_ctz(static_cast<unsigned>(pc));
    for (std::size_t k = k0; k < k1; ++k) {
      const std::int64_t r0 = rmin[lab[k]], c0 = cmin[lab[k]];
      const std::int64_t ar = pow2 ? r0 + (((r[k] - r0) >> sr) << sr) : r0 + (r[k] - r0) / pr * pr;
      const std::int64_t ac = pow2 ? c0 + (((c[k] - c0) >> sc) << sc) : c0 + (c[k] - c0) / pc * pc;
      if (ac < 0 || ac >= (1 << 20) || ar < 0 || ar >= (1 << 20))
        throw std::invalid_argument("extract_patches: row/col beyond 2^20 or more than 2^24 clusters in a module");
      ar_v[k] = static_cast<std::uint32_t>(ar);
      ac_v[k] = static_cast<std::uint32_t>(ac);
    }
  });
  rmin = std::vector<std::int64_t>();
  cmin = std::vector<std::int64_t>();
  // patches per group sorted by (anchor col, anchor row, cluster): one 64-bit key per hit within its group
  // (anchors < 2^20, cluster rank in the group < 2^24). Hits of one patch share every patch field, so their
  // order among themselves does not change the output. When the key's fields and the hit's rank in its group
  // fit 64 bits together (always for real modules), one uint64 per hit is sorted; else (key, hit) pairs.
  const int size = pr * pc;
  auto bits = [](std::uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; };
  std::uint32_t max_ar = 0, max_ac = 0;
  std::uint64_t max_rel = 0, max_group = 0;
  for (std::size_t k = 0; k < n; ++k) {
    max_ar = std::max(max_ar, ar_v[k]);
    max_ac = std::max(max_ac, ac_v[k]);
  }
  for (std::size_t g = 0; g + 1 < gstart.size(); ++g) {
    // a group's clusters have the labels lab[a] .. (first label of the next group) - 1: numbered in order of
    // their first hit, which is their root
    const std::size_t a = gstart[g], b = gstart[g + 1];
    const std::uint32_t next = b < n ? lab[b] : ncl;
    max_rel = std::max<std::uint64_t>(max_rel, next - lab[a] - 1);
    max_group = std::max<std::uint64_t>(max_group, b - a - 1);
  }
  if (max_rel >= (1u << 24))
    throw std::invalid_argument("extract_patches: row/col beyond 2^20 or more than 2^24 clusters in a module");
  const int b_idx = bits(max_group), b_rel = bits(max_rel), b_ar = bits(max_ar), b_ac = bits(max_ac);
  const bool packed = b_idx + b_rel + b_ar + b_ac <= 64;
  const int s_rel = b_idx, s_ar = b_idx + b_rel, s_ac = b_idx + b_rel + b_ar;
  std::vector<std::uint64_t> packed_keys(packed ? n : 0);
  std::vector<std::pair<std::uint64_t, std::uint32_t>> pairs(packed ? 0 : n);
  on_ranges([&](std::size_t w) {
    for (std::size_t g = gcut[w]; g < gcut[w + 1]; ++g) {
      const std::size_t a = gstart[g], b = gstart[g + 1];
      const std::uint32_t lab0 = lab[a];
      bool in_order = true;
      if (packed) {
        for (std::size_t k = a; k < b; ++k) {
          packed_keys[k] = (static_cast<std::uint64_t>(ac_v[k]) << s_ac) |
                           (static_cast<std::uint64_t>(ar_v[k]) << s_ar) |
                           (static_cast<std::uint64_t>(lab[k] - lab0) << s_rel) | static_cast<std::uint64_t>(k - a);
          in_order = in_order && (k == a || packed_keys[k - 1] < packed_keys[k]);
        }
        if (!in_order) std::sort(packed_keys.begin() + a, packed_keys.begin() + b);
      } else {
        for (std::size_t k = a; k < b; ++k) {
          pairs[k] = {(static_cast<std::uint64_t>(ac_v[k]) << 44) | (static_cast<std::uint64_t>(ar_v[k]) << 24) |
                          static_cast<std::uint64_t>(lab[k] - lab0),
                      static_cast<std::uint32_t>(k)};
          in_order = in_order && (k == a || pairs[k - 1] < pairs[k]);
        }
        if (!in_order) std::sort(pairs.begin() + a, pairs.begin() + b);
      }
    }
  });
  // the t-th hit in patch order (its index k) and its patch key within the group
  const std::uint64_t idx_mask = b_idx >= 64 ? ~0ULL : ((1ULL << b_idx) - 1);
  auto hit_at = [&](std::size_t t, std::size_t a) -> std::size_t {
    return packed ? a + static_cast<std::size_t>(packed_keys[t] & idx_mask) : pairs[t].second;
  };
  auto key_at = [&](std::size_t t) -> std::uint64_t { return packed ? packed_keys[t] >> s_rel : pairs[t].first; };
  std::vector<std::size_t> first_patch(workers + 1, 0);  // patches of range w: first_patch[w] ..
  on_ranges([&](std::size_t w) {
    std::size_t m = 0;
    for (std::size_t g = gcut[w]; g < gcut[w + 1]; ++g)
      for (std::size_t t = gstart[g]; t < gstart[g + 1]; ++t) m += t == gstart[g] || key_at(t) != key_at(t - 1);
    first_patch[w + 1] = m;
  });
  for (std::size_t w = 0; w < workers; ++w) first_patch[w + 1] += first_patch[w];
  const std::size_t n_patches = first_patch[workers];
  out.event.resize(n_patches);
  out.det.resize(n_patches);
  out.row.resize(n_patches);
  out.col.resize(n_patches);
  out.mask.assign(n_patches, 0);
  out.cluster.resize(n_patches);
  if (dense_adc) out.adc.assign(n_patches * size, 0);
  out.hit_patch.resize(n);
  out.slot.resize(n);
  on_ranges([&](std::size_t w) {
    std::size_t next_p = first_patch[w], p = next_p;
    for (std::size_t g = gcut[w]; g < gcut[w + 1]; ++g) {
      const std::size_t a = gstart[g], b = gstart[g + 1];
      for (std::size_t t = a; t < b; ++t) {
        const std::size_t k = hit_at(t, a);
        const std::int64_t ar = ar_v[k], ac = ac_v[k];
        if (t == a || key_at(t) != key_at(t - 1)) {  // a new patch: a new group or a new key
          p = next_p++;
          out.event[p] = ev[k];
          out.det[p] = det[k];
          out.row[p] = ar;
          out.col[p] = ac;
          out.cluster[p] = lab[k];
        }
        const std::int64_t s = (r[k] - ar) * pc + (c[k] - ac);
        out.hit_patch[k] = static_cast<std::int64_t>(p);
        out.slot[k] = s;
        if (dense_adc) out.adc[p * size + s] = h.adc[order[k]];
        out.mask[p] |= 1ULL << s;
      }
    }
  });
  return out;
}

void patch_fractions(const std::uint64_t* masks, const std::int64_t* adc, std::size_t n, int size,
                     std::int64_t* total, std::int64_t* nhit, std::vector<float>& x) {
  x.clear();
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t* a = adc + i * size;
    std::int64_t t = 0;
    for (int j = 0; j < size; ++j) t += ((masks[i] >> j) & 1) ? a[j] : 0;
    total[i] = t;
    nhit[i] = __builtin_popcountll(size == 64 ? masks[i] : masks[i] & ((1ULL << size) - 1));
    if (nhit[i] < 2) continue;
    const double td = static_cast<double>(t);
    for (int j = 0; j < size; ++j)  // as numpy: float64 division, then rounded to float32
      x.push_back(((masks[i] >> j) & 1) ? static_cast<float>(static_cast<double>(a[j]) / td) : 0.0f);
  }
}

void patch_fractions_hits(const std::uint64_t* masks, std::size_t n, int size, const std::int64_t* hit_patch,
                          const std::int64_t* slot, const std::int64_t* order, const std::int64_t* adc,
                          std::size_t n_hits, std::int64_t* total, std::int64_t* nhit, std::vector<float>& x) {
  // hits grouped by patch (counting sort), then each patch's slots as in patch_fractions
  std::vector<std::uint32_t> start(n + 1, 0);
  for (std::size_t k = 0; k < n_hits; ++k) {
    if (hit_patch[k] < 0 || static_cast<std::size_t>(hit_patch[k]) >= n || slot[k] < 0 || slot[k] >= size)
      throw std::invalid_argument("patch_fractions_hits: hit outside the patches");
    ++start[hit_patch[k] + 1];
  }
  for (std::size_t i = 0; i < n; ++i) start[i + 1] += start[i];
  std::vector<std::uint32_t> fill(start.begin(), start.end() - 1), members(n_hits);
  for (std::size_t k = 0; k < n_hits; ++k) members[fill[hit_patch[k]]++] = static_cast<std::uint32_t>(k);
  const std::uint64_t size_mask = size == 64 ? ~0ULL : ((1ULL << size) - 1);
  std::size_t n_multi = 0;
  for (std::size_t i = 0; i < n; ++i) n_multi += __builtin_popcountll(masks[i] & size_mask) >= 2;
  x.assign(n_multi * static_cast<std::size_t>(size), 0.0f);
  std::int64_t a[64];
  std::size_t row = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (int j = 0; j < size; ++j) a[j] = 0;
    for (std::uint32_t q = start[i]; q < start[i + 1]; ++q) {
      const std::uint32_t k = members[q];
      a[slot[k]] = adc[order[k]];
    }
    std::int64_t t = 0;
    for (int j = 0; j < size; ++j) t += ((masks[i] >> j) & 1) ? a[j] : 0;
    total[i] = t;
    nhit[i] = __builtin_popcountll(masks[i] & size_mask);
    if (nhit[i] < 2) continue;
    const double td = static_cast<double>(t);
    float* xr = x.data() + row * static_cast<std::size_t>(size);
    for (int j = 0; j < size; ++j)  // as numpy: float64 division, then rounded to float32
      xr[j] = ((masks[i] >> j) & 1) ? static_cast<float>(static_cast<double>(a[j]) / td) : 0.0f;
    ++row;
  }
}

void hit_adc(const float* fractions, std::size_t n_multi, int size, const std::uint8_t* multi,
             const std::int64_t* level, std::size_t n_patches, const std::int64_t* hit_patch, const std::int64_t* slot,
             std::size_t n_hits, std::int64_t adc_min, std::int64_t adc_max, std::int64_t* adc) {
  std::vector<std::int64_t> row(n_patches);  // row of each multi-hit patch in `fractions`
  std::int64_t m = 0;
  for (std::size_t p = 0; p < n_patches; ++p) row[p] = multi[p] ? m++ : -1;
  if (static_cast<std::size_t>(m) != n_multi)
    throw std::invalid_argument("hit_adc: fraction rows != multi-hit patches");
  for (std::size_t k = 0; k < n_hits; ++k) {
    const std::int64_t p = hit_patch[k];
    if (p < 0 || static_cast<std::size_t>(p) >= n_patches || slot[k] < 0 || slot[k] >= size)
      throw std::invalid_argument("hit_adc: hit outside the patches");
    const double f = row[p] >= 0 ? static_cast<double>(fractions[row[p] * size + slot[k]]) : 1.0;
    // as numpy: float64 product, rint (ties to even, the default rounding mode), int64, clip
    const auto a = static_cast<std::int64_t>(std::nearbyint(f * static_cast<double>(level[p])));
    adc[k] = std::min(std::max(a, adc_min), adc_max);
  }
}

}  // namespace hepvq
