#include "hepvq/vq_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HEPVQ_X86_KERNELS 1
#endif

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

namespace {
constexpr std::size_t kBlock = 65536;  // patches grouped by mask within blocks of this many

// The patches of a block grouped by mask (bits below d), so that the per-(mask, code) part of the objective is
// computed once per group. order: patch indices, group after group (patch order within a group); pos: each
// patch's position in order; start: each group's first position in order, plus n at the end. Buffers are kept
// between blocks.
struct MaskGroups {
  std::vector<std::uint64_t> key;
  std::vector<std::size_t> start, order, pos, count;
  std::vector<std::uint32_t> slot, gid;

  void build(const std::uint64_t* masks, std::size_t n, std::uint64_t dmask) {
    std::size_t cap = 64;  // open addressing, load <= 1/2
    while (cap < 2 * n) cap *= 2;
    slot.assign(cap, 0);  // group + 1, 0 = empty
    gid.resize(n);
    key.clear();
    count.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t m = masks[i] & dmask;
      std::size_t h = static_cast<std::size_t>(((m * 0x9E3779B97F4A7C15ULL) >> 32) & (cap - 1));
      while (slot[h] && key[slot[h] - 1] != m) h = (h + 1) & (cap - 1);
      if (!slot[h]) {
        key.push_back(m);
        count.push_back(0);
        slot[h] = static_cast<std::uint32_t>(key.size());
      }
      gid[i] = slot[h] - 1;
      ++count[gid[i]];
    }
    start.resize(key.size() + 1);
    std::size_t s = 0;
    for (std::size_t q = 0; q < key.size(); ++q) {
      start[q] = s;
      s += count[q];
      count[q] = start[q];
    }
    start[key.size()] = s;
    order.resize(n);
    pos.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      pos[i] = count[gid[i]]++;
      order[pos[i]] = i;
    }
  }
};

// Exact comparisons only (no arithmetic): the x86 AVX2 kernels below give the same bits as the portable ones.
// pixel bits of a patch: x != 0 (NaN included) and !(|x| <= 1) (NaN included)
void pixel_bits(const float* xi, std::size_t d, std::uint64_t& nonzero, std::uint64_t& outside) {
  nonzero = outside = 0;
  for (std::size_t j = 0; j < d; ++j) {
    nonzero |= static_cast<std::uint64_t>(xi[j] != 0.0f) << j;
    outside |= static_cast<std::uint64_t>(!(std::fabs(xi[j]) <= 1.0f)) << j;
  }
}

// codes c with dd[c] <= thr, in code order, into out (room for k + 8); returns their number
std::size_t compact_le(const float* dd, std::size_t k, float thr, std::uint32_t* out) {
  std::size_t ns = 0;
  for (std::size_t c = 0; c < k; ++c) {
    out[ns] = static_cast<std::uint32_t>(c);
    ns += dd[c] <= thr ? 1 : 0;
  }
  return ns;
}

// gm[g] = the minimum of dd over the codes g, g + kGroups, g + 2 kGroups, ... (k >= kGroups), taken in code order
void group_minima(const float* __restrict dd, std::size_t k, float* __restrict gm) {
  for (std::size_t g = 0; g < kGroups; ++g) gm[g] = dd[g];
  const std::size_t full = k / kGroups * kGroups;
  for (std::size_t r = kGroups; r < full; r += kGroups)
    for (std::size_t g = 0; g < kGroups; ++g) gm[g] = dd[r + g] < gm[g] ? dd[r + g] : gm[g];
  for (std::size_t c = full; c < k; ++c) gm[c - full] = dd[c] < gm[c - full] ? dd[c] : gm[c - full];
}

// the smallest gm[g] with at least want values of gm[0..kGroups) at or below it (the want-th smallest, repeats
// counted); no NaN
float kth_bound(const float* gm, std::size_t want) {
  float bound = std::numeric_limits<float>::infinity();
  for (std::size_t g = 0; g < kGroups; ++g) {
    std::size_t le = 0;
    for (std::size_t h = 0; h < kGroups; ++h) le += gm[h] <= gm[g] ? 1 : 0;
    bound = (le >= want && gm[g] < bound) ? gm[g] : bound;
  }
  return bound;
}

