#include "hepvq/vq_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace hepvq {

namespace {
constexpr std::size_t kGroups = 32;  // groups of codes whose minima bound the screening threshold
}  // namespace

// x86-64: an AVX2 build of search() chosen at load time where the CPU has it (the baseline SSE2 build
// elsewhere). Same IEEE operations in the same order either way (no FMA contraction: ISO C++, no -ffast-math),
// so the results are identical; only independent lanes are packed wider.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__linux__)
#define HEPVQ_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define HEPVQ_MULTIVERSION
#endif

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
  codebook_t32.resize(k * d);
  for (std::size_t c = 0; c < k; ++c)
    for (std::size_t j = 0; j < d; ++j) {
      codebook_t[j * k + c] = codebook[c * d + j];
      codebook_t32[j * k + c] = static_cast<float>(codebook[c * d + j]);
      max_abs = std::max(max_abs, std::abs(codebook[c * d + j]));
    }
  if (!std::isfinite(max_abs)) throw std::invalid_argument("VQSearch: the codebook has a value that is not finite");
}

void VQSearch::search(const float* x, const std::uint64_t* masks, std::size_t n, std::int64_t* idx,
                      std::uint8_t* ambiguous) const {
  search_impl(x, masks, nullptr, n, idx, ambiguous);
}

void VQSearch::search_exhaustive(const float* x, const std::uint64_t* masks, std::size_t n, std::int64_t* idx,
                                 std::uint8_t* ambiguous) const {
  exhaustive_impl(x, masks, nullptr, n, idx, ambiguous);
}

void VQSearch::search_rate(const float* x, const std::uint64_t* masks, const std::int64_t* ctx, std::size_t n,
                           std::int64_t* idx, std::uint8_t* ambiguous) const {
  if (rate_bits.size() != rate_contexts * k || rate_contexts == 0)
    throw std::invalid_argument("VQSearch.search_rate: rate bits are not set (set_rate)");
  for (std::size_t i = 0; i < n; ++i)
    if (ctx[i] < 0 || static_cast<std::size_t>(ctx[i]) >= rate_contexts)
      throw std::invalid_argument("VQSearch.search_rate: context " + std::to_string(ctx[i]) + " outside 0.." +
                                  std::to_string(rate_contexts - 1));
  search_impl(x, masks, ctx, n, idx, ambiguous);
}

