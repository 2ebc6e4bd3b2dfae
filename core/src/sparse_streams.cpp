// Sparse hit streams (cluster layout) and tpc_inr format 2's coordinate / residual streams: see
// hepvq/sparse_streams.hpp. Mirrors hepvq/baselines/sparse_streams.py decode_event / decode_values and
// hepvq/baselines/sparse_clusters.py decode step by step (the numpy code is the tests' oracle).
#include "hepvq/sparse_streams.hpp"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace hepvq {
namespace sparse {

namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

// hepvq.baselines.sparse._Reader: varints and byte runs of one blob, errors naming it
struct Reader {
  const std::uint8_t* p;
  std::size_t n, pos = 0;
  const std::string& what;
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (shift > 63) throw DataError(what + ": corrupt varint");
      if (pos >= n) throw DataError(what + ": truncated blob");
      const std::uint8_t b = p[pos++];
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  const std::uint8_t* take(std::uint64_t k) {
    if (k > n - pos) throw DataError(what + ": truncated blob");
    const std::uint8_t* out = p + pos;
    pos += static_cast<std::size_t>(k);
    return out;
  }
};

// min(floor(log2(max(x, 1))), 15): sparse_streams._bucket
std::int64_t bucket(std::int64_t x) {
  std::int64_t b = 0;
  while (b < 15 && (x >> (b + 1)) > 0) ++b;
  return b;
}

// numpy int64 arithmetic wraps; so does this (no signed overflow)
std::int64_t add(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

// Cumulative sum restarting where start[i] (hepvq.pixel.codec.segmented_cumsum; start[0] is always set here)
void segmented_cumsum(std::vector<std::int64_t>& v, const std::vector<char>& start) {
  for (std::size_t i = 1; i < v.size(); ++i)
    if (!start[i]) v[i] = add(v[i - 1], v[i]);
}

std::vector<std::int64_t> decode_stream(Reader& r, const Tables& t, int s, std::size_t count,
                                        const std::vector<std::uint32_t>& ctx) {
  const std::uint64_t nbytes = r.varint();
  const std::uint8_t* data = r.take(nbytes);
  std::vector<std::uint32_t> sym(count);
  try {
    rans::decode(data, static_cast<std::size_t>(nbytes), count, ctx.empty() ? nullptr : ctx.data(), t.streams[s],
                 sym.data());
  } catch (const DataError& err) {
    throw DataError(r.what + ": stream '" + stream_name(s) + "': " + err.what());
  }
  return std::vector<std::int64_t>(sym.begin(), sym.end());
}

// _value_contexts: occupied 4-neighbours (row -1, row +1, col -1, col +1) + 16 x min(size - 1, 3); plane is a
// dense index (< 2^20 planes, cols and rows < 2^20 as the tables' limits guarantee)
std::vector<std::uint32_t> value_contexts(const std::vector<std::int64_t>& plane, const std::vector<std::int64_t>& col,
                                          const std::vector<std::int64_t>& row, const std::vector<std::int64_t>& size) {
  const std::size_t n = plane.size();
  auto key = [](std::int64_t p, std::int64_t c, std::int64_t r) { return (p * (1 << 20) + c) * (1 << 20) + r; };
  std::vector<std::int64_t> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = key(plane[i], col[i], row[i]);
  std::sort(keys.begin(), keys.end());
  auto has = [&](std::int64_t k) { return std::binary_search(keys.begin(), keys.end(), k); };
  std::vector<std::uint32_t> ctx(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t p = plane[i], c = col[i], r = row[i];
    const int pattern = has(key(p, c, r - 1)) + 2 * has(key(p, c, r + 1)) + 4 * has(key(p, c - 1, r)) +
                        8 * has(key(p, c + 1, r));
    ctx[i] = static_cast<std::uint32_t>(pattern + 16 * std::min<std::int64_t>(size[i] - 1, 3));
  }
  return ctx;
}

}  // namespace

const char* stream_name(int s) {
  static const char* names[] = {"clusters", "anchor_col", "anchor_row", "shape",
                                "esc_count", "esc_dc", "esc_dr", "value"};
  return s >= 0 && s < kNumStreams ? names[s] : "?";
}

ShapeBook ShapeBook::from_bytes(const std::uint8_t* data, std::size_t len) {
  std::vector<std::uint64_t> v(varint_count(data, len));
  varint_decode(data, len, v.data());
  if (v.empty()) throw DataError("empty shape book");
  const std::uint64_t s = v[0];
  if (s > v.size() - 1) throw DataError("shape book of inconsistent size");
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < s; ++i) total += v[1 + i];
  if (v.size() != 1 + s + total) throw DataError("shape book of inconsistent size");
  ShapeBook b;
  for (std::uint64_t i = 0; i < s; ++i) {
    b.start.push_back(b.start.back() + b.length.back());
    b.length.push_back(static_cast<std::int64_t>(v[1 + i]));
  }
  for (std::size_t i = 1 + s; i < v.size(); ++i) {
    const auto code = static_cast<std::int64_t>(static_cast<std::int32_t>(static_cast<std::uint32_t>(v[i])));
    b.dc.push_back(code >> 14);
    b.dr.push_back((code & ((1 << 14) - 1)) - 8192);
  }
  return b;
}

