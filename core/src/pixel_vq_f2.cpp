// pixel_vq format 2 decode (see hepvq/pixel_vq_f2.hpp and hepvq/pixel/format2.py).
//
// Every context of an event's streams is computed from symbols of the same event decoded before, so events are
// independent: one thread decodes two events at a time, stream by stream (the order of format2.stream_names), the
// same stream of both at once (two rANS state chains in flight), into per-thread scratch arrays reused from event
// to event, and turns the patches into hits right away.
#include "hepvq/pixel_vq_f2.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <thread>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "hepvq/parallel.hpp"
#include "hepvq/stream.hpp"

namespace hepvq {
namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

const char* const kNames[] = {"mod", "ncl", "dcol", "row", "layout", "tiles", "shape", "esc", "charge"};

// One stream of one event to decode: n symbols with contexts ctx (null: context 0) into out.
struct StreamRequest {
  std::size_t n = 0;
  const std::uint32_t* ctx = nullptr;
  std::vector<std::uint32_t>* out = nullptr;
};

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
  std::size_t max_mod = 0, max_cl = 0, max_patch = 0;  // the largest event's counts (per-thread scratch reserve)
  int pr, pc, stages;
  std::size_t n_streams;
  std::int64_t nj_all, nbk, nl, n_det;
  // c's, as int64: a context stored (uint32) may alias an int of c, which the loops then load again per patch
  std::int64_t own_shapes, nhit_buckets, charge_buckets;

  Shared(const PixelVQModel& model, const PixelVQF2Context& ctx, const std::vector<const rans::Tables*>& tables,
         const PixelVQF2Input& input)
      : m(model), c(ctx), in(input), pr(model.patch_rows), pc(model.patch_cols), stages(model.stages()),
        n_streams(9 + static_cast<std::size_t>(stages)), own_shapes(ctx.own_shapes), nhit_buckets(ctx.nhit_buckets),
        charge_buckets(ctx.charge_buckets) {
    const std::size_t n_ev = in.n_events;
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
    for (const rans::Tables* t : tables) dec.emplace_back(*t);
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
    // (counts not yet checked against the symbols: capped, a damaged one only reserves too little)
    const auto capped = [](std::int64_t v) { return static_cast<std::size_t>(std::clamp<std::int64_t>(v, 0, 1 << 20)); };
    for (std::size_t e = 0; e < n_ev; ++e) {
      max_mod = std::max(max_mod, capped(in.nmod[e]));
      max_cl = std::max(max_cl, capped(in.ncl[e]));
      max_patch = std::max(max_patch, capped(in.npatch[e]));
    }
  }

  std::int64_t layer(std::int64_t det) const {
    if (m.ctx_bitfields.empty() || c.layers.empty()) return 0;
    const auto& bf = m.ctx_bitfields[0];
    const std::int64_t v = (det >> bf.first) & bf.second;
    auto it = std::lower_bound(c.layers.begin(), c.layers.end(), v);
    return (it != c.layers.end() && *it == v) ? (it - c.layers.begin()) + 1 : 0;
  }
  std::int64_t shape_bucket(std::int64_t shape, std::int64_t nhit) const {
    return shape < own_shapes ? shape : own_shapes + std::min(nhit, nhit_buckets) - 1;
  }

