// pixel_vq format 2 encode: patches -> stream symbols and contexts (see hepvq/pixel_vq_f2_encode.hpp); step for step
// format2.cluster_streams_reference, the contexts those of format2.Contexts (and of pixel_vq_f2.cpp's decoder).
#include "hepvq/pixel_vq_f2_encode.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "hepvq/parallel.hpp"
#include "hepvq/stream.hpp"

namespace hepvq {

namespace {
std::int64_t shape_bucket(const PixelVQF2Context& c, std::int64_t shape, std::int64_t nhit) {
  return shape < c.own_shapes ? shape : c.own_shapes + std::min<std::int64_t>(nhit, c.nhit_buckets) - 1;
}
}  // namespace

std::int64_t pixel_vq_f2_code_context(const PixelVQModel& m, const PixelVQF2Context& c, std::int64_t shape,
                                      std::int64_t nhit, std::int64_t charge) {
  const double q = static_cast<double>(m.levels.at(static_cast<std::size_t>(charge)));
  const std::int64_t cb = std::upper_bound(c.charge_edges.begin(), c.charge_edges.end(), q) - c.charge_edges.begin();
  return shape_bucket(c, shape, nhit) * (c.charge_buckets + 1) + cb;
}

std::vector<double> pixel_vq_f2_rate_bits(const rans::Tables& t, std::size_t k) {
  const std::size_t e = t.entries(), direct = t.direct;
  std::vector<double> out(static_cast<std::size_t>(t.n_contexts) * k);
  const double esc_bits = static_cast<double>(t.escape_bits());
  for (std::size_t c = 0; c < t.n_contexts; ++c)
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t col = j < direct ? j : direct;  // k > direct: the escape entry (column direct)
      if (col >= e) throw std::invalid_argument("pixel_vq_f2_rate_bits: k beyond the table's alphabet");
      double b = static_cast<double>(t.scale_bits) - std::log2(static_cast<double>(t.freq[c * e + col]));
      if (j >= direct) b += esc_bits;
      out[c * k + j] = b;
    }
  return out;
}

namespace {
using I = std::int64_t;

// Patches (of one event range) with the number of their cluster: numbered by sorted cluster id. Ids from the patch
// extraction are lo..hi, each used: the number is the id - lo, no sort.
std::vector<I> cluster_numbers(const PixelVQF2PatchesIn& in, std::size_t& nc) {
  const std::size_t n = in.n;
  std::vector<I> inv(n);
  I lo = 0, hi = -1;
  if (n) lo = hi = in.cluster[0];
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, in.cluster[i]);
    hi = std::max(hi, in.cluster[i]);
  }
  bool dense = n == 0 || static_cast<std::uint64_t>(hi - lo) < n;
  if (dense && n) {
    std::vector<char> used(static_cast<std::size_t>(hi - lo) + 1, 0);
    for (std::size_t i = 0; i < n; ++i) used[static_cast<std::size_t>(in.cluster[i] - lo)] = 1;
    for (char u : used) dense &= u != 0;
  }
  if (dense) {
    nc = n ? static_cast<std::size_t>(hi - lo) + 1 : 0;
    for (std::size_t i = 0; i < n; ++i) inv[i] = in.cluster[i] - lo;
  } else {
    std::vector<I> u(in.cluster, in.cluster + n);
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    nc = u.size();
    for (std::size_t i = 0; i < n; ++i) inv[i] = std::lower_bound(u.begin(), u.end(), in.cluster[i]) - u.begin();
  }
  return inv;
}

// One event range's clusters in stream order (per-cluster vectors) and its patches in stream order (porder, with
// cstart: each cluster's first), the tile of each patch (ti, tj) and the length of every stream: all the symbols
// need, before one is written.
struct Layout {
  std::size_t nc = 0;
  std::vector<I> ti, tj, porder, ntile, cstart;
  std::vector<I> ev_c, det_c, row0, col0, ni, nj, dctx_c, layer_c, ncl_of_c;
  std::vector<char> firstc;       // first cluster of its module (event, detId)
  std::vector<std::size_t> len;   // per stream
  std::size_t n_multi = 0;
};

