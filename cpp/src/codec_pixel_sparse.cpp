// pixel_sparse: one blob per event (uint8 jagged branch `<label>_blob`) -> hits.
// Format 1 ("HVS\x01"): the blob layout is documented in hepvq/baselines/sparse.py (decode_sparse is mirrored
// step by step); streams are raw, zstd (ZSTD_decompress, exported by ROOT's libCore, which bundles zstd) or raw
// LZMA2 (liblzma).  Format 2 ("HVS\x02"): rANS streams of the cluster layout (hepvq.baselines.sparse_streams),
// decoded by the core (sparse::decode_event, the function Python's decode calls) with the file's `tables`.
// ADC = clip(rint(bin centre), adc_min, adc_max), hits in canonical order.
#include <lzma.h>

#include <cmath>
#include <cstring>

#include "hepvq/pixel_vq.hpp"  // canonical_order, PixelHits
#include "internal.hpp"
#include "hepvq/sha256.hpp"
#include "hepvq/sparse_streams.hpp"
#include "json_util.hpp"
#include "sparse_tables.hpp"

namespace hepvq {
namespace detail {

namespace {

enum { kRaw = 0, kZstd = 1, kLzma = 2 };
enum { kQuantLinear = 0, kQuantLog = 1, kLosslessInt = 2, kLosslessFloat = 3, kNone = 4 };
enum { kOffset = 0, kDict = 1 };
enum { kGamma = 0, kPlanes = 1 };

struct BlobReader {
  const unsigned char* p;
  std::size_t n, pos = 0;
  std::string where;

  [[noreturn]] void fail(const std::string& what) const { throw ReadError(where + ": " + what); }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (pos >= n) fail("truncated sparse blob");
      if (shift > 63) fail("corrupt sparse blob (varint longer than 64 bits)");
      const unsigned char b = p[pos++];
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  const unsigned char* take(std::size_t k) {
    if (k > n - pos) fail("truncated sparse blob");
    const unsigned char* out = p + pos;
    pos += k;
    return out;
  }
  std::string string() {
    const auto k = varint();
    const auto* s = take(k);
    return std::string(reinterpret_cast<const char*>(s), k);
  }
  double dbl() {
    double d;
    std::memcpy(&d, take(8), 8);
    return d;
  }
  std::string stream() {
    const unsigned method = *take(1);
    const auto raw_len = varint();
    const auto len = varint();
    const unsigned char* payload = take(len);
    if (raw_len > (1ULL << 34)) fail("corrupt sparse blob (stream of " + std::to_string(raw_len) + " bytes)");
    std::string out(raw_len, '\0');
    if (method == kRaw) {
      if (len != raw_len) fail("corrupt sparse blob: stream length mismatch");
      std::memcpy(out.data(), payload, len);
    } else if (method == kZstd) {
      const std::size_t got = ZSTD_decompress(out.data(), std::max<std::size_t>(raw_len, 1), payload, len);
      if (ZSTD_isError(got) || got != raw_len) fail("corrupt sparse blob: zstd stream does not decode");
    } else if (method == kLzma) {
      if (len < 1) fail("corrupt sparse blob: empty LZMA stream");
      lzma_options_lzma opt;
      lzma_lzma_preset(&opt, 9);
      opt.dict_size = 1u << std::min<unsigned>(payload[0], 30);
      lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
      std::size_t in_pos = 0, out_pos = 0;
      const lzma_ret r = lzma_raw_buffer_decode(filters, nullptr, payload + 1, &in_pos, len - 1,
                                                reinterpret_cast<std::uint8_t*>(out.data()), &out_pos, raw_len);
      if ((r != LZMA_OK && r != LZMA_STREAM_END) || out_pos != raw_len)
        fail("corrupt sparse blob: LZMA stream does not decode");
    } else {
      fail("unknown stream method " + std::to_string(method) + " in sparse blob");
    }
    return out;
  }

