#include "hepvq/rans.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "hepvq/parallel.hpp"

namespace hepvq {
namespace rans {

namespace {

constexpr std::uint64_t kL = 1ull << 31;  // lower bound of the normalised state
constexpr std::uint32_t kMaxScale = 24;
constexpr std::uint64_t kMaxTableEntries = 1ull << 24;  // n_contexts * entries
constexpr std::uint32_t kRawChunk = 16;

std::uint32_t ceil_log2(std::uint64_t v) {
  std::uint32_t b = 0;
  while ((1ull << b) < v) ++b;
  return b;
}

// The probability model shared by encoder and decoder: static tables, or per-context copies rebuilt every
// adapt_period symbols of that context.
class Model {
 public:
  explicit Model(const Tables& t) : t_(t), k_(t.entries()), adaptive_(t.adapt_period > 0) {
    if (adaptive_) {
      freq_ = t.freq;
      cum_ = t.cum;
      cnt_.assign(static_cast<std::size_t>(t.n_contexts) * k_, 0);
      seen_.assign(t.n_contexts, 0);
      w_.resize(k_);
    }
  }
  const std::uint32_t* freq(std::uint32_t c) const {
    return (adaptive_ ? freq_.data() : t_.freq.data()) + static_cast<std::size_t>(c) * k_;
  }
  const std::uint32_t* cum(std::uint32_t c) const {
    return (adaptive_ ? cum_.data() : t_.cum.data()) + static_cast<std::size_t>(c) * (k_ + 1);
  }
  void update(std::uint32_t c, std::uint32_t e) {
    if (!adaptive_) return;
    const std::size_t base = static_cast<std::size_t>(c) * k_;
    ++cnt_[base + e];
    if (++seen_[c] % t_.adapt_period) return;
    const std::uint64_t total = 1ull << t_.scale_bits;
    for (std::uint32_t i = 0; i < k_; ++i)
      w_[i] = static_cast<std::uint64_t>(t_.freq[base + i]) * t_.adapt_strength + cnt_[base + i] * total;
    normalize(w_.data(), k_, t_.scale_bits, freq_.data() + base);
    std::uint32_t* cu = cum_.data() + static_cast<std::size_t>(c) * (k_ + 1);
    cu[0] = 0;
    for (std::uint32_t i = 0; i < k_; ++i) cu[i + 1] = cu[i] + freq_[base + i];
  }
  std::uint32_t entries() const { return k_; }