Layout layout(const PixelVQModel& m, const PixelVQF2Context& c, const PixelVQF2PatchesIn& in) {
  const std::size_t n = in.n;
  const int pr = m.patch_rows, pc = m.patch_cols, stages = m.stages();
  auto layer = [&](I det) -> I {
    if (m.ctx_bitfields.empty() || c.layers.empty()) return 0;
    const I v = (det >> m.ctx_bitfields[0].first) & m.ctx_bitfields[0].second;
    auto it = std::lower_bound(c.layers.begin(), c.layers.end(), v);
    return (it != c.layers.end() && *it == v) ? (it - c.layers.begin()) + 1 : 0;
  };
  Layout L;
  std::size_t nc = 0;
  const std::vector<I> inv = cluster_numbers(in, nc);
  L.nc = nc;
  // anchor = lower corner of the bounding box
  const I big = std::numeric_limits<I>::max();
  std::vector<I> row0(nc, big), col0(nc, big), ni(nc, 0), nj(nc, 0), ev_c(nc, 0), det_c(nc, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const I k = inv[i];
    row0[k] = std::min(row0[k], in.row[i]);
    col0[k] = std::min(col0[k], in.col[i]);
    ev_c[k] = in.event[i];
    det_c[k] = in.det[i];
  }
  std::vector<I> ti(n), tj(n);
  for (std::size_t i = 0; i < n; ++i) {
    const I k = inv[i];
    ti[i] = (in.row[i] - row0[k]) / pr;
    tj[i] = (in.col[i] - col0[k]) / pc;
    ni[k] = std::max(ni[k], ti[i] + 1);
    nj[k] = std::max(nj[k], tj[i] + 1);
  }
  // cluster order (event, detId, col0, row0), equal keys in cluster-number order (a stable sort): the keys
  // sorted as records with the number as last key
  struct ClusterKey {
    I ev, det, col, row, k;
  };
  std::vector<ClusterKey> keys(nc);
  for (std::size_t k = 0; k < nc; ++k) keys[k] = {ev_c[k], det_c[k], col0[k], row0[k], static_cast<I>(k)};
  auto key_less = [](const ClusterKey& a, const ClusterKey& b) {
    if (a.ev != b.ev) return a.ev < b.ev;
    if (a.det != b.det) return a.det < b.det;
    if (a.col != b.col) return a.col < b.col;
    if (a.row != b.row) return a.row < b.row;
    return a.k < b.k;
  };
  // clusters from the extraction come grouped by (event, detId) in order: then each module's few clusters are
  // sorted alone (the same order)
  bool grouped = true;
  for (std::size_t k = 1; k < nc && grouped; ++k)
    grouped = keys[k - 1].ev < keys[k].ev || (keys[k - 1].ev == keys[k].ev && keys[k - 1].det <= keys[k].det);
  if (grouped) {
    for (std::size_t a = 0; a < nc;) {
      std::size_t b = a + 1;
      while (b < nc && keys[b].ev == keys[a].ev && keys[b].det == keys[a].det) ++b;
      if (!std::is_sorted(keys.begin() + a, keys.begin() + b, key_less))
        std::sort(keys.begin() + a, keys.begin() + b, key_less);
      a = b;
    }
  } else {
    std::sort(keys.begin(), keys.end(), key_less);
  }
  std::vector<I> corder(nc), crank(nc);
  for (std::size_t r = 0; r < nc; ++r) {
    corder[r] = keys[r].k;
    crank[static_cast<std::size_t>(keys[r].k)] = static_cast<I>(r);
  }
  keys = {};
  // patch order (cluster rank, tile row, tile column), equal keys in patch order (a stable sort): patches
  // counted into their clusters in patch order, then each cluster's few tiles sorted by insertion (stable)
  std::vector<I> ntile(nc, 0), cstart(nc + 1, 0);
  for (std::size_t i = 0; i < n; ++i) ++ntile[static_cast<std::size_t>(crank[static_cast<std::size_t>(inv[i])])];
  for (std::size_t r = 0; r < nc; ++r) cstart[r + 1] = cstart[r] + ntile[r];
  std::vector<I> porder(n);
  {
    std::vector<I> fill(cstart.begin(), cstart.end() - 1);
    for (std::size_t i = 0; i < n; ++i) porder[static_cast<std::size_t>(fill[static_cast<std::size_t>(crank[static_cast<std::size_t>(inv[i])])]++)] = static_cast<I>(i);
    for (std::size_t r = 0; r < nc; ++r) {
      I* p = porder.data() + cstart[r];
      const std::size_t len = static_cast<std::size_t>(ntile[r]);
      for (std::size_t a = 1; a < len; ++a) {
        const I v = p[a];
        std::size_t b = a;
        while (b > 0 && (ti[p[b - 1]] > ti[v] || (ti[p[b - 1]] == ti[v] && tj[p[b - 1]] > tj[v]))) {
          p[b] = p[b - 1];
          --b;
        }
        p[b] = v;
      }
    }
  }
  auto permute = [&](std::vector<I>& v) {
    std::vector<I> o(nc);
    for (std::size_t r = 0; r < nc; ++r) o[r] = v[static_cast<std::size_t>(corder[r])];
    v.swap(o);
  };
  for (auto* v : {&ev_c, &det_c, &row0, &col0, &ni, &nj}) permute(*v);
  for (std::size_t k = 0; k < nc; ++k)
    if ((ni[k] == 1 || nj[k] == 1) && ntile[k] != ni[k] * nj[k])
      throw DataError("pixel_vq format 2: a one-row or one-column cluster has an empty tile (patches do not come "
                      "from 8-connected clusters)");
  // per cluster (in order): detId context and layer, computed once
  std::vector<I> dctx_c(nc), layer_c(nc);
  for (std::size_t k = 0; k < nc; ++k) {
    dctx_c[k] = (k > 0 && det_c[k] == det_c[k - 1]) ? dctx_c[k - 1] : m.det_context(det_c[k]);
    layer_c[k] = (k > 0 && det_c[k] == det_c[k - 1]) ? layer_c[k - 1] : layer(det_c[k]);
  }
  // modules: first cluster of each (event, detId)
  std::vector<char> firstc(nc, 0);
  std::vector<I> ncl_of_c(nc, 0);
  std::size_t n_mod = 0;
  for (std::size_t k = 0; k < nc;) {
    std::size_t e = k + 1;
    while (e < nc && ev_c[e] == ev_c[k] && det_c[e] == det_c[k]) ++e;
    firstc[k] = 1;
    ++n_mod;
    for (std::size_t j = k; j < e; ++j) ncl_of_c[j] = static_cast<I>(e - k);
    k = e;
  }
  // every stream's length is known: the output is sized once and filled in order
  std::size_t n_tiles = 0, n_esc = 0, n_multi = 0;
  for (std::size_t k = 0; k < nc; ++k)
    if (ni[k] > 1 && nj[k] > 1) n_tiles += static_cast<std::size_t>(ni[k] * nj[k]);
  for (std::size_t i = 0; i < n; ++i) {
    n_esc += in.shape[i] == m.escape() ? 1 : 0;
    n_multi += in.multi[i] ? 1 : 0;
  }
  L.len.assign(9 + static_cast<std::size_t>(stages), 0);
  L.len[0] = L.len[1] = n_mod;
  L.len[2] = L.len[3] = L.len[4] = nc;
  L.len[5] = n_tiles;
  L.len[6] = L.len[8] = n;
  L.len[7] = n_esc * static_cast<std::size_t>(pr);
  for (int s = 0; s < stages; ++s) L.len[9 + static_cast<std::size_t>(s)] = n_multi;
  L.n_multi = n_multi;
  L.ti = std::move(ti);
  L.tj = std::move(tj);
  L.porder = std::move(porder);
  L.ntile = std::move(ntile);
  L.cstart = std::move(cstart);
  L.ev_c = std::move(ev_c);
  L.det_c = std::move(det_c);
  L.row0 = std::move(row0);
  L.col0 = std::move(col0);
  L.ni = std::move(ni);
  L.nj = std::move(nj);
  L.dctx_c = std::move(dctx_c);
  L.layer_c = std::move(layer_c);
  L.ncl_of_c = std::move(ncl_of_c);
  L.firstc = std::move(firstc);
  return L;
}

