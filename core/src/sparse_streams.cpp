// Sparse hit streams (cluster layout) and tpc_inr format 2's coordinate / residual streams: see
// hepvq/sparse_streams.hpp. Mirrors hepvq/baselines/sparse_streams.py decode_event / decode_values and
// hepvq/baselines/sparse_clusters.py decode step by step (the numpy code is the tests' oracle).
#include "hepvq/sparse_streams.hpp"

#include <algorithm>
#include <iterator>
#include <numeric>
#include <stdexcept>
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


// 8-connected clusters of hits sorted by (plane, col, row) (dense plane index, no repeated position): the root of
// each hit (its cluster's first hit in that order: the anchor) and each hit's cluster size (union-find over the
// neighbours sorted before a hit: previous column rows -1..+1, same column row -1)
void cluster_roots(const std::vector<std::int64_t>& plane, const std::vector<std::int64_t>& c,
                   const std::vector<std::int64_t>& r, std::vector<std::size_t>& root, std::vector<std::int64_t>& size) {
  const std::size_t n = plane.size();
  root.resize(n);
  std::iota(root.begin(), root.end(), std::size_t(0));
  auto find = [&](std::size_t a) {
    while (root[a] != a) a = root[a] = root[root[a]];
    return a;
  };
  auto key = [&](std::size_t i) { return std::make_tuple(plane[i], c[i], r[i]); };
  for (std::size_t i = 0; i < n; ++i) {
    const std::tuple<std::int64_t, std::int64_t, std::int64_t> nb[4] = {
        {plane[i], c[i] - 1, r[i] - 1}, {plane[i], c[i] - 1, r[i]}, {plane[i], c[i] - 1, r[i] + 1},
        {plane[i], c[i], r[i] - 1}};
    std::size_t lo = 0;
    for (const auto& k : nb) {  // the four keys rise: each search starts where the last ended
      std::size_t hi = i;
      while (lo < hi) {
        const std::size_t mid = (lo + hi) / 2;
        if (key(mid) < k) lo = mid + 1; else hi = mid;
      }
      if (lo < i && key(lo) == k) {
        const std::size_t a = find(i), b = find(lo);
        if (a != b) root[std::max(a, b)] = std::min(a, b);
      }
    }
  }
  std::vector<std::int64_t> count(n, 0);
  for (std::size_t i = 0; i < n; ++i) ++count[root[i] = find(i)];
  size.resize(n);
  for (std::size_t i = 0; i < n; ++i) size[i] = count[root[i]];
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
  std::string codes;
  for (std::size_t i = 1 + s; i < v.size(); ++i) {
    const auto c32 = static_cast<std::int32_t>(static_cast<std::uint32_t>(v[i]));
    const auto code = static_cast<std::int64_t>(c32);
    b.dc.push_back(code >> 14);
    b.dr.push_back((code & ((1 << 14) - 1)) - 8192);
    char le[4];
    for (int k = 0; k < 4; ++k) le[k] = static_cast<char>((static_cast<std::uint32_t>(c32) >> (8 * k)) & 0xFF);
    codes.append(le, 4);
  }
  for (std::size_t id = 1; id <= s; ++id)  // {key: id} as ShapeBook.index (a repeated key: the last id)
    b.index[codes.substr(4 * static_cast<std::size_t>(b.start[id]), 4 * static_cast<std::size_t>(b.length[id]))] =
        static_cast<std::int64_t>(id);
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
  std::vector<std::int64_t> plane(n), c(col, col + n), r(row, row + n), size;
  std::vector<std::size_t> parent;
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
  cluster_roots(plane, c, r, parent, size);
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

namespace {

void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

// one stream: varint byte count + rANS bytes (entropy.encode's checks: symbols in [0, alphabet))
void put_stream(std::vector<std::uint8_t>& out, const Tables& t, int s, const std::vector<std::int64_t>& sym,
                const std::vector<std::uint32_t>& ctx) {
  std::vector<std::uint32_t> u(sym.size());
  for (std::size_t i = 0; i < sym.size(); ++i) {
    if (sym[i] < 0) throw std::invalid_argument("entropy.encode: negative symbol " + str(sym[i]));
    if (sym[i] >= static_cast<std::int64_t>(t.streams[s].alphabet))
      throw std::invalid_argument("entropy.encode: symbol " + str(sym[i]) + " outside the alphabet [0, " +
                                  str(t.streams[s].alphabet) + ")");
    u[i] = static_cast<std::uint32_t>(sym[i]);
  }
  const auto blob = rans::encode(u.data(), ctx.empty() ? nullptr : ctx.data(), u.size(), t.streams[s]);
  put_varint(out, blob.size());
  out.insert(out.end(), blob.begin(), blob.end());
}

// hits sorted by (dense plane, col, row) from (plane index, col, row) in any order; a repeated position: DataError
std::vector<std::size_t> sorted_order(const std::vector<std::int64_t>& plane, const std::int64_t* col,
                                      const std::int64_t* row, std::size_t n) {
  std::vector<std::size_t> o(n);
  std::iota(o.begin(), o.end(), std::size_t(0));
  std::stable_sort(o.begin(), o.end(), [&](std::size_t a, std::size_t b) {
    return std::make_tuple(plane[a], col[a], row[a]) < std::make_tuple(plane[b], col[b], row[b]);
  });
  for (std::size_t i = 1; i < n; ++i)
    if (plane[o[i]] == plane[o[i - 1]] && col[o[i]] == col[o[i - 1]] && row[o[i]] == row[o[i - 1]])
      throw DataError("sparse streams: the same position twice (plane " + str(plane[o[i]]) + ", col " +
                      str(col[o[i]]) + ", row " + str(row[o[i]]) + ")");
  return o;
}

// dense index of each plane key (np.unique's inverse)
std::vector<std::int64_t> dense_planes(const std::int64_t* plane_key, std::size_t n) {
  std::vector<std::int64_t> u(plane_key, plane_key + n);
  std::sort(u.begin(), u.end());
  u.erase(std::unique(u.begin(), u.end()), u.end());
  std::vector<std::int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = std::lower_bound(u.begin(), u.end(), plane_key[i]) - u.begin();
  return out;
}

}  // namespace

std::vector<std::uint8_t> encode_event(const std::int64_t* plane_key, const std::int64_t* col, const std::int64_t* row,
                                       const std::int64_t* value, std::size_t n, const Tables& t) {
  for (std::size_t i = 0; i < n; ++i)
    if (col[i] < 0 || col[i] >= t.n_cols || row[i] < 0 || row[i] >= t.n_rows)
      throw std::invalid_argument("sparse streams: hits outside the tables' " + str(t.n_cols) + " x " +
                                  str(t.n_rows) + " planes");
  // the event's plane list: the table's keys and the ones it lacks (class n_classes), sorted
  std::vector<std::int64_t> extra;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::binary_search(t.keys.begin(), t.keys.end(), plane_key[i])) extra.push_back(plane_key[i]);
  std::sort(extra.begin(), extra.end());
  extra.erase(std::unique(extra.begin(), extra.end()), extra.end());
  std::vector<std::int64_t> plist, pclass;
  std::merge(t.keys.begin(), t.keys.end(), extra.begin(), extra.end(), std::back_inserter(plist));
  for (auto k : plist) {
    auto it = std::lower_bound(t.keys.begin(), t.keys.end(), k);
    pclass.push_back(it != t.keys.end() && *it == k ? t.classes[it - t.keys.begin()] : t.n_classes);
  }
  std::vector<std::int64_t> pidx(n);
  for (std::size_t i = 0; i < n; ++i) pidx[i] = std::lower_bound(plist.begin(), plist.end(), plane_key[i]) - plist.begin();
  // clusters: hits sorted by (plane, col, row); the anchor (first hit) of each cluster in that order is its root,
  // so clusters ranked by (plane, anchor col, anchor row) are the roots in order; hits by (cluster, col, row)
  const auto o = sorted_order(pidx, col, row, n);
  std::vector<std::int64_t> plane(n), c(n), r(n), size;
  for (std::size_t i = 0; i < n; ++i) {
    plane[i] = pidx[o[i]];
    c[i] = col[o[i]];
    r[i] = row[o[i]];
  }
  std::vector<std::size_t> root;
  cluster_roots(plane, c, r, root, size);
  std::vector<std::int64_t> rank(n, -1);
  std::size_t C = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (root[i] == i) rank[i] = static_cast<std::int64_t>(C++);
  std::vector<std::size_t> start(C + 1, 0);  // hit_order by counting sort on the cluster rank (stable)
  for (std::size_t i = 0; i < n; ++i) ++start[rank[root[i]] + 1];
  for (std::size_t k = 0; k < C; ++k) start[k + 1] += start[k];
  std::vector<std::size_t> hit_order(n), fill(start.begin(), start.end() - 1);
  for (std::size_t i = 0; i < n; ++i) hit_order[fill[rank[root[i]]]++] = i;
  // per cluster: plane, anchor, shape id (the book's, else 0: escape); per stream its symbols and contexts
  const auto nc1 = static_cast<std::uint32_t>(t.n_classes + 1);
  std::vector<std::int64_t> cp(C), cc(C), cr(C), csize(C), sid(C), ncl(plist.size(), 0);
  for (std::size_t k = 0; k < C; ++k) {
    const std::size_t a = hit_order[start[k]];
    cp[k] = plane[a];
    cc[k] = c[a];
    cr[k] = r[a];
    csize[k] = static_cast<std::int64_t>(start[k + 1] - start[k]);
    ++ncl[cp[k]];
    std::string key;
    bool big = false;
    for (std::size_t j = start[k] + 1; j < start[k + 1]; ++j) {
      const std::int64_t dc = c[hit_order[j]] - cc[k], dr = r[hit_order[j]] - cr[k];
      big = big || dc >= (1 << 17) || dr >= 8192 || dr <= -8192;
      const auto code = static_cast<std::uint32_t>(static_cast<std::int32_t>((dc << 14) | (dr + 8192)));
      for (int b = 0; b < 4; ++b) key.push_back(static_cast<char>((code >> (8 * b)) & 0xFF));
    }
    auto it = big ? t.book.index.end() : t.book.index.find(key);
    sid[k] = it == t.book.index.end() ? 0 : it->second;
  }
  std::vector<std::uint8_t> out;
  put_varint(out, n);
  put_varint(out, extra.size());
  for (std::size_t i = 0; i < extra.size(); ++i) put_varint(out, zigzag(extra[i] - (i ? extra[i - 1] : 0)));
  std::vector<std::uint32_t> ctx(plist.size());
  for (std::size_t p = 0; p < plist.size(); ++p) ctx[p] = static_cast<std::uint32_t>(pclass[p]);
  put_stream(out, t, kClusters, ncl, ctx);
  std::vector<std::int64_t> ac(C), ar(C);
  std::vector<std::uint32_t> actx(C), rctx(C), sctx(C);
  for (std::size_t k = 0; k < C; ++k) {
    const bool first = k == 0 || cp[k] != cp[k - 1];
    ac[k] = first ? cc[k] : cc[k] - cc[k - 1];
    const bool same = !first && ac[k] == 0;
    ar[k] = same ? cr[k] - cr[k - 1] - 2 : cr[k];
    actx[k] = static_cast<std::uint32_t>(2 * bucket(ncl[cp[k]]) + first);
    rctx[k] = static_cast<std::uint32_t>(same) * nc1 + static_cast<std::uint32_t>(pclass[cp[k]]);
    sctx[k] = static_cast<std::uint32_t>(pclass[cp[k]]);
  }
  put_stream(out, t, kAnchorCol, ac, actx);
  put_stream(out, t, kAnchorRow, ar, rctx);
  put_stream(out, t, kShape, sid, sctx);
  std::vector<std::int64_t> esc_count, esc_dc, esc_dr;
  std::vector<std::uint32_t> dr_ctx;
  for (std::size_t k = 0; k < C; ++k) {
    if (sid[k] != 0) continue;
    esc_count.push_back(csize[k] - 1);
    std::int64_t pdc = 0, pdr = 0;
    for (std::size_t j = start[k] + 1; j < start[k + 1]; ++j) {
      const std::int64_t dc = c[hit_order[j]] - cc[k], dr = r[hit_order[j]] - cr[k], inc = dc - pdc;
      esc_dc.push_back(inc);
      esc_dr.push_back(inc == 0 ? dr - pdr - 1 : static_cast<std::int64_t>(zigzag(dr - pdr)));
      dr_ctx.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(std::max<std::int64_t>(inc, 0), 2)));
      pdc = dc;
      pdr = dr;
    }
  }
  put_stream(out, t, kEscCount, esc_count, {});
  put_stream(out, t, kEscDc, esc_dc, {});
  put_stream(out, t, kEscDr, esc_dr, dr_ctx);
  if (value) {
    std::vector<std::int64_t> v(n), hp(n), hc(n), hr(n), hs(n);
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t i = hit_order[j];
      v[j] = value[o[i]];
      hp[j] = plane[i];
      hc[j] = c[i];
      hr[j] = r[i];
      hs[j] = size[i];
    }
    put_stream(out, t, kValue, v, value_contexts(hp, hc, hr, hs));
  }
  return out;
}

