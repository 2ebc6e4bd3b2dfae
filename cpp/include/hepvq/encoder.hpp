// hepvq C++ encoder: pixel DIGIs of one event -> the index products PixelDigiVQEncoder (Python) writes for the
// same model and settings, plus the metadata blobs a hepvq file carries, so that hepvq.open decodes a file a
// C++ job wrote.  Positions are always lossless (losslessPositions=True); code indices come from the model's
// encoder.onnx through onnxruntime (the graph Python's search equals); adcErrorBound >= 0 adds corrections.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hepvq/reader.hpp"

namespace hepvq {

struct EncoderOptions {
  int adcErrorBound = -1;  // >= 0: every decoded ADC within this of the input (0: lossless)
  // false (the cfg's losslessPositions=False): a patch whose mask is not in the shape table is coded as the
  // largest table shape inside it (its other hits dropped), escaped only when none fits; no ADC bound then
  bool losslessPositions = true;
  std::string provider = "auto";
  int intraOpThreads = 0;
  // 2: pixel_vq format 2 (per-event rANS streams, hepvq/pixel/format2.py) at the operating point's tables
  // (format2_<point>.tables of the model directory); 1: format 1's integer index branches
  int format = 2;
  std::string operatingPoint = "default";
};

// One field of a product: instance ("" main, "modules", "codes", ...), field name, ROOT leaf type code
// (b: uint8, s: uint16, i: uint32, l: uint64, S: int16), its type name in hepvq's provenance ("uint8") and the
// values of the current event.
struct EncodedField {
  std::string instance, field;
  char leaf = 'i';
  std::string type;
  std::vector<std::int64_t> values;
  // how the product is stored: "jagged_record" (branch <prefix>_<field>[n<prefix>]), "record" (one value per
  // event: branch <prefix>_<field>), "jagged" (field "": branch <prefix>[n<prefix>]) -- hepvq's product kinds
  std::string kind = "jagged_record";
};

class PixelVQEncoder {
 public:
  explicit PixelVQEncoder(const std::string& modelDir, const EncoderOptions& options = EncoderOptions());
  ~PixelVQEncoder();
  PixelVQEncoder(const PixelVQEncoder&) = delete;
  PixelVQEncoder& operator=(const PixelVQEncoder&) = delete;

  // Encodes one event (entry: for messages).  Every product instance keeps its place in the returned list
  // (instances and fields in sorted order, the order of the per-event checksum), empty when the event has none.
  const std::vector<EncodedField>& encode(const PixelDigis& hits, std::int64_t entry);
  // CRC-32 of the last encoded event's products (hepvq/codecs/guard.py event_checksums)
  std::uint32_t checksum() const;
  // blobs to store as "<label>/<key>": settings (codec.json with "encoding"), decoder.onnx
  std::vector<std::pair<std::string, std::string>> metadata() const;
  const std::string& onnxProvider() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hepvq