// cand[0..want) = the want smallest entries of d[0..n) (lowest position first on equal values, as TopK): the
// first want sorted by insertion, then only entries below the current worst get in (want <= n)
void nearest_by_insertion(const double* d, std::size_t n, std::size_t want, std::size_t* cand) {
  for (std::size_t c = 0; c < want; ++c) {
    std::size_t p = c;
    while (p > 0 && d[cand[p - 1]] > d[c]) {
      cand[p] = cand[p - 1];
      --p;
    }
    cand[p] = c;
  }
  double worst = d[cand[want - 1]];
  for (std::size_t c = want; c < n; ++c) {
    const double v = d[c];
    if (!(v < worst)) continue;
    std::size_t p = want - 1;
    while (p > 0 && d[cand[p - 1]] > v) {
      cand[p] = cand[p - 1];
      --p;
    }
    cand[p] = c;
    worst = d[cand[want - 1]];
  }
}

// cand[r] = s for the entries of sd[0..ns) ranked r < want by (value, then position); no NaN
void rank_first(const double* sd, std::size_t ns, std::size_t want, std::size_t* cand) {
  for (std::size_t s = 0; s < ns; ++s) {
    const double v = sd[s];
    std::size_t r = 0;
    for (std::size_t p = 0; p < ns; ++p) r += (sd[p] < v || (sd[p] == v && p < s)) ? 1 : 0;
    if (r < want) cand[r] = s;
  }
}

#ifdef HEPVQ_X86_KERNELS
struct CompactTable {  // positions of the set bits of each byte, packed
  alignas(16) std::uint8_t pos[256][8];
  CompactTable() {
    for (unsigned m = 0; m < 256; ++m) {
      unsigned q = 0;
      for (unsigned b = 0; b < 8; ++b)
        if (m & (1u << b)) pos[m][q++] = static_cast<std::uint8_t>(b);
      for (; q < 8; ++q) pos[m][q] = 0;
    }
  }
};
const CompactTable kCompact;

__attribute__((target("avx2"))) void pixel_bits_avx2(const float* xi, std::size_t d, std::uint64_t& nonzero,
                                                      std::uint64_t& outside) {
  nonzero = outside = 0;
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  std::size_t j = 0;
  for (; j + 8 <= d; j += 8) {
    const __m256 v = _mm256_loadu_ps(xi + j);
    const unsigned nz = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ)));
    const unsigned in = static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(v, absmask), one, _CMP_LE_OQ)));
    nonzero |= static_cast<std::uint64_t>(nz) << j;
    outside |= static_cast<std::uint64_t>(~in & 0xffu) << j;
  }
  for (; j < d; ++j) {
    nonzero |= static_cast<std::uint64_t>(xi[j] != 0.0f) << j;
    outside |= static_cast<std::uint64_t>(!(std::fabs(xi[j]) <= 1.0f)) << j;
  }
}

__attribute__((target("avx2"))) std::size_t compact_le_avx2(const float* dd, std::size_t k, float thr,
                                                             std::uint32_t* out) {
  std::size_t ns = 0, c = 0;
  const __m256 t = _mm256_set1_ps(thr);
  for (; c + 8 <= k; c += 8) {
    const unsigned m =
        static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(dd + c), t, _CMP_LE_OQ)));
    const __m256i p = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(kCompact.pos[m])));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + ns),
                        _mm256_add_epi32(p, _mm256_set1_epi32(static_cast<int>(c))));
    ns += static_cast<std::size_t>(__builtin_popcount(m));
  }
  for (; c < k; ++c) {
    out[ns] = static_cast<std::uint32_t>(c);
    ns += dd[c] <= thr ? 1 : 0;
  }
  return ns;
}