  // _decode_unsigned: Elias-gamma split (bit lengths + packed mantissas) or byte planes
  std::vector<std::uint64_t> unsigned_values(std::size_t count) {
    const unsigned kind = *take(1);
    std::vector<std::uint64_t> out(count, 0);
    if (kind == kGamma) {
      const std::string nb = stream();
      const std::string mant = stream();
      if (nb.size() != count) fail("corrupt sparse blob: " + std::to_string(nb.size()) + " bit lengths for " +
                                   std::to_string(count) + " values");
      std::size_t bit = 0;
      const std::size_t total_bits = mant.size() * 8;
      for (std::size_t i = 0; i < count; ++i) {
        const unsigned b = static_cast<unsigned char>(nb[i]);
        if (b > 64) fail("corrupt sparse blob: bit length " + std::to_string(b));
        if (!b) continue;
        std::uint64_t v = 1;
        for (unsigned k = 1; k < b; ++k, ++bit) {
          if (bit >= total_bits) fail("corrupt sparse blob: mantissa stream too short");
          v = (v << 1) | ((static_cast<unsigned char>(mant[bit >> 3]) >> (7 - (bit & 7))) & 1);
        }
        out[i] = v;
      }
    } else if (kind == kPlanes) {
      const auto nbytes = varint();
      if (nbytes > 8) fail("corrupt sparse blob: " + std::to_string(nbytes) + " byte planes");
      for (std::uint64_t k = 0; k < nbytes; ++k) {
        const std::string plane = stream();
        if (plane.size() != count) fail("corrupt sparse blob: byte plane of the wrong length");
        for (std::size_t i = 0; i < count; ++i)
          out[i] |= static_cast<std::uint64_t>(static_cast<unsigned char>(plane[i])) << (8 * k);
      }
    } else {
      fail("unknown integer encoding " + std::to_string(kind) + " in sparse blob");
    }
    return out;
  }
};

std::int64_t unzigzag(std::uint64_t z) { return (z & 1) ? -static_cast<std::int64_t>((z + 1) >> 1) : static_cast<std::int64_t>(z >> 1); }

// sparse.dequantize (bin centre), then rint and clip as PixelSparseCodec.decode
std::uint16_t adc_of(std::uint64_t code, std::uint64_t bits, bool linear, double vmin, double vmax, int adc_min,
                     int adc_max) {
  const double t = (static_cast<double>(code) + 0.5) / static_cast<double>(1ULL << bits);
  const double v = linear ? vmin + t * (vmax - vmin) : vmin + std::expm1(t * std::log1p(vmax - vmin));
  return static_cast<std::uint16_t>(  // adc_min..adc_max, checked against 0..65535 when the settings are read
      std::min(std::max(std::nearbyint(v), static_cast<double>(adc_min)), static_cast<double>(adc_max)));
}

class PixelSparseDecoder : public CollectionDecoder {
 public:
  PixelSparseDecoder(const Blobs& blobs, const std::string& where) : where_(where) {
    auto s = blobs.find("settings");
    if (s == blobs.end())
      throw ReadError(where + ": compressed file lacks metadata 'settings' of the pixel_sparse codec");
    const json j = parse_json(s->second, where + ": metadata 'settings'");
    try {
      adc_min_ = j.at("adc_min").get<int>();
      adc_max_ = j.at("adc_max").get<int>();
      format_ = j.value("format", 1);
      if (format_ == 2) {
        adc_bits_ = j.at("adc_bits").get<int>();
        mode_ = j.at("mode").get<std::string>();
        tables_sha256_ = j.at("tables_sha256").get<std::string>();
      }
    } catch (const json::exception& err) {
      throw ReadError(where + ": metadata 'settings' is not what the pixel_sparse codec writes (" + err.what() + ")");
    }
    if (adc_min_ < 0 || adc_max_ > 0xFFFF || adc_min_ > adc_max_)
      throw ReadError(where + ": pixel_sparse settings: adc_min..adc_max " + std::to_string(adc_min_) + ".." +
                      std::to_string(adc_max_) + " outside the schema's uint16");
    if (format_ != 1 && format_ != 2)
      throw ReadError(where + ": pixel_sparse format " + std::to_string(format_) + " is not one this reader reads (1, 2)");
    if (format_ == 2) setupTables(blobs);
  }