// Where one event range's symbols go: per stream, its first symbol, context and event slot in the output.
struct StreamSlots {
  std::vector<I*> sym, ctx, ev;
};

// Writes one event range's symbols (its Layout) at `slots`, counts its events' modules, clusters and patches in
// `out` (the range's events only: ranges write apart) and appends its unknown detIds to fardet / fardet_ev.
void emit(const PixelVQModel& m, const PixelVQF2Context& c, const PixelVQF2PatchesIn& in, const Layout& L,
          const StreamSlots& slots, PixelVQF2Symbols& out, std::vector<I>& fardet, std::vector<I>& fardet_ev) {
  const std::size_t n = in.n, nc = L.nc;
  const int pr = m.patch_rows, pc = m.patch_cols, stages = m.stages();
  const I nj_all = (c.module_cols + pc - 1) / pc;
  const I n_layer = static_cast<I>(c.layers.size()) + 1;
  const I n_det = static_cast<I>(m.ctx_keys.size()) + 1;
  const auto &ev_c = L.ev_c, &det_c = L.det_c, &row0 = L.row0, &col0 = L.col0, &ni = L.ni, &nj = L.nj;
  const auto &ti = L.ti, &tj = L.tj, &porder = L.porder, &cstart = L.cstart, &ntile = L.ntile;
  const auto &dctx_c = L.dctx_c, &layer_c = L.layer_c, &ncl_of_c = L.ncl_of_c;
  const auto& firstc = L.firstc;
  std::vector<std::size_t> at(L.len.size(), 0);
  auto put = [&](std::size_t s, I sym, I ctx, I ev) {
    const std::size_t q = at[s]++;
    slots.sym[s][q] = sym;
    slots.ctx[s][q] = ctx;
    slots.ev[s][q] = ev;
  };
  // modules: detIds as gaps in the known list within the event
  I prev_known = -1, prev_ev = -1;
  for (std::size_t k = 0; k < nc; ++k) {
    if (!firstc[k]) continue;
    const I ev = ev_c[k], det = det_c[k];
    if (ev != prev_ev) prev_known = -1;
    prev_ev = ev;
    auto it = std::lower_bound(c.known_dets.begin(), c.known_dets.end(), det);
    const bool known = it != c.known_dets.end() && *it == det;
    if (known) {
      const I kidx = it - c.known_dets.begin();
      put(0, kidx - prev_known, 0, ev);
      prev_known = kidx;
    } else {
      put(0, 0, 0, ev);
      fardet.push_back(det);
      fardet_ev.push_back(ev);
    }
    put(1, ncl_of_c[k] - 1, dctx_c[k], ev);
    ++out.nmod[static_cast<std::size_t>(ev)];
  }
  // clusters
  const I nbk = static_cast<I>(c.ncl_edges.size()) + 1;
  for (std::size_t k = 0; k < nc; ++k) {
    const I ev = ev_c[k], lay = layer_c[k];
    const I dcol = firstc[k] ? col0[k] : col0[k] - col0[k - 1];
    const bool rel = !firstc[k] && dcol == 0;
    const I bucket = std::upper_bound(c.ncl_edges.begin(), c.ncl_edges.end(), ncl_of_c[k]) - c.ncl_edges.begin();
    put(2, dcol, lay * nbk + bucket, ev);
    put(3, rel ? row0[k] - row0[k - 1] : row0[k], lay + n_layer * (rel ? 1 : 0), ev);
    put(4, (ni[k] - 1) * nj_all + (nj[k] - 1), dctx_c[k], ev);
    ++out.ncl[static_cast<std::size_t>(ev)];
  }
  // tile presence bits of 2-D layouts, raster order
  {
    std::vector<I> start(nc, -1);
    std::size_t total = 0;
    for (std::size_t k = 0; k < nc; ++k)
      if (ni[k] > 1 && nj[k] > 1) {
        start[k] = static_cast<I>(total);
        total += static_cast<std::size_t>(ni[k] * nj[k]);
        for (I j = 0; j < ni[k] * nj[k]; ++j) put(5, 0, 0, ev_c[k]);
      }
    for (std::size_t k = 0; k < nc; ++k) {
      if (start[k] < 0) continue;
      for (I q = cstart[k]; q < cstart[k + 1]; ++q) {
        const std::size_t i = static_cast<std::size_t>(porder[static_cast<std::size_t>(q)]);
        slots.sym[5][static_cast<std::size_t>(start[k] + ti[i] * nj[k] + tj[i])] = 1;
      }
    }
  }
  // patches in stream order
  std::vector<I> multi_row(n, -1);  // row of each multi patch (original order) in `codes`
  {
    I r = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (in.multi[i]) multi_row[i] = r++;
  }
  // code context per charge level index: the charge bucket (levels outside the table: the checked lookup)
  std::vector<I> charge_bucket(m.levels.size());
  for (std::size_t q = 0; q < m.levels.size(); ++q) {
    const double v = static_cast<double>(m.levels[q]);
    charge_bucket[q] = std::upper_bound(c.charge_edges.begin(), c.charge_edges.end(), v) - c.charge_edges.begin();
  }
  const std::uint64_t rowmask = (pc >= 64) ? ~0ULL : ((1ULL << pc) - 1);
  const I esc = m.escape();
  for (std::size_t k = 0; k < nc; ++k) {
    const I ev = ev_c[k], dc = dctx_c[k], lay = layer_c[k];
    const bool single = ni[k] == 1 && nj[k] == 1;
    const I multitile = ntile[k] > 1 ? 1 : 0;
    for (I q = cstart[k]; q < cstart[k + 1]; ++q) {
      const std::size_t i = static_cast<std::size_t>(porder[static_cast<std::size_t>(q)]);
      const I shp = in.shape[i], chg = in.charge[i];
      const std::uint64_t msk = in.mask[i];
      const I nhit = __builtin_popcountll(msk);
      const I pos = single ? 0 : 1 + (ti[i] > 0) + 2 * (tj[i] > 0) + 4 * (tj[i] < nj[k] - 1) + 8 * (ti[i] < ni[k] - 1);
      put(6, shp, dc * c.tile_positions + pos, ev);
      if (shp == esc)
        for (int r = 0; r < pr; ++r) put(7, static_cast<I>((msk >> (r * pc)) & rowmask), r * n_det + dc, ev);
      put(8, chg, (shape_bucket(c, shp, nhit) * n_layer + lay) * 2 + multitile, ev);
      if (in.multi[i]) {
        const I cc = (chg >= 0 && static_cast<std::size_t>(chg) < charge_bucket.size())
                         ? shape_bucket(c, shp, nhit) * (c.charge_buckets + 1) + charge_bucket[static_cast<std::size_t>(chg)]
                         : pixel_vq_f2_code_context(m, c, shp, nhit, chg);
        for (int s = 0; s < stages; ++s)
          put(9 + static_cast<std::size_t>(s), in.codes[static_cast<std::size_t>(multi_row[i]) * stages + s], cc, ev);
      }
      ++out.npatch[static_cast<std::size_t>(ev)];
    }
  }
}