 private:
  const Tables& t_;
  std::uint32_t k_;
  bool adaptive_;
  std::vector<std::uint32_t> freq_, cum_;
  std::vector<std::uint64_t> cnt_, w_;
  std::vector<std::uint64_t> seen_;
};

[[noreturn]] __attribute__((noinline, cold)) void bad_context(std::uint32_t c, std::size_t i, const Tables& t,
                                                                const char* who) {
  throw std::invalid_argument(std::string(who) + ": context " + std::to_string(c) + " at index " + std::to_string(i) +
                              " beyond the tables' " + std::to_string(t.n_contexts) + " contexts");
}

inline std::uint32_t context_of(const std::uint32_t* ctx, std::size_t i, const Tables& t, const char* who) {
  if (!ctx) return 0;
  const std::uint32_t c = ctx[i];
  if (__builtin_expect(c >= t.n_contexts, 0)) bad_context(c, i, t, who);
  return c;
}

[[noreturn]] __attribute__((noinline, cold)) void bad_symbol(std::uint32_t s, std::size_t i, const Tables& t,
                                                             const char* who) {
  throw std::invalid_argument(std::string(who) + ": symbol " + std::to_string(s) + " at index " + std::to_string(i) +
                              " outside the alphabet [0, " + std::to_string(t.alphabet) + ")");
}

inline void check_symbol(std::uint32_t s, std::size_t i, const Tables& t, const char* who) {
  if (__builtin_expect(s >= t.alphabet, 0)) bad_symbol(s, i, t, who);
}

struct Op {
  std::uint32_t start, freq, scale;
};

void put_u32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_varint(std::string& s, std::uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}

}  // namespace

std::uint32_t Tables::escape_bits() const { return has_escape() ? ceil_log2(alphabet - direct) : 0; }

void Tables::finalize() {
  auto bad = [](const std::string& m) { throw DataError("rans tables: " + m); };
  if (alphabet < 1 || alphabet > (1u << 31)) bad("alphabet " + std::to_string(alphabet) + " not in [1, 2^31]");
  if (direct < 1 || direct > alphabet) bad("direct " + std::to_string(direct) + " not in [1, alphabet]");
  if (direct >= (1u << kMaxScale)) bad("direct " + std::to_string(direct) + " not below 2^24");
  if (scale_bits < 1 || scale_bits > kMaxScale) bad("scale_bits " + std::to_string(scale_bits) + " not in [1, 24]");
  const std::uint64_t k = entries(), total = 1ull << scale_bits;
  if (k > total) bad(std::to_string(k) + " entries do not fit a total of 2^" + std::to_string(scale_bits));
  if (n_contexts < 1) bad("no contexts");
  if (static_cast<std::uint64_t>(n_contexts) * k > kMaxTableEntries)
    bad(std::to_string(n_contexts) + " contexts x " + std::to_string(k) + " entries exceed 2^24 table entries");
  if (freq.size() != static_cast<std::size_t>(n_contexts) * k)
    bad(std::to_string(freq.size()) + " frequencies, expected " + std::to_string(n_contexts * k));
  cum.assign(static_cast<std::size_t>(n_contexts) * (k + 1), 0);
  for (std::uint32_t c = 0; c < n_contexts; ++c) {
    std::uint64_t s = 0;
    std::uint32_t* cu = cum.data() + c * (k + 1);
    for (std::uint64_t e = 0; e < k; ++e) {
      const std::uint32_t f = freq[c * k + e];
      if (f == 0) bad("context " + std::to_string(c) + " entry " + std::to_string(e) + " has frequency 0");
      cu[e] = static_cast<std::uint32_t>(s);
      s += f;
      if (s > total) break;
    }
    if (s != total)
      bad("context " + std::to_string(c) + " frequencies do not sum to 2^" + std::to_string(scale_bits));
    cu[k] = static_cast<std::uint32_t>(total);
  }
}

std::string Tables::to_bytes() const {
  std::string s = "HRNS";
  s.push_back(1);  // version
  for (std::uint32_t v : {alphabet, direct, scale_bits, n_contexts, adapt_period, adapt_strength}) put_u32(s, v);
  for (std::uint32_t f : freq) put_varint(s, f);
  return s;
}

Tables Tables::from_bytes(const std::uint8_t* data, std::size_t len) {
  if (len < 29 || std::string(reinterpret_cast<const char*>(data), 4) != "HRNS")
    throw DataError("rans tables: not a table blob (too short or no 'HRNS' magic)");
  if (data[4] != 1) throw DataError("rans tables: unknown version " + std::to_string(data[4]));
  std::uint32_t f[6];
  for (int j = 0; j < 6; ++j) {
    f[j] = 0;
    for (int i = 0; i < 4; ++i) f[j] |= static_cast<std::uint32_t>(data[5 + 4 * j + i]) << (8 * i);
  }
  Tables t;
  t.alphabet = f[0];
  t.direct = f[1];
  t.scale_bits = f[2];
  t.n_contexts = f[3];
  t.adapt_period = f[4];
  t.adapt_strength = f[5];
  if (t.direct < 1 || t.direct > t.alphabet || t.n_contexts < 1 ||
      static_cast<std::uint64_t>(t.n_contexts) * t.entries() > kMaxTableEntries)
    throw DataError("rans tables: corrupt header");
  const std::size_t nf = static_cast<std::size_t>(t.n_contexts) * t.entries();
  if (nf > len - 29) throw DataError("rans tables: truncated frequency list");  // >= 1 byte per frequency
  t.freq.resize(nf);
  std::uint32_t* const out = t.freq.data();
  std::size_t pos = 29;
  for (std::size_t i = 0; i < nf; ++i) {
    // one-byte frequencies first: most entries of a large table (unseen symbols) are 1
    if (pos < len && data[pos] < 0x80) {
      out[i] = data[pos++];
      continue;
    }
    std::uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
      if (pos >= len) throw DataError("rans tables: truncated frequency list");
      const std::uint8_t b = data[pos++];
      if (shift > 28) throw DataError("rans tables: corrupt frequency (too long)");
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    if (v > 0xFFFFFFFFull) throw DataError("rans tables: corrupt frequency (beyond 32 bits)");
    out[i] = static_cast<std::uint32_t>(v);
  }
  if (pos != len) throw DataError("rans tables: " + std::to_string(len - pos) + " trailing bytes");
  t.finalize();
  return t;
}

void normalize(const std::uint64_t* w, std::size_t k, std::uint32_t scale_bits, std::uint32_t* freq) {
  const std::uint64_t total = 1ull << scale_bits;
  if (k == 0 || k > total) throw std::invalid_argument("rans normalize: entries do not fit the total");
  unsigned __int128 sum = 0;
  for (std::size_t e = 0; e < k; ++e) sum += w[e];
  const std::uint64_t avail = total - k;
  std::uint64_t used = 0;
  std::size_t best = 0;
  for (std::size_t e = 0; e < k; ++e) {
    const std::uint64_t share =
        sum == 0 ? 0 : static_cast<std::uint64_t>(static_cast<unsigned __int128>(w[e]) * avail / sum);
    freq[e] = static_cast<std::uint32_t>(1 + share);
    used += freq[e];
    if (w[e] > w[best]) best = e;
  }
  if (sum == 0) {  // uniform
    const std::uint64_t each = total / k;
    for (std::size_t e = 0; e < k; ++e) freq[e] = static_cast<std::uint32_t>(each);
    used = each * k;
    best = 0;
  }
  freq[best] += static_cast<std::uint32_t>(total - used);
}

Tables fit(const std::uint32_t* sym, const std::uint32_t* ctx, std::size_t n, std::uint32_t alphabet,
           std::uint32_t n_contexts, std::uint32_t direct, std::uint32_t scale_bits, std::uint32_t adapt_period,
           std::uint32_t adapt_strength) {
  if (alphabet < 1 || alphabet > (1u << 31))
    throw std::invalid_argument("rans fit: alphabet " + std::to_string(alphabet) + " not in [1, 2^31]");
  if (n_contexts < 1) throw std::invalid_argument("rans fit: n_contexts must be >= 1");
  Tables t;
  t.alphabet = alphabet;
  t.n_contexts = n_contexts;
  t.adapt_period = adapt_period;
  t.adapt_strength = adapt_strength;
  std::uint32_t mx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    check_symbol(sym[i], i, t, "rans fit");
    context_of(ctx, i, t, "rans fit");
    mx = std::max(mx, sym[i]);
  }
  if (direct == 0) direct = std::min<std::uint64_t>({alphabet, static_cast<std::uint64_t>(mx) + 1, 65536});
  t.direct = std::min(direct, alphabet);
  if (t.direct >= (1u << kMaxScale))
    throw std::invalid_argument("rans fit: direct " + std::to_string(t.direct) + " not below 2^24");
  const std::uint32_t k = t.entries();
  if (scale_bits == 0) scale_bits = std::min(kMaxScale, std::max(15u, ceil_log2(k) + 8));
  if (scale_bits > kMaxScale || (1ull << scale_bits) < k)
    throw std::invalid_argument("rans fit: scale_bits " + std::to_string(scale_bits) + " cannot hold " +
                                std::to_string(k) + " entries (max 24)");
  t.scale_bits = scale_bits;
  if (static_cast<std::uint64_t>(n_contexts) * k > kMaxTableEntries)
    throw std::invalid_argument("rans fit: " + std::to_string(n_contexts) + " contexts x " + std::to_string(k) +
                                " entries exceed 2^24 table entries");
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(n_contexts) * k, 0), all(k, 0);
  std::vector<std::uint64_t> per_ctx(n_contexts, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t c = ctx ? ctx[i] : 0;
    const std::uint32_t e = std::min(sym[i], t.direct);
    ++counts[static_cast<std::size_t>(c) * k + e];
    ++all[e];
    ++per_ctx[c];
  }
  t.freq.resize(counts.size());
  for (std::uint32_t c = 0; c < n_contexts; ++c) {
    const std::uint64_t* w = per_ctx[c] ? counts.data() + static_cast<std::size_t>(c) * k : all.data();
    normalize(w, k, scale_bits, t.freq.data() + static_cast<std::size_t>(c) * k);
  }
  t.finalize();
  return t;
}

