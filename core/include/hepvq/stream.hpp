// Shared stream coding of the codecs: LEB128 varints, zigzag, gaps between sorted keys.
// Plain arrays in and out; errors are thrown as hepvq::DataError with a one-line message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace hepvq {

// Corrupt or inconsistent input data (the Python binding maps it to hepvq.errors.DataError).
struct DataError : std::runtime_error {
  explicit DataError(const std::string& what) : std::runtime_error(what) {}
};

inline std::uint64_t zigzag(std::int64_t x) {
  return (static_cast<std::uint64_t>(x) << 1) ^ static_cast<std::uint64_t>(x >> 63);
}
inline std::int64_t unzigzag(std::uint64_t z) {
  return static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
}

// Number of bytes of the varint encodings of values[0..n).
std::size_t varint_size(const std::uint64_t* values, std::size_t n);
// Writes the varints of values[0..n) to out (varint_size bytes); returns the bytes written.
std::size_t varint_encode(const std::uint64_t* values, std::size_t n, std::uint8_t* out);
// Number of values in a varint byte string (count of bytes without the continuation bit).
std::size_t varint_count(const std::uint8_t* data, std::size_t len);
// Decodes every varint of data; out must hold varint_count values. A truncated last value or one longer
// than 64 bits throws DataError.
void varint_decode(const std::uint8_t* data, std::size_t len, std::uint64_t* out);

// Gaps between strictly increasing keys: gap[i] = key[i] - key[i-1] - 1 (key[-1] = -1). Throws DataError
// on a key that does not increase (duplicate or unsorted); returns nothing otherwise.
void key_gaps(const std::int64_t* keys, std::size_t n, std::uint64_t* gaps);
// Inverse of key_gaps.
void keys_from_gaps(const std::uint64_t* gaps, std::size_t n, std::int64_t* keys);

}  // namespace hepvq
