// pixel_vq format 2 decode (see hepvq/pixel_vq_f2.hpp and hepvq/pixel/format2.py).
#include "hepvq/pixel_vq_f2.hpp"

#include <algorithm>
#include <string>

#include "hepvq/stream.hpp"

namespace hepvq {
namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

struct Decoder {
  const PixelVQModel& m;
  const PixelVQF2Context& c;
  const std::vector<rans::Tables>& t;
  const PixelVQF2Input& in;
  int threads;
  std::size_t n_ev;

  static const char* name(std::size_t k) {
    static const char* names[] = {"mod", "ncl", "dcol", "row", "layout", "tiles", "shape", "esc", "charge"};
    return k < 9 ? names[k] : "code";
  }

  // symbols of stream k: counts per event, contexts (empty: context 0)
  std::vector<std::uint32_t> dec(std::size_t k, const std::vector<std::int64_t>& counts,
                                 const std::vector<std::uint32_t>& ctx) const {
    std::vector<std::int64_t> off(n_ev + 1, 0);
    for (std::size_t e = 0; e < n_ev; ++e) off[e + 1] = off[e] + counts[e];
    const auto n = static_cast<std::size_t>(off[n_ev]);
    std::vector<std::uint32_t> out(n);
    const PixelVQF2Stream& s = in.streams[k];
    if (!ctx.empty() && ctx.size() != n) throw std::logic_error("pixel_vq format 2: context count");
    try {
      rans::decode_events(s.data, s.len, s.byte_offsets, off.data(), n_ev, ctx.empty() ? nullptr : ctx.data(), t[k],
                          threads, out.data());
    } catch (const DataError& err) {
      throw DataError(std::string("stream '") + name(k) + (k < 9 ? "" : std::to_string(k - 9)) + "': " + err.what());
    }
    return out;
  }

  std::int64_t layer(std::int64_t det) const {
    if (m.ctx_bitfields.empty() || c.layers.empty()) return 0;
    const auto& bf = m.ctx_bitfields[0];
    const std::int64_t v = (det >> bf.first) & bf.second;
    auto it = std::lower_bound(c.layers.begin(), c.layers.end(), v);
    return (it != c.layers.end() && *it == v) ? (it - c.layers.begin()) + 1 : 0;
  }
  std::int64_t n_layer() const { return static_cast<std::int64_t>(c.layers.size()) + 1; }
  std::int64_t shape_bucket(std::int64_t shape, std::int64_t nhit) const {
    return shape < c.own_shapes ? shape : c.own_shapes + std::min<std::int64_t>(nhit, c.nhit_buckets) - 1;
  }
};

std::vector<std::int64_t> per_event(const std::vector<std::int64_t>& event_of_item, std::size_t n_ev,
                                    std::int64_t weight_one = 1) {
  std::vector<std::int64_t> out(n_ev, 0);
  for (auto e : event_of_item) out[static_cast<std::size_t>(e)] += weight_one;
  return out;
}

}  // namespace