// group_minima with the 32 minima in registers (min_ps(a, b) is a < b ? a : b: the same selects, same order)
__attribute__((target("avx2"))) void group_minima_avx2(const float* dd, std::size_t k, float* gm) {
  static_assert(kGroups == 32, "four vectors of eight minima");
  __m256 m0 = _mm256_loadu_ps(dd), m1 = _mm256_loadu_ps(dd + 8), m2 = _mm256_loadu_ps(dd + 16),
         m3 = _mm256_loadu_ps(dd + 24);
  const std::size_t full = k / kGroups * kGroups;
  for (std::size_t r = kGroups; r < full; r += kGroups) {
    m0 = _mm256_min_ps(_mm256_loadu_ps(dd + r), m0);
    m1 = _mm256_min_ps(_mm256_loadu_ps(dd + r + 8), m1);
    m2 = _mm256_min_ps(_mm256_loadu_ps(dd + r + 16), m2);
    m3 = _mm256_min_ps(_mm256_loadu_ps(dd + r + 24), m3);
  }
  _mm256_storeu_ps(gm, m0);
  _mm256_storeu_ps(gm + 8, m1);
  _mm256_storeu_ps(gm + 16, m2);
  _mm256_storeu_ps(gm + 24, m3);
  for (std::size_t c = full; c < k; ++c) gm[c - full] = dd[c] < gm[c - full] ? dd[c] : gm[c - full];
}

__attribute__((target("avx2"))) float kth_bound_avx2(const float* gm, std::size_t want) {
  static_assert(kGroups == 32, "four vectors of eight minima");
  const __m256 g0 = _mm256_loadu_ps(gm), g1 = _mm256_loadu_ps(gm + 8), g2 = _mm256_loadu_ps(gm + 16),
               g3 = _mm256_loadu_ps(gm + 24);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
  for (std::size_t h = 0; h < kGroups; ++h) {
    const __m256 b = _mm256_broadcast_ss(gm + h);
    c0 = _mm256_sub_epi32(c0, _mm256_castps_si256(_mm256_cmp_ps(b, g0, _CMP_LE_OQ)));
    c1 = _mm256_sub_epi32(c1, _mm256_castps_si256(_mm256_cmp_ps(b, g1, _CMP_LE_OQ)));
    c2 = _mm256_sub_epi32(c2, _mm256_castps_si256(_mm256_cmp_ps(b, g2, _CMP_LE_OQ)));
    c3 = _mm256_sub_epi32(c3, _mm256_castps_si256(_mm256_cmp_ps(b, g3, _CMP_LE_OQ)));
  }
  const __m256i w = _mm256_set1_epi32(static_cast<int>(want) - 1);
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 p0 = _mm256_blendv_ps(inf, g0, _mm256_castsi256_ps(_mm256_cmpgt_epi32(c0, w)));
  const __m256 p1 = _mm256_blendv_ps(inf, g1, _mm256_castsi256_ps(_mm256_cmpgt_epi32(c1, w)));
  const __m256 p2 = _mm256_blendv_ps(inf, g2, _mm256_castsi256_ps(_mm256_cmpgt_epi32(c2, w)));
  const __m256 p3 = _mm256_blendv_ps(inf, g3, _mm256_castsi256_ps(_mm256_cmpgt_epi32(c3, w)));
  const __m256 m = _mm256_min_ps(_mm256_min_ps(p0, p1), _mm256_min_ps(p2, p3));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float bound = lanes[0];
  for (int u = 1; u < 8; ++u) bound = lanes[u] < bound ? lanes[u] : bound;
  return bound;
}

