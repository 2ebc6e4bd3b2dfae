#include "hepvq/stream.hpp"

namespace hepvq {

std::size_t varint_size(const std::uint64_t* values, std::size_t n) {
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t v = values[i];
    std::size_t b = 1;
    while (v >>= 7) ++b;
    total += b;
  }
  return total;
}

std::size_t varint_encode(const std::uint64_t* values, std::size_t n, std::uint8_t* out) {
  std::uint8_t* p = out;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t v = values[i];
    while (v >= 0x80) {
      *p++ = static_cast<std::uint8_t>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<std::uint8_t>(v);
  }
  return static_cast<std::size_t>(p - out);
}

std::size_t varint_count(const std::uint8_t* data, std::size_t len) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < len; ++i) n += (data[i] & 0x80) == 0;
  return n;
}

void varint_decode(const std::uint8_t* data, std::size_t len, std::uint64_t* out) {
  std::size_t i = 0, k = 0;
  while (i < len) {
    std::uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
      if (i >= len) throw DataError("truncated varint stream (last value has no end byte)");
      const std::uint8_t b = data[i++];
      if (shift > 63 || (shift == 63 && (b & 0x7F) > 1))
        throw DataError("corrupt varint stream (a value longer than 64 bits)");
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    out[k++] = v;
  }
}

void key_gaps(const std::int64_t* keys, std::size_t n, std::uint64_t* gaps) {
  std::int64_t prev = -1;
  for (std::size_t i = 0; i < n; ++i) {
    if (keys[i] <= prev)
      throw DataError("duplicate or unsorted hit positions at index " + std::to_string(i) +
                      " cannot be gap-coded");
    gaps[i] = static_cast<std::uint64_t>(keys[i] - prev - 1);
    prev = keys[i];
  }
}

void keys_from_gaps(const std::uint64_t* gaps, std::size_t n, std::int64_t* keys) {
  std::int64_t k = -1;
  for (std::size_t i = 0; i < n; ++i) {
    k += static_cast<std::int64_t>(gaps[i]) + 1;
    keys[i] = k;
  }
}

}  // namespace hepvq
