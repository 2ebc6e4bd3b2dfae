// pixel_vq format 2 decode (see hepvq/pixel_vq_f2.hpp and hepvq/pixel/format2.py).
//
// Every context of an event's streams is computed from symbols of the same event decoded before, so events are
// independent: one thread decodes an event's streams one after another (the order of format2.stream_names) into
// per-thread scratch arrays reused from event to event, and turns the patches into hits right away.
#include "hepvq/pixel_vq_f2.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "hepvq/parallel.hpp"
#include "hepvq/stream.hpp"

namespace hepvq {
namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

const char* const kNames[] = {"mod", "ncl", "dcol", "row", "layout", "tiles", "shape", "esc", "charge"};

// What every event needs, built once per call: the model, contexts, one table decoder per stream.
struct Shared {
  const PixelVQModel& m;
  const PixelVQF2Context& c;
  const PixelVQF2Input& in;
  std::vector<rans::StaticDecoder> dec;
  std::vector<std::int64_t> fardet_start;  // per event: index of its first unknown detId
  std::vector<std::int64_t> patch_start;   // per event: its first patch (npatch as stored, checked per event)
  std::vector<std::int64_t> level_bucket;  // per charge level: its total-charge bucket (code context)
  std::vector<std::int64_t> shape_hits;    // per shape of the table: its hit count
  int pr, pc, stages;
  std::int64_t nj_all, nbk, nl, n_det;

  Shared(const PixelVQModel& model, const PixelVQF2Context& ctx, const std::vector<rans::Tables>& tables,
         const PixelVQF2Input& input)
      : m(model), c(ctx), in(input), pr(model.patch_rows), pc(model.patch_cols), stages(model.stages()) {
    const std::size_t n_ev = in.n_events, n_streams = 9 + static_cast<std::size_t>(stages);
    if (in.streams.size() != n_streams || tables.size() != n_streams)
      throw std::invalid_argument("pixel_vq format 2 decode: expected " + str(static_cast<std::int64_t>(n_streams)) +
                                  " streams and tables");
    // what rans::decode_events checked per stream: byte offsets from 0, rising, ending at the stream's length;
    // module counts not negative (every other count is checked against the decoded symbols)
    for (const PixelVQF2Stream& s : in.streams) {
      if (s.byte_offsets[0] != 0) throw std::invalid_argument("rans: byte offsets must start at 0");
      for (std::size_t e = 0; e < n_ev; ++e)
        if (s.byte_offsets[e + 1] < s.byte_offsets[e])
          throw std::invalid_argument("rans: byte offsets fall at event " + std::to_string(e));
      if (s.byte_offsets[n_ev] != static_cast<std::int64_t>(s.len))
        throw std::invalid_argument("rans: byte offsets end at " + std::to_string(s.byte_offsets[n_ev]) +
                                    ", expected " + std::to_string(s.len));
    }
    for (std::size_t e = 0; e < n_ev; ++e)
      if (in.nmod[e] < 0) throw std::invalid_argument("rans: symbol offsets fall at event " + std::to_string(e));
    dec.reserve(n_streams);
    for (const auto& t : tables) dec.emplace_back(t);
    fardet_start.assign(n_ev + 1, 0);
    for (std::size_t e = 0; e < n_ev; ++e) fardet_start[e + 1] = fardet_start[e] + in.fardet_counts[e];
    patch_start.assign(n_ev + 1, 0);
    for (std::size_t e = 0; e < n_ev; ++e) patch_start[e + 1] = patch_start[e] + in.npatch[e];
    nj_all = (c.module_cols + pc - 1) / pc;
    nbk = static_cast<std::int64_t>(c.ncl_edges.size()) + 1;
    nl = static_cast<std::int64_t>(c.layers.size()) + 1;
    n_det = static_cast<std::int64_t>(m.ctx_keys.size()) + 1;
    for (const std::int64_t v : m.levels)
      level_bucket.push_back(std::upper_bound(c.charge_edges.begin(), c.charge_edges.end(), static_cast<double>(v)) -
                             c.charge_edges.begin());
    for (const std::uint64_t mk : m.shapes) shape_hits.push_back(popcount64(mk));
  }