namespace {

// The coder's operations of a stream in symbol order (each symbol's entry, then an escape's raw chunks), after
// checking every context and symbol in that order; the model adapts as it goes.
std::vector<Op> stream_ops(const std::uint32_t* sym, const std::uint32_t* ctx, std::size_t n, const Tables& t) {
  Model model(t);
  const std::uint32_t ebits = t.escape_bits();
  std::vector<Op> ops;
  ops.reserve(n);
  // field by field: an Op built on the stack and copied stalled every symbol on a store-forwarding miss
  auto push = [&ops](std::uint32_t start, std::uint32_t freq, std::uint32_t scale) {
    Op& op = ops.emplace_back();
    op.start = start;
    op.freq = freq;
    op.scale = scale;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t c = context_of(ctx, i, t, "rans encode");
    const std::uint32_t s = sym[i];
    check_symbol(s, i, t, "rans encode");
    const std::uint32_t e = std::min(s, t.direct);
    const std::uint32_t* cu = model.cum(c) + e;  // the running sum of the frequencies: one table read, not two
    push(cu[0], cu[1] - cu[0], t.scale_bits);
    if (e == t.direct) {
      std::uint32_t v = s - t.direct;
      for (std::uint32_t left = ebits; left;) {
        const std::uint32_t b = std::min(left, kRawChunk);
        push(v & ((1u << b) - 1), 1, b);
        v >>= b;
        left -= b;
      }
    }
    model.update(c, e);
  }
  return ops;
}

// One stream being encoded: its operations applied last to first, renormalising 32 bits at a time.
struct Coder {
  std::uint64_t x = kL;
  std::vector<std::uint32_t> words;