// counts[s] = how many of sd[0..ns) are below sd[s], for s < 4 NV (sd padded with +inf to 4 NV): the values and
// their counts in NV registers
template <int NV>
__attribute__((target("avx2"))) inline void counts_below_avx2(const double* sd, std::size_t ns, long long* counts) {
  __m256d v[NV];
  __m256i acc[NV];
#pragma GCC unroll 8
  for (int u = 0; u < NV; ++u) {
    v[u] = _mm256_loadu_pd(sd + 4 * u);
    acc[u] = _mm256_setzero_si256();
  }
  for (std::size_t p = 0; p < ns; ++p) {
    const __m256d b = _mm256_broadcast_sd(sd + p);
#pragma GCC unroll 8
    for (int u = 0; u < NV; ++u)
      acc[u] = _mm256_sub_epi64(acc[u], _mm256_castpd_si256(_mm256_cmp_pd(b, v[u], _CMP_LT_OQ)));
  }
#pragma GCC unroll 8
  for (int u = 0; u < NV; ++u) _mm256_store_si256(reinterpret_cast<__m256i*>(counts + 4 * u), acc[u]);
}

// sd padded with +inf to a multiple of 4. Ranks by value alone first (one comparison per pair, in as many
// registers as ns needs up to 32 values); only when two values are equal (ranks repeat) the position breaks the
// tie, by rank_first.
__attribute__((target("avx2"))) void rank_first_avx2(const double* sd, std::size_t ns, std::size_t want,
                                                      std::size_t* cand) {
  alignas(32) long long lanes[64];
  switch ((ns + 3) / 4) {
    case 1: counts_below_avx2<1>(sd, ns, lanes); break;
    case 2: counts_below_avx2<2>(sd, ns, lanes); break;
    case 3: counts_below_avx2<3>(sd, ns, lanes); break;
    case 4: counts_below_avx2<4>(sd, ns, lanes); break;
    case 5: counts_below_avx2<5>(sd, ns, lanes); break;
    case 6: counts_below_avx2<6>(sd, ns, lanes); break;
    case 7: counts_below_avx2<7>(sd, ns, lanes); break;
    case 8: counts_below_avx2<8>(sd, ns, lanes); break;
    default: {
      const std::size_t np = (ns + 3) & ~std::size_t{3};
      for (std::size_t s = 0; s < ns; ++s) {
        const __m256d v = _mm256_broadcast_sd(sd + s);
        __m256i acc = _mm256_setzero_si256();
        for (std::size_t p = 0; p < np; p += 4)
          acc = _mm256_sub_epi64(acc, _mm256_castpd_si256(_mm256_cmp_pd(_mm256_loadu_pd(sd + p), v, _CMP_LT_OQ)));
        const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        lanes[s] = _mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1);
      }
    }
  }
  std::uint64_t seen = 0;
  std::size_t by_rank[64];  // every rank written, the first want kept: no branch on the rank (unpredictable)
  for (std::size_t s = 0; s < ns; ++s) {
    const std::size_t r = static_cast<std::size_t>(lanes[s]);
    seen |= std::uint64_t{1} << r;  // r < ns <= 64
    by_rank[r] = s;
  }
  if (static_cast<std::size_t>(__builtin_popcountll(seen)) != ns) rank_first(sd, ns, want, cand);
  else std::copy(by_rank, by_rank + want, cand);
}
#endif

// A block's per-patch inputs and results in group order (position p = groups.pos[i] of patch i): x at the mask's
// pixels (n_on values a patch, group gi's rows from base[gi] on), fast[p] (x zero outside the mask, |x| <= 1, no
// NaN or infinity: the fast path's domain), ctx; idx and amb as found. pack and unpack go through the patches in
// their order, so the search reads and writes in group order without jumping between rows of the inputs.
struct PackedBlock {
  std::vector<float> x;
  std::vector<std::size_t> base, width;  // width[gi]: n_on of group gi (a popcount per group, not per patch)
  std::vector<std::uint8_t> fast, amb;
  std::vector<std::int64_t> ctx, idx;

