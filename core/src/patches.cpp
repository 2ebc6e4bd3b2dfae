#include "hepvq/patches.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

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
};

const char* const kRangeError = "extract_patches: row/col beyond 2^20 or more than 2^24 clusters in a module";

int bits(std::uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

// Hits in (event, detId, row, col) order: pointers to the input itself when it comes strictly sorted (as DIGIs
// usually do; one threaded pass checks it), else to sorted copies; and the first hit of each (event, detId) group.
struct SortedHits {
  const std::int64_t *ev, *det, *r, *c;
  std::vector<std::int64_t> ev_v, det_v, r_v, c_v;
  std::vector<std::size_t> gstart;  // group starts, then n
};

// Groups of a strictly sorted input (true), or false when some hit is not above its predecessor (unsorted input or
// a duplicated pixel), checked on `threads` ranges of hits.
bool sorted_groups(const PixelHitsIn& h, int threads, std::vector<std::size_t>& gstart) {
  const std::size_t n = h.n;
  const std::size_t t = std::max<std::size_t>(1, std::min<std::size_t>(std::max(threads, 1), n / 65536));
  std::vector<std::vector<std::size_t>> starts(t);
  std::vector<char> ok(t, 1);
  parallel_ranges(t, static_cast<int>(t), 1, [&](std::size_t u, std::size_t v) {
    for (std::size_t w = u; w < v; ++w) {
      const std::size_t a = n / t * w, b = w + 1 == t ? n : n / t * (w + 1);
      auto& s = starts[w];
      bool good = true;
      if (a == 0 && b > 0) s.push_back(0);
      // the order checks without branches (a module's hits come in runs of unpredictable length)
      for (std::size_t k = std::max<std::size_t>(a, 1); k < b; ++k) {
        const std::int64_t e0 = h.event[k - 1], e1 = h.event[k], d0 = h.det[k - 1], d1 = h.det[k];
        const std::int64_t r0 = h.row[k - 1], r1 = h.row[k], c0 = h.col[k - 1], c1 = h.col[k];
        const bool next_group = (e0 != e1) | (d0 != d1);
        const bool group_up = (e0 < e1) | ((e0 == e1) & (d0 < d1));
        const bool hit_up = (r0 < r1) | ((r0 == r1) & (c0 < c1));
        good &= next_group ? group_up : hit_up;
        if (next_group) s.push_back(k);
      }
      ok[w] = good;
    }
  });
  for (char g : ok)
    if (!g) return false;
  gstart.clear();
  for (auto& s : starts) gstart.insert(gstart.end(), s.begin(), s.end());
  gstart.push_back(n);
  return true;
}

// Runs the jobs on `threads` threads, thread w every threads-th job from w. For sizing big outputs: their
// zero-filling and first-touch page faults spread over the threads instead of one after the other.
void run_spread(const std::vector<std::function<void()>>& jobs, std::size_t threads) {
  const std::size_t t = std::max<std::size_t>(1, std::min(threads, jobs.size()));
  parallel_ranges(t, static_cast<int>(t), 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t w = a; w < b; ++w)
      for (std::size_t u = w; u < jobs.size(); u += t) jobs[u]();
  });
}

void sort_hits(const PixelHitsIn& h, int threads, std::vector<std::int64_t>& order, SortedHits& s) {
  const std::size_t n = h.n;
  order.resize(n);
  if (sorted_groups(h, threads, s.gstart)) {  // the identity order, the input as is
    parallel_ranges(n, threads, 1 << 18, [&](std::size_t a, std::size_t b) {
      for (std::size_t k = a; k < b; ++k) order[k] = static_cast<std::int64_t>(k);
    });
    s.ev = h.event;
    s.det = h.det;
    s.r = h.row;
    s.c = h.col;
    return;
  }
  order = sort_order(h);
  s.ev_v.resize(n);
  s.det_v.resize(n);
  s.r_v.resize(n);
  s.c_v.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    const std::int64_t i = order[k];
    s.ev_v[k] = h.event[i];
    s.det_v[k] = h.det[i];
    s.r_v[k] = h.row[i];
    s.c_v[k] = h.col[i];
  }
  s.ev = s.ev_v.data();
  s.det = s.det_v.data();
  s.r = s.r_v.data();
  s.c = s.c_v.data();
  const std::int64_t *ev = s.ev, *det = s.det, *r = s.r, *c = s.c;
  s.gstart.clear();
  for (std::size_t k = 0; k < n; ++k)
    if (k == 0 || ev[k] != ev[k - 1] || det[k] != det[k - 1]) s.gstart.push_back(k);
  s.gstart.push_back(n);
  for (std::size_t k = 1; k < n; ++k)
    if (ev[k] == ev[k - 1] && det[k] == det[k - 1] && r[k] == r[k - 1] && c[k] == c[k - 1])
      throw DataError("duplicate pixel DIGI: event " + std::to_string(ev[k]) + ", detId=" + std::to_string(det[k]) +
                      " row=" + std::to_string(r[k]) + " col=" + std::to_string(c[k]));
}