  explicit Coder(std::size_t n_ops) { words.reserve(n_ops / 2 + 4); }
  __attribute__((always_inline)) void put(const Op& op) {
    const std::uint64_t x_max = ((kL >> op.scale) << 32) * op.freq;
    if (x >= x_max) {
      words.push_back(static_cast<std::uint32_t>(x));
      x >>= 32;
    }
    x = ((x / op.freq) << op.scale) + (x % op.freq) + op.start;
  }
  std::vector<std::uint8_t> bytes() const {
    std::vector<std::uint8_t> out(8 + 4 * words.size());
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(x >> (8 * i));
    std::uint8_t* p = out.data() + 8;
    for (std::size_t j = words.size(); j-- > 0;) {
      const std::uint32_t w = words[j];
      for (int i = 0; i < 4; ++i) *p++ = static_cast<std::uint8_t>(w >> (8 * i));
    }
    return out;
  }
};

// The bytes of a stream's operations (none for no operations: an empty stream)
std::vector<std::uint8_t> coded(const std::vector<Op>& ops) {
  if (ops.empty()) return {};
  Coder coder(ops.size());
  for (std::size_t j = ops.size(); j-- > 0;) coder.put(ops[j]);
  return coder.bytes();
}

}  // namespace

std::vector<std::uint8_t> encode(const std::uint32_t* sym, const std::uint32_t* ctx, std::size_t n,
                                 const Tables& t) {
  return coded(stream_ops(sym, ctx, n, t));
}