  void pack(const float* x_in, const std::int64_t* ctx_in, std::size_t d, const MaskGroups& g, bool avx2) {
    const std::size_t nb = g.order.size(), n_groups = g.key.size();
    base.resize(n_groups);
    width.resize(n_groups);
    std::size_t total = 0;
    for (std::size_t gi = 0; gi < n_groups; ++gi) {
      width[gi] = static_cast<std::size_t>(__builtin_popcountll(g.key[gi]));
      base[gi] = total;
      total += (g.start[gi + 1] - g.start[gi]) * width[gi];
    }
    x.resize(total);
    fast.resize(nb);
    idx.resize(nb);
    amb.resize(nb);
    ctx.resize(ctx_in ? nb : 0);
    for (std::size_t i = 0; i < nb; ++i) {
      const float* xi = x_in + i * d;
      const std::size_t gi = g.gid[i], p = g.pos[i];
      const std::uint64_t mask = g.key[gi];
      std::uint64_t nonzero, outside;
#ifdef HEPVQ_X86_KERNELS
      if (avx2) pixel_bits_avx2(xi, d, nonzero, outside);
      else
#endif
        pixel_bits(xi, d, nonzero, outside);
      fast[p] = !(outside || (nonzero & ~mask));
      float* row = x.data() + base[gi] + (p - g.start[gi]) * width[gi];
      for (std::uint64_t mb = mask; mb; mb &= mb - 1) *row++ = xi[__builtin_ctzll(mb)];
      if (ctx_in) ctx[p] = ctx_in[i];
    }
  }

  void unpack(const MaskGroups& g, std::int64_t* idx_out, std::uint8_t* amb_out) const {
    for (std::size_t i = 0; i < g.order.size(); ++i) {
      idx_out[i] = idx[g.pos[i]];
      amb_out[i] = amb[g.pos[i]];
    }
  }
};
}  // namespace

