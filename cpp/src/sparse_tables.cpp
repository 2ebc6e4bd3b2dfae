// StreamTables.from_bytes (hepvq/baselines/sparse_streams.py) in C++: see sparse_tables.hpp.  zstd from ROOT's
// libCore (which bundles and exports it, as codec_pixel_sparse.cpp uses it).
#include "sparse_tables.hpp"

#include <cstdint>
#include <cstring>

#include "internal.hpp"
#include "json_util.hpp"

namespace hepvq {
namespace detail {

namespace {

const unsigned kTablesVersion = 1;                 // sparse_streams.TABLES_VERSION
const unsigned long long kMaxBytes = 1ULL << 28;  // StreamTables.from_bytes' max_output_size

struct Cursor {
  const std::string& d;
  std::size_t pos = 0;
  const std::string& where;
  const char* take(std::size_t k) {
    if (k > d.size() - pos) throw ReadError(where + ": not a valid table blob (truncated)");
    const char* p = d.data() + pos;
    pos += k;
    return p;
  }
  std::uint32_t u32() {
    std::uint32_t v;
    std::memcpy(&v, take(4), 4);  // little endian, as struct "<I" (x86-64 / aarch64 hosts)
    return v;
  }
};

}  // namespace

sparse::Tables read_sparse_tables(const std::string& blob, const std::string& where, std::string* kind) {
  if (blob.size() < 5 || blob.compare(0, 4, "HVST") != 0)
    throw ReadError(where + ": not a valid table blob (bad magic)");
  if (static_cast<unsigned char>(blob[4]) != kTablesVersion)
    throw ReadError(where + ": not a valid table blob (version " + std::to_string(static_cast<unsigned char>(blob[4])) +
                    " (this hepvq reads " + std::to_string(kTablesVersion) + "))");
  const unsigned long long size = ZSTD_getFrameContentSize(blob.data() + 5, blob.size() - 5);
  if (size > kMaxBytes)  // also ZSTD_CONTENTSIZE_UNKNOWN / _ERROR (the largest values)
    throw ReadError(where + ": not a valid table blob (zstd frame without a size below 256 MiB)");
  std::string data(static_cast<std::size_t>(size), '\0');
  const std::size_t got = ZSTD_decompress(data.data(), data.size(), blob.data() + 5, blob.size() - 5);
  if (ZSTD_isError(got) || got != size) throw ReadError(where + ": not a valid table blob (zstd stream does not decode)");
  Cursor c{data, 0, where};
  const std::uint32_t lh = c.u32(), m = c.u32();
  const json info = parse_json(std::string(c.take(lh), lh), where + ": header");
  sparse::Tables t;
  try {
    if (info.value("layout", std::string("columns")) != "clusters")
      throw ReadError(where + ": sparse stream tables of layout '" + info.value("layout", std::string("columns")) +
                      "': the C++ reader decodes the cluster layout only");
    t.n_cols = info.at("n_cols").get<std::int64_t>();
    t.n_rows = info.at("n_rows").get<std::int64_t>();
    t.value_alphabet = info.at("value_alphabet").get<std::int64_t>();
    t.n_classes = info.at("n_classes").get<std::int64_t>();
    if (kind) *kind = info.value("kind", std::string());
  } catch (const json::exception& err) {
    throw ReadError(where + ": not a valid table blob (" + err.what() + ")");
  }
  t.keys.resize(m);
  std::memcpy(t.keys.data(), c.take(8 * static_cast<std::size_t>(m)), 8 * static_cast<std::size_t>(m));
  const char* cls = c.take(m);
  for (std::uint32_t i = 0; i < m; ++i) t.classes.push_back(static_cast<unsigned char>(cls[i]));
  try {
    for (int s = 0; s < sparse::kNumStreams; ++s) {
      const std::uint32_t lt = c.u32();
      const char* p = c.take(lt);
      t.streams.push_back(rans::Tables::from_bytes(reinterpret_cast<const std::uint8_t*>(p), lt));
    }
    const std::uint32_t lb = c.u32();
    const char* p = c.take(lb);
    t.book = sparse::ShapeBook::from_bytes(reinterpret_cast<const std::uint8_t*>(p), lb);
    if (c.pos != data.size())
      throw ReadError(where + ": not a valid table blob (" + std::to_string(data.size() - c.pos) + " trailing bytes)");
    t.check();
  } catch (const DataError& err) {
    throw ReadError(where + ": not a valid table blob (" + err.what() + ")");
  }
  return t;
}

}  // namespace detail
}  // namespace hepvq