namespace {

// The fields of the tables that every step reads, copied once per blob: read through the Tables, each would be
// loaded again after every symbol stored (a uint32_t store may alias them).
struct StepFields {
  const Tables& t;  // for error messages
  std::uint32_t scale, direct, alphabet, n_contexts, escape_bits;
  std::uint64_t slot_mask;
  explicit StepFields(const Tables& tables)
      : t(tables), scale(tables.scale_bits), direct(tables.direct), alphabet(tables.alphabet),
        n_contexts(tables.n_contexts), escape_bits(tables.escape_bits()), slot_mask((1ull << tables.scale_bits) - 1) {}
};

// One blob being decoded: decode_loop's state between symbols. The loops step a copy that never leaves the
// function (start and finish are out of line): a lane whose address escapes keeps x, pos and i in memory, and
// every step then waits on a store and a reload of its state.
struct Lane {
  const std::uint8_t* data;
  std::size_t len, n;
  const std::uint32_t* ctx;
  std::uint32_t* out;
  std::size_t pos = 8, i = 0;
  std::uint64_t x = 0;

  // Checks the blob's length and reads the initial state; false for an empty stream (nothing to decode).
  bool start() {
    if (n == 0) {
      if (len) throw DataError("rans decode: " + std::to_string(len) + " bytes for an empty stream");
      return false;
    }
    if (len < 8) throw DataError("rans decode: truncated stream (" + std::to_string(len) + " bytes, no state)");
    if ((len - 8) % 4)
      throw DataError("rans decode: corrupt stream (" + std::to_string(len) + " bytes is not 8 + 4k)");
    for (int b = 0; b < 8; ++b) x |= static_cast<std::uint64_t>(data[b]) << (8 * b);
    if (x < kL || x >= (1ull << 63)) throw DataError("rans decode: corrupt stream (initial state out of range)");
    return true;
  }
  __attribute__((always_inline)) void renorm() {
    if (x < kL) {
      if (pos + 4 > len)
        throw DataError("rans decode: truncated stream (ends at symbol " + std::to_string(i) + " of " +
                        std::to_string(n) + ")");
      const std::uint32_t w = static_cast<std::uint32_t>(data[pos]) | static_cast<std::uint32_t>(data[pos + 1]) << 8 |
                              static_cast<std::uint32_t>(data[pos + 2]) << 16 |
                              static_cast<std::uint32_t>(data[pos + 3]) << 24;
      pos += 4;
      x = (x << 32) | w;
    }
  }
  // Symbol i: `find(c, slot, start, freq)` gives the entry whose slot range [start, start + freq) of context c
  // holds slot; `update(c, e)` adapts the model (no-op for static tables).
  template <class Find, class Update>
  __attribute__((always_inline)) void step(const StepFields& t, Find& find, Update& update) {
    std::uint32_t c = 0;
    if (ctx) {
      c = ctx[i];
      if (__builtin_expect(c >= t.n_contexts, 0)) bad_context(c, i, t.t, "rans decode");
    }
    const std::uint32_t slot = static_cast<std::uint32_t>(x & t.slot_mask);
    std::uint32_t begin, freq;
    const std::uint32_t e = find(c, slot, begin, freq);
    x = static_cast<std::uint64_t>(freq) * (x >> t.scale) + slot - begin;
    renorm();
    std::uint32_t s = e;
    if (__builtin_expect(e == t.direct, 0)) {
      std::uint64_t v = 0;
      std::uint32_t shift = 0;
      for (std::uint32_t left = t.escape_bits; left;) {
        const std::uint32_t b = std::min(left, kRawChunk);
        v |= (x & ((1ull << b) - 1)) << shift;
        x >>= b;
        renorm();
        shift += b;
        left -= b;
      }
      if (v >= static_cast<std::uint64_t>(t.alphabet - t.direct))
        throw DataError("rans decode: corrupt stream (escaped symbol beyond the alphabet at symbol " +
                        std::to_string(i) + ")");
      s = t.direct + static_cast<std::uint32_t>(v);
    }
    out[i++] = s;
    update(c, e);
  }
  // After the n symbols: every byte used, the encoder's initial state reached.
  void finish() const {
    if (pos != len)
      throw DataError("rans decode: corrupt stream (" + std::to_string(len - pos) + " bytes left after " +
                      std::to_string(n) + " symbols)");
    if (x != kL) throw DataError("rans decode: corrupt stream (final state check failed)");
  }
};

// The decode loop of decode() and StaticDecoder (see Lane::step).
template <class Find, class Update>
void decode_loop(const std::uint8_t* data, std::size_t len, std::size_t n, const std::uint32_t* ctx, const Tables& t,
                 std::uint32_t* out, Find&& find, Update&& update) {
  Lane started{data, len, n, ctx, out};
  if (!started.start()) return;
  const StepFields fields(t);
  Lane lane = started;
  while (lane.i < n) lane.step(fields, find, update);
  started = lane;
  started.finish();
}

}  // namespace

