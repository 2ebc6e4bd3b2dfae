// Centroid-aware nearest-code search of a one-stage classical VQ encoder (the graph of encoder.onnx, see
// hepvq/models/vq.py RVQEncoder): the topk nearest codes by masked squared distance, then the candidate whose
// decoded fractions minimise (centroid error)^2 + lam * (fraction error)^2.
//
// The sums run in another order than onnxruntime's, so results can differ from the graph's by a few ulp; a
// patch whose decision lies within `tol` of a tie (k-th vs (k+1)-th distance, best vs second objective, a
// candidate's clipped total near the graph's 1e-6 switch to uniform fractions) is flagged ambiguous and
// the caller runs it through the ONNX graph: the indices then equal onnxruntime's, ties included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hepvq {

struct VQSearch {
  std::vector<double> codebook;  // (K, D) row-major
  std::vector<double> codebook_t;  // (D, K): column j of the codes, contiguous over the codes
  std::vector<float> codebook_t32;  // codebook_t in float32: the screening pass of search()
  std::vector<double> pos_r, pos_c;  // row and column of each patch slot
  double max_abs = 0;  // largest |codebook value| (bounds the screening pass's float32 error)
  std::size_t k = 0, d = 0;
  int topk = 8;
  double lam = 0.3;
  int cols = 8;
  double tol = 1e-9;

  VQSearch(std::vector<double> codebook, std::size_t n_codes, std::size_t dim, int topk, double lam, int cols);
  // x: (n, D) float32 fractions (zero outside the mask), masks: (n,) bits; writes idx and ambiguous (0/1).
  // A float32 pass over every code finds the few codes that can be among the topk + 1 nearest (within a
  // bound of the float32 rounding); only those get the float64 distance, computed exactly as search_exhaustive
  // does, so idx and ambiguous equal search_exhaustive's bit for bit (tests/test_core_search.py).
  void search(const float* x, const std::uint64_t* masks, std::size_t n, std::int64_t* idx,
              std::uint8_t* ambiguous) const;
  // The float64 distance to every code: the previous implementation, kept as the oracle of search().
  void search_exhaustive(const float* x, const std::uint64_t* masks, std::size_t n, std::int64_t* idx,
                         std::uint8_t* ambiguous) const;

  // pixel_vq format 2's rate-aware choice (hepvq/pixel/format2.py, numpy oracle FastVQSearch.search_reference
  // with rate): search() with rate_mu * rate_bits[ctx[i] * K + code] added to each candidate's objective.
  // Ambiguous rows (a tie within tol, as search()) belong to the numpy search.
  std::vector<double> rate_bits;  // (rate_contexts, K) bits of each code per context
  std::size_t rate_contexts = 0;
  double rate_mu = 0;
  void search_rate(const float* x, const std::uint64_t* masks, const std::int64_t* ctx, std::size_t n,
                   std::int64_t* idx, std::uint8_t* ambiguous) const;

 private:
  // ctx null: no rate term
  void search_impl(const float* x, const std::uint64_t* masks, const std::int64_t* ctx, std::size_t n,
                   std::int64_t* idx, std::uint8_t* ambiguous) const;
  void exhaustive_impl(const float* x, const std::uint64_t* masks, const std::int64_t* ctx, std::size_t n,
                       std::int64_t* idx, std::uint8_t* ambiguous) const;
  double rate(const std::int64_t* ctx, std::size_t i, std::size_t code) const {
    return ctx ? rate_mu * rate_bits[static_cast<std::size_t>(ctx[i]) * k + code] : 0.0;
  }
};

}  // namespace hepvq