  // n symbols of stream k of event e into out (ctx: n contexts, or null for context 0); errors name the stream
  // and the event as rans::decode_events did
  void decode(std::size_t k, std::size_t e, std::size_t n, const std::uint32_t* ctx,
              std::vector<std::uint32_t>& out) const {
    if (out.size() < n) out.resize(n);
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
  // stream k of events e (request a) and e + 1 (request b) at once; a damaged blob throws, though not necessarily
  // decode()'s error (see decode_two)
  void decode_pair(std::size_t k, std::size_t e, const StreamRequest& a, const StreamRequest& b) const {
    const PixelVQF2Stream& st = in.streams[k];
    const auto blob = [&](std::size_t ev, const StreamRequest& r) {
      if (r.out->size() < r.n) r.out->resize(r.n);
      return rans::StaticDecoder::Blob{st.data + st.byte_offsets[ev],
                                       static_cast<std::size_t>(st.byte_offsets[ev + 1] - st.byte_offsets[ev]), r.n,
                                       r.ctx, r.out->data()};
    };
    dec[k].decode_pair(blob(e, a), blob(e + 1, b));
  }
};

// The chunk's hit arrays, written in place by every thread (each event at its place in the chunk). They grow
// (rarely: room for about 6 hits per patch is made first) only while no thread writes.
class SharedHits {
 public:
  explicit SharedHits(std::size_t capacity) { grow(std::max<std::size_t>(capacity, 1)); }
  // fn(det, row, col, adc) with room for the hits [0, need)
  template <class Fn>
  void write(std::size_t need, Fn&& fn) {
    std::shared_lock<std::shared_mutex> writing(mutex_);
    if (need > capacity_) {
      writing.unlock();
      {
        std::unique_lock<std::shared_mutex> alone(mutex_);
        if (need > capacity_) grow(std::max(need, 2 * capacity_));
      }
      writing.lock();
    }
    fn(det_.get(), row_.get(), col_.get(), adc_.get());
  }
  PixelHitArrays release(std::vector<std::int64_t> counts, std::size_t n) {
    return {std::move(counts), n, std::move(det_), std::move(row_), std::move(col_), std::move(adc_)};
  }

 private:
  // a's n values moved to room for `to` values, from 2 MiB boundaries when that is 2 MiB or more: the kernel then
  // backs them with 2 MiB pages where it does so on request (transparent huge pages in "madvise" mode). The hit
  // arrays are tens of MB, and faulting them in 4 KiB at a time cost ~10 ms per 40 events (an unaligned array
  // starts and ends in small pages: ~1500 faults more per 40 events).
  template <class T>
  static void resize(MallocArray<T>& a, std::size_t n, std::size_t to) {
    constexpr std::size_t kHuge = std::size_t{1} << 21;
    const bool huge = to * sizeof(T) >= kHuge;  // (a small chunk's arrays in small pages)
    const std::size_t bytes = huge ? (to * sizeof(T) + kHuge - 1) & ~(kHuge - 1) : to * sizeof(T);
    void* p = huge ? std::aligned_alloc(kHuge, bytes) : std::malloc(bytes);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // a hint: failure changes nothing
#endif
    if (n) std::memcpy(p, a.get(), n * sizeof(T));
    a.reset(static_cast<T*>(p));
  }
  void grow(std::size_t n) {
    resize(det_, capacity_, n);
    resize(row_, capacity_, n);
    resize(col_, capacity_, n);
    resize(adc_, capacity_, n);
    capacity_ = n;
  }

  std::shared_mutex mutex_;
  std::size_t capacity_ = 0;
  MallocArray<std::uint32_t> det_;
  MallocArray<std::uint16_t> row_, col_, adc_;
};

// Per event: its hit count, published by the thread that decoded its patches before any of its hits is written,
// so that a thread can place an event's hits as soon as the events before it are decoded (not yet written).
class HitCounts {
 public:
  explicit HitCounts(std::size_t n_events) : count_(n_events) {
    for (auto& c : count_) c.store(-1, std::memory_order_relaxed);
  }
  void publish(std::size_t e, std::int64_t hits) { count_[e].store(hits, std::memory_order_release); }
  // nothing more will be published (a thread failed): stop waiting
  void fail() { failed_.store(true, std::memory_order_release); }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // A thread's running sum of the counts: hits of the events before `e`.
  struct Cursor {
    std::size_t e = 0;
    std::int64_t hits = 0;
  };
  // c moved on to event e, waiting for the counts before it; false when a thread failed
  bool advance(Cursor& c, std::size_t e) const {
    for (; c.e < e; ++c.e) {
      std::int64_t n;
      while ((n = count_[c.e].load(std::memory_order_acquire)) < 0) {
        if (failed()) return false;
        std::this_thread::yield();
      }
      c.hits += n;
    }
    return true;
  }
  std::vector<std::int64_t> counts() const {
    std::vector<std::int64_t> out(count_.size());
    for (std::size_t e = 0; e < out.size(); ++e) out[e] = count_[e].load(std::memory_order_relaxed);
    return out;
  }