void decode(const std::uint8_t* data, std::size_t len, std::size_t n, const std::uint32_t* ctx, const Tables& t,
            std::uint32_t* out) {
  if (n == 0 && !len) return;
  Model model(t);
  const std::uint32_t k = model.entries();
  decode_loop(
      data, len, n, ctx, t, out,
      [&](std::uint32_t c, std::uint32_t slot, std::uint32_t& start, std::uint32_t& freq) {
        const std::uint32_t* cu = model.cum(c);
        const std::uint32_t e = static_cast<std::uint32_t>(std::upper_bound(cu, cu + k + 1, slot) - cu - 1);
        start = cu[e];
        freq = model.freq(c)[e];
        return e;
      },
      [&](std::uint32_t c, std::uint32_t e) { model.update(c, e); });
}

namespace {

// The slot index of StaticDecoder: per context, the entry holding slot b << (scale_bits - bits) for each of the 2^bits
// buckets, then k - 1.
template <class T>
std::vector<T> slot_index(const Tables& t, std::uint32_t k, std::uint32_t bits) {
  const std::uint32_t nb = 1u << bits, shift = t.scale_bits - bits;
  std::vector<T> lut(static_cast<std::size_t>(t.n_contexts) * (nb + 1));
  for (std::uint32_t c = 0; c < t.n_contexts; ++c) {
    const std::uint32_t* cu = t.cum.data() + static_cast<std::size_t>(c) * (k + 1);
    T* l = lut.data() + static_cast<std::size_t>(c) * (nb + 1);
    std::uint32_t e = 0;
    for (std::uint32_t b = 0; b < nb; ++b) {
      const std::uint32_t slot = b << shift;
      while (cu[e + 1] <= slot) ++e;
      l[b] = static_cast<T>(e);
    }
    l[nb] = static_cast<T>(k - 1);
  }
  return lut;
}

}  // namespace

StaticDecoder::StaticDecoder(const Tables& t) : t_(t), k_(t.entries()) {
  if (t.adapt_period > 0 || k_ > 65536 || t.cum.size() != static_cast<std::size_t>(t.n_contexts) * (k_ + 1)) return;
  // 2^bits buckets per context, at most 2^19 index entries in all: about two per entry when an entry fits a byte
  // (k <= 256), else one of 16 bits. The lookups wait on the cache, so the index stays at ~2 bytes per entry;
  // more buckets leave fewer that span several entries (each a search of the cumulative table).
  const bool narrow = k_ <= 256;
  std::uint32_t bits =
      std::min<std::uint32_t>(t.scale_bits, std::max(6u, std::min(12u, ceil_log2(k_) + (narrow ? 1 : 0))));
  while (bits > 6 && (static_cast<std::uint64_t>(t.n_contexts) << bits) > (1ull << 19)) --bits;
  bits_ = bits;
  if (narrow)
    lut8_ = slot_index<std::uint8_t>(t, k_, bits);
  else
    lut16_ = slot_index<std::uint16_t>(t, k_, bits);
}

namespace {

// StaticDecoder's entry lookup: the bucket of the slot narrows the search of the cumulative table.
template <class T>
struct LutFind {
  const std::uint32_t* cum;
  const T* lut;
  std::uint32_t nb, shift, k;