// The patches of one thread's groups, in output order: anchor, group, cluster (counted from the thread's first),
// mask. Hits get the thread-local patch number (made global once every thread's count is known) and their slot.
struct RangePatches {
  std::vector<std::uint32_t> ar, ac, group, cluster;
  std::vector<std::uint64_t> mask;
  std::uint32_t n_clusters = 0;
};

// Scratch of one thread, sized by the largest group it meets.
struct Scratch {
  std::vector<std::uint32_t> run_start, parent, run_lab, lab, hit_tile;
  std::vector<std::int64_t> rmin, rmax, cmin, cmax;
  std::vector<std::uint64_t> tile_base, keys, pmask;
  std::vector<std::uint32_t> tile_patch;
  std::vector<std::uint32_t> p_ar, p_ac, p_lab, rank;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> pairs;
  template <class V>
  static typename V::value_type* at_least(V& v, std::size_t m) {
    if (v.size() < m) v.resize(std::max(m, v.size() * 2));
    return v.data();
  }
};

// Clusters (8-connected, numbered in order of their first hit), anchors and patches of group g: each cluster's
// bounding box is a grid of patch-sized tiles, a hit's tile is found by arithmetic, the non-empty tiles are the
// patches, and only those (not the hits) are sorted by (anchor col, anchor row, cluster).
void group_patches(const SortedHits& s, std::size_t g, int pr, int pc, Scratch& w, RangePatches& out,
                   std::int64_t* hit_patch, std::int64_t* slot) {
  const std::size_t a = s.gstart[g], m = s.gstart[g + 1] - a;  // m < 2^32 hits (checked by the caller)
  const std::int64_t *r = s.r + a, *c = s.c + a;
  // runs: hits of one row at consecutive cols; clusters are unions of runs that touch in consecutive rows
  std::uint32_t* run_start = Scratch::at_least(w.run_start, m + 1);
  std::uint32_t nr = m ? 1 : 0;  // a group has hits; written without branches (runs are short: unpredictable)
  run_start[0] = 0;
  for (std::uint32_t k = 1; k < m; ++k) {
    run_start[nr] = k;
    nr += (r[k] != r[k - 1]) | (c[k] != c[k - 1] + 1);
  }
  run_start[nr] = static_cast<std::uint32_t>(m);
  auto row_of = [&](std::uint32_t j) { return r[run_start[j]]; };
  auto lo_of = [&](std::uint32_t j) { return c[run_start[j]]; };
  auto hi_of = [&](std::uint32_t j) { return c[run_start[j + 1] - 1]; };
  std::uint32_t* parent = Scratch::at_least(w.parent, std::max<std::size_t>(nr, 1));
  for (std::uint32_t j = 0; j < nr; ++j) parent[j] = j;
  auto find = [&](std::uint32_t i) {
    while (parent[i] != i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  auto unite = [&](std::uint32_t x, std::uint32_t y) {  // the root is the smallest member (its first run)
    x = find(x);
    y = find(y);
    if (x < y) parent[y] = x;
    else if (y < x) parent[x] = y;
  };
  std::uint32_t next = 0;  // first run of the row below the current run's row that may touch it
  for (std::uint32_t j = 0; j < nr; ++j) {
    const std::int64_t rj = row_of(j), lo = lo_of(j), hi = hi_of(j);
    if (next <= j) next = j + 1;
    while (next < nr && (row_of(next) < rj + 1 || (row_of(next) == rj + 1 && hi_of(next) < lo - 1))) ++next;
    for (std::uint32_t q = next; q < nr && row_of(q) == rj + 1 && lo_of(q) <= hi + 1; ++q) unite(j, q);
  }
  // cluster of each hit (0.. in order of first hit) and its bounding box (runs sorted by row: the first run has
  // the lowest row, the last the highest)
  std::uint32_t* lab = Scratch::at_least(w.lab, m);
  std::uint32_t* run_lab = Scratch::at_least(w.run_lab, std::max<std::size_t>(nr, 1));
  std::int64_t *rmin = Scratch::at_least(w.rmin, m), *rmax = Scratch::at_least(w.rmax, m);
  std::int64_t *cmin = Scratch::at_least(w.cmin, m), *cmax = Scratch::at_least(w.cmax, m);
  std::uint32_t ncl = 0;
  for (std::uint32_t j = 0; j < nr; ++j) {
    const std::uint32_t root = find(j);
    std::uint32_t l;
    if (root == j) {
      l = ncl++;
      rmin[l] = rmax[l] = row_of(j);
      cmin[l] = lo_of(j);
      cmax[l] = hi_of(j);
    } else {
      l = run_lab[root];
      rmax[l] = row_of(j);
      cmin[l] = std::min(cmin[l], lo_of(j));
      cmax[l] = std::max(cmax[l], hi_of(j));
    }
    run_lab[j] = l;
    for (std::uint32_t k = run_start[j]; k < run_start[j + 1]; ++k) lab[k] = l;
  }
  if (ncl - 1 >= (1u << 24)) throw std::invalid_argument(kRangeError);
  // tiles of each cluster's box (a box spans at most m rows and m cols: 8-connected); a sparse, far-reaching
  // cluster (many more tiles than hits) has its tiles numbered in a hash-free way by a sort of its hits instead
  const bool pow2 = (pr & (pr - 1)) == 0 && (pc & (pc - 1)) == 0;
  const int sr = __builtin_ctz(static_cast<unsigned>(pr)), sc = __builtin_ctz(static_cast<unsigned>(pc));
  auto tile_r = [&](std::int64_t d) { return pow2 ? d >> sr : d / pr; };
  auto tile_c = [&](std::int64_t d) { return pow2 ? d >> sc : d / pc; };
  std::uint64_t* tile_base = Scratch::at_least(w.tile_base, std::size_t{ncl} + 1);
  std::uint64_t n_tiles = 0;
  for (std::uint32_t l = 0; l < ncl; ++l) {
    tile_base[l] = n_tiles;
    n_tiles += static_cast<std::uint64_t>(tile_r(rmax[l] - rmin[l]) + 1) * static_cast<std::uint64_t>(tile_c(cmax[l] - cmin[l]) + 1);
  }
  std::uint32_t* hit_tile = Scratch::at_least(w.hit_tile, m);  // the hit's patch (creation order)
  std::uint32_t *p_ar = Scratch::at_least(w.p_ar, m), *p_ac = Scratch::at_least(w.p_ac, m);
  std::uint32_t* p_lab = Scratch::at_least(w.p_lab, m);
  std::uint32_t np = 0, max_ar = 0, max_ac = 0;
  auto new_patch = [&](std::int64_t a_r, std::int64_t a_c, std::uint32_t l) {
    if (a_c < 0 || a_c >= (1 << 20) || a_r < 0 || a_r >= (1 << 20)) throw std::invalid_argument(kRangeError);
    p_ar[np] = static_cast<std::uint32_t>(a_r);
    p_ac[np] = static_cast<std::uint32_t>(a_c);
    p_lab[np] = l;
    max_ar = std::max(max_ar, p_ar[np]);
    max_ac = std::max(max_ac, p_ac[np]);
    return np++;
  };
  if (n_tiles <= 4 * static_cast<std::uint64_t>(m) + 1024) {
    std::uint32_t* tile_patch = Scratch::at_least(w.tile_patch, n_tiles);  // UINT32_MAX: no patch yet (np < m)
    std::fill(tile_patch, tile_patch + n_tiles, UINT32_MAX);
    for (std::size_t k = 0; k < m; ++k) {
      const std::uint32_t l = lab[k];
      const std::int64_t tr = tile_r(r[k] - rmin[l]), tc = tile_c(c[k] - cmin[l]);
      const std::uint64_t ti = tile_base[l] + static_cast<std::uint64_t>(tr * (tile_c(cmax[l] - cmin[l]) + 1) + tc);
      if (tile_patch[ti] == UINT32_MAX) tile_patch[ti] = new_patch(rmin[l] + tr * pr, cmin[l] + tc * pc, l);
      hit_tile[k] = tile_patch[ti];
    }
  } else {  // hits sorted by (cluster, tile row, tile col): equal neighbours share a patch
    auto& pairs = w.pairs;
    pairs.resize(m);
    for (std::size_t k = 0; k < m; ++k) {
      const std::uint32_t l = lab[k];
      // tile row/col < 2^20 where the anchors are (checked in new_patch); clamped here only to keep the key
      const std::uint64_t tr = static_cast<std::uint64_t>(std::min<std::int64_t>(tile_r(r[k] - rmin[l]), (1 << 20) - 1));
      const std::uint64_t tc = static_cast<std::uint64_t>(std::min<std::int64_t>(tile_c(c[k] - cmin[l]), (1 << 20) - 1));
      pairs[k] = {(static_cast<std::uint64_t>(l) << 40) | (tr << 20) | tc, static_cast<std::uint32_t>(k)};
    }
    std::sort(pairs.begin(), pairs.end());
    for (std::size_t t = 0; t < m; ++t) {
      const std::uint32_t k = pairs[t].second, l = lab[k];
      if (t == 0 || pairs[t].first != pairs[t - 1].first)
        new_patch(rmin[l] + tile_r(r[k] - rmin[l]) * pr, cmin[l] + tile_c(c[k] - cmin[l]) * pc, l);
      hit_tile[k] = np - 1;
    }
  }
  // the patches sorted by (anchor col, anchor row, cluster): one 64-bit key each with the patch's number in the
  // low bits when everything fits (always for real modules), else (key, patch) pairs
  const int b_idx = bits(np - 1), b_rel = bits(ncl - 1), b_ar = bits(max_ar), b_ac = bits(max_ac);
  std::uint32_t* rank = Scratch::at_least(w.rank, np);
  std::uint64_t* keys = Scratch::at_least(w.keys, np);
  std::uint32_t* by_rank = Scratch::at_least(w.run_start, np);  // the runs are done: their buffer is free
  if (b_idx + b_rel + b_ar + b_ac <= 64) {
    const int s_rel = b_idx, s_ar = b_idx + b_rel, s_ac = s_ar + b_ar;
    bool in_order = true;
    for (std::uint32_t j = 0; j < np; ++j) {
      keys[j] = (static_cast<std::uint64_t>(p_ac[j]) << s_ac) | (static_cast<std::uint64_t>(p_ar[j]) << s_ar) |
                (static_cast<std::uint64_t>(p_lab[j]) << s_rel) | j;
      in_order = in_order && (j == 0 || keys[j - 1] < keys[j]);
    }
    if (!in_order) std::sort(keys, keys + np);
    const std::uint64_t idx_mask = (1ULL << b_idx) - 1;  // b_idx < 32
    for (std::uint32_t t = 0; t < np; ++t) by_rank[t] = static_cast<std::uint32_t>(keys[t] & idx_mask);
  } else {
    auto& pairs = w.pairs;
    pairs.resize(np);
    for (std::uint32_t j = 0; j < np; ++j)
      pairs[j] = {(static_cast<std::uint64_t>(p_ac[j]) << 44) | (static_cast<std::uint64_t>(p_ar[j]) << 24) | p_lab[j], j};
    std::sort(pairs.begin(), pairs.begin() + np);
    for (std::uint32_t t = 0; t < np; ++t) by_rank[t] = pairs[t].second;
  }
  for (std::uint32_t t = 0; t < np; ++t) rank[by_rank[t]] = t;
  // hits: patch number (of this thread's range) and slot; patches: anchor, group, cluster, mask
  const std::size_t p0 = out.mask.size();
  std::uint64_t* pmask = Scratch::at_least(w.pmask, np);
  std::fill(pmask, pmask + np, 0);
  for (std::size_t k = 0; k < m; ++k) {
    const std::uint32_t j = hit_tile[k], t = rank[j];
    const std::int64_t sl = (r[k] - p_ar[j]) * pc + (c[k] - p_ac[j]);
    hit_patch[a + k] = static_cast<std::int64_t>(p0 + t);
    slot[a + k] = sl;
    pmask[t] |= 1ULL << sl;
  }
  for (std::uint32_t t = 0; t < np; ++t) {
    const std::uint32_t j = by_rank[t];
    out.ar.push_back(p_ar[j]);
    out.ac.push_back(p_ac[j]);
    out.group.push_back(static_cast<std::uint32_t>(g));
    out.cluster.push_back(out.n_clusters + p_lab[j]);
    out.mask.push_back(pmask[t]);
  }
  out.n_clusters += ncl;  // < 2^32: fewer clusters than hits
}

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
  if (pr < 1 || pc < 1 || pr * pc > 64) throw std::invalid_argument("patch of more than 64 pixels");
  (void)module_rows;
  (void)module_cols;
  PatchSet out;
  const std::size_t n = h.n;
  if (n >= (1ULL << 32)) throw std::invalid_argument("extract_patches: more than 2^32 hits in one call");
  const std::size_t workers =
      std::max<std::size_t>(1, std::min<std::size_t>(static_cast<std::size_t>(std::max(threads, 1)), n / 65536));
  run_spread({[&] { out.order.resize(n); }, [&] { out.hit_patch.resize(n); }, [&] { out.slot.resize(n); }},
             workers);
  SortedHits s;
  sort_hits(h, threads, out.order, s);
  // the groups split into ranges of about equal hits, one per thread (groups share no hit, cluster or patch; each
  // range's patches follow the previous range's, so the output does not depend on the number of threads)
  const std::size_t n_groups = s.gstart.size() - 1;
  std::vector<std::size_t> gcut(workers + 1, n_groups);
  gcut[0] = 0;
  for (std::size_t w = 1; w < workers; ++w)
    gcut[w] = static_cast<std::size_t>(
        std::lower_bound(s.gstart.begin(), s.gstart.begin() + static_cast<std::ptrdiff_t>(n_groups), n / workers * w) -
        s.gstart.begin());
  auto on_ranges = [&](auto&& fn) {  // fn(range w): groups gcut[w] .. gcut[w + 1]
    parallel_ranges(workers, static_cast<int>(workers), 1, [&](std::size_t u, std::size_t v) {
      for (std::size_t w = u; w < v; ++w) fn(w);
    });
  };
  std::vector<RangePatches> rp(workers);
  on_ranges([&](std::size_t w) {
    Scratch scratch;
    const std::size_t hits = s.gstart[gcut[w + 1]] - s.gstart[gcut[w]];
    for (auto* v : {&rp[w].ar, &rp[w].ac, &rp[w].group, &rp[w].cluster}) v->reserve(hits / 4 + 16);
    rp[w].mask.reserve(hits / 4 + 16);
    for (std::size_t g = gcut[w]; g < gcut[w + 1]; ++g)
      group_patches(s, g, pr, pc, scratch, rp[w], out.hit_patch.data(), out.slot.data());
  });
  // every range's patches and clusters after the previous ranges'
  std::vector<std::size_t> first_patch(workers + 1, 0);
  std::vector<std::int64_t> first_cluster(workers + 1, 0);
  for (std::size_t w = 0; w < workers; ++w) {
    first_patch[w + 1] = first_patch[w] + rp[w].mask.size();
    first_cluster[w + 1] = first_cluster[w] + rp[w].n_clusters;
  }
  const std::size_t n_patches = first_patch[workers];
  const int size = pr * pc;
  run_spread({[&] { out.event.resize(n_patches); }, [&] { out.det.resize(n_patches); },
              [&] { out.row.resize(n_patches); }, [&] { out.col.resize(n_patches); },
              [&] { out.mask.resize(n_patches); }, [&] { out.cluster.resize(n_patches); },
              [&] { if (dense_adc) out.adc.assign(n_patches * size, 0); }},
             workers);
  on_ranges([&](std::size_t w) {
    const RangePatches& q = rp[w];
    const std::size_t p0 = first_patch[w];
    for (std::size_t i = 0; i < q.mask.size(); ++i) {
      const std::size_t k = s.gstart[q.group[i]];
      out.event[p0 + i] = s.ev[k];
      out.det[p0 + i] = s.det[k];
      out.row[p0 + i] = q.ar[i];
      out.col[p0 + i] = q.ac[i];
      out.mask[p0 + i] = q.mask[i];
      out.cluster[p0 + i] = first_cluster[w] + q.cluster[i];
    }
    const std::size_t k0 = s.gstart[gcut[w]], k1 = s.gstart[gcut[w + 1]];
    const auto base = static_cast<std::int64_t>(p0);
    if (base)
      for (std::size_t k = k0; k < k1; ++k) out.hit_patch[k] += base;
    if (dense_adc)
      for (std::size_t k = k0; k < k1; ++k)
        out.adc[static_cast<std::size_t>(out.hit_patch[k]) * size + out.slot[k]] = h.adc[out.order[k]];
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

std::size_t patch_totals_hits(const std::uint64_t* masks, std::size_t n, int size, const std::int64_t* hit_patch,
                              const std::int64_t* slot, const std::int64_t* order, const std::int64_t* adc,
                              std::size_t n_hits, std::int64_t* total, std::int64_t* nhit) {
  // one pass over the hits; `seen` refuses two hits at one (patch, slot), which the dense matrix could not hold
  const std::uint64_t size_mask = size == 64 ? ~0ULL : ((1ULL << size) - 1);
  std::size_t n_multi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    total[i] = 0;
    nhit[i] = __builtin_popcountll(masks[i] & size_mask);
    n_multi += nhit[i] >= 2;
  }
  std::vector<std::uint64_t> seen(n, 0);
  for (std::size_t k = 0; k < n_hits; ++k) {
    const std::int64_t p = hit_patch[k], s = slot[k], i = order[k];
    if (p < 0 || static_cast<std::size_t>(p) >= n || s < 0 || s >= size)
      throw std::invalid_argument("patch_fractions_hits: hit outside the patches");
    if (i < 0 || static_cast<std::size_t>(i) >= n_hits)
      throw std::invalid_argument("patch_fractions_hits: order outside the hits");
    const std::uint64_t bit = 1ULL << s;
    if (seen[p] & bit) throw std::invalid_argument("patch_fractions_hits: two hits at one (patch, slot)");
    seen[p] |= bit;
    if (masks[p] & bit) total[p] += adc[i];
  }
  return n_multi;
}

void patch_fractions_hits(const std::uint64_t* masks, std::size_t n, int size, const std::int64_t* hit_patch,
                          const std::int64_t* slot, const std::int64_t* order, const std::int64_t* adc,
                          std::size_t n_hits, const std::int64_t* total, const std::int64_t* nhit, float* x,
                          int threads) {
  std::vector<std::int64_t> row(n);  // row of each multi-hit patch in x, -1 for the others
  std::int64_t n_multi = 0;
  for (std::size_t i = 0; i < n; ++i) row[i] = nhit[i] >= 2 ? n_multi++ : -1;
  const std::size_t cells = static_cast<std::size_t>(n_multi) * static_cast<std::size_t>(size);
  parallel_ranges(cells, threads, 1 << 18, [&](std::size_t a, std::size_t b) {
    if (b > a) std::memset(x + a, 0, (b - a) * sizeof(float));
  });
  // each hit writes its own cell (totals' pass refused two hits at one): the hits split into ranges freely
  parallel_ranges(n_hits, threads, 1 << 16, [&](std::size_t a, std::size_t b) {
    for (std::size_t k = a; k < b; ++k) {  // as numpy: float64 division, then rounded to float32
      const std::int64_t p = hit_patch[k], s = slot[k];
      if (row[p] >= 0 && ((masks[p] >> s) & 1))
        x[static_cast<std::size_t>(row[p]) * size + s] =
            static_cast<float>(static_cast<double>(adc[order[k]]) / static_cast<double>(total[p]));
    }
  });
  // a mask pixel without a hit reads 0 in the dense matrix: 0 / total, which is 0 unless the total is 0 (NaN)
  for (std::size_t i = 0; i < n; ++i)
    if (row[i] >= 0 && total[i] == 0)
      for (int j = 0; j < size; ++j)
        if (((masks[i] >> j) & 1) && x[static_cast<std::size_t>(row[i]) * size + j] == 0.0f)
          x[static_cast<std::size_t>(row[i]) * size + j] = static_cast<float>(0.0 / static_cast<double>(total[i]));
}

void patch_fractions_hits(const std::uint64_t* masks, std::size_t n, int size, const std::int64_t* hit_patch,
                          const std::int64_t* slot, const std::int64_t* order, const std::int64_t* adc,
                          std::size_t n_hits, std::int64_t* total, std::int64_t* nhit, std::vector<float>& x) {
  const std::size_t n_multi = patch_totals_hits(masks, n, size, hit_patch, slot, order, adc, n_hits, total, nhit);
  x.resize(n_multi * static_cast<std::size_t>(size));
  patch_fractions_hits(masks, n, size, hit_patch, slot, order, adc, n_hits, total, nhit, x.data(), 1);
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