  std::int64_t layer(std::int64_t det) const {
    if (m.ctx_bitfields.empty() || c.layers.empty()) return 0;
    const auto& bf = m.ctx_bitfields[0];
    const std::int64_t v = (det >> bf.first) & bf.second;
    auto it = std::lower_bound(c.layers.begin(), c.layers.end(), v);
    return (it != c.layers.end() && *it == v) ? (it - c.layers.begin()) + 1 : 0;
  }
  std::int64_t shape_bucket(std::int64_t shape, std::int64_t nhit) const {
    return shape < c.own_shapes ? shape : c.own_shapes + std::min<std::int64_t>(nhit, c.nhit_buckets) - 1;
  }

  // n symbols of stream k of event e into out (ctx: n contexts, or null for context 0); errors name the stream
  // and the event as rans::decode_events did
  void decode(std::size_t k, std::size_t e, std::size_t n, const std::uint32_t* ctx,
              std::vector<std::uint32_t>& out) const {
    if (out.size() < n) out.resize(std::max(n, 2 * out.size()));
    const PixelVQF2Stream& s = in.streams[k];
    const std::int64_t b0 = s.byte_offsets[e], b1 = s.byte_offsets[e + 1];
    try {
      dec[k].decode(s.data + b0, static_cast<std::size_t>(b1 - b0), n, ctx, out.data());
    } catch (const DataError& err) {
      throw DataError(std::string("stream '") + (k < 9 ? kNames[k] : "code") + (k < 9 ? "" : std::to_string(k - 9)) +
                      "': event " + std::to_string(e) + ": " + err.what());
    } catch (const std::invalid_argument& err) {
      throw std::invalid_argument("event " + std::to_string(e) + ": " + err.what());
    }
  }
};

// Streams a and b of event e, each n symbols (contexts ctx_a, ctx_b) decoded together (their state chains
// interleaved). False when either blob is damaged: then stream a alone is decoded (throwing its error as decode
// does) and b is left for a later decode() at its place in the stream order, so that errors stay those of one
// stream after another.
bool decode_pair(const Shared& s, std::size_t a, std::size_t b, std::size_t e, std::size_t n,
                 const std::uint32_t* ctx_a, std::vector<std::uint32_t>& out_a, const std::uint32_t* ctx_b,
                 std::vector<std::uint32_t>& out_b) {
  for (auto* out : {&out_a, &out_b})
    if (out->size() < n) out->resize(std::max(n, 2 * out->size()));
  const PixelVQF2Stream &sa = s.in.streams[a], &sb = s.in.streams[b];
  const auto blob = [&](const PixelVQF2Stream& st, const std::uint32_t* ctx, std::vector<std::uint32_t>& out) {
    return rans::StaticDecoder::Blob{st.data + st.byte_offsets[e],
                                     static_cast<std::size_t>(st.byte_offsets[e + 1] - st.byte_offsets[e]), n, ctx,
                                     out.data()};
  };
  try {
    s.dec[a].decode_pair(blob(sa, ctx_a, out_a), s.dec[b], blob(sb, ctx_b, out_b));
    return true;
  } catch (const std::exception&) {
    s.decode(a, e, n, ctx_a, out_a);
    return false;
  }
}

template <class T>
T* room(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(std::max(n, 2 * v.size()));
  return v.data();
}

// The patches of one event (per-thread scratch, reused from event to event).
struct EventPatches {
  std::size_t n = 0, n_multi = 0;
  std::int64_t hits = 0;
  // per patch
  std::vector<std::int64_t> det, row, col, q, multi_row;
  std::vector<std::uint64_t> mask;
  std::vector<std::int64_t> codes;  // (n_multi, stages)
  // scratch: symbols, contexts, modules, clusters
  std::vector<std::uint32_t> sym, ctx, ncl_sym, shape, charge, layout_sym, layout_ctx;
  std::vector<std::int64_t> mod_det, mod_ctx, det_c, layer_c, det_ctx_c, col0, row0, ni, nj, ntile, pcl, ti, tj, nhit;
  std::vector<char> firstc, rel;