// Per patch (bit-identical to search_exhaustive, tests/test_core_search.py): float32 distances to every code
// screen out all but the few that can be among the want = topk + 1 nearest; those get the float64 distance in
// search_exhaustive's order of operations, the want nearest are ranked as its TopK (distance, then lowest code),
// and the objective of the topk candidates is search_exhaustive's, with the part that depends on (mask, code)
// only computed once per mask among the patches of a block.
HEPVQ_MULTIVERSION void VQSearch::search_impl(const float* x, const std::uint64_t* masks, const std::int64_t* ctx,
                                              std::size_t n, std::int64_t* idx, std::uint8_t* ambiguous) const {
  const std::size_t kk = std::min<std::size_t>(static_cast<std::size_t>(topk), k);
  const std::size_t want = std::min(kk + 1, k);
  // little to screen out, or a codebook too large for the screening margin below
  if (want == k || k < 2 * kGroups || want > kGroups || !(max_abs < 1e6)) {
    exhaustive_impl(x, masks, ctx, n, idx, ambiguous);
    return;
  }
#ifdef HEPVQ_X86_KERNELS
  const bool avx2 = __builtin_cpu_supports("avx2");
#endif
  const std::uint64_t dmask = d >= 64 ? ~0ULL : ((1ULL << d) - 1);
  MaskGroups groups;
  PackedBlock packed;
  std::vector<float> dist32(k), norm32(k);
  std::vector<double> sd(std::max<std::size_t>(k + 4, 32));  // sd[s]: float64 distance of code screened[s]
  std::vector<std::uint32_t> screened(k + 8);
  std::vector<std::size_t> cand(want);  // positions in screened, nearest first
  // per (mask, code), filled when the code is first a candidate in the group: the decoded fractions at the
  // mask's pixels, their centroid (row, col), and whether the clipped total is within tol of the 1e-6 switch
  std::vector<std::uint8_t> ready(k), tab_amb(k);
  std::vector<double> tab_f(k * d), tab_fr(k), tab_fc(k);
  int on[64];
  double xs[64];  // x at the mask's pixels (xs[t] at pixel on[t])
  for (std::size_t b0 = 0; b0 < n; b0 += kBlock) {
    const std::size_t nb = std::min(kBlock, n - b0);
    groups.build(masks + b0, nb, dmask);
#ifdef HEPVQ_X86_KERNELS
    packed.pack(x + b0 * d, ctx ? ctx + b0 : nullptr, d, groups, avx2);
#else
    packed.pack(x + b0 * d, ctx ? ctx + b0 : nullptr, d, groups, false);
#endif
    for (std::size_t gi = 0; gi + 1 < groups.start.size(); ++gi) {
      const std::uint64_t mask = groups.key[gi];
      const std::size_t* members = groups.order.data() + groups.start[gi];
      const std::size_t n_members = groups.start[gi + 1] - groups.start[gi];
      if (mask == 0) {  // no pixel: the general case
        for (std::size_t q = 0; q < n_members; ++q) {
          const std::size_t i = b0 + members[q], p = groups.start[gi] + q;
          exhaustive_impl(x + i * d, masks + i, ctx ? ctx + i : nullptr, 1, &packed.idx[p], &packed.amb[p]);
        }
        continue;
      }
      int n_on = 0;
      for (std::uint64_t mb = mask; mb; mb &= mb - 1) on[n_on++] = __builtin_ctzll(mb);
      const double nm = static_cast<double>(n_on);
      std::fill(ready.begin(), ready.end(), 0);
      {  // the codes' float32 squared norms over the mask
        float* __restrict nr = norm32.data();
        for (std::size_t c = 0; c < k; ++c) nr[c] = 0.0f;
        for (int t = 0; t < n_on; ++t) {
          const float* __restrict a = codebook_t32.data() + static_cast<std::size_t>(on[t]) * k;
          for (std::size_t c = 0; c < k; ++c) nr[c] += a[c] * a[c];
        }
      }
      // |float32 - float64 distance| per code: the float32 value |c32|^2 - 2 x.c32 sums 2 n_on terms of total
      // size S <= n_on |c| (|c| + 2) (|x| <= 1, A = max |c|), in any order: rounding <= (2 n_on + 1) u S
      // (u = 2^-24 ~ 6e-8); the codebook's rounding to float32 adds <= 3 u S, the float64 sum's own rounding
      // ~1e-16 S: below (2 n_on + 5) u S <= 133 u S < 8e-6 S for n_on <= 64 -- within 1e-5 (S + 1)
      const double margin = 1e-5 * (nm * max_abs * (max_abs + 2.0) + 1.0);
      for (std::size_t q = 0; q < n_members; ++q) {
        const std::size_t i = b0 + members[q];
        const std::size_t p = groups.start[gi] + q;
        if (!packed.fast[p]) {
          exhaustive_impl(x + i * d, masks + i, ctx ? ctx + i : nullptr, 1, &packed.idx[p], &packed.amb[p]);
          continue;
        }
        const float* xi = packed.x.data() + packed.base[gi] + q * static_cast<std::size_t>(n_on);  // at on[0..n_on)
        // centroid of x: search_exhaustive sums over every pixel in pixel order; the terms skipped here
        // (outside the mask) are exact zeros, which can change only the sign of a zero sum, and xr, xc enter
        // the objective squared (er * er): the objective is the same bit for bit
        double xr = 0, xc = 0;
        for (int t = 0; t < n_on; ++t) {
          const int j = on[t];
          xs[t] = static_cast<double>(xi[t]);
          xr += xs[t] * pos_r[j];
          xc += xs[t] * pos_c[j];
        }
        // screening: float32 distances |c|^2 - 2 x.c over the mask, |c|^2 the group's (sums in any order: the
        // margin bounds them)
        {
          float* __restrict dd = dist32.data();
          const float* __restrict nr = norm32.data();
          int t = 0;
          if (n_on % 2) {
            const float* __restrict a = codebook_t32.data() + static_cast<std::size_t>(on[0]) * k;
            const float ma = -2.0f * xi[0];
            for (std::size_t c = 0; c < k; ++c) dd[c] = nr[c] + ma * a[c];
            t = 1;
          } else {
            for (std::size_t c = 0; c < k; ++c) dd[c] = nr[c];
          }
          for (; t + 4 <= n_on; t += 4) {  // four pixels a pass: fewer loads and stores of dd
            const float* __restrict a = codebook_t32.data() + static_cast<std::size_t>(on[t]) * k;
            const float* __restrict b = codebook_t32.data() + static_cast<std::size_t>(on[t + 1]) * k;
            const float* __restrict e = codebook_t32.data() + static_cast<std::size_t>(on[t + 2]) * k;
            const float* __restrict g = codebook_t32.data() + static_cast<std::size_t>(on[t + 3]) * k;
            const float ma = -2.0f * xi[t], mb = -2.0f * xi[t + 1];
            const float me = -2.0f * xi[t + 2], mg = -2.0f * xi[t + 3];
            for (std::size_t c = 0; c < k; ++c) dd[c] += (ma * a[c] + mb * b[c]) + (me * e[c] + mg * g[c]);
          }
          for (; t < n_on; t += 2) {
            const float* __restrict a = codebook_t32.data() + static_cast<std::size_t>(on[t]) * k;
            const float* __restrict b = codebook_t32.data() + static_cast<std::size_t>(on[t + 1]) * k;
            const float ma = -2.0f * xi[t], mb = -2.0f * xi[t + 1];
            for (std::size_t c = 0; c < k; ++c) dd[c] += ma * a[c] + mb * b[c];
          }
        }
        // an upper bound of the want-th smallest float32 distance: the want-th smallest (with repeats) of the
        // minima of G groups (codes c, c + G, c + 2G, ...), i.e. the smallest minimum with at least want
        // minima at or below it: want groups have a code at or below it (no NaN: x and codebook finite)
        float gmin[kGroups];
#ifdef HEPVQ_X86_KERNELS
        if (avx2) group_minima_avx2(dist32.data(), k, gmin);
        else
#endif
          group_minima(dist32.data(), k, gmin);
        float bound32;
#ifdef HEPVQ_X86_KERNELS
        if (avx2) bound32 = kth_bound_avx2(gmin, want);
        else
#endif
          bound32 = kth_bound(gmin, want);
        // a code among the want nearest in float64 has a float32 distance <= the bound + 2 margins: want codes
        // have float32 distances <= bound, so float64 ones <= bound + margin, so the want-th float64 distance
        // too, and the code's float32 distance is within one more margin
        const double thr64 = static_cast<double>(bound32) + 2.0 * margin;
        float thr = static_cast<float>(thr64);
        if (static_cast<double>(thr) < thr64) thr = std::nextafter(thr, std::numeric_limits<float>::infinity());
        std::size_t ns;  // codes at or below the threshold, in code order
#ifdef HEPVQ_X86_KERNELS
        if (avx2) ns = compact_le_avx2(dist32.data(), k, thr, screened.data());
        else
#endif
          ns = compact_le(dist32.data(), k, thr, screened.data());
        // float64 distances of the screened codes: the same operations in the same order as search_exhaustive
        // (pixels in ascending order, acc += c * (c + (-2 x)))
        double m2x[64];
        std::size_t off[64];  // pixel on[t]'s row in codebook_t
        for (int t = 0; t < n_on; ++t) {
          m2x[t] = -2.0 * xs[t];
          off[t] = static_cast<std::size_t>(on[t]) * k;
        }
        std::size_t s = 0;
        for (; s + 4 <= ns; s += 4) {  // four codes' sums side by side (each in its own order): no waiting on one
          const double *c0 = codebook_t.data() + screened[s], *c1 = codebook_t.data() + screened[s + 1];
          const double *c2 = codebook_t.data() + screened[s + 2], *c3 = codebook_t.data() + screened[s + 3];
          double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
          for (int t = 0; t < n_on; ++t) {
            const double v0 = c0[off[t]], v1 = c1[off[t]], v2 = c2[off[t]], v3 = c3[off[t]];
            a0 += v0 * (v0 + m2x[t]);
            a1 += v1 * (v1 + m2x[t]);
            a2 += v2 * (v2 + m2x[t]);
            a3 += v3 * (v3 + m2x[t]);
          }
          sd[s] = a0;
          sd[s + 1] = a1;
          sd[s + 2] = a2;
          sd[s + 3] = a3;
        }
        for (; s < ns; ++s) {
          const double* cv = codebook_t.data() + screened[s];  // codebook_t[j * k + code]: the group's rows in cache
          double acc = 0.0;
          for (int t = 0; t < n_on; ++t) {
            const double ct = cv[off[t]];
            acc += ct * (ct + m2x[t]);
          }
          sd[s] = acc;
        }
        // the want nearest among them in search_exhaustive's order (distance, then lowest code first): the rank
        // of screened[s] counts the codes before it in that order (screened is in code order), without branches
        if (ns <= 64) {
          const std::size_t padded = (ns + 3) & ~std::size_t{3};
          for (std::size_t p = ns; p < padded; ++p) sd[p] = std::numeric_limits<double>::infinity();
#ifdef HEPVQ_X86_KERNELS
          if (avx2) rank_first_avx2(sd.data(), ns, want, cand.data());
          else
#endif
            rank_first(sd.data(), ns, want, cand.data());
        } else {  // a flat neighbourhood: insertion as search_exhaustive
          nearest_by_insertion(sd.data(), ns, want, cand.data());
        }
        bool amb = want > kk && (sd[cand[kk]] - sd[cand[kk - 1]]) < tol;
        // the candidates' bits (a row of the rate table per context: not in cache), fetched ahead
        const double* bits = ctx ? rate_bits.data() + static_cast<std::size_t>(packed.ctx[p]) * k : nullptr;
        if (bits)
          for (std::size_t r = 0; r < kk; ++r) __builtin_prefetch(bits + screened[cand[r]]);
        // objective of each candidate's decoded fractions (x is zero outside the mask: no off-mask terms), the
        // operations of search_exhaustive; fractions and centroid depend on (mask, code) only: once per group
        double best = std::numeric_limits<double>::infinity(), second = best;
        std::size_t best_c = screened[cand[0]];
        for (std::size_t r = 0; r < kk; ++r) {
          const std::size_t code = screened[cand[r]];
          double* f = tab_f.data() + code * static_cast<std::size_t>(n_on);
          if (!ready[code]) {
            const double* cv = codebook.data() + code * d;
            double tot = 0;
            for (int t = 0; t < n_on; ++t) tot += std::max(cv[on[t]], 0.0);
            tab_amb[code] = std::abs(tot - 1e-6) < tol ? 1 : 0;
            const bool valid = tot > 1e-6;
            double fr = 0, fc = 0;
            for (int t = 0; t < n_on; ++t) {
              const int j = on[t];
              f[t] = valid ? std::max(cv[j], 0.0) / tot : 1.0 / nm;
              fr += f[t] * pos_r[j];
              fc += f[t] * pos_c[j];
            }
            tab_fr[code] = fr;
            tab_fc[code] = fc;
            ready[code] = 1;
          }
          amb |= tab_amb[code] != 0;
          double ff = 0;
          for (int t = 0; t < n_on; ++t) {
            const double e = f[t] - xs[t];
            ff += e * e;
          }
          const double er = tab_fr[code] - xr, ec = tab_fc[code] - xc;
          double obj = er * er + ec * ec + lam * ff;
          if (bits) obj = obj + rate_mu * bits[code];  // as the numpy oracle: objective + mu * bits (rate())
          if (obj < best) {
            second = best;
            best = obj;
            best_c = code;
          } else if (obj < second) {
            second = obj;
          }
        }
        if (kk > 1 && (second - best) < tol) amb = true;
        packed.idx[p] = static_cast<std::int64_t>(best_c);
        packed.amb[p] = amb ? 1 : 0;
      }
    }
    packed.unpack(groups, idx + b0, ambiguous + b0);
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
    nearest_by_insertion(dist.data(), k, want, cand.data());
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