void Tables::check() const {
  if (streams.size() != kNumStreams) throw DataError("sparse stream tables: the cluster layout has 8 streams");
  if (keys.size() != classes.size()) throw DataError("sparse stream tables: plane keys and classes differ in size");
  for (std::size_t i = 1; i < keys.size(); ++i)
    if (keys[i] <= keys[i - 1]) throw DataError("sparse stream tables: plane keys not strictly increasing");
  if (n_classes < 1 || n_classes > 1 << 16 || n_cols < 1 || n_cols > 1 << 20 || n_rows < 1 || n_rows > 1 << 20)
    throw DataError("sparse stream tables: classes, columns or rows out of range");
  const std::int64_t want[kNumStreams] = {n_classes + 1, 32, 2 * (n_classes + 1), n_classes + 1, 1, 1, 3, 64};
  for (int s = 0; s < kNumStreams; ++s)
    if (static_cast<std::int64_t>(streams[s].n_contexts) != want[s])
      throw DataError(std::string("sparse stream tables: stream '") + stream_name(s) + "' has " +
                      str(streams[s].n_contexts) + " contexts, the layout uses " + str(want[s]));
  for (auto c : classes)
    if (c < 0 || c >= n_classes) throw DataError("sparse stream tables: plane class out of range");
}

void decode_event(const std::uint8_t* blob, std::size_t len, const Tables& t, bool with_value,
                  const std::string& what, Hits& out) {
  Reader r{blob, len, 0, what};
  const std::uint64_t n64 = r.varint(), n_extra = r.varint();
  if (n64 > (1ULL << 40) || n_extra > (1ULL << 32))
    throw DataError(what + ": corrupt header (" + std::to_string(n64) + " hits, " + std::to_string(n_extra) +
                    " extra planes)");
  if (n_extra > len - r.pos) throw DataError(what + ": truncated blob");  // each key delta takes >= 1 byte
  const auto n = static_cast<std::size_t>(n64);
  // the event's plane list: the table's keys and the extra ones (class n_classes), stably sorted by key
  std::vector<std::pair<std::int64_t, std::int64_t>> planes;
  planes.reserve(t.keys.size() + n_extra);
  for (std::size_t i = 0; i < t.keys.size(); ++i) planes.emplace_back(t.keys[i], t.classes[i]);
  std::int64_t key = 0;
  for (std::uint64_t i = 0; i < n_extra; ++i) {
    key = add(key, unzigzag(r.varint()));
    planes.emplace_back(key, t.n_classes);
  }
  std::stable_sort(planes.begin(), planes.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  if (n_extra)
    for (std::size_t i = 1; i < planes.size(); ++i)
      if (planes[i].first <= planes[i - 1].first)
        throw DataError(what + ": extra plane keys repeat a table key or each other");
  const std::size_t P = planes.size();
  const auto nc1 = static_cast<std::uint32_t>(t.n_classes + 1);

  // clusters per plane; anchors (column step, row), shapes
  std::vector<std::uint32_t> ctx(P);
  for (std::size_t i = 0; i < P; ++i) ctx[i] = static_cast<std::uint32_t>(planes[i].second);
  const auto ncl = decode_stream(r, t, kClusters, P, ctx);
  std::uint64_t C64 = 0;
  for (auto v : ncl) C64 += static_cast<std::uint64_t>(v);
  if (C64 > n64) throw DataError(what + ": stream 'clusters' decodes " + std::to_string(C64) + " clusters for " +
                                 std::to_string(n64) + " hits");
  const auto C = static_cast<std::size_t>(C64);
  std::vector<std::int64_t> cp(C);
  std::vector<char> cfirst(C, 1);
  for (std::size_t p = 0, k = 0; p < P; ++p)
    for (std::int64_t j = 0; j < ncl[p]; ++j, ++k) cp[k] = static_cast<std::int64_t>(p);
  for (std::size_t k = 1; k < C; ++k) cfirst[k] = cp[k] != cp[k - 1];
  ctx.assign(C, 0);
  for (std::size_t k = 0; k < C; ++k) ctx[k] = static_cast<std::uint32_t>(2 * bucket(ncl[cp[k]]) + cfirst[k]);
  auto cc = decode_stream(r, t, kAnchorCol, C, ctx);
  std::vector<char> same(C), not_same(C);
  for (std::size_t k = 0; k < C; ++k) {
    same[k] = !cfirst[k] && cc[k] == 0;
    not_same[k] = !same[k];
    ctx[k] = static_cast<std::uint32_t>(same[k]) * nc1 + static_cast<std::uint32_t>(planes[cp[k]].second);
  }
  auto cr = decode_stream(r, t, kAnchorRow, C, ctx);
  segmented_cumsum(cc, cfirst);
  for (std::size_t k = 0; k < C; ++k)
    if (same[k]) cr[k] = add(cr[k], 2);
  segmented_cumsum(cr, not_same);
  for (std::size_t k = 0; k < C; ++k) ctx[k] = static_cast<std::uint32_t>(planes[cp[k]].second);
  const auto sid = decode_stream(r, t, kShape, C, ctx);
  std::size_t n_esc = 0;
  for (auto s : sid) {
    if (static_cast<std::uint64_t>(s) > t.book.size())
      throw DataError(what + ": stream 'shape' decodes shape " + str(*std::max_element(sid.begin(), sid.end())) +
                      " beyond the book's " + str(static_cast<std::int64_t>(t.book.size())));
    n_esc += s == 0;
  }
  // escaped clusters: pixel count, then per pixel the column step and row step
  const auto m = decode_stream(r, t, kEscCount, n_esc, {});
  std::uint64_t M64 = 0;
  for (auto v : m) M64 += static_cast<std::uint64_t>(v);
  if (M64 > n64) throw DataError(what + ": stream 'esc_count' decodes " + std::to_string(M64) +
                                 " escaped pixels for " + std::to_string(n64) + " hits");
  const auto M = static_cast<std::size_t>(M64);
  auto dc_e = decode_stream(r, t, kEscDc, M, {});
  ctx.assign(M, 0);
  for (std::size_t i = 0; i < M; ++i) ctx[i] = static_cast<std::uint32_t>(std::min<std::int64_t>(dc_e[i], 2));
  auto dr_e = decode_stream(r, t, kEscDr, M, ctx);
  std::vector<char> seg(M, 0);
  for (std::size_t e = 0, o = 0; e < m.size(); o += static_cast<std::size_t>(m[e]), ++e)
    if (m[e] > 0) seg[o] = 1;
  for (std::size_t i = 0; i < M; ++i) dr_e[i] = dc_e[i] == 0 ? dr_e[i] + 1 : unzigzag(static_cast<std::uint64_t>(dr_e[i]));
  segmented_cumsum(dc_e, seg);
  segmented_cumsum(dr_e, seg);
  // cluster sizes and their pixels
  std::vector<std::int64_t> size(C);
  std::uint64_t total = 0;
  for (std::size_t k = 0, e = 0; k < C; ++k) {
    size[k] = (sid[k] == 0 ? m[e++] : t.book.length[sid[k]]) + 1;
    total += static_cast<std::uint64_t>(size[k]);
  }
  if (total != n64)
    throw DataError(what + ": clusters hold " + std::to_string(total) + " hits, the header says " +
                    std::to_string(n64));
  std::vector<std::int64_t> plane(n), col(n), row(n), hsize(n);
  for (std::size_t k = 0, h = 0, pe = 0; k < C; ++k) {
    for (std::int64_t j = 0; j < size[k]; ++j, ++h) {
      std::int64_t dc = 0, dr = 0;
      if (j > 0) {
        if (sid[k] == 0) {
          dc = dc_e[pe];
          dr = dr_e[pe++];
        } else {
          const auto s = static_cast<std::size_t>(t.book.start[sid[k]] + j - 1);
          dc = t.book.dc[s];
          dr = t.book.dr[s];
        }
      }
      plane[h] = cp[k];
      col[h] = add(cc[k], dc);
      row[h] = add(cr[k], dr);
      hsize[h] = size[k];
    }
  }
  for (std::size_t i = 0; i < n; ++i)
    if (col[i] < 0 || col[i] >= t.n_cols || row[i] < 0 || row[i] >= t.n_rows)
      throw DataError(what + ": decoded pixels outside the " + str(t.n_cols) + " x " + str(t.n_rows) + " plane");
  // coding order -> (plane, col, row) order; the same pixel twice is damage
  std::vector<std::int64_t> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = (plane[i] * t.n_cols + col[i]) * t.n_rows + row[i];
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
  for (std::size_t i = 1; i < n; ++i)
    if (keys[order[i]] == keys[order[i - 1]])
      throw DataError(what + ": decoded clusters overlap (the same pixel twice)");
  std::vector<std::int64_t> value;
  if (with_value) {
    value = decode_stream(r, t, kValue, n, value_contexts(plane, col, row, hsize));
    for (auto v : value)
      if (v >= t.value_alphabet)
        throw DataError(what + ": stream 'value' decodes " + str(*std::max_element(value.begin(), value.end())) +
                        " beyond " + str(t.value_alphabet - 1));
  }
  if (r.pos != len) throw DataError(what + ": " + std::to_string(len - r.pos) + " trailing bytes");
  out.plane_key.resize(n);
  out.col.resize(n);
  out.row.resize(n);
  out.value.resize(with_value ? n : 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t o = order[i];
    out.plane_key[i] = planes[plane[o]].first;
    out.col[i] = col[o];
    out.row[i] = row[o];
    if (with_value) out.value[i] = value[o];
  }
}

void decode_values(const std::uint8_t* blob, std::size_t len, const std::int64_t* plane_key, const std::int64_t* col,
                   const std::int64_t* row, std::size_t n, const Tables& t, const std::string& what,
                   std::int64_t* out) {
  // dense plane index; the positions must already be sorted (decode_event's order)
  std::vector<std::int64_t> plane(n), c(col, col + n), r(row, row + n), size(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) {
      const bool ok = plane_key[i] > plane_key[i - 1] ||
                      (plane_key[i] == plane_key[i - 1] &&
                       (col[i] > col[i - 1] || (col[i] == col[i - 1] && row[i] >= row[i - 1])));
      if (!ok) throw std::invalid_argument("decode_values: positions must come sorted by (plane key, col, row)");
      if (plane_key[i] == plane_key[i - 1] && col[i] == col[i - 1] && row[i] == row[i - 1])
        throw DataError(what + ": the same position twice");
    }
    plane[i] = i == 0 ? 0 : plane[i - 1] + (plane_key[i] != plane_key[i - 1]);
  }
  // 8-connected clusters (union-find over the neighbours before each hit: previous column, or lower row)
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), std::size_t(0));
  auto find = [&](std::size_t a) {
    while (parent[a] != a) a = parent[a] = parent[parent[a]];
    return a;
  };
  auto key = [&](std::size_t i) { return std::make_tuple(plane[i], c[i], r[i]); };
  for (std::size_t i = 0; i < n; ++i) {
    const std::tuple<std::int64_t, std::int64_t, std::int64_t> nb[4] = {
        {plane[i], c[i] - 1, r[i] - 1}, {plane[i], c[i] - 1, r[i]}, {plane[i], c[i] - 1, r[i] + 1},
        {plane[i], c[i], r[i] - 1}};
    for (const auto& k : nb) {
      std::size_t lo = 0, hi = i;  // neighbours sort before hit i
      while (lo < hi) {
        const std::size_t mid = (lo + hi) / 2;
        if (key(mid) < k) lo = mid + 1; else hi = mid;
      }
      if (lo < i && key(lo) == k) {
        const std::size_t a = find(i), b = find(lo);
        if (a != b) parent[std::max(a, b)] = std::min(a, b);
      }
    }
  }
  std::vector<std::int64_t> count(n, 0);
  for (std::size_t i = 0; i < n; ++i) ++count[find(i)];
  for (std::size_t i = 0; i < n; ++i) size[i] = count[find(i)];
  const auto ctx = value_contexts(plane, c, r, size);
  std::vector<std::uint32_t> sym(n);
  try {
    rans::decode(blob, len, n, ctx.data(), t.streams[kValue], sym.data());
  } catch (const DataError& err) {
    throw DataError(what + ": " + err.what());
  }
  std::int64_t mx = -1;
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = sym[i];
    mx = std::max<std::int64_t>(mx, sym[i]);
  }
  if (mx >= t.value_alphabet) throw DataError(what + ": decodes " + str(mx) + " beyond " + str(t.value_alphabet - 1));
}

