// rANS entropy coder of the codec core (issue 14, the foundation of pixel_vq format 2).
//
// 64-bit state, 32-bit renormalisation (L = 2^31, state in [L, 2^63)), frequencies normalised to a total of
// 2^scale_bits (scale_bits <= 24). Static tables, one per context id, fitted from training symbols; every
// table entry has frequency >= 1. Symbols >= `direct` (when direct < alphabet) are coded as an escape entry
// followed by (symbol - direct) in raw bits (uniform 16-bit rANS steps). Optional adaptation within a stream:
// every `adapt_period` symbols of a context, its table is rebuilt from
//   weight[e] = static_freq[e] * adapt_strength + count_in_this_stream[e] * 2^scale_bits,
// i.e. the probability (strength * p_static + counts) / (strength + n), identically in encoder and decoder.
//
// A stream of n symbols is one byte blob: 8 bytes of final encoder state (little endian) followed by the
// 32-bit renormalisation words (little endian); n = 0 gives an empty blob. Decoding checks every bound: a blob
// that is too short, too long, of a length that is not 8 + 4k, or whose final state is not the encoder's
// initial state throws DataError; it never reads outside the blob and runs exactly n steps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hepvq/stream.hpp"

namespace hepvq {
namespace rans {

struct Tables {
  std::uint32_t alphabet = 1;      // symbols in [0, alphabet), alphabet <= 2^31
  std::uint32_t direct = 1;        // symbols < direct have their own entry; the rest are escapes
  std::uint32_t scale_bits = 15;   // every context's frequencies sum to 2^scale_bits
  std::uint32_t n_contexts = 1;
  std::uint32_t adapt_period = 0;  // 0: static tables
  std::uint32_t adapt_strength = 0;
  std::vector<std::uint32_t> freq;  // n_contexts x entries()

  // derived (finalize())
  std::vector<std::uint32_t> cum;  // n_contexts x (entries() + 1)

  bool has_escape() const { return direct < alphabet; }
  std::uint32_t entries() const { return direct + (has_escape() ? 1u : 0u); }
  // raw bits of an escaped value (symbol - direct in [0, alphabet - direct))
  std::uint32_t escape_bits() const;
  // checks every field (throws DataError naming the problem) and computes cum
  void finalize();

  std::string to_bytes() const;
  static Tables from_bytes(const std::uint8_t* data, std::size_t len);
};

// Integer, deterministic normalisation of weights w[0..k) to frequencies >= 1 summing to 2^scale_bits
// (all-zero weights give a uniform table). k <= 2^scale_bits.
void normalize(const std::uint64_t* w, std::size_t k, std::uint32_t scale_bits, std::uint32_t* freq);

// Fits tables from training symbols (contexts may be null: one context). direct = 0 picks
// min(alphabet, max symbol + 1, 65536); scale_bits = 0 picks clamp(ceil(log2(entries)) + 8, 15, 24).
// Contexts without training symbols get the table of all contexts together.
Tables fit(const std::uint32_t* sym, const std::uint32_t* ctx, std::size_t n, std::uint32_t alphabet,
           std::uint32_t n_contexts, std::uint32_t direct, std::uint32_t scale_bits, std::uint32_t adapt_period,
           std::uint32_t adapt_strength);

std::vector<std::uint8_t> encode(const std::uint32_t* sym, const std::uint32_t* ctx, std::size_t n,
                                 const Tables& t);
void decode(const std::uint8_t* data, std::size_t len, std::size_t n, const std::uint32_t* ctx, const Tables& t,
            std::uint32_t* out);
// decode() for many blobs of one static table set: a coarse slot -> entry index per context (built once,
// n_contexts x (2^bits + 1) entries) narrows the search of the cumulative table. Same symbols and errors as
// decode(); adaptive tables and tables of more than 65536 entries fall back to decode(). `t` must outlive it.
class StaticDecoder {
 public:
  // One blob to decode: n symbols with contexts ctx (null: context 0) into out.
  struct Blob {
    const std::uint8_t* data;
    std::size_t len, n;
    const std::uint32_t* ctx;
    std::uint32_t* out;
  };
  explicit StaticDecoder(const Tables& t);
  void decode(const std::uint8_t* data, std::size_t len, std::size_t n, const std::uint32_t* ctx,
              std::uint32_t* out) const;
  // Blobs a and b of these tables at once, their symbols alternating (two independent state chains in flight).
  // Same symbols as decode() of each; a damaged blob throws, though not necessarily decode()'s error for it
  // (decode them one by one for that).
  void decode_pair(const Blob& a, const Blob& b) const;

 private:
  const Tables& t_;
  std::uint32_t k_, bits_ = 0;
  // per context: the entry holding slot b << (scale_bits - bits) for each bucket b, then k - 1; bytes when k <= 256
  std::vector<std::uint8_t> lut8_;
  std::vector<std::uint16_t> lut16_;
};
// Many events at once, one blob per event: event e holds symbols [sym_offsets[e], sym_offsets[e + 1]) (offsets of
// n_events + 1 entries rising from 0); the blobs are concatenated into `bytes` with byte_offsets (n_events + 1).
// Events run on `threads` threads; the bytes equal those of encode() per event. Errors name the event.
void encode_events(const std::uint32_t* sym, const std::uint32_t* ctx, const std::int64_t* sym_offsets,
                   std::size_t n_events, const Tables& t, int threads, std::vector<std::uint8_t>& bytes,
                   std::vector<std::int64_t>& byte_offsets);
void decode_events(const std::uint8_t* data, std::size_t len, const std::int64_t* byte_offsets,
                   const std::int64_t* sym_offsets, std::size_t n_events, const std::uint32_t* ctx, const Tables& t,
                   int threads, std::uint32_t* out);
// Ideal code length in bits of the symbols under the model the coder uses (static or adaptive):
// sum of log2(2^scale_bits / freq) plus the escapes' raw bits.
double code_length_bits(const std::uint32_t* sym, const std::uint32_t* ctx, std::size_t n, const Tables& t);

}  // namespace rans
}  // namespace hepvq