  void decode(const Shared& s, std::size_t e);
};

void EventPatches::decode(const Shared& s, std::size_t e) {
  const PixelVQModel& m = s.m;
  const PixelVQF2Context& c = s.c;
  const PixelVQF2Input& in = s.in;
  const int pr = s.pr, pc = s.pc;

  // modules: known detIds by index delta, unknown ones (symbol 0) from 'fardet' in order
  const auto n_mod = static_cast<std::size_t>(in.nmod[e]);
  s.decode(0, e, n_mod, nullptr, sym);
  std::int64_t* md = room(mod_det, n_mod);
  {
    std::int64_t kk = -1, unknown = 0, f = s.fardet_start[e];
    for (std::size_t j = 0; j < n_mod; ++j) {
      if (sym[j] == 0) {
        if (f < 0 || f >= static_cast<std::int64_t>(in.n_fardet))
          throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
        md[j] = in.fardet[f++];
        ++unknown;
      } else {
        kk += sym[j];
        if (kk >= static_cast<std::int64_t>(c.known_dets.size()))
          throw DataError("pixel_vq format 2 decode: module index " + str(kk) + " beyond the " +
                          str(static_cast<std::int64_t>(c.known_dets.size())) + " known");
        md[j] = c.known_dets[static_cast<std::size_t>(kk)];
      }
    }
    if (unknown != in.fardet_counts[e])
      throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
  }
  std::uint32_t* cx = room(ctx, n_mod);
  std::int64_t* mctx = room(mod_ctx, n_mod);
  for (std::size_t j = 0; j < n_mod; ++j) {
    mctx[j] = m.det_context(md[j]);
    cx[j] = static_cast<std::uint32_t>(mctx[j]);
  }
  s.decode(1, e, n_mod, cx, ncl_sym);
  std::int64_t nc_sum = 0;
  for (std::size_t j = 0; j < n_mod; ++j) nc_sum += static_cast<std::int64_t>(ncl_sym[j]) + 1;
  if (nc_sum != in.ncl[e])
    throw DataError("pixel_vq format 2 decode: clusters per module do not add up to the event's cluster count");

  // clusters: column of the first from the module's start, then gaps; rows relative when the column repeats
  const auto nc = static_cast<std::size_t>(nc_sum);
  std::int64_t* dc = room(det_c, nc);
  std::int64_t* lay_c = room(layer_c, nc);
  std::int64_t* dctx_c = room(det_ctx_c, nc);
  char* fc = room(firstc, nc);
  cx = room(ctx, nc);
  std::uint32_t* lcx = room(layout_ctx, nc);
  {
    std::size_t i = 0;
    for (std::size_t j = 0; j < n_mod; ++j) {
      const std::int64_t ncl_j = static_cast<std::int64_t>(ncl_sym[j]) + 1;
      const std::int64_t lay = s.layer(md[j]);
      const auto bucket = static_cast<std::int64_t>(std::upper_bound(c.ncl_edges.begin(), c.ncl_edges.end(), ncl_j) -
                                                    c.ncl_edges.begin());
      for (std::int64_t t = 0; t < ncl_j; ++t, ++i) {
        dc[i] = md[j];
        lay_c[i] = lay;
        dctx_c[i] = mctx[j];
        fc[i] = t == 0;
        cx[i] = static_cast<std::uint32_t>(lay * s.nbk + bucket);
        lcx[i] = static_cast<std::uint32_t>(mctx[j]);
      }
    }
  }
  // the layouts' contexts (module contexts) do not depend on the columns and rows: decoded with the columns
  const bool layouts = decode_pair(s, 2, 4, e, nc, cx, sym, lcx, layout_sym);
  std::int64_t* c0 = room(col0, nc);
  char* rl = room(rel, nc);
  for (std::size_t i = 0; i < nc; ++i) {
    c0[i] = fc[i] ? sym[i] : c0[i - 1] + sym[i];
    rl[i] = !fc[i] && sym[i] == 0;
    cx[i] = static_cast<std::uint32_t>(lay_c[i] + s.nl * rl[i]);
  }
  s.decode(3, e, nc, cx, sym);
  std::int64_t* r0 = room(row0, nc);
  for (std::size_t i = 0; i < nc; ++i) {
    r0[i] = rl[i] ? r0[i - 1] + sym[i] : sym[i];
  }
  if (!layouts) s.decode(4, e, nc, lcx, layout_sym);
  const std::uint32_t* lay_sym = layout_sym.data();
  std::int64_t* cni = room(ni, nc);
  std::int64_t* cnj = room(nj, nc);
  std::int64_t n_tiles = 0;
  const auto nj_all = static_cast<std::uint32_t>(s.nj_all);  // 32-bit division: symbols are 32-bit
  for (std::size_t i = 0; i < nc; ++i) {
    const std::uint32_t tile_rows = lay_sym[i] / nj_all;
    cni[i] = tile_rows + 1;
    cnj[i] = lay_sym[i] - tile_rows * nj_all + 1;
    if (c0[i] >= c.module_cols || r0[i] >= c.module_rows || r0[i] + (cni[i] - 1) * pr >= c.module_rows ||
        c0[i] + (cnj[i] - 1) * pc >= c.module_cols)
      throw DataError("pixel_vq format 2 decode: a cluster lies outside the module");
    if (cni[i] > 1 && cnj[i] > 1) n_tiles += cni[i] * cnj[i];
  }
  s.decode(5, e, static_cast<std::size_t>(n_tiles), nullptr, sym);

  // tiles -> patches (cluster order, raster order within the cluster)
  std::int64_t np_ev = 0;
  {
    std::size_t b = 0;
    for (std::size_t i = 0; i < nc; ++i) {
      const std::int64_t cells = cni[i] * cnj[i];
      if (cni[i] > 1 && cnj[i] > 1) {
        for (std::int64_t k = 0; k < cells; ++k) np_ev += sym[b++] != 0;
      } else {
        np_ev += cells;
      }
    }
  }
  if (np_ev != in.npatch[e])
    throw DataError("pixel_vq format 2 decode: the tile layouts do not add up to the event's patch count");
  n = static_cast<std::size_t>(np_ev);
  std::int64_t* pd = room(det, n);
  std::int64_t* prow = room(row, n);
  std::int64_t* pcol = room(col, n);
  std::int64_t* pcl_ = room(pcl, n);
  std::int64_t* nt = room(ntile, nc);
  std::uint32_t* pcx = room(ctx, std::max(n, nc));  // may move: contexts of the clusters are no longer needed
  {
    std::size_t b = 0, q = 0;
    for (std::size_t i = 0; i < nc; ++i) {
      const bool two_d = cni[i] > 1 && cnj[i] > 1;
      const std::int64_t dctx = dctx_c[i] * c.tile_positions;
      nt[i] = 0;
      for (std::int64_t a = 0; a < cni[i]; ++a)
        for (std::int64_t t = 0; t < cnj[i]; ++t) {
          if (two_d && !sym[b++]) continue;
          pd[q] = dc[i];
          prow[q] = r0[i] + a * pr;
          pcol[q] = c0[i] + t * pc;
          pcl_[q] = static_cast<std::int64_t>(i);
          const std::int64_t pos = (cni[i] == 1 && cnj[i] == 1)
                                       ? 0
                                       : 1 + (a > 0) + 2 * (t > 0) + 4 * (t < cnj[i] - 1) + 8 * (a < cni[i] - 1);
          pcx[q] = static_cast<std::uint32_t>(dctx + pos);
          ++nt[i];
          ++q;
        }
    }
  }
  s.decode(6, e, n, pcx, shape);
  const int esc = m.escape();
  std::size_t n_esc = 0;
  for (std::size_t q = 0; q < n; ++q) {
    if (static_cast<int>(shape[q]) > esc)
      throw DataError("pixel_vq format 2 decode: shape symbol " + str(shape[q]) + " beyond the table (" + str(esc) +
                      " shapes + escape)");
    n_esc += static_cast<int>(shape[q]) == esc;
  }
  // escaped shapes: one row symbol per patch row, context (row, module context)
  std::uint32_t* ecx = room(ctx, std::max(n, n_esc * pr));
  {
    std::size_t k = 0;
    for (std::size_t q = 0; q < n; ++q)
      if (static_cast<int>(shape[q]) == esc) {
        const std::int64_t dctx = dctx_c[pcl_[q]];
        for (int r = 0; r < pr; ++r) ecx[k++] = static_cast<std::uint32_t>(r * s.n_det + dctx);
      }
  }
  s.decode(7, e, n_esc * pr, ecx, sym);
  std::uint64_t* pm = room(mask, n);
  std::int64_t* nh = room(nhit, n);
  hits = 0;
  {
    std::size_t k = 0;
    for (std::size_t q = 0; q < n; ++q) {
      if (static_cast<int>(shape[q]) == esc) {
        std::uint64_t mk = 0;
        for (int r = 0; r < pr; ++r) mk |= static_cast<std::uint64_t>(sym[k++]) << (r * pc);
        pm[q] = mk;
        nh[q] = popcount64(mk);
      } else {
        pm[q] = m.shapes[shape[q]];
        nh[q] = s.shape_hits[shape[q]];
      }
      if (nh[q] == 0) throw DataError("pixel_vq format 2 decode: an escaped shape has no hit");
      hits += nh[q];
      const auto i = static_cast<std::size_t>(pcl_[q]);
      ecx[q] = static_cast<std::uint32_t>((s.shape_bucket(shape[q], nh[q]) * s.nl + lay_c[i]) * 2 + (nt[i] > 1));
    }
  }
  s.decode(8, e, n, ecx, charge);
  std::int64_t* pq = room(q, n);
  std::int64_t* mr = room(multi_row, n);
  n_multi = 0;
  const auto n_levels = static_cast<std::uint32_t>(m.levels.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (charge[i] >= n_levels)
      throw DataError("pixel_vq format 2 decode: charge symbol " + str(charge[i]) + " beyond the " + str(n_levels) +
                      " levels");
    pq[i] = m.levels[charge[i]];
    if (nh[i] >= 2) {
      mr[i] = static_cast<std::int64_t>(n_multi);
      ecx[n_multi++] = static_cast<std::uint32_t>(s.shape_bucket(shape[i], nh[i]) * (c.charge_buckets + 1) +
                                                  s.level_bucket[charge[i]]);
    } else {
      mr[i] = -1;
    }
  }
  const auto stages = static_cast<std::size_t>(s.stages);
  std::int64_t* cd = room(codes, n_multi * stages);
  for (std::size_t st = 0; st < stages; ++st) {
    s.decode(9 + st, e, n_multi, ecx, sym);
    for (std::size_t r = 0; r < n_multi; ++r) cd[r * stages + st] = sym[r];
  }
}

}  // namespace