 private:
  std::vector<std::atomic<std::int64_t>> count_;
  std::atomic<bool> failed_{false};
};

template <class T>
T* room(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// The patches of one event (per-thread scratch, reused from event to event), decoded one stream at a time:
// next(k) turns the symbols of the streams before k into what stream k's contexts need and asks for stream k,
// so that two events can be decoded in step (decode_two).
struct EventPatches {
  std::size_t n = 0, n_multi = 0;
  std::int64_t hits = 0;
  // per patch; 32-bit where the values are small, so that the scratch of the two events in flight stays nearer
  // the size of a core's L2 (1 MiB here; ~5% less decode time than all 64-bit)
  std::vector<std::int64_t> det, q;
  std::vector<std::int32_t> row, col, multi_row;  // row, col within the module (checked by tiles())
  std::vector<std::uint64_t> mask;
  std::vector<std::int64_t> codes;  // (n_multi, stages)
  // scratch: symbols, contexts, modules, clusters
  std::vector<std::uint32_t> sym, ctx, ncl_sym, shape, charge, layout_sym, layout_ctx;
  std::vector<std::int64_t> mod_det, det_c, col0, row0;
  std::vector<std::int32_t> mod_ctx, layer_c, det_ctx_c, ni, nj, ntile, pcl, nhit;
  std::vector<char> firstc, rel;
  std::size_t n_mod = 0, nc = 0, n_esc = 0;

  // room for the chunk's largest event reserved first: scratch that grew event after event was reallocated
  // (and its pages faulted in again) each time a larger event came
  explicit EventPatches(const Shared& s);
  // after streams 0 .. k - 1 of event e: stream k's request (k == s.n_streams: the event is complete)
  StreamRequest next(const Shared& s, std::size_t e, std::size_t k);
  // every stream one after another (errors name the first damaged stream)
  void decode(const Shared& s, std::size_t e);

 private:
  StreamRequest modules(const Shared& s, std::size_t e);
  StreamRequest clusters(const Shared& s, std::size_t e);
  StreamRequest columns(const Shared& s);
  StreamRequest rows();
  StreamRequest tiles(const Shared& s);
  StreamRequest patches(const Shared& s, std::size_t e);
  StreamRequest escapes(const Shared& s);
  StreamRequest charges(const Shared& s);
  StreamRequest levels(const Shared& s);
};

EventPatches::EventPatches(const Shared& s) {
  const auto reserve = [](std::size_t n, auto&... v) { (v.reserve(n), ...); };
  reserve(s.max_mod, mod_det, mod_ctx, ncl_sym);
  reserve(s.max_cl, det_c, col0, row0, layer_c, det_ctx_c, ni, nj, ntile, firstc, rel, layout_sym, layout_ctx);
  reserve(s.max_patch, det, q, row, col, multi_row, mask, pcl, nhit, shape, charge);
  reserve(s.max_patch * static_cast<std::size_t>(s.stages), codes);
  reserve(std::max({s.max_mod, s.max_cl, s.max_patch}), sym, ctx);
}

StreamRequest EventPatches::next(const Shared& s, std::size_t e, std::size_t k) {
  switch (k) {
    case 0:
      n_mod = static_cast<std::size_t>(s.in.nmod[e]);
      return {n_mod, nullptr, &sym};
    case 1: return modules(s, e);
    case 2: return clusters(s, e);
    case 3: return columns(s);
    case 4: return rows();
    case 5: return tiles(s);
    case 6: return patches(s, e);
    case 7: return escapes(s);
    case 8: return charges(s);
    case 9: return levels(s);
  }
  // code stage k - 10 is in sym: its column of codes
  const auto stages = static_cast<std::size_t>(s.stages), st = k - 10;
  for (std::size_t r = 0; r < n_multi; ++r) codes[r * stages + st] = sym[r];
  return {n_multi, ctx.data(), &sym};
}

void EventPatches::decode(const Shared& s, std::size_t e) {
  for (std::size_t k = 0;; ++k) {
    const StreamRequest r = next(s, e, k);
    if (k == s.n_streams) return;
    s.decode(k, e, r.n, r.ctx, *r.out);
  }
}

// modules: known detIds by index delta, unknown ones (symbol 0) from 'fardet' in order
StreamRequest EventPatches::modules(const Shared& s, std::size_t e) {
  const PixelVQF2Context& c = s.c;
  const PixelVQF2Input& in = s.in;
  std::int64_t* md = room(mod_det, n_mod);
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
  std::uint32_t* cx = room(ctx, n_mod);
  std::int32_t* mctx = room(mod_ctx, n_mod);
  for (std::size_t j = 0; j < n_mod; ++j) {
    mctx[j] = static_cast<std::int32_t>(s.m.det_context(md[j]));
    cx[j] = static_cast<std::uint32_t>(mctx[j]);
  }
  return {n_mod, cx, &ncl_sym};
}

// clusters: per module its count; then the contexts of the first columns and of the layouts
StreamRequest EventPatches::clusters(const Shared& s, std::size_t e) {
  const PixelVQF2Context& c = s.c;
  std::int64_t nc_sum = 0;
  for (std::size_t j = 0; j < n_mod; ++j) nc_sum += static_cast<std::int64_t>(ncl_sym[j]) + 1;
  if (nc_sum != s.in.ncl[e])
    throw DataError("pixel_vq format 2 decode: clusters per module do not add up to the event's cluster count");
  nc = static_cast<std::size_t>(nc_sum);
  const std::int64_t* md = mod_det.data();
  const std::int32_t* mctx = mod_ctx.data();
  std::int64_t* dc = room(det_c, nc);
  std::int32_t* lay_c = room(layer_c, nc);
  std::int32_t* dctx_c = room(det_ctx_c, nc);
  char* fc = room(firstc, nc);
  std::uint32_t* cx = room(ctx, nc);
  std::uint32_t* lcx = room(layout_ctx, nc);
  const std::int64_t nbk = s.nbk;  // (a local: the char stores below may alias every field read through s)
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
      cx[i] = static_cast<std::uint32_t>(lay * nbk + bucket);
      lcx[i] = static_cast<std::uint32_t>(mctx[j]);
    }
  }
  return {nc, cx, &sym};
}

