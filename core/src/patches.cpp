#include "hepvq/patches.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

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

std::int64_t find_root(std::vector<std::int64_t>& parent, std::int64_t i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
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

PatchSet extract_patches(const PixelHitsIn& h, int pr, int pc, int module_rows, int module_cols) {
  if (pr * pc > 64) throw std::invalid_argument("patch of more than 64 pixels");
  PatchSet out;
  const std::size_t n = h.n;
  out.order = sort_order(h);
  const auto& order = out.order;
  std::vector<std::int64_t> ev(n), det(n), r(n), c(n);
  for (std::size_t k = 0; k < n; ++k) {
    const std::int64_t i = order[k];
    ev[k] = h.event[i];
    det[k] = h.det[i];
    r[k] = h.row[i];
    c[k] = h.col[i];
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
  std::vector<std::int64_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  auto unite = [&](std::int64_t a, std::int64_t b) {
    a = find_root(parent, a);
    b = find_root(parent, b);
    if (a == b) return;
    if (a < b) parent[b] = a;
    else parent[a] = b;
  };
  for (std::size_t g = 0; g + 1 < gstart.size(); ++g) {
    const std::size_t a = gstart[g], b = gstart[g + 1];
    std::size_t next = a;  // first hit of the row below the current hit's row
    for (std::size_t k = a; k < b; ++k) {
      if (k + 1 < b && r[k + 1] == r[k] && c[k + 1] == c[k] + 1) unite(k, k + 1);
      // hits of row r + 1 with |col - c| <= 1 (sorted: a window found by advancing `next`)
      if (next <= k) next = k + 1;
      while (next < b && (r[next] < r[k] + 1 || (r[next] == r[k] + 1 && c[next] < c[k] - 1))) ++next;
      for (std::size_t q = next; q < b && r[q] == r[k] + 1 && c[q] <= c[k] + 1; ++q) unite(k, q);
    }
  }
  std::vector<std::int64_t> lab(n);
  std::int64_t ncl = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::int64_t root = find_root(parent, k);
    lab[k] = root == static_cast<std::int64_t>(k) ? ncl++ : lab[root];
  }
  // bounding-box corners, anchors
  std::vector<std::int64_t> rmin(ncl, INT64_MAX), cmin(ncl, INT64_MAX);
  for (std::size_t k = 0; k < n; ++k) {
    rmin[lab[k]] = std::min(rmin[lab[k]], r[k]);
    cmin[lab[k]] = std::min(cmin[lab[k]], c[k]);
  }
  std::vector<std::int64_t> arow(n), acol(n);
  for (std::size_t k = 0; k < n; ++k) {
    arow[k] = rmin[lab[k]] + (r[k] - rmin[lab[k]]) / pr * pr;
    acol[k] = cmin[lab[k]] + (c[k] - cmin[lab[k]]) / pc * pc;
  }
  // patches per group sorted by (anchor col, anchor row, cluster), hits stable inside
  const int size = pr * pc;
  out.hit_patch.resize(n);
  out.slot.resize(n);
  std::vector<std::size_t> idx;
  for (std::size_t g = 0; g + 1 < gstart.size(); ++g) {
    const std::size_t a = gstart[g], b = gstart[g + 1];
    idx.resize(b - a);
    std::iota(idx.begin(), idx.end(), a);
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t u, std::size_t v) {
      if (acol[u] != acol[v]) return acol[u] < acol[v];
      if (arow[u] != arow[v]) return arow[u] < arow[v];
      return lab[u] < lab[v];
    });
    for (std::size_t t = 0; t < idx.size(); ++t) {
      const std::size_t k = idx[t];
      if (t == 0 || acol[k] != acol[idx[t - 1]] || arow[k] != arow[idx[t - 1]] || lab[k] != lab[idx[t - 1]]) {
        out.event.push_back(ev[k]);
        out.det.push_back(det[k]);
        out.row.push_back(arow[k]);
        out.col.push_back(acol[k]);
        out.mask.push_back(0);
        out.cluster.push_back(lab[k]);
        out.adc.insert(out.adc.end(), size, 0);
      }
      const std::size_t p = out.event.size() - 1;
      const std::int64_t s = (r[k] - arow[k]) * pc + (c[k] - acol[k]);
      out.hit_patch[k] = static_cast<std::int64_t>(p);
      out.slot[k] = s;
      out.adc[p * size + s] = h.adc[order[k]];
      out.mask[p] |= 1ULL << s;
    }
  }
  return out;
}

}  // namespace hepvq