PixelVQPatches pixel_vq_f2_patches(const PixelVQModel& m, const PixelVQF2Context& c,
                                   const std::vector<rans::Tables>& tables, const PixelVQF2Input& in, int threads) {
  const Shared s(m, c, tables, in);
  const std::size_t n_ev = in.n_events;
  PixelVQPatches p;
  p.n_events = n_ev;
  p.event_patch_start.assign(n_ev + 1, 0);
  for (std::size_t e = 0; e < n_ev; ++e) {
    if (in.npatch[e] < 0)
      throw DataError("pixel_vq format 2 decode: the tile layouts do not add up to the event's patch count");
    p.event_patch_start[e + 1] = p.event_patch_start[e] + in.npatch[e];
  }
  const auto np = static_cast<std::size_t>(p.event_patch_start[n_ev]);
  p.det.resize(np);
  p.row.resize(np);
  p.col.resize(np);
  p.mask.resize(np);
  p.q.resize(np);
  p.multi_row.resize(np);
  // codes per event (their rows are numbered across events once all are decoded)
  std::vector<std::vector<std::int64_t>> codes(n_ev);
  std::vector<std::int64_t> multi_start(n_ev + 1, 0);
  parallel_ranges(n_ev, threads, 1, [&](std::size_t e0, std::size_t e1) {
    EventPatches ev;
    for (std::size_t e = e0; e < e1; ++e) {
      ev.decode(s, e);  // checks that the event has npatch[e] patches
      const auto o = static_cast<std::size_t>(p.event_patch_start[e]);
      std::copy_n(ev.det.data(), ev.n, p.det.data() + o);
      std::copy_n(ev.row.data(), ev.n, p.row.data() + o);
      std::copy_n(ev.col.data(), ev.n, p.col.data() + o);
      std::copy_n(ev.mask.data(), ev.n, p.mask.data() + o);
      std::copy_n(ev.q.data(), ev.n, p.q.data() + o);
      std::copy_n(ev.multi_row.data(), ev.n, p.multi_row.data() + o);
      codes[e].assign(ev.codes.data(), ev.codes.data() + ev.n_multi * static_cast<std::size_t>(s.stages));
      multi_start[e + 1] = static_cast<std::int64_t>(ev.n_multi);
    }
  });
  if (s.fardet_start[n_ev] != static_cast<std::int64_t>(in.n_fardet))
    throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
  for (std::size_t e = 0; e < n_ev; ++e) multi_start[e + 1] += multi_start[e];
  p.n_multi = static_cast<std::size_t>(multi_start[n_ev]);
  p.codes.resize(p.n_multi * static_cast<std::size_t>(s.stages));
  for (std::size_t e = 0; e < n_ev; ++e) {
    std::copy(codes[e].begin(), codes[e].end(), p.codes.begin() + multi_start[e] * s.stages);
    for (std::int64_t i = p.event_patch_start[e]; i < p.event_patch_start[e + 1]; ++i)
      if (p.multi_row[i] >= 0) p.multi_row[i] += multi_start[e];
  }
  return p;
}