// columns: of the first cluster from the module's start, then gaps; rows relative when the column repeats
StreamRequest EventPatches::columns(const Shared& s) {
  const char* fc = firstc.data();
  const std::int32_t* lay_c = layer_c.data();
  std::int64_t* c0 = room(col0, nc);
  char* rl = room(rel, nc);
  std::uint32_t* cx = ctx.data();
  const std::uint32_t* sy = sym.data();
  const std::int64_t nl = s.nl;  // (locals: the char stores below may alias every field read through this or s)
  for (std::size_t i = 0; i < nc; ++i) {
    c0[i] = fc[i] ? sy[i] : c0[i - 1] + sy[i];
    rl[i] = !fc[i] && sy[i] == 0;
    cx[i] = static_cast<std::uint32_t>(lay_c[i] + nl * rl[i]);
  }
  return {nc, cx, &sym};
}

StreamRequest EventPatches::rows() {
  const char* rl = rel.data();
  std::int64_t* r0 = room(row0, nc);
  for (std::size_t i = 0; i < nc; ++i) r0[i] = rl[i] ? r0[i - 1] + sym[i] : sym[i];
  return {nc, layout_ctx.data(), &layout_sym};  // contexts from clusters()
}

// layouts: tile rows and columns of each cluster; 2-d ones have a tile symbol per cell
StreamRequest EventPatches::tiles(const Shared& s) {
  const PixelVQF2Context& c = s.c;
  const std::int64_t* c0 = col0.data();
  const std::int64_t* r0 = row0.data();
  const std::uint32_t* lay_sym = layout_sym.data();
  std::int32_t* cni = room(ni, nc);
  std::int32_t* cnj = room(nj, nc);
  std::int64_t n_tiles = 0;
  const auto nj_all = static_cast<std::uint32_t>(s.nj_all);  // 32-bit division: symbols are 32-bit
  // (locals: the int32 stores below may alias the ints of s and c)
  const std::int64_t module_cols = c.module_cols, module_rows = c.module_rows, pr = s.pr, pc = s.pc;
  for (std::size_t i = 0; i < nc; ++i) {
    const std::uint32_t tile_rows = lay_sym[i] / nj_all;
    const std::int64_t rows_i = tile_rows + 1, cols_i = lay_sym[i] - tile_rows * nj_all + 1;
    if (c0[i] >= module_cols || r0[i] >= module_rows || r0[i] + (rows_i - 1) * pr >= module_rows ||
        c0[i] + (cols_i - 1) * pc >= module_cols)
      throw DataError("pixel_vq format 2 decode: a cluster lies outside the module");
    cni[i] = static_cast<std::int32_t>(rows_i);  // within the module now
    cnj[i] = static_cast<std::int32_t>(cols_i);
    if (rows_i > 1 && cols_i > 1) n_tiles += rows_i * cols_i;
  }
  return {static_cast<std::size_t>(n_tiles), nullptr, &sym};
}

