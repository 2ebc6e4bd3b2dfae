// Internals of the C++ reader: typed TTree columns, the products of one codec label, the decoder interface.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hepvq/pixel_vq.hpp"
#include "hepvq/reader.hpp"

// zstd as ROOT's libCore bundles and exports it (no zstd headers or library of our own): the three functions the
// reader's codecs use, declared once here
extern "C" {
unsigned long long ZSTD_getFrameContentSize(const void* src, std::size_t src_size);
std::size_t ZSTD_decompress(void* dst, std::size_t dst_capacity, const void* src, std::size_t src_size);
unsigned ZSTD_isError(std::size_t code);
}

class TTree;
class TBranch;
class TLeaf;

namespace hepvq {
namespace detail {

// One integer branch of the Events tree: a scalar per entry, or an array whose length is its counter
// leaf (the layout uproot writes: `nX` + `X_field[nX]`).  Values are kept as the raw little-endian bytes
// of the written type (the per-event checksum is computed over them) and read widened to int64.
class Column {
 public:
  Column(TTree* tree, const std::string& branch, const std::string& where);
  void read(std::int64_t entry);
  const std::string& name() const { return name_; }
  bool jagged() const { return count_ != nullptr; }
  std::size_t size() const { return n_; }
  int elemSize() const { return elem_; }
  bool isSigned() const { return signed_; }
  const unsigned char* raw() const { return buf_.data(); }
  std::int64_t at(std::size_t i) const;
  void toInt64(std::vector<std::int64_t>& out) const;
  // type name of the leaf (ROOT's, e.g. UShort_t) for messages
  const std::string& typeName() const { return type_; }

 private:
  std::string name_, where_, type_;
  TBranch* branch_ = nullptr;
  TLeaf* leaf_ = nullptr;
  TLeaf* count_ = nullptr;
  int elem_ = 0;
  bool signed_ = false;
  std::size_t n_ = 0;
  std::vector<unsigned char> buf_;
};

// {field: column} of one product (instance) of a codec label; field "" is a product that is one branch.
using Product = std::map<std::string, Column*>;
// {instance: product} of one codec label, as hepvq's Codec.decode receives it.
using Products = std::map<std::string, Product>;

// A codec's decoder for one collection: products of one entry -> hits in the input schema.
class CollectionDecoder {
 public:
  virtual ~CollectionDecoder() = default;
  virtual void decode(const Products& products, Event& out) = 0;
  virtual std::string method() const { return "core"; }
};

// Blobs of one codec label (key without the "<label>/" prefix -> bytes).
using Blobs = std::map<std::string, std::string>;

// pixel_vq format-2 products of one event (hepvq/pixel/format2.py; codec_pixel_vq_f2.cpp)
struct PixelVQF2Symbols {
  std::int64_t nmod = 0, ncl = 0, npatch = 0;               // the main product
  std::vector<std::int64_t> fardet;                          // detIds missing from the tables
  std::vector<std::vector<std::uint8_t>> streams;            // one rANS blob per stream (format2.stream_names)
};

// pixel_vq symbols of one event (what the index branches hold, widened to int64)
struct PixelVQSymbols {
  std::vector<std::int64_t> shape, dcol, row, charge, ddet, npatch, escapes, farcols, dhit, dadc;
  std::vector<std::vector<std::int64_t>> codes;  // per stage
  bool has_corrections = false;
  PixelVQF2Symbols f2;  // format 2 (the format-1 fields above stay empty, except the corrections)
};

// The pixel_vq codec set up from its blobs (settings JSON + decoder.onnx): symbols -> hits through the core.
// Shared by the reader and the encoder (which decodes what it wrote to compute the ADC corrections).
class PixelVQCodecCore {
 public:
  virtual ~PixelVQCodecCore() = default;
  virtual PixelHits decodeSymbols(const PixelVQSymbols& symbols) = 0;
  // several events at once (hits concatenated, counts per event), events on `threads` threads
  virtual PixelHits decodeChunk(const std::vector<PixelVQSymbols>& events, int threads) = 0;
  // the symbols of one entry from its branches
  virtual void symbolsOf(const Products& products, PixelVQSymbols& out) const = 0;
  virtual const PixelVQModel& model() const = 0;
  virtual int adcErrorBound() const = 0;
  virtual std::int64_t codebookSize() const = 0;
};

std::unique_ptr<PixelVQCodecCore> makePixelVQCore(const Blobs& blobs, const ReaderOptions& options,
                                                  const std::string& where);
std::unique_ptr<CollectionDecoder> makePixelVQ(const Blobs& blobs, const ReaderOptions& options,
                                               const std::string& where);
std::unique_ptr<CollectionDecoder> makePixelSparse(const Blobs& blobs, const std::string& where);
// hepvq.baselines.sparse.decompress_stream: one self-contained stream (method byte raw / zstd / LZMA2, sizes,
// payload), as other codecs store them (tpc_inr format 1's residuals); ReadError naming `where`
std::string decompress_stream(const unsigned char* p, std::size_t n, const std::string& where);
std::unique_ptr<CollectionDecoder> makeTpcInr(const Blobs& blobs, const ReaderOptions& options, const std::string& where);

// The jagged values of `field` of product `instance` widened to int64 (DataError-style ReadError naming
// the field when it is absent).
const Column& field(const Products& products, const std::string& instance, const std::string& field,
                    const std::string& where);

}  // namespace detail
}  // namespace hepvq
