// Decode of the sparse hit streams of hepvq.baselines.sparse_streams (cluster layout, hepvq.baselines.
// sparse_clusters) on the core's rANS coder: tpc_inr format 2's coordinate and residual streams (hepvq/tpc/
// coords.py, hepvq/codecs/residual.py), used by Python (hepvq_core.sparse_*) and the C++ reader alike.
// The numpy implementation stays the oracle: every step below mirrors decode_event / decode_values, with the
// same checks (a damaged blob throws DataError with one line naming `what` and the stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hepvq/rans.hpp"
#include "hepvq/stream.hpp"

namespace hepvq {
namespace sparse {

// Streams of the cluster layout, in coding order (sparse_clusters.STREAMS).
enum Stream { kClusters = 0, kAnchorCol, kAnchorRow, kShape, kEscCount, kEscDc, kEscDr, kValue, kNumStreams };
const char* stream_name(int s);

// Frequent cluster shapes: pixel offsets after the anchor of shape id (1..size()); id 0 is the escape.
struct ShapeBook {
  std::vector<std::int64_t> length{0}, start{0};  // per id
  std::vector<std::int64_t> dc, dr;               // flat offsets
  std::map<std::string, std::int64_t> index;      // shape key (the offsets' int32 codes as bytes) -> id
  std::size_t size() const { return length.size() - 1; }
  // ShapeBook.to_bytes: varints (count, lengths, shape codes dc << 14 | (dr + 8192) as int32)
  static ShapeBook from_bytes(const std::uint8_t* data, std::size_t len);
};

// StreamTables of the cluster layout (the JSON info, plane table and zstd framing are read by the caller).
struct Tables {
  std::int64_t n_cols = 0, n_rows = 0, value_alphabet = 0, n_classes = 0;
  std::vector<std::int64_t> keys, classes;  // plane table: strictly increasing keys, class of each
  std::vector<rans::Tables> streams;        // kNumStreams, finalized
  ShapeBook book;
  // checks the sizes and contexts counts (throws DataError naming the problem)
  void check() const;
};

// One event's hits sorted by (plane key, col, row); value empty unless asked for.
struct Hits {
  std::vector<std::int64_t> plane_key, col, row, value;
};

// sparse_streams.decode_event (cluster layout): blob [offset, len) -> hits.
void decode_event(const std::uint8_t* blob, std::size_t len, const Tables& t, bool with_value,
                  const std::string& what, Hits& out);

// sparse_streams.decode_values: the value stream of n hits given sorted by (plane key, col, row) (what
// decode_event returns); contexts from their 8-connected clusters.
void decode_values(const std::uint8_t* blob, std::size_t len, const std::int64_t* plane_key, const std::int64_t* col,
                   const std::int64_t* row, std::size_t n, const Tables& t, const std::string& what,
                   std::int64_t* out);

// ---- encode (sparse_streams.encode_event / encode_values, residual.pack_rans): bytes equal to numpy's ----
// Hits in any order; value null: positions only. Hits outside the tables' planes, negative symbols or symbols
// beyond a table's alphabet throw std::invalid_argument (Python: ValueError), a repeated position DataError.
std::vector<std::uint8_t> encode_event(const std::int64_t* plane_key, const std::int64_t* col, const std::int64_t* row,
                                       const std::int64_t* value, std::size_t n, const Tables& t);
// The value stream alone, hits in any order (coded in (plane key, col, row) order).
std::vector<std::uint8_t> encode_values(const std::int64_t* plane_key, const std::int64_t* col,
                                        const std::int64_t* row, const std::int64_t* value, std::size_t n,
                                        const Tables& t);
// residual.pack_rans: b"" (no hits), 0x00 (all zero) or 0x01 + encode_values(zigzag(q))
std::vector<std::uint8_t> pack_residuals(const std::int64_t* q, const std::int64_t* plane_key, const std::int64_t* col,
                                         const std::int64_t* row, std::size_t n, const Tables& t);

// ---- tpc_inr format 2 (hepvq/tpc/coords.py decode_rans, hepvq/codecs/residual.py unpack_rans) ----
// shape = (P, Z, L) = (phi, z, layer) bins of a sector; plane key = sector * L + layer, col = phi, row = z.
struct TpcHitsKeyOrder {
  std::vector<std::int64_t> sector, layer, phi, z;
};
void tpc_decode_coords(const std::uint8_t* blob, std::size_t len, const Tables& t, std::int64_t P, std::int64_t Z,
                       std::int64_t L, const std::string& what, TpcHitsKeyOrder& out);
// residual.unpack_rans: the residual stream of n hits sorted by (plane key, col, row): empty (no hits), 0x00
// (all zero) or 0x01 + the value stream of zigzag residuals -> q[0..n)
void unpack_residuals(const std::uint8_t* blob, std::size_t len, const std::int64_t* plane_key,
                      const std::int64_t* col, const std::int64_t* row, std::size_t n, const Tables& t,
                      const std::string& what, std::int64_t* q);

}  // namespace sparse
}  // namespace hepvq