// tiles -> patches (cluster order, raster order within the cluster)
StreamRequest EventPatches::patches(const Shared& s, std::size_t e) {
  const std::int32_t* cni = ni.data();
  const std::int32_t* cnj = nj.data();
  std::int64_t np_ev = 0;
  {
    std::size_t b = 0;
    for (std::size_t i = 0; i < nc; ++i) {
      const std::int64_t cells = std::int64_t{cni[i]} * cnj[i];
      if (cni[i] > 1 && cnj[i] > 1) {
        for (std::int64_t k = 0; k < cells; ++k) np_ev += sym[b++] != 0;
      } else {
        np_ev += cells;
      }
    }
  }
  if (np_ev != s.in.npatch[e])
    throw DataError("pixel_vq format 2 decode: the tile layouts do not add up to the event's patch count");
  n = static_cast<std::size_t>(np_ev);
  const std::int64_t* dc = det_c.data();
  const std::int32_t* dctx_c = det_ctx_c.data();
  const std::int64_t* c0 = col0.data();
  const std::int64_t* r0 = row0.data();
  std::int64_t* pd = room(det, n);
  std::int32_t* prow = room(row, n);
  std::int32_t* pcol = room(col, n);
  std::int32_t* pcl_ = room(pcl, n);
  std::int32_t* nt = room(ntile, nc);
  std::uint32_t* pcx = room(ctx, std::max(n, nc));  // may move: contexts of the clusters are no longer needed
  const std::uint32_t* sy = sym.data();
  // (locals, per cluster too: the int32 stores below may alias the ints of s and the cluster arrays)
  const std::int64_t pr = s.pr, pc = s.pc, tile_positions = s.c.tile_positions;
  std::size_t b = 0, q = 0;
  for (std::size_t i = 0; i < nc; ++i) {
    const std::int64_t rows_i = cni[i], cols_i = cnj[i], det_i = dc[i], r0_i = r0[i], c0_i = c0[i];
    const bool two_d = rows_i > 1 && cols_i > 1;
    const std::int64_t dctx = std::int64_t{dctx_c[i]} * tile_positions;
    const std::size_t first = q;
    for (std::int64_t a = 0; a < rows_i; ++a)
      for (std::int64_t t = 0; t < cols_i; ++t) {
        if (two_d && !sy[b++]) continue;
        pd[q] = det_i;
        prow[q] = static_cast<std::int32_t>(r0_i + a * pr);
        pcol[q] = static_cast<std::int32_t>(c0_i + t * pc);
        pcl_[q] = static_cast<std::int32_t>(i);
        const std::int64_t pos = (rows_i == 1 && cols_i == 1)
                                     ? 0
                                     : 1 + (a > 0) + 2 * (t > 0) + 4 * (t < cols_i - 1) + 8 * (a < rows_i - 1);
        pcx[q] = static_cast<std::uint32_t>(dctx + pos);
        ++q;
      }
    nt[i] = static_cast<std::int32_t>(q - first);
  }
  return {n, pcx, &shape};
}