// Patch index cuts [0, ..., n] into at most `parts` event ranges of about equal patch counts, cut at event
// boundaries; one range unless the events are in order and every range's cluster ids lie above the previous
// range's (then the ranges' streams, concatenated, are those of the whole: clusters are sorted by event first).
std::vector<std::size_t> event_range_cuts(const PixelVQF2PatchesIn& in, std::size_t parts) {
  const std::size_t n = in.n;
  const std::vector<std::size_t> whole{0, n};
  if (parts <= 1 || !std::is_sorted(in.event, in.event + n)) return whole;
  std::vector<std::size_t> cuts{0};
  for (std::size_t w = 1; w < parts; ++w) {
    std::size_t i = std::max(cuts.back() + 1, w * n / parts);
    while (i < n && in.event[i] == in.event[i - 1]) ++i;
    if (i < n) cuts.push_back(i);
  }
  cuts.push_back(n);
  I prev_hi = std::numeric_limits<I>::min();
  for (std::size_t r = 0; r + 1 < cuts.size(); ++r) {
    const auto [lo, hi] = std::minmax_element(in.cluster + cuts[r], in.cluster + cuts[r + 1]);
    if (r > 0 && *lo <= prev_hi) return whole;
    prev_hi = *hi;
  }
  return cuts;
}

