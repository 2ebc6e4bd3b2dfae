#include "hepvq/crc32.hpp"

#include <array>

#include "hepvq/parallel.hpp"

namespace hepvq {

namespace {

// slice-by-8 tables of the reflected polynomial
struct Tables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  Tables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};

const Tables& tables() {
  static const Tables tab;
  return tab;
}

}  // namespace

std::uint32_t crc32_update(std::uint32_t crc, const std::uint8_t* p, std::size_t n) {
  const auto& t = tables().t;
  std::uint32_t c = ~crc;
  while (n >= 8) {  // bytes assembled explicitly: the same result on any byte order
    const std::uint32_t lo = c ^ (static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                                  static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
        t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

void event_crc32(const std::vector<CrcColumn>& columns, std::size_t n_events, int threads, std::uint32_t* out) {
  parallel_ranges(n_events, threads, 256, [&](std::size_t e0, std::size_t e1) {
    for (std::size_t e = e0; e < e1; ++e) {
      std::uint32_t crc = 0;
      for (const auto& col : columns) {
        if (col.counts) {
          const std::uint32_t v = col.counts[e];
          const std::uint8_t le[4] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                                      static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
          crc = crc32_update(crc, le, 4);
        }
        const std::int64_t a = col.offsets[e], b = col.offsets[e + 1];
        crc = crc32_update(crc, col.raw + a, static_cast<std::size_t>(b - a));
      }
      out[e] = crc;
    }
  });
}

}  // namespace hepvq