  LutFind(const Tables& t, const std::vector<T>& l, std::uint32_t bits, std::uint32_t entries)
      : cum(t.cum.data()), lut(l.data()), nb(1u << bits), shift(t.scale_bits - bits), k(entries) {}
  std::uint32_t operator()(std::uint32_t c, std::uint32_t slot, std::uint32_t& start, std::uint32_t& freq) const {
    const std::uint32_t* cu = cum + static_cast<std::size_t>(c) * (k + 1);
    const T* l = lut + static_cast<std::size_t>(c) * (nb + 1) + (slot >> shift);
    std::uint32_t e = l[0];
    const std::uint32_t hi = l[1];
    if (hi - e > 8) {
      e = static_cast<std::uint32_t>(std::upper_bound(cu + e + 1, cu + hi + 1, slot) - cu - 1);
    } else {
      while (cu[e + 1] <= slot) ++e;
    }
    start = cu[e];
    freq = cu[e + 1] - start;  // cum is the running sum of the frequencies (finalize)
    return e;
  }
};

struct StaticUpdate {  // static tables: nothing to adapt
  void operator()(std::uint32_t, std::uint32_t) const {}
};

// StaticDecoder::decode_pair with the lookup of its index
template <class Find>
void decode_pair_with(const Tables& t, const StaticDecoder::Blob& a, const StaticDecoder::Blob& b, Find find) {
  StaticUpdate update;
  const StepFields fields(t);
  Lane started_a{a.data, a.len, a.n, a.ctx, a.out}, started_b{b.data, b.len, b.n, b.ctx, b.out};
  const bool run_a = started_a.start(), run_b = started_b.start();
  Lane la = started_a, lb = started_b;
  if (run_a && run_b)
    for (const std::size_t both = std::min(a.n, b.n); la.i < both;) {
      la.step(fields, find, update);
      lb.step(fields, find, update);
    }
  // the longer blob's remaining symbols, then both end checks
  if (run_a)
    while (la.i < la.n) la.step(fields, find, update);
  if (run_b)
    while (lb.i < lb.n) lb.step(fields, find, update);
  started_a = la;
  started_b = lb;
  if (run_a) started_a.finish();
  if (run_b) started_b.finish();
}

// run(find) with the lookup of whichever index the decoder built; false when it built none (adaptive or large
// tables: the plain decode)
template <class Run>
bool with_lookup(const Tables& t, const std::vector<std::uint8_t>& lut8, const std::vector<std::uint16_t>& lut16,
                 std::uint32_t bits, std::uint32_t k, Run&& run) {
  if (!lut8.empty())
    run(LutFind<std::uint8_t>(t, lut8, bits, k));
  else if (!lut16.empty())
    run(LutFind<std::uint16_t>(t, lut16, bits, k));
  else
    return false;
  return true;
}

}  // namespace

void StaticDecoder::decode(const std::uint8_t* data, std::size_t len, std::size_t n, const std::uint32_t* ctx,
                           std::uint32_t* out) const {
  if (!with_lookup(t_, lut8_, lut16_, bits_, k_,
                   [&](auto find) { decode_loop(data, len, n, ctx, t_, out, find, StaticUpdate()); }))
    rans::decode(data, len, n, ctx, t_, out);
}

void StaticDecoder::decode_pair(const Blob& a, const Blob& b) const {
  if (!with_lookup(t_, lut8_, lut16_, bits_, k_, [&](auto find) { decode_pair_with(t_, a, b, find); })) {
    decode(a.data, a.len, a.n, a.ctx, a.out);
    decode(b.data, b.len, b.n, b.ctx, b.out);
  }
}

namespace {
void check_offsets(const std::int64_t* off, std::size_t n_events, std::int64_t total, const char* what) {
  if (off[0] != 0) throw std::invalid_argument(std::string("rans: ") + what + " offsets must start at 0");
  for (std::size_t e = 0; e < n_events; ++e)
    if (off[e + 1] < off[e])
      throw std::invalid_argument(std::string("rans: ") + what + " offsets fall at event " + std::to_string(e));
  if (total >= 0 && off[n_events] != total)
    throw std::invalid_argument(std::string("rans: ") + what + " offsets end at " + std::to_string(off[n_events]) +
                                ", expected " + std::to_string(total));
}
}  // namespace

