// CRC-32 (zlib's: reflected polynomial 0xEDB88320, chained as zlib.crc32(data, crc)) and the per-event checksums
// of the decode guard (hepvq/codecs/guard.py: event_checksums; the Python loop is kept there as the oracle).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hepvq {

// zlib.crc32(data[0..n), crc)
std::uint32_t crc32_update(std::uint32_t crc, const std::uint8_t* data, std::size_t n);

// One column of a product for the per-event checksum: the bytes of event e are raw[offsets[e] .. offsets[e+1]);
// a jagged column (has_counts) first feeds its number of values of event e as 4 little-endian bytes.
struct CrcColumn {
  const std::uint8_t* raw = nullptr;
  const std::int64_t* offsets = nullptr;  // n_events + 1 byte offsets
  const std::uint32_t* counts = nullptr;  // nullptr: a flat column
};

// out[e] = the CRC-32 chained over the columns in order for event e; events on `threads` threads.
void event_crc32(const std::vector<CrcColumn>& columns, std::size_t n_events, int threads, std::uint32_t* out);

}  // namespace hepvq