constexpr std::size_t kMinPatchesPerThread = 4096;  // below this a thread costs more than it saves
}  // namespace

PixelVQF2Symbols pixel_vq_f2_symbols(const PixelVQModel& m, const PixelVQF2Context& c, const PixelVQF2PatchesIn& in,
                                     int threads) {
  const std::size_t n = in.n, n_ev = in.n_events;
  for (std::size_t i = 0; i < n; ++i)
    if (in.event[i] < 0 || static_cast<std::size_t>(in.event[i]) >= n_ev)
      throw std::invalid_argument("pixel_vq_f2_symbols: patch event outside 0..n_events-1");
  const std::size_t want = std::min<std::size_t>(std::max(threads, 1), std::max<std::size_t>(1, n / kMinPatchesPerThread));
  const std::vector<std::size_t> cuts = event_range_cuts(in, want);
  const std::size_t n_parts = cuts.size() - 1;
  std::vector<PixelVQF2PatchesIn> part(n_parts, in);
  for (std::size_t r = 0; r < n_parts; ++r) {
    const std::size_t a = cuts[r];
    PixelVQF2PatchesIn& p = part[r];
    p.n = cuts[r + 1] - a;
    p.event += a, p.det += a, p.row += a, p.col += a, p.cluster += a;
    p.shape += a, p.charge += a, p.mask += a, p.multi += a;
  }
  std::vector<Layout> lay(n_parts);
  parallel_ranges(n_parts, threads, 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t r = a; r < b; ++r) lay[r] = layout(m, c, part[r]);
  });
  std::size_t n_multi = 0;
  for (std::size_t r = 0; r < n_parts; ++r) {
    part[r].codes = in.codes + n_multi * static_cast<std::size_t>(m.stages());
    part[r].n_multi = lay[r].n_multi;
    n_multi += lay[r].n_multi;
  }
  if (n_multi != in.n_multi) throw std::invalid_argument("pixel_vq_f2_symbols: codes rows != multi-hit patches");
  // each range's streams follow the previous range's
  const std::size_t n_streams = 9 + static_cast<std::size_t>(m.stages());
  PixelVQF2Symbols out;
  out.sym.resize(n_streams);
  out.ctx.resize(n_streams);
  out.ev.resize(n_streams);
  std::vector<StreamSlots> slots(n_parts, {std::vector<I*>(n_streams), std::vector<I*>(n_streams),
                                           std::vector<I*>(n_streams)});
  // the arrays sized (and zero-filled) on the threads, thread w taking every t-th of (stream, array) from w:
  // neighbouring streams differ much in length
  const std::size_t t = std::max<std::size_t>(1, std::min<std::size_t>(std::max(threads, 1), n_parts));
  parallel_ranges(t, static_cast<int>(t), 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t w = a; w < b; ++w)
      for (std::size_t u = w; u < 3 * n_streams; u += t) {
        const std::size_t s = u / 3;
        std::size_t total = 0;
        for (const Layout& L : lay) total += L.len[s];
        (u % 3 == 0 ? out.sym : u % 3 == 1 ? out.ctx : out.ev)[s].resize(total);
      }
  });
  for (std::size_t s = 0; s < n_streams; ++s) {
    std::size_t at = 0;
    for (std::size_t r = 0; r < n_parts; ++r) {
      slots[r].sym[s] = out.sym[s].data() + at;
      slots[r].ctx[s] = out.ctx[s].data() + at;
      slots[r].ev[s] = out.ev[s].data() + at;
      at += lay[r].len[s];
    }
  }
  out.nmod.assign(n_ev, 0);
  out.ncl.assign(n_ev, 0);
  out.npatch.assign(n_ev, 0);
  std::vector<std::vector<I>> fardet(n_parts), fardet_ev(n_parts);
  parallel_ranges(n_parts, threads, 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t r = a; r < b; ++r) emit(m, c, part[r], lay[r], slots[r], out, fardet[r], fardet_ev[r]);
  });
  for (std::size_t r = 0; r < n_parts; ++r) {
    out.fardet.insert(out.fardet.end(), fardet[r].begin(), fardet[r].end());
    out.fardet_ev.insert(out.fardet_ev.end(), fardet_ev[r].begin(), fardet_ev[r].end());
  }
  return out;
}

}  // namespace hepvq