// escaped shapes: one row symbol per patch row, context (row, module context)
StreamRequest EventPatches::escapes(const Shared& s) {
  const int esc = s.m.escape();
  // the escapes counted and the largest symbol found in one pass without a branch (vectorised); the symbol
  // beyond the table looked for only when there is one
  const std::uint32_t* sh = shape.data();
  std::size_t count = 0;
  int top = esc;
  for (std::size_t q = 0; q < n; ++q) {
    top = std::max(top, static_cast<int>(sh[q]));
    count += static_cast<int>(sh[q]) == esc;
  }
  if (top > esc)
    for (std::size_t q = 0;; ++q)
      if (static_cast<int>(sh[q]) > esc)
        throw DataError("pixel_vq format 2 decode: shape symbol " + str(sh[q]) + " beyond the table (" + str(esc) +
                        " shapes + escape)");
  n_esc = count;
  const auto pr = static_cast<std::size_t>(s.pr);
  std::uint32_t* ecx = room(ctx, std::max(n, n_esc * pr));
  const std::int32_t* dctx_c = det_ctx_c.data();
  const std::int64_t n_det = s.n_det;
  std::size_t k = 0;
  for (std::size_t q = 0; q < n; ++q)
    if (static_cast<int>(sh[q]) == esc) {
      const std::int64_t dctx = dctx_c[pcl[q]];
      for (std::size_t r = 0; r < pr; ++r) ecx[k++] = static_cast<std::uint32_t>(static_cast<std::int64_t>(r) * n_det + dctx);
    }
  return {n_esc * pr, ecx, &sym};
}

// masks and hit counts of the patches; the charges' contexts
StreamRequest EventPatches::charges(const Shared& s) {
  const int esc = s.m.escape();
  std::uint64_t* pm = room(mask, n);
  std::int32_t* nh = room(nhit, n);
  std::uint32_t* ecx = ctx.data();
  const std::int32_t* lay_c = layer_c.data();
  const std::int32_t* nt = ntile.data();
  // (locals: the stores below may alias the ints of s and the event's hit count)
  const int pr = s.pr, pc = s.pc;
  std::int64_t event_hits = 0;
  std::size_t k = 0;
  for (std::size_t q = 0; q < n; ++q) {
    if (static_cast<int>(shape[q]) == esc) {
      std::uint64_t mk = 0;
      for (int r = 0; r < pr; ++r) mk |= static_cast<std::uint64_t>(sym[k++]) << (r * pc);
      pm[q] = mk;
      nh[q] = popcount64(mk);
    } else {
      pm[q] = s.m.shapes[shape[q]];
      nh[q] = s.shape_hits[shape[q]];
    }
    if (nh[q] == 0) throw DataError("pixel_vq format 2 decode: an escaped shape has no hit");
    event_hits += nh[q];
    const auto i = static_cast<std::size_t>(pcl[q]);
    ecx[q] = static_cast<std::uint32_t>((s.shape_bucket(shape[q], nh[q]) * s.nl + lay_c[i]) * 2 + (nt[i] > 1));
  }
  hits = event_hits;
  return {n, ecx, &charge};
}