void tpc_decode_coords(const std::uint8_t* blob, std::size_t len, const Tables& t, std::int64_t P, std::int64_t Z,
                       std::int64_t L, const std::string& what, TpcHitsKeyOrder& out) {
  Hits h;
  decode_event(blob, len, t, false, what, h);
  const std::size_t n = h.plane_key.size();
  for (std::size_t i = 0; i < n; ++i)
    if (h.plane_key[i] < 0 || h.plane_key[i] >= 256 * L || h.col[i] >= P || h.row[i] >= Z)
      throw DataError(what + ": decoded positions outside the " + str(P) + " x " + str(Z) + " x " + str(L) +
                      " sector grid");
  out.sector.resize(n);
  out.layer.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.sector[i] = h.plane_key[i] / L;
    out.layer[i] = h.plane_key[i] % L;
  }
  out.phi = std::move(h.col);
  out.z = std::move(h.row);
}

void unpack_residuals(const std::uint8_t* blob, std::size_t len, const std::int64_t* plane_key,
                      const std::int64_t* col, const std::int64_t* row, std::size_t n, const Tables& t,
                      const std::string& what, std::int64_t* q) {
  if (len == 0 || (len == 1 && blob[0] == 0)) {
    if (len == 0 && n) throw DataError(what + ": no residual bytes for " + std::to_string(n) + " hits");
    std::fill(q, q + n, 0);
    return;
  }
  if (blob[0] != 1) throw DataError(what + ": unknown residual stream kind " + std::to_string(blob[0]));
  decode_values(blob + 1, len - 1, plane_key, col, row, n, t, what, q);
  for (std::size_t i = 0; i < n; ++i) q[i] = unzigzag(static_cast<std::uint64_t>(q[i]));
}

}  // namespace sparse
}  // namespace hepvq