  void decode(const Products& products, Event& out) override {
    const Column& blob = field(products, "", "blob", where_);
    if (blob.elemSize() != 1) throw ReadError(where_ + ": branch '" + blob.name() + "' must hold bytes (uint8)");
    BlobReader r{blob.raw(), blob.size(), 0, where_};
    if (blob.size() < 4 || std::memcmp(r.take(3), "HVS", 3) != 0) r.fail("not a hepvq sparse blob (bad magic)");
    const unsigned version = *r.take(1);
    if (version == 2) return decodeF2(blob, out);
    if (version != 1) r.fail("sparse blob version " + std::to_string(version) + " is not supported (reads 1)");
    const auto ndim = r.varint(), n = r.varint(), n_events = r.varint(), vmode = r.varint(), vbits = r.varint();
    if (ndim != 3 || n_events != 1) r.fail("a pixel_sparse blob holds one event of (detId, col, row) keys");
    if (n > (1ULL << 32)) r.fail("corrupt sparse blob (" + std::to_string(n) + " hits)");
    if (vbits < 1 || vbits > 16) r.fail("corrupt sparse blob (" + std::to_string(vbits) + " value bits)");
    const double vmin = r.dbl(), vmax = r.dbl();
    for (std::uint64_t i = 0; i < ndim; ++i) r.string();  // key dtypes: the schema's types are used
    r.string();
    struct Dim { std::uint64_t kind; std::int64_t a, b; };
    std::vector<Dim> dims(ndim);
    for (auto& d : dims) {
      d.kind = r.varint();
      if (d.kind == kDict) {
        d.a = static_cast<std::int64_t>(r.varint());
        d.b = unzigzag(r.varint());
      } else if (d.kind == kOffset) {
        d.a = unzigzag(r.varint());
        d.b = static_cast<std::int64_t>(r.varint());
      } else {
        r.fail("unknown key kind " + std::to_string(d.kind) + " in sparse blob");
      }
    }
    if (vmode != kQuantLinear && vmode != kQuantLog) r.fail("pixel_sparse blobs hold requantised ADC values");
    const auto counts = r.unsigned_values(n_events);
    if (counts[0] != n) r.fail("corrupt sparse blob: event count does not match the hits");
    std::vector<std::vector<std::int64_t>> dicts(ndim);
    for (std::size_t i = 0; i < ndim; ++i)
      if (dims[i].kind == kDict) {
        const auto d = r.unsigned_values(static_cast<std::size_t>(dims[i].a));
        std::int64_t acc = 0;
        for (std::size_t k = 0; k < d.size(); ++k) {
          acc += static_cast<std::int64_t>(d[k]) + (k == 0 ? dims[i].b : 0);
          dicts[i].push_back(acc);
        }
      }
    auto flat = r.unsigned_values(n);
    for (std::size_t i = 1; i < n; ++i) flat[i] += flat[i - 1];  // one event: a plain running sum (mod 2^64)
    std::vector<std::vector<std::int64_t>> keys(ndim, std::vector<std::int64_t>(n));
    for (std::size_t i = ndim; i-- > 0;) {
      const auto radix = static_cast<std::uint64_t>(std::max<std::int64_t>(dims[i].kind == kDict ? dims[i].a : dims[i].b, 1));
      for (std::size_t h = 0; h < n; ++h) {
        const std::uint64_t idx = flat[h] % radix;
        flat[h] /= radix;
        if (dims[i].kind == kDict) {
          if (idx >= dicts[i].size()) r.fail("corrupt sparse blob: dictionary index out of range");
          keys[i][h] = dicts[i][idx];
        } else {
          keys[i][h] = static_cast<std::int64_t>(idx) + dims[i].a;
        }
      }
    }
    const int cbytes = vbits <= 8 ? 1 : 2;
    std::vector<std::uint64_t> codes(n, 0);
    for (int k = 0; k < cbytes; ++k) {
      const std::string plane = r.stream();
      if (plane.size() != n) r.fail("corrupt sparse blob: value plane of the wrong length");
      for (std::size_t h = 0; h < n; ++h)
        codes[h] |= static_cast<std::uint64_t>(static_cast<unsigned char>(plane[h])) << (8 * k);
    }
    PixelHits hits;
    hits.counts = {static_cast<std::int64_t>(n)};
    hits.det.resize(n);
    hits.row.resize(n);
    hits.col.resize(n);
    hits.adc.resize(n);
    for (std::size_t h = 0; h < n; ++h) {
      const std::int64_t det = keys[0][h], col = keys[1][h], row = keys[2][h];
      if (det < 0 || det > 0xFFFFFFFFLL || col < 0 || col > 0xFFFF || row < 0 || row > 0xFFFF)
        r.fail("corrupt sparse blob: decoded position outside the schema's types");
      hits.det[h] = static_cast<std::uint32_t>(det);
      hits.col[h] = static_cast<std::uint16_t>(col);
      hits.row[h] = static_cast<std::uint16_t>(row);
      hits.adc[h] = adc_of(codes[h], vbits, vmode == kQuantLinear, vmin, vmax, adc_min_, adc_max_);
    }
    canonical_order(hits, {0, static_cast<std::int64_t>(n)}, 0, 1);
    out.pixel.detId.swap(hits.det);
    out.pixel.row.swap(hits.row);
    out.pixel.col.swap(hits.col);
    out.pixel.adc.swap(hits.adc);
  }