// charge levels; the codes' contexts (patches of two hits or more)
StreamRequest EventPatches::levels(const Shared& s) {
  const PixelVQModel& m = s.m;
  const std::int32_t* nh = nhit.data();
  std::uint32_t* ecx = ctx.data();
  std::int64_t* pq = room(q, n);
  std::int32_t* mr = room(multi_row, n);
  std::size_t multi = 0;  // (a local: the int64 stores below may alias n_multi)
  const auto n_levels = static_cast<std::uint32_t>(m.levels.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (charge[i] >= n_levels)
      throw DataError("pixel_vq format 2 decode: charge symbol " + str(charge[i]) + " beyond the " + str(n_levels) +
                      " levels");
    pq[i] = m.levels[charge[i]];
    if (nh[i] >= 2) {
      mr[i] = static_cast<std::int32_t>(multi);
      ecx[multi++] = static_cast<std::uint32_t>(s.shape_bucket(shape[i], nh[i]) * (s.charge_buckets + 1) +
                                                s.level_bucket[charge[i]]);
    } else {
      mr[i] = -1;
    }
  }
  n_multi = multi;
  room(codes, n_multi * static_cast<std::size_t>(s.stages));
  return {n_multi, ecx, &sym};
}

// Events e and e + 1 with stream k of both decoded at once (two independent rANS state chains in flight). On any
// error both are decoded again one after the other, so that errors stay those of the event and stream order.
void decode_two(const Shared& s, std::size_t e, EventPatches& a, EventPatches& b) {
  try {
    for (std::size_t k = 0;; ++k) {
      const StreamRequest ra = a.next(s, e, k), rb = b.next(s, e + 1, k);
      if (k == s.n_streams) return;
      s.decode_pair(k, e, ra, rb);
    }
  } catch (const std::exception&) {
    a.decode(s, e);
    b.decode(s, e + 1);
  }
}

// Events [e0, e1) in order, two at a time; fn(ev, e) with each event decoded.
template <class Fn>
void for_each_event(const Shared& s, std::size_t e0, std::size_t e1, Fn&& fn) {
  EventPatches ev[2] = {EventPatches(s), EventPatches(s)};
  std::size_t e = e0;
  for (; e + 1 < e1; e += 2) {
    decode_two(s, e, ev[0], ev[1]);
    fn(ev[0], e);
    fn(ev[1], e + 1);
  }
  if (e < e1) {
    ev[0].decode(s, e);
    fn(ev[0], e);
  }
}

// The hits of event ev in canonical order into det/row/col/adc from index k on; the index after them.
std::size_t write_event(const Shared& s, const EventPatches& ev, CanonicalWriter& w, std::uint32_t* det,
                        std::uint16_t* row, std::uint16_t* col, std::uint16_t* adc, std::size_t k) {
  bool ascending = true;
  for (std::size_t i = 1; i < ev.n && ascending; ++i)
    ascending = static_cast<std::uint32_t>(ev.det[i]) >= static_cast<std::uint32_t>(ev.det[i - 1]);
  w.begin_event(det, row, col, adc, k, ascending);
  for (std::size_t i = 0; i < ev.n; ++i) {
    const std::int64_t r = ev.multi_row[i];
    w.module(static_cast<std::uint32_t>(ev.det[i]));
    write_patch_hits(s.m, w, ev.row[i], ev.col[i], ev.mask[i], ev.q[i],
                     r >= 0 ? ev.codes.data() + r * s.stages : nullptr, nullptr);
  }
  return w.end_event();
}

}  // namespace