PixelVQPatches pixel_vq_f2_patches(const PixelVQModel& m, const PixelVQF2Context& c,
                                   const std::vector<rans::Tables>& tables, const PixelVQF2Input& in, int threads) {
  const std::size_t n_ev = in.n_events;
  const std::size_t n_streams = 9 + static_cast<std::size_t>(m.stages());
  if (in.streams.size() != n_streams || tables.size() != n_streams)
    throw std::invalid_argument("pixel_vq format 2 decode: expected " + str(static_cast<std::int64_t>(n_streams)) +
                                " streams and tables");
  Decoder d{m, c, tables, in, threads, n_ev};
  const int pr = m.patch_rows, pc = m.patch_cols;
  const std::int64_t nj_all = (c.module_cols + pc - 1) / pc;

  // modules
  std::vector<std::int64_t> nmod(in.nmod, in.nmod + n_ev);
  std::vector<std::uint32_t> mod_sym = d.dec(0, nmod, {});
  const std::size_t n_mod = mod_sym.size();
  std::vector<std::int64_t> mod_det(n_mod), mod_ev(n_mod);
  {
    std::size_t i = 0, f = 0;
    for (std::size_t e = 0; e < n_ev; ++e) {
      std::int64_t kk = -1, unknown = 0;
      for (std::int64_t j = 0; j < nmod[e]; ++j, ++i) {
        mod_ev[i] = static_cast<std::int64_t>(e);
        if (mod_sym[i] == 0) {
          if (f >= in.n_fardet) throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
          mod_det[i] = in.fardet[f++];
          ++unknown;
        } else {
          kk += mod_sym[i];
          if (kk >= static_cast<std::int64_t>(c.known_dets.size()))
            throw DataError("pixel_vq format 2 decode: module index " + str(kk) + " beyond the " +
                            str(static_cast<std::int64_t>(c.known_dets.size())) + " known");
          mod_det[i] = c.known_dets[static_cast<std::size_t>(kk)];
        }
      }
      if (unknown != in.fardet_counts[e])
        throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
    }
    if (f != in.n_fardet) throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
  }
  std::vector<std::uint32_t> ctx(n_mod);
  for (std::size_t i = 0; i < n_mod; ++i) ctx[i] = static_cast<std::uint32_t>(m.det_context(mod_det[i]));
  std::vector<std::uint32_t> ncl_sym = d.dec(1, nmod, ctx);
  std::vector<std::int64_t> ncl_ev(in.ncl, in.ncl + n_ev), sum(n_ev, 0);
  for (std::size_t i = 0; i < n_mod; ++i) sum[static_cast<std::size_t>(mod_ev[i])] += ncl_sym[i] + 1;
  if (sum != ncl_ev)
    throw DataError("pixel_vq format 2 decode: clusters per module do not add up to the event's cluster count");

  // clusters
  std::vector<std::int64_t> det_c, ev_c, ncl_of_c;
  std::vector<char> firstc;
  for (std::size_t i = 0; i < n_mod; ++i)
    for (std::uint32_t j = 0; j <= ncl_sym[i]; ++j) {
      det_c.push_back(mod_det[i]);
      ev_c.push_back(mod_ev[i]);
      ncl_of_c.push_back(static_cast<std::int64_t>(ncl_sym[i]) + 1);
      firstc.push_back(j == 0);
    }
  const std::size_t nc = det_c.size();
  const std::int64_t nbk = static_cast<std::int64_t>(c.ncl_edges.size()) + 1, nl = d.n_layer();
  ctx.resize(nc);
  for (std::size_t i = 0; i < nc; ++i)
    ctx[i] = static_cast<std::uint32_t>(
        d.layer(det_c[i]) * nbk +
        (std::upper_bound(c.ncl_edges.begin(), c.ncl_edges.end(), ncl_of_c[i]) - c.ncl_edges.begin()));
  std::vector<std::uint32_t> dcol = d.dec(2, ncl_ev, ctx);
  std::vector<std::int64_t> col0(nc), row0(nc);
  std::vector<char> rel(nc);
  for (std::size_t i = 0; i < nc; ++i) {
    col0[i] = firstc[i] ? dcol[i] : col0[i - 1] + dcol[i];
    rel[i] = !firstc[i] && dcol[i] == 0;
    ctx[i] = static_cast<std::uint32_t>(d.layer(det_c[i]) + nl * rel[i]);
  }
  std::vector<std::uint32_t> row_sym = d.dec(3, ncl_ev, ctx);
  for (std::size_t i = 0; i < nc; ++i) {
    row0[i] = rel[i] ? row0[i - 1] + row_sym[i] : row_sym[i];
    ctx[i] = static_cast<std::uint32_t>(m.det_context(det_c[i]));
  }
  std::vector<std::uint32_t> layout = d.dec(4, ncl_ev, ctx);
  std::vector<std::int64_t> ni(nc), nj(nc), tiles_ev(n_ev, 0);
  for (std::size_t i = 0; i < nc; ++i) {
    ni[i] = layout[i] / nj_all + 1;
    nj[i] = layout[i] % nj_all + 1;
    if (col0[i] >= c.module_cols || row0[i] >= c.module_rows || row0[i] + (ni[i] - 1) * pr >= c.module_rows ||
        col0[i] + (nj[i] - 1) * pc >= c.module_cols)
      throw DataError("pixel_vq format 2 decode: a cluster lies outside the module");
    if (ni[i] > 1 && nj[i] > 1) tiles_ev[static_cast<std::size_t>(ev_c[i])] += ni[i] * nj[i];
  }
  std::vector<std::uint32_t> bits = d.dec(5, tiles_ev, {});

  // tiles -> patches (cluster order, raster order within the cluster)
  std::vector<std::int64_t> pcl, ti, tj, ntile(nc, 0);
  {
    std::size_t b = 0;
    for (std::size_t i = 0; i < nc; ++i) {
      const bool two_d = ni[i] > 1 && nj[i] > 1;
      for (std::int64_t k = 0; k < ni[i] * nj[i]; ++k) {
        if (two_d && !bits[b++]) continue;
        pcl.push_back(static_cast<std::int64_t>(i));
        ti.push_back(k / nj[i]);
        tj.push_back(k % nj[i]);
        ++ntile[i];
      }
    }
  }
  const std::size_t np = pcl.size();
  std::vector<std::int64_t> pev(np);
  for (std::size_t q = 0; q < np; ++q) pev[q] = ev_c[static_cast<std::size_t>(pcl[q])];
  std::vector<std::int64_t> npatch_ev(in.npatch, in.npatch + n_ev);
  if (per_event(pev, n_ev) != npatch_ev)
    throw DataError("pixel_vq format 2 decode: the tile layouts do not add up to the event's patch count");

  PixelVQPatches p;
  p.n_events = n_ev;
  p.det.resize(np);
  p.row.resize(np);
  p.col.resize(np);
  ctx.resize(np);
  for (std::size_t q = 0; q < np; ++q) {
    const auto i = static_cast<std::size_t>(pcl[q]);
    p.det[q] = det_c[i];
    p.row[q] = row0[i] + ti[q] * pr;
    p.col[q] = col0[i] + tj[q] * pc;
    const std::int64_t pos = (ni[i] == 1 && nj[i] == 1)
                                 ? 0
                                 : 1 + (ti[q] > 0) + 2 * (tj[q] > 0) + 4 * (tj[q] < nj[i] - 1) + 8 * (ti[q] < ni[i] - 1);
    ctx[q] = static_cast<std::uint32_t>(m.det_context(p.det[q]) * c.tile_positions + pos);
  }
  std::vector<std::uint32_t> shape = d.dec(6, npatch_ev, ctx);
  const std::int64_t n_det = static_cast<std::int64_t>(m.ctx_keys.size()) + 1;
  std::vector<std::int64_t> esc_ev(n_ev, 0);
  std::vector<std::uint32_t> esc_ctx;
  for (std::size_t q = 0; q < np; ++q)
    if (static_cast<int>(shape[q]) == m.escape()) {
      esc_ev[static_cast<std::size_t>(pev[q])] += pr;
      const std::int64_t dc = m.det_context(p.det[q]);
      for (int r = 0; r < pr; ++r) esc_ctx.push_back(static_cast<std::uint32_t>(r * n_det + dc));
    }
  std::vector<std::uint32_t> esc_rows = d.dec(7, esc_ev, esc_ctx);
  p.mask.resize(np);
  std::vector<std::int64_t> nhit(np);
  {
    std::size_t k = 0;
    for (std::size_t q = 0; q < np; ++q) {
      if (static_cast<int>(shape[q]) == m.escape()) {
        std::uint64_t mk = 0;
        for (int r = 0; r < pr; ++r) mk |= static_cast<std::uint64_t>(esc_rows[k++]) << (r * pc);
        p.mask[q] = mk;
      } else {
        p.mask[q] = m.shapes[shape[q]];
      }
      nhit[q] = __builtin_popcountll(p.mask[q]);
      if (nhit[q] == 0) throw DataError("pixel_vq format 2 decode: an escaped shape has no hit");
      ctx[q] = static_cast<std::uint32_t>((d.shape_bucket(shape[q], nhit[q]) * nl + d.layer(p.det[q])) * 2 +
                                          (ntile[static_cast<std::size_t>(pcl[q])] > 1));
    }
  }
  std::vector<std::uint32_t> charge = d.dec(8, npatch_ev, ctx);
  p.q.resize(np);
  p.multi_row.assign(np, -1);
  std::vector<std::int64_t> multi_ev(n_ev, 0);
  std::vector<std::uint32_t> code_ctx;
  for (std::size_t q = 0; q < np; ++q) {
    p.q[q] = m.levels[charge[q]];
    if (nhit[q] >= 2) {
      p.multi_row[q] = static_cast<std::int64_t>(p.n_multi++);
      ++multi_ev[static_cast<std::size_t>(pev[q])];
      const auto bucket = std::upper_bound(c.charge_edges.begin(), c.charge_edges.end(), static_cast<double>(p.q[q])) -
                          c.charge_edges.begin();
      code_ctx.push_back(static_cast<std::uint32_t>(d.shape_bucket(shape[q], nhit[q]) * (c.charge_buckets + 1) + bucket));
    }
  }
  const int stages = m.stages();
  p.codes.assign(p.n_multi * static_cast<std::size_t>(stages), 0);
  for (int s = 0; s < stages; ++s) {
    std::vector<std::uint32_t> codes = d.dec(9 + static_cast<std::size_t>(s), multi_ev, code_ctx);
    for (std::size_t r = 0; r < p.n_multi; ++r) p.codes[r * stages + s] = codes[r];
  }
  p.event_patch_start.assign(n_ev + 1, 0);
  for (std::size_t e = 0; e < n_ev; ++e) p.event_patch_start[e + 1] = p.event_patch_start[e] + npatch_ev[e];
  return p;
}

}  // namespace hepvq
