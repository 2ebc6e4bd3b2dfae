#include "hepvq/vq_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace hepvq {

VQSearch::VQSearch(std::vector<double> cb, std::size_t n_codes, std::size_t dim, int topk_, double lam_, int cols_)
    : codebook(std::move(cb)), k(n_codes), d(dim), topk(topk_), lam(lam_), cols(cols_) {
  if (codebook.size() != k * d) throw std::invalid_argument("VQSearch: codebook size is not n_codes x dim");
  if (d > 64) throw std::invalid_argument("VQSearch: patches of more than 64 pixels");
  if (topk < 1) throw std::invalid_argument("VQSearch: topk must be >= 1");
  pos_r.resize(d);
  pos_c.resize(d);
  for (std::size_t j = 0; j < d; ++j) {
    pos_r[j] = std::floor(static_cast<double>(j) / cols);
    pos_c[j] = static_cast<double>(j % cols);
  }
  codebook_t.resize(k * d);
  for (std::size_t c = 0; c < k; ++c)
    for (std::size_t j = 0; j < d; ++j) codebook_t[j * k + c] = codebook[c * d + j];
}

void VQSearch::search(const float* x, const std::uint64_t* masks, std::size_t n, std::int64_t* idx,
                      std::uint8_t* ambiguous) const {
  const std::size_t kk = std::min<std::size_t>(static_cast<std::size_t>(topk), k);
  std::vector<double> dist(k);
  std::vector<std::size_t> cand(kk + 1);
  std::vector<int> on(d);
  double xs[64];
  for (std::size_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    const std::uint64_t mask = masks[i];
    int n_on = 0;
    for (std::size_t j = 0; j < d; ++j)
      if ((mask >> j) & 1) on[n_on++] = static_cast<int>(j);
    double xr = 0, xc = 0;
    for (std::size_t j = 0; j < d; ++j) {
      xs[j] = static_cast<double>(xi[j]);
      xr += xs[j] * pos_r[j];
      xc += xs[j] * pos_c[j];
    }
    // masked squared distance without the constant |x|^2: sum over the mask of c^2 - 2 x c
    std::fill(dist.begin(), dist.end(), 0.0);
    for (int t = 0; t < n_on; ++t) {
      const std::size_t j = static_cast<std::size_t>(on[t]);
      const double* __restrict ct = codebook_t.data() + j * k;
      double* __restrict dd = dist.data();
      const double m2x = -2.0 * xs[j];
      for (std::size_t c = 0; c < k; ++c) dd[c] += ct[c] * (ct[c] + m2x);
    }
    // x outside the mask: zero in practice (fractions of the masked pixels); counted as the graph does
    for (std::size_t j = 0; j < d; ++j)
      if (!((mask >> j) & 1) && xs[j] != 0.0) {
        const double* ct = codebook_t.data() + j * k;
        for (std::size_t c = 0; c < k; ++c) dist[c] -= 2.0 * xs[j] * ct[c];
      }
    // the kk + 1 nearest (lowest index first on equal distances, as TopK)
    const std::size_t want = std::min(kk + 1, k);
    // first `want` codes sorted by insertion, then only codes below the current worst get in
    for (std::size_t c = 0; c < want; ++c) {
      std::size_t p = c;
      while (p > 0 && dist[cand[p - 1]] > dist[c]) {
        cand[p] = cand[p - 1];
        --p;
      }
      cand[p] = c;
    }
    double worst = dist[cand[want - 1]];
    for (std::size_t c = want; c < k; ++c) {
      const double v = dist[c];
      if (!(v < worst)) continue;
      std::size_t p = want - 1;
      while (p > 0 && dist[cand[p - 1]] > v) {
        cand[p] = cand[p - 1];
        --p;
      }
      cand[p] = c;
      worst = dist[cand[want - 1]];
    }
    bool amb = want > kk && (dist[cand[kk]] - dist[cand[kk - 1]]) < tol;
    // objective of each candidate's decoded fractions
    const double nm = std::max(static_cast<double>(n_on), 1.0);
    double best = std::numeric_limits<double>::infinity(), second = best;
    std::size_t best_c = cand[0];
    for (std::size_t q = 0; q < kk; ++q) {
      const double* cv = codebook.data() + cand[q] * d;
      double tot = 0;
      for (int t = 0; t < n_on; ++t) tot += std::max(cv[on[t]], 0.0);
      if (std::abs(tot - 1e-6) < tol) amb = true;
      double fr = 0, fc = 0, ff = 0;
      const bool valid = tot > 1e-6;
      for (int t = 0; t < n_on; ++t) {
        const int j = on[t];
        const double f = valid ? std::max(cv[j], 0.0) / tot : 1.0 / nm;
        fr += f * pos_r[j];
        fc += f * pos_c[j];
        const double e = f - xs[j];
        ff += e * e;
      }
      for (std::size_t j = 0; j < d; ++j)
        if (!((mask >> j) & 1)) ff += xs[j] * xs[j];
      const double er = fr - xr, ec = fc - xc;
      const double obj = er * er + ec * ec + lam * ff;
      if (obj < best) {
        second = best;
        best = obj;
        best_c = cand[q];
      } else if (obj < second) {
        second = obj;
      }
    }
    if (kk > 1 && (second - best) < tol) amb = true;
    idx[i] = static_cast<std::int64_t>(best_c);
    ambiguous[i] = amb ? 1 : 0;
  }
}

}  // namespace hepvq