 private:
  // PixelSparseCodec.from_metadata / __init__ for format 2: the tables blob, its sha256 in the settings, and
  // tables that code this ADC setting on planes as large as a module
  void setupTables(const Blobs& blobs) {
    auto t = blobs.find("tables");
    if (t == blobs.end())
      throw ReadError(where_ + ": compressed file lacks metadata 'tables' of the pixel_sparse codec (format 2)");
    if (sha256_hex(t->second.data(), t->second.size()) != tables_sha256_)
      throw ReadError(where_ + ": metadata 'tables' of the pixel_sparse codec does not match the sha256 in its "
                               "settings: the tables are damaged or belong to another file");
    if (adc_bits_ < 1 || adc_bits_ > 16 || (mode_ != "log" && mode_ != "linear"))
      throw ReadError(where_ + ": pixel_sparse settings: adc_bits " + std::to_string(adc_bits_) + ", mode '" + mode_ +
                      "' (expected 1..16, log or linear)");
    tables_ = read_sparse_tables(t->second, where_ + ": metadata 'tables'");
    if (tables_.value_alphabet != (1LL << adc_bits_) || tables_.n_cols < 416 || tables_.n_rows < 160)
      throw ReadError(where_ + ": pixel_sparse format 2: the tables code " + std::to_string(tables_.value_alphabet) +
                      " ADC codes on " + std::to_string(tables_.n_cols) + " x " + std::to_string(tables_.n_rows) +
                      " planes, the codec needs " + std::to_string(1LL << adc_bits_) + " (adc_bits=" +
                      std::to_string(adc_bits_) + "): fit tables for this setting");
    has_tables_ = true;
  }

  // one "HVS\x02" blob: the core's cluster-layout decode, then the ADC codes' bin centres
  void decodeF2(const Column& blob, Event& out) {
    if (!has_tables_)
      throw ReadError(where_ + ": a format-2 blob but the codec has no tables (settings say format 1): the file is "
                               "damaged");
    sparse::Hits h;
    try {
      sparse::decode_event(blob.raw() + 4, blob.size() - 4, tables_, true, "pixel_sparse blob", h);
    } catch (const DataError& err) {
      throw ReadError(where_ + ": " + err.what());
    }
    const std::size_t n = h.col.size();
    PixelHits hits;
    hits.counts = {static_cast<std::int64_t>(n)};
    hits.det.resize(n);
    hits.row.resize(n);
    hits.col.resize(n);
    hits.adc.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t det = h.plane_key[i], col = h.col[i], row = h.row[i];
      if (det < 0 || det > 0xFFFFFFFFLL || col < 0 || col > 0xFFFF || row < 0 || row > 0xFFFF)
        throw ReadError(where_ + ": pixel_sparse blob: decoded position outside the schema's types");
      hits.det[i] = static_cast<std::uint32_t>(det);
      hits.col[i] = static_cast<std::uint16_t>(col);
      hits.row[i] = static_cast<std::uint16_t>(row);
      hits.adc[i] = adc_of(static_cast<std::uint64_t>(h.value[i]), static_cast<std::uint64_t>(adc_bits_),
                           mode_ == "linear", adc_min_, adc_max_, adc_min_, adc_max_);
    }
    canonical_order(hits, {0, static_cast<std::int64_t>(n)}, 0, 1);
    out.pixel.detId.swap(hits.det);
    out.pixel.row.swap(hits.row);
    out.pixel.col.swap(hits.col);
    out.pixel.adc.swap(hits.adc);
  }

  std::string where_;
  int adc_min_ = 1, adc_max_ = 255, format_ = 1, adc_bits_ = 0;
  std::string mode_, tables_sha256_;
  sparse::Tables tables_;
  bool has_tables_ = false;
};

}  // namespace

std::string decompress_stream(const unsigned char* p, std::size_t n, const std::string& where) {
  BlobReader r{p, n, 0, where};
  std::string out = r.stream();
  if (r.pos != n) r.fail("corrupt stream: trailing bytes");
  return out;
}

std::unique_ptr<CollectionDecoder> makePixelSparse(const Blobs& blobs, const std::string& where) {
  return std::make_unique<PixelSparseDecoder>(blobs, where);
}

}  // namespace detail
}  // namespace hepvq