std::vector<std::uint8_t> encode_values(const std::int64_t* plane_key, const std::int64_t* col,
                                        const std::int64_t* row, const std::int64_t* value, std::size_t n,
                                        const Tables& t) {
  const auto dense = dense_planes(plane_key, n);
  const auto o = sorted_order(dense, col, row, n);
  std::vector<std::int64_t> plane(n), c(n), r(n), v(n), size;
  for (std::size_t i = 0; i < n; ++i) {
    plane[i] = dense[o[i]];
    c[i] = col[o[i]];
    r[i] = row[o[i]];
    v[i] = value[o[i]];
  }
  std::vector<std::size_t> root;
  cluster_roots(plane, c, r, root, size);
  std::vector<std::uint8_t> out;
  put_stream(out, t, kValue, v, value_contexts(plane, c, r, size));
  // put_stream wrote a varint byte count first; the value stream alone is the rANS bytes
  std::size_t skip = 0;
  while (out[skip] & 0x80) ++skip;
  return std::vector<std::uint8_t>(out.begin() + static_cast<std::ptrdiff_t>(skip) + 1, out.end());
}

std::vector<std::uint8_t> pack_residuals(const std::int64_t* q, const std::int64_t* plane_key, const std::int64_t* col,
                                         const std::int64_t* row, std::size_t n, const Tables& t) {
  if (n == 0) return {};
  std::vector<std::int64_t> z(n);
  std::uint64_t zmax = 0;
  std::int64_t qmax = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t zz = zigzag(q[i]);
    zmax = std::max(zmax, zz);
    qmax = std::max<std::int64_t>(qmax, q[i] < 0 ? -q[i] : q[i]);
    z[i] = static_cast<std::int64_t>(zz);
  }
  if (zmax == 0) return {0};
  if (zmax >= static_cast<std::uint64_t>(t.value_alphabet))
    throw std::invalid_argument("residual " + str(qmax) + " beyond the tables' range (|q| < " +
                                str(t.value_alphabet / 2) + ")");
  auto body = encode_values(plane_key, col, row, z.data(), n, t);
  body.insert(body.begin(), 1);
  return body;
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