HEPVQ_MULTIVERSION void VQSearch::search_impl(const float* x, const std::uint64_t* masks, const std::int64_t* ctx,
                                              std::size_t n, std::int64_t* idx, std::uint8_t* ambiguous) const {
  const std::size_t kk = std::min<std::size_t>(static_cast<std::size_t>(topk), k);
  const std::size_t want = std::min(kk + 1, k);
  if (want == k || k < 2 * kGroups) {  // little to screen out
    exhaustive_impl(x, masks, ctx, n, idx, ambiguous);
    return;
  }
  std::vector<float> dist32(k);
  std::vector<double> dist(k);
  std::vector<std::size_t> screened(k + 1);
  std::vector<std::size_t> cand(want);
  if (want > kGroups) {
    exhaustive_impl(x, masks, ctx, n, idx, ambiguous);
    return;
  }
  int on[64];
  double xs[64];
  for (std::size_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    const std::uint64_t mask = masks[i];
    int n_on = 0;
    bool off_zero = true;  // x is zero outside the mask (always, for fractions of the masked pixels), no NaN
    for (std::size_t j = 0; j < d; ++j) {
      if ((mask >> j) & 1) on[n_on++] = static_cast<int>(j);
      else if (xi[j] != 0.0f) off_zero = false;
      if (!(xi[j] == xi[j])) off_zero = false;
    }
    if (!off_zero || n_on == 0) {  // the general case, exhaustively
      exhaustive_impl(xi, masks + i, ctx ? ctx + i : nullptr, 1, idx + i, ambiguous + i);
      continue;
    }
    double xr = 0, xc = 0;
    for (std::size_t j = 0; j < d; ++j) {
      xs[j] = static_cast<double>(xi[j]);
      xr += xs[j] * pos_r[j];
      xc += xs[j] * pos_c[j];
    }
    // screening: float32 distances sum over the mask of c (c - 2x), pixels taken two at a time (the order of
    // this sum is free: the margin below bounds any order)
    {
      float* __restrict dd = dist32.data();
      int t = 0;
      if (n_on % 2) {
        const float* __restrict a = codebook_t32.data() + static_cast<std::size_t>(on[0]) * k;
        const float ma = -2.0f * xi[on[0]];
        for (std::size_t c = 0; c < k; ++c) dd[c] = a[c] * (a[c] + ma);
        t = 1;
      } else {
        for (std::size_t c = 0; c < k; ++c) dd[c] = 0.0f;
      }
      for (; t < n_on; t += 2) {
        const float* __restrict a = codebook_t32.data() + static_cast<std::size_t>(on[t]) * k;
        const float* __restrict b = codebook_t32.data() + static_cast<std::size_t>(on[t + 1]) * k;
        const float ma = -2.0f * xi[on[t]], mb = -2.0f * xi[on[t + 1]];
        for (std::size_t c = 0; c < k; ++c) dd[c] += a[c] * (a[c] + ma) + b[c] * (b[c] + mb);
      }
    }
    // an upper bound of the want-th smallest float32 distance: the want-th smallest of the minima of G groups
    // (codes c, c + G, c + 2G, ...): want groups have a code at or below it
    float gmin[kGroups];
    {
      const float* __restrict dd = dist32.data();
      float* __restrict gm = gmin;
      for (std::size_t g = 0; g < kGroups; ++g) gm[g] = dd[g];
      const std::size_t full = k / kGroups * kGroups;
      for (std::size_t r = kGroups; r < full; r += kGroups)
        for (std::size_t g = 0; g < kGroups; ++g) gm[g] = dd[r + g] < gm[g] ? dd[r + g] : gm[g];
      for (std::size_t c = full; c < k; ++c) gm[c - full] = dd[c] < gm[c - full] ? dd[c] : gm[c - full];
    }
    for (std::size_t g = 0; g < want; ++g) {  // gmin[0..want) sorted ascending, then the rest inserted
      std::size_t p = g;
      const float v = gmin[g];
      while (p > 0 && gmin[p - 1] > v) {
        gmin[p] = gmin[p - 1];
        --p;
      }
      gmin[p] = v;
    }
    for (std::size_t g = want; g < kGroups; ++g) {
      const float v = gmin[g];
      if (!(v < gmin[want - 1])) continue;
      std::size_t p = want - 1;
      while (p > 0 && gmin[p - 1] > v) {
        gmin[p] = gmin[p - 1];
        --p;
      }
      gmin[p] = v;
    }
    const float bound32 = gmin[want - 1];
    // |float32 - float64 distance| per code is below n_on terms of |c| (|c| + 2) times a few float32 roundings
    // (each ~6e-8 relative) plus the codebook's rounding to float32; 1e-5 leaves a wide margin. A code among
    // the want nearest in float64 then has a float32 distance <= the want-th float32 distance + 2 margins.
    const double margin = 1e-5 * (static_cast<double>(n_on) * max_abs * (max_abs + 2.0) + 1.0);
    const double thr64 = static_cast<double>(bound32) + 2.0 * margin;
    float thr = static_cast<float>(thr64);
    if (static_cast<double>(thr) < thr64) thr = std::nextafter(thr, std::numeric_limits<float>::infinity());
    std::size_t ns = 0;  // codes at or below the threshold, in code order (blocks of 8 tested at once)
    for (std::size_t c0 = 0; c0 < k; c0 += 8) {
      const std::size_t m = std::min<std::size_t>(8, k - c0);
      unsigned bits = 0;
      for (std::size_t u = 0; u < m; ++u) bits |= (dist32[c0 + u] <= thr ? 1u : 0u) << u;
      while (bits) {
        screened[ns++] = c0 + static_cast<std::size_t>(__builtin_ctz(bits));
        bits &= bits - 1;
      }
    }
    // float64 distances of the screened codes, the same operations in the same order as search_exhaustive
    for (std::size_t q = 0; q < ns; ++q) {
      const std::size_t c = screened[q];
      double acc = 0.0;
      for (int t = 0; t < n_on; ++t) {
        const double ct = codebook_t[static_cast<std::size_t>(on[t]) * k + c];
        const double m2x = -2.0 * xs[on[t]];
        acc += ct * (ct + m2x);
      }
      dist[c] = acc;
    }
    // the want nearest among them, in code order as search_exhaustive (lowest index first on equal distances)
    for (std::size_t q = 0; q < want; ++q) {
      const std::size_t c = screened[q];
      std::size_t p = q;
      while (p > 0 && dist[cand[p - 1]] > dist[c]) {
        cand[p] = cand[p - 1];
        --p;
      }
      cand[p] = c;
    }
    double worst = dist[cand[want - 1]];
    for (std::size_t q = want; q < ns; ++q) {
      const std::size_t c = screened[q];
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
    // objective of each candidate's decoded fractions (x is zero outside the mask: no off-mask terms)
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
      const double er = fr - xr, ec = fc - xc;
      double obj = er * er + ec * ec + lam * ff;
      if (ctx) obj = obj + rate(ctx, i, cand[q]);  // as the numpy oracle: objective + mu * bits
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

void VQSearch::exhaustive_impl(const float* x, const std::uint64_t* masks, const std::int64_t* ctx, std::size_t n,
                               std::int64_t* idx, std::uint8_t* ambiguous) const {
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
      double obj = er * er + ec * ec + lam * ff;
      if (ctx) obj = obj + rate(ctx, i, cand[q]);  // as the numpy oracle: objective + mu * bits
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