PixelHits pixel_vq_f2_hits(const PixelVQModel& m, const PixelVQF2Context& c, const std::vector<rans::Tables>& tables,
                           const PixelVQF2Input& in, const PixelVQStreams& corrections, int threads) {
  if (!m.has_codebooks()) throw std::invalid_argument("pixel_vq decode: the model has no codebooks here; pass the fractions");
  const Shared s(m, c, tables, in);
  const std::size_t n_ev = in.n_events;
  PixelHits h;
  h.counts.assign(n_ev, 0);
  // each range of events writes its hits into its own arrays, copied into place once every count is known
  struct Part {
    std::size_t e0 = 0, e1 = 0;
    std::vector<std::uint32_t> det;
    std::vector<std::uint16_t> row, col, adc;
  };
  const std::size_t n_parts = static_cast<std::size_t>(std::max(1, std::min<int>(threads, static_cast<int>(n_ev))));
  std::vector<Part> parts(n_parts);
  parallel_ranges(n_parts, static_cast<int>(n_parts), 1, [&](std::size_t w0, std::size_t w1) {
    EventPatches ev;
    CanonicalWriter w;
    for (std::size_t part = w0; part < w1; ++part) {
      Part& out = parts[part];
      out.e0 = n_ev * part / n_parts;
      out.e1 = n_ev * (part + 1) / n_parts;
      // room for about 6 hits per patch (all events' for the first range, whose arrays become the result)
      const std::int64_t p0 = part == 0 ? 0 : s.patch_start[out.e0];
      const std::int64_t p1 = part == 0 ? s.patch_start[n_ev] : s.patch_start[out.e1];
      const auto guess = static_cast<std::size_t>(std::min<std::int64_t>(std::max<std::int64_t>(p1 - p0, 0), 1 << 24)) * 6;
      out.det.reserve(guess);
      out.row.reserve(guess);
      out.col.reserve(guess);
      out.adc.reserve(guess);
      std::size_t k = 0;
      for (std::size_t e = out.e0; e < out.e1; ++e) {
        ev.decode(s, e);
        const std::size_t need = k + static_cast<std::size_t>(ev.hits);
        out.det.resize(need);
        out.row.resize(need);
        out.col.resize(need);
        out.adc.resize(need);
        bool ascending = true;
        for (std::size_t i = 1; i < ev.n && ascending; ++i)
          ascending = static_cast<std::uint32_t>(ev.det[i]) >= static_cast<std::uint32_t>(ev.det[i - 1]);
        w.begin_event(out.det.data(), out.row.data(), out.col.data(), out.adc.data(), k, ascending);
        for (std::size_t i = 0; i < ev.n; ++i) {
          const std::int64_t r = ev.multi_row[i];
          w.module(static_cast<std::uint32_t>(ev.det[i]));
          write_patch_hits(m, w, ev.row[i], ev.col[i], ev.mask[i], ev.q[i],
                           r >= 0 ? ev.codes.data() + r * s.stages : nullptr, nullptr);
        }
        k = w.end_event();
        h.counts[e] = ev.hits;
      }
    }
  });
  if (s.fardet_start[n_ev] != static_cast<std::int64_t>(in.n_fardet))
    throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
  std::vector<std::int64_t> event_start(n_ev + 1, 0);
  for (std::size_t e = 0; e < n_ev; ++e) event_start[e + 1] = event_start[e] + h.counts[e];
  const auto total = static_cast<std::size_t>(event_start[n_ev]);
  // the first range's arrays, grown to the total, receive the others'
  Part& first = parts[0];
  h.det = std::move(first.det);
  h.row = std::move(first.row);
  h.col = std::move(first.col);
  h.adc = std::move(first.adc);
  h.det.resize(total);
  h.row.resize(total);
  h.col.resize(total);
  h.adc.resize(total);
  parallel_ranges(n_parts - 1, static_cast<int>(n_parts - 1), 1, [&](std::size_t w0, std::size_t w1) {
    for (std::size_t part = w0 + 1; part < w1 + 1; ++part) {
      const Part& pt = parts[part];
      const auto o = static_cast<std::size_t>(event_start[pt.e0]);
      const std::size_t k = pt.det.size();
      std::memcpy(h.det.data() + o, pt.det.data(), k * sizeof(std::uint32_t));
      std::memcpy(h.row.data() + o, pt.row.data(), k * sizeof(std::uint16_t));
      std::memcpy(h.col.data() + o, pt.col.data(), k * sizeof(std::uint16_t));
      std::memcpy(h.adc.data() + o, pt.adc.data(), k * sizeof(std::uint16_t));
    }
  });
  apply_corrections(m, h, event_start, corrections);
  return h;
}

}  // namespace hepvq
