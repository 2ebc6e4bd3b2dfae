// hepvq C++ reader: open a hepvq output file, verify its metadata, decode every entry back to the input
// schema as plain vectors.  What hepvq.open does in Python, for C++ frameworks (CMSSW premixing, Fun4All)
// and ROOT macros.  docs/cpp.md has the API, the tools and a CMSSW producer sketch.
//
//   hepvq::Reader r("premix_compressed.root");     // provenance read, blobs sha256-verified, codecs set up
//   hepvq::Event ev;
//   for (std::int64_t i = 0; i < r.entries(); ++i) {
//     r.read(i, ev);                                // ev.pixel.detId/row/col/adc, ev.run/luminosityBlock/event
//   }
//
// Every failure throws hepvq::ReadError with one line naming the file and the tree, branch, blob, codec or
// entry.  Collections written without a codec pass through; a codec this build cannot decode is refused
// when the file is opened (never read as a file without those hits).  The header needs no ROOT and no
// onnxruntime headers (pimpl), so ROOT's interpreter can include it.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace hepvq {

struct ReadError : std::runtime_error {
  explicit ReadError(const std::string& what) : std::runtime_error(what) {}
};

// CMS pixel DIGIs of one event, canonical order (detId, row, col) for decoded collections.
struct PixelDigis {
  std::vector<std::uint32_t> detId;
  std::vector<std::uint16_t> row, col, adc;
  std::size_t size() const { return detId.size(); }
  void clear() { detId.clear(); row.clear(); col.clear(); adc.clear(); }
};

// sPHENIX-like TPC hits of one event.
struct TpcHits {
  std::vector<std::uint16_t> sector, layer, phi, z, adc;
  std::size_t size() const { return sector.size(); }
  void clear() { sector.clear(); layer.clear(); phi.clear(); z.clear(); adc.clear(); }
};

struct Event {
  std::int64_t entry = -1;
  std::uint32_t run = 0, luminosityBlock = 0;
  std::uint64_t event = 0;
  PixelDigis pixel;  // filled when Reader::hasPixel()
  TpcHits tpc;       // filled when Reader::hasTpc()
};

struct ReaderOptions {
  std::string tree = "Events";
  // onnxruntime for the codecs' decoder graphs: threads of one session (0: onnxruntime's default) and
  // whether to use the CUDA provider when this onnxruntime has it ("auto"), never ("cpu") or must ("cuda").
  int intraOpThreads = 0;
  std::string provider = "auto";
  // pixel_vq fractions: "auto" lets the core compute them from a VQ decoder's codebooks when it matches
  // onnxruntime bit for bit on random patches (checked when the file is opened), "onnx" always runs the graph
  std::string fractions = "auto";
  // pixel_vq entries are decoded in chunks of `chunkEntries` consecutive entries (read ahead from the entry
  // asked for), the chunk's events on `threads` threads of the core; 1: entry by entry
  int chunkEntries = 16;
  int threads = 1;
  // check the per-event CRC-32 of the encoded products where the file has one (<label>_crc)
  bool verifyChecksums = true;
};

// How a collection of the file is obtained.
struct CollectionInfo {
  std::string name;    // PixelDigi or TpcHit
  std::string codec;   // pixel_vq, pixel_sparse, ... or "" (stored plainly, passed through)
  std::string label;   // the encoder label (branch prefix of its products), or the plain branch prefix
  std::string method;  // how it is decoded, e.g. "core (codebooks)" or "onnxruntime (CPUExecutionProvider)"
};

class Reader {
 public:
  explicit Reader(const std::string& path, const ReaderOptions& options = ReaderOptions());
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const std::string& path() const;
  std::int64_t entries() const;
  bool hasPixel() const;
  bool hasTpc() const;
  const std::vector<CollectionInfo>& collections() const;
  // the file's provenance (JSON text of the TObjString hepvq_provenance; "" for a plain file)
  const std::string& provenanceJson() const;
  // metadata blobs (key -> bytes), each already checked against the sha256 in the provenance
  std::vector<std::string> blobKeys() const;
  const std::string& blob(const std::string& key) const;

  // Decodes entry `entry` into `out` (vectors reused between calls).  Throws ReadError.
  void read(std::int64_t entry, Event& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of bytes as lowercase hex (what the provenance records).
std::string sha256Hex(const std::string& bytes);

}  // namespace hepvq