void encode_events(const std::uint32_t* sym, const std::uint32_t* ctx, const std::int64_t* sym_offsets,
                   std::size_t n_events, const Tables& t, int threads, std::vector<std::uint8_t>& bytes,
                   std::vector<std::int64_t>& byte_offsets) {
  check_offsets(sym_offsets, n_events, -1, "symbol");
  std::vector<std::vector<std::uint8_t>> blobs(n_events);
  auto ops_of = [&](std::size_t e) {
    const std::int64_t s0 = sym_offsets[e];
    try {
      return stream_ops(sym + s0, ctx ? ctx + s0 : nullptr, static_cast<std::size_t>(sym_offsets[e + 1] - s0), t);
    } catch (const std::invalid_argument& err) {
      throw std::invalid_argument("event " + std::to_string(e) + ": " + err.what());
    }
  };
  // two events at a time, their coders stepped side by side: two independent chains of divisions
  parallel_ranges(n_events, threads, 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t e = a; e < b; e += 2) {
      if (e + 1 == b) {
        blobs[e] = coded(ops_of(e));
        continue;
      }
      const std::vector<Op> ops_a = ops_of(e), ops_b = ops_of(e + 1);
      Coder coder_a(ops_a.size()), coder_b(ops_b.size());
      std::size_t ja = ops_a.size(), jb = ops_b.size();
      for (; ja && jb; --ja, --jb) {
        coder_a.put(ops_a[ja - 1]);
        coder_b.put(ops_b[jb - 1]);
      }
      for (; ja; --ja) coder_a.put(ops_a[ja - 1]);
      for (; jb; --jb) coder_b.put(ops_b[jb - 1]);
      if (!ops_a.empty()) blobs[e] = coder_a.bytes();
      if (!ops_b.empty()) blobs[e + 1] = coder_b.bytes();
    }
  });
  byte_offsets.assign(n_events + 1, 0);
  for (std::size_t e = 0; e < n_events; ++e)
    byte_offsets[e + 1] = byte_offsets[e] + static_cast<std::int64_t>(blobs[e].size());
  bytes.resize(static_cast<std::size_t>(byte_offsets[n_events]));
  for (std::size_t e = 0; e < n_events; ++e)
    std::copy(blobs[e].begin(), blobs[e].end(), bytes.begin() + byte_offsets[e]);
}

void decode_events(const std::uint8_t* data, std::size_t len, const std::int64_t* byte_offsets,
                   const std::int64_t* sym_offsets, std::size_t n_events, const std::uint32_t* ctx, const Tables& t,
                   int threads, std::uint32_t* out) {
  check_offsets(byte_offsets, n_events, static_cast<std::int64_t>(len), "byte");
  check_offsets(sym_offsets, n_events, -1, "symbol");
  const StaticDecoder dec(t);
  parallel_ranges(n_events, threads, 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t e = a; e < b; ++e) {
      const std::int64_t s0 = sym_offsets[e];
      try {
        dec.decode(data + byte_offsets[e], static_cast<std::size_t>(byte_offsets[e + 1] - byte_offsets[e]),
                   static_cast<std::size_t>(sym_offsets[e + 1] - s0), ctx ? ctx + s0 : nullptr, out + s0);
      } catch (const DataError& err) {
        throw DataError("event " + std::to_string(e) + ": " + err.what());
      } catch (const std::invalid_argument& err) {
        throw std::invalid_argument("event " + std::to_string(e) + ": " + err.what());
      }
    }
  });
}

double code_length_bits(const std::uint32_t* sym, const std::uint32_t* ctx, std::size_t n, const Tables& t) {
  Model model(t);
  const double total = std::ldexp(1.0, static_cast<int>(t.scale_bits));
  const std::uint32_t ebits = t.escape_bits();
  double bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t c = context_of(ctx, i, t, "rans code_length");
    check_symbol(sym[i], i, t, "rans code_length");
    const std::uint32_t e = std::min(sym[i], t.direct);
    bits += std::log2(total / model.freq(c)[e]);
    if (e == t.direct) bits += ebits;
    model.update(c, e);
  }
  return bits;
}

}  // namespace rans
}  // namespace hepvq