PixelVQPatches pixel_vq_f2_patches(const PixelVQModel& m, const PixelVQF2Context& c,
                                   const std::vector<rans::Tables>& tables, const PixelVQF2Input& in, int threads) {
  std::vector<const rans::Tables*> table_of;
  for (const rans::Tables& t : tables) table_of.push_back(&t);
  const Shared s(m, c, table_of, in);
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
    // decoding checks that the event has npatch[e] patches
    for_each_event(s, e0, e1, [&](const EventPatches& ev, std::size_t e) {
      const auto o = static_cast<std::size_t>(p.event_patch_start[e]);
      std::copy_n(ev.det.data(), ev.n, p.det.data() + o);
      std::copy_n(ev.row.data(), ev.n, p.row.data() + o);
      std::copy_n(ev.col.data(), ev.n, p.col.data() + o);
      std::copy_n(ev.mask.data(), ev.n, p.mask.data() + o);
      std::copy_n(ev.q.data(), ev.n, p.q.data() + o);
      std::copy_n(ev.multi_row.data(), ev.n, p.multi_row.data() + o);
      codes[e].assign(ev.codes.data(), ev.codes.data() + ev.n_multi * static_cast<std::size_t>(s.stages));
      multi_start[e + 1] = static_cast<std::int64_t>(ev.n_multi);
    });
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

PixelHitArrays pixel_vq_f2_hits(const PixelVQModel& m, const PixelVQF2Context& c,
                                const std::vector<const rans::Tables*>& tables, const PixelVQF2Input& in,
                                const PixelVQStreams& corrections, int threads) {
  if (!m.has_codebooks()) throw std::invalid_argument("pixel_vq decode: the model has no codebooks here; pass the fractions");
  const Shared s(m, c, tables, in);
  const std::size_t n_ev = in.n_events;
  const auto n_threads = static_cast<std::size_t>(std::max(1, std::min<int>(threads, static_cast<int>(n_ev))));
  // the threads take the events in order, two at a time but the last ones one at a time (so that the threads
  // finish within about one event of each other); each event's hits go straight to their place in the chunk's
  // arrays (room for about 6 hits per patch first)
  const std::size_t n_pairs = (n_ev - std::min(n_ev, 2 * (n_threads - 1))) / 2, n_items = n_ev - n_pairs;
  SharedHits out(static_cast<std::size_t>(std::min<std::int64_t>(std::max<std::int64_t>(s.patch_start[n_ev], 0), 1 << 24)) * 6);
  HitCounts counts(n_ev);
  std::atomic<std::size_t> next_item{0};
  std::vector<std::exception_ptr> errors(n_items);  // per item: its decode's error
  const auto run = [&] {
    EventPatches ev[2] = {EventPatches(s), EventPatches(s)};
    CanonicalWriter w;
    HitCounts::Cursor before;
    for (std::size_t item; !counts.failed() && (item = next_item.fetch_add(1)) < n_items;) {
      const std::size_t e = item < n_pairs ? 2 * item : n_pairs + item, n = item < n_pairs ? 2 : 1;
      try {
        if (n == 2)
          decode_two(s, e, ev[0], ev[1]);
        else
          ev[0].decode(s, e);
        for (std::size_t j = 0; j < n; ++j) counts.publish(e + j, ev[j].hits);
        if (!counts.advance(before, e)) return;
        const auto k = static_cast<std::size_t>(before.hits);
        out.write(k + static_cast<std::size_t>(ev[0].hits + (n == 2 ? ev[1].hits : 0)),
                  [&](std::uint32_t* det, std::uint16_t* row, std::uint16_t* col, std::uint16_t* adc) {
                    const std::size_t k1 = write_event(s, ev[0], w, det, row, col, adc, k);
                    if (n == 2) write_event(s, ev[1], w, det, row, col, adc, k1);
                  });
      } catch (...) {
        errors[item] = std::current_exception();
        counts.fail();
        return;
      }
    }
  };
  parallel_ranges(n_threads, static_cast<int>(n_threads), 1, [&](std::size_t, std::size_t) { run(); });
  for (const std::exception_ptr& err : errors)  // the first damaged item's (items are taken in order)
    if (err) std::rethrow_exception(err);
  if (s.fardet_start[n_ev] != static_cast<std::int64_t>(in.n_fardet))
    throw DataError("pixel_vq format 2 decode: the unknown-module count does not match 'fardet'");
  std::vector<std::int64_t> hits = counts.counts(), event_start(n_ev + 1, 0);
  for (std::size_t e = 0; e < n_ev; ++e) event_start[e + 1] = event_start[e] + hits[e];
  PixelHitArrays h = out.release(std::move(hits), static_cast<std::size_t>(event_start[n_ev]));
  apply_corrections(m, h.counts, h.adc.get(), event_start, corrections);
  return h;
}

}  // namespace hepvq
