// tpc_inr (hepvq/tpc/codec.py TpcInrCodec.decode), method "amortised". Mode "hybrid" (format 2): per event the hit
// positions from the coordinate stream (core: sparse::tpc_decode_coords), the ADC predicted at them by the shared
// INR decoder graph (decoder.onnx from the file's metadata, onnxruntime) from each sector's int8 / fp16 / fp32
// latent (zstd), and with an ADC error bound the residual stream (core: sparse::unpack_residuals). Mode "dense":
// the decoder on each coded sector's whole grid, thresholded.
// Float steps are those of numpy (float32 throughout): normalised coordinates 2 i / (n - 1) - 1, hit-mask context
// counts / 9, / 25, / 27, value * 1023, round half to even, clip; hence hepvq.open's hits bit for bit.
// Format 1 (older files): the coordinates as zstd of key-gap varints, the residuals as one zigzag-varint stream.
// Method "fit" (the numpy SIREN) is refused when the file is opened.
#include <cmath>
#include <cstring>

#include "hepvq/sha256.hpp"
#include "hepvq/stream.hpp"
#include "hepvq/sparse_streams.hpp"
#include "internal.hpp"
#include "json_util.hpp"
#include "onnx.hpp"
#include "sparse_tables.hpp"

namespace hepvq {
namespace detail {

namespace {

const std::int64_t kAdcMaxCode = 1023;  // TpcHit_adc is 10-bit
const std::int64_t kDecodeBatch = 262144;  // AmortisedRuntime.decode's batch

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  std::uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | ((mant & 0x3FF) << 13);
    }
  } else {
    bits = sign | (exp + 127 - 15) << 23 | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bytes of a uint8 jagged field of one entry
std::string bytes_of(const Products& products, const std::string& instance, const std::string& where) {
  const Column& c = field(products, instance, "byte", where);
  if (c.elemSize() != 1 || c.isSigned())
    throw ReadError(where + ": branch '" + c.name() + "' must hold bytes (uint8)");
  return std::string(reinterpret_cast<const char*>(c.raw()), c.size());
}

class TpcInrDecoder : public CollectionDecoder {
 public:
  TpcInrDecoder(const Blobs& blobs, const ReaderOptions& options, const std::string& where) : where_(where) {
    auto c = blobs.find("config");
    if (c == blobs.end()) throw ReadError(where + ": compressed file lacks metadata 'config' of the tpc_inr codec");
    const json j = parse_json(c->second, where + ": metadata 'config'");
    std::string mode, method, tables_sha;
    json am;
    std::int64_t format = 0, blob_size = 0;
    try {
      format = j.at("format").get<std::int64_t>();
      mode = j.at("mode").get<std::string>();
      method = j.at("method").get<std::string>();
      quant_ = j.at("quant").get<std::string>();
      threshold_ = j.at("threshold").get<std::int64_t>();
      const auto shape = j.at("shape").get<std::vector<std::int64_t>>();
      if (shape.size() != 3) throw ReadError(where + ": metadata 'config': shape must have 3 axes");
      P_ = shape[0];
      Z_ = shape[1];
      L_ = shape[2];
      n_sectors_ = j.at("n_sectors").get<std::int64_t>();
      blob_size = j.at("blob_size").get<std::int64_t>();
      bound_ = j.value("adc_error_bound", std::int64_t(-1));
      if (format == 2 && mode == "hybrid") tables_sha = j.at("tables_sha256").get<std::string>();
      if (method == "amortised") am = j.at("amortised");
    } catch (const json::exception& err) {
      throw ReadError(where + ": metadata 'config' is not what the tpc_inr codec writes (" + err.what() + ")");
    }
    if (format != 1 && format != 2)
      throw ReadError(where + ": tpc_inr metadata format " + std::to_string(format) + " is not one this reader reads (1, 2)");
    // dense mode has no streams: its format does not matter
    if (method != "amortised" || (mode != "hybrid" && mode != "dense"))
      throw ReadError(where + ": tpc_inr method '" + method + "', mode '" + mode + "', format " + std::to_string(format) +
                      " is not decoded by the C++ reader (it decodes method 'amortised', modes 'hybrid' and 'dense'; "
                      "use hepvq.open in Python)");
    format_ = format;
    if (mode == "dense" && bound_ >= 0)
      throw ReadError(where + ": tpc_inr: an ADC error bound needs mode 'hybrid' (stored hit positions)");
    dense_ = mode == "dense";
    if (quant_ != "int8" && quant_ != "fp16" && quant_ != "fp32")
      throw ReadError(where + ": unknown quantisation '" + quant_ + "' (fp32, fp16, int8)");
    if (P_ < 2 || Z_ < 2 || L_ < 2 || P_ > 4096 || Z_ > 4096 || L_ > 256 || n_sectors_ < 1 || n_sectors_ > 256 ||
        threshold_ < 0 || threshold_ > kAdcMaxCode || bound_ < -1 || bound_ > kAdcMaxCode)
      throw ReadError(where + ": metadata 'config': shape, n_sectors, threshold or adc_error_bound out of range");
    // the amortised decoder: latent (C, P / cell, z_pad / cell) per sector
    try {
      const std::int64_t C = am.at("latent_channels").get<std::int64_t>(), cell = am.at("cell").get<std::int64_t>();
      const std::int64_t zp = am.at("z_pad").get<std::int64_t>(), P = am.at("shape").at(0).get<std::int64_t>();
      if (C < 1 || cell < 1 || C > 4096 || P / cell > 4096 || zp / cell > 4096)
        throw ReadError(where + ": metadata 'config': amortised latent shape out of range");
      latent_shape_ = {C, P / cell, zp / cell};
      context_ = am.value("context", false);
    } catch (const json::exception& err) {
      throw ReadError(where + ": metadata 'config' amortised settings are not what the tpc_inr codec writes (" +
                      err.what() + ")");
    }
    latent_n_ = latent_shape_[0] * latent_shape_[1] * latent_shape_[2];
    // quantise.blob_size: one tensor
    const std::int64_t want = quant_ == "fp32" ? 4 * latent_n_ : quant_ == "fp16" ? 2 * latent_n_ : 4 + latent_n_;
    if (want != blob_size)
      throw ReadError(where + ": tpc_inr: blob size " + std::to_string(want) + " does not match the file's " +
                      std::to_string(blob_size));
    blob_size_ = want;
    auto d = blobs.find("decoder.onnx");
    if (d == blobs.end()) throw ReadError(where + ": tpc_inr: amortised codec metadata lacks 'decoder.onnx'");
    model_ = std::make_unique<OnnxModel>(d->second, options, where + ": metadata 'decoder.onnx'");
    if (dense_ || format_ == 1) {
      mask_.assign(static_cast<std::size_t>(P_ * Z_ * L_), 0);
      return;
    }
    // tables: their sha256 must be the config's (TpcInrCodec.from_metadata)
    auto t = blobs.find("tables");
    if (t == blobs.end())
      throw ReadError(where + ": tpc_inr: format-2 codec metadata lacks 'tables' (the rANS tables of coords and residuals)");
    if (sha256_hex(t->second.data(), t->second.size()) != tables_sha)
      throw ReadError(where + ": tpc_inr: metadata 'tables' does not match the sha256 in its config: the tables are "
                      "damaged or belong to another file");
    tables_ = read_sparse_tables(t->second, where + ": metadata 'tables'");
    mask_.assign(static_cast<std::size_t>(P_ * Z_ * L_), 0);
  }

  std::string method() const override {
    return (dense_ ? "dense grid, onnxruntime (" : "core streams + onnxruntime (") + model_->provider() + ")";
  }

  void decode(const Products& products, Event& out) override {
    const Column& sec = field(products, "", "sector", where_);
    const Column& nb = field(products, "", "nbytes", where_);
    if (sec.size() != nb.size()) throw ReadError(where_ + ": tpc_inr: sector and nbytes of different lengths");
    std::vector<std::int64_t> sectors, nbytes;
    sec.toInt64(sectors);
    nb.toInt64(nbytes);
    const std::string weights = bytes_of(products, "weights", where_);
    std::uint64_t total = 0;
    for (auto v : nbytes) {
      if (v < 0) throw ReadError(where_ + ": tpc_inr: negative sector byte count");
      total += static_cast<std::uint64_t>(v);
    }
    if (total != weights.size())
      throw ReadError(where_ + ": tpc_inr: event has " + std::to_string(weights.size()) +
                      " weight bytes, its sectors declare " + std::to_string(total));
    // {sector: its blob} (the last one wins, as the Python dict)
    std::map<std::int64_t, std::pair<std::size_t, std::size_t>> blob_of;
    std::vector<std::int64_t> first_seen;  // the dict's key order
    for (std::size_t i = 0, o = 0; i < sectors.size(); o += static_cast<std::size_t>(nbytes[i]), ++i) {
      if (!blob_of.count(sectors[i])) first_seen.push_back(sectors[i]);
      blob_of[sectors[i]] = {o, static_cast<std::size_t>(nbytes[i])};
    }
    if (dense_) return decode_dense(weights, blob_of, first_seen, out);
    const std::string coords = bytes_of(products, "coords", where_);
    sparse::TpcHitsKeyOrder h;
    try {
      if (format_ == 1)
        coords_v1(coords, h);
      else
        sparse::tpc_decode_coords(reinterpret_cast<const std::uint8_t*>(coords.data()), coords.size(), tables_, P_, Z_,
                                  L_, "tpc_inr coords", h);
    } catch (const DataError& err) {
      throw ReadError(where_ + ": " + err.what());
    }
    const std::size_t n = h.phi.size();
    std::vector<std::int64_t> adc(n, 0);
    predict(weights, blob_of, h, adc);
    if (bound_ >= 0) {
      const std::string res = bytes_of(products, "residuals", where_);
      std::vector<std::int64_t> pk(n), q(n);
      for (std::size_t i = 0; i < n; ++i) pk[i] = h.sector[i] * L_ + h.layer[i];
      try {
        if (format_ == 1)
          residuals_v1(res, q);
        else
          sparse::unpack_residuals(reinterpret_cast<const std::uint8_t*>(res.data()), res.size(), pk.data(),
                                   h.phi.data(), h.z.data(), n, tables_, "tpc_inr residuals", q.data());
      } catch (const DataError& err) {
        throw ReadError(where_ + ": " + err.what());
      }
      const std::int64_t step = 2 * bound_ + 1;
      std::int64_t lo = 0, hi = 0;
      for (std::size_t i = 0; i < n; ++i) {
        adc[i] += q[i] * step;  // |q| < value_alphabet / 2 (checked by the core): no overflow
        lo = i ? std::min(lo, adc[i]) : adc[i];
        hi = i ? std::max(hi, adc[i]) : adc[i];
      }
      if (n && (lo < -bound_ || hi > kAdcMaxCode + bound_))
        throw ReadError(where_ + ": tpc_inr: decodes ADC " + std::to_string(lo) + ".." + std::to_string(hi) +
                        ", outside 0.." + std::to_string(kAdcMaxCode) + " by more than the bound " +
                        std::to_string(bound_) + ": the residuals are damaged");
      for (auto& a : adc) a = std::min(std::max(a, std::int64_t(0)), kAdcMaxCode);
    }
    // the schema's uint16 columns; ranges as TpcInrCodec.value_ranges (hepvq.codecs.guard.check_ranges)
    auto& t = out.tpc;
    t.sector.resize(n);
    t.layer.resize(n);
    t.phi.resize(n);
    t.z.resize(n);
    t.adc.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (h.sector[i] >= n_sectors_)
        throw ReadError(where_ + ": tpc_inr: decoded sector " + std::to_string(h.sector[i]) + " outside 0.." +
                        std::to_string(n_sectors_ - 1));
      t.sector[i] = static_cast<std::uint16_t>(h.sector[i]);  // < n_sectors <= 256; the others < 4096, adc <= 1023
      t.layer[i] = static_cast<std::uint16_t>(h.layer[i]);
      t.phi[i] = static_cast<std::uint16_t>(h.phi[i]);
      t.z[i] = static_cast<std::uint16_t>(h.z[i]);
      t.adc[i] = static_cast<std::uint16_t>(adc[i]);
    }
  }

 private:
  // _predict_hits: the INR's ADC (rounded, clipped to [threshold, 1023]) at the hits, sector by sector
  void predict(const std::string& weights, const std::map<std::int64_t, std::pair<std::size_t, std::size_t>>& blob_of,
               const sparse::TpcHitsKeyOrder& h, std::vector<std::int64_t>& adc) {
    const std::size_t n = h.phi.size();
    std::vector<float> value(n, 0.0f), latent, coords, context, out;
    for (std::size_t a = 0; a < n;) {  // hits of one sector are contiguous in key order
      std::size_t b = a;
      while (b < n && h.sector[b] == h.sector[a]) ++b;
      auto it = blob_of.find(h.sector[a]);
      if (it != blob_of.end()) {
        if (it->second.second == 0) {  // code dropped (error-bounded mode): the threshold
          for (std::size_t i = a; i < b; ++i) value[i] = static_cast<float>(threshold_);
        } else {
          unpack_latent(weights.data() + it->second.first, it->second.second, h.sector[a], latent);
          run_sector(latent, h, a, b, coords, context, out);
          for (std::size_t i = a; i < b; ++i) value[i] = out[i - a] * 1023.0f;
        }
      }
      a = b;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const float v = value[i];
      if (std::isnan(v))
        throw ReadError(where_ + ": tpc_inr: the decoder graph gives NaN for sector " + std::to_string(h.sector[i]));
      const float r = std::nearbyint(v);  // round half to even, as np.rint
      adc[i] = static_cast<std::int64_t>(std::min(std::max(r, static_cast<float>(threshold_)), 1023.0f));
    }
  }

  // zstd, then quantise.unpack of one tensor: float32 (int8 value * scale), fp16 -> float32, or fp32
  void unpack_latent(const char* p, std::size_t len, std::int64_t sector, std::vector<float>& latent) {
    const std::string w = where_ + ": tpc_inr: sector " + std::to_string(sector) + " code";
    unsigned long long size = ZSTD_getFrameContentSize(p, len);
    if (size > (1ULL << 32)) size = static_cast<unsigned long long>(blob_size_);  // no size in the frame
    if (size != static_cast<unsigned long long>(blob_size_))
      throw ReadError(w + ": quantised blob has " + std::to_string(size) + " bytes, expected " + std::to_string(blob_size_));
    raw_.resize(static_cast<std::size_t>(blob_size_));
    const std::size_t got = ZSTD_decompress(raw_.data(), raw_.size(), p, len);
    if (ZSTD_isError(got) || got != raw_.size()) throw ReadError(w + ": zstd stream does not decode to its size");
    latent.resize(static_cast<std::size_t>(latent_n_));
    if (quant_ == "int8") {
      float scale;
      std::memcpy(&scale, raw_.data(), 4);
      for (std::int64_t i = 0; i < latent_n_; ++i)
        latent[i] = static_cast<float>(static_cast<std::int8_t>(raw_[4 + i])) * scale;
    } else if (quant_ == "fp16") {
      for (std::int64_t i = 0; i < latent_n_; ++i) {
        std::uint16_t v;
        std::memcpy(&v, raw_.data() + 2 * i, 2);
        latent[i] = half_to_float(v);
      }
    } else {
      std::memcpy(latent.data(), raw_.data(), 4 * static_cast<std::size_t>(latent_n_));
    }
  }

  // one sector's hits [a, b): normalised (phi, z, layer) and the hit-mask context -> decoder values
  void run_sector(const std::vector<float>& latent, const sparse::TpcHitsKeyOrder& h, std::size_t a, std::size_t b,
                  std::vector<float>& coords, std::vector<float>& context, std::vector<float>& out) {
    const std::size_t k = b - a;
    const float np1 = static_cast<float>(P_) - 1.0f, nz1 = static_cast<float>(Z_) - 1.0f,
                nl1 = static_cast<float>(L_) - 1.0f;
    coords.resize(3 * k);
    for (std::size_t i = 0; i < k; ++i) {  // grid.normalise: 2 i / (n - 1) - 1 in float32
      coords[3 * i] = 2.0f * static_cast<float>(h.phi[a + i]) / np1 - 1.0f;
      coords[3 * i + 1] = 2.0f * static_cast<float>(h.z[a + i]) / nz1 - 1.0f;
      coords[3 * i + 2] = 2.0f * static_cast<float>(h.layer[a + i]) / nl1 - 1.0f;
    }
    std::vector<OnnxModel::FloatInput> inputs = {
        {"latent", latent.data(), latent_shape_, false},
        {"coords", coords.data(), {static_cast<std::int64_t>(k), 3}, true}};
    if (context_) {  // grid.mask_context: hit counts of the 3x3, 5x5 (phi, z) and 3x3x3 boxes (exact in float32)
      auto at = [&](std::int64_t p, std::int64_t z, std::int64_t l) -> int {
        return p >= 0 && p < P_ && z >= 0 && z < Z_ && l >= 0 && l < L_ ? mask_[(p * Z_ + z) * L_ + l] : 0;
      };
      for (std::size_t i = a; i < b; ++i) mask_[(h.phi[i] * Z_ + h.z[i]) * L_ + h.layer[i]] = 1;
      context.resize(3 * k);
      for (std::size_t i = 0; i < k; ++i) {
        const std::int64_t p = h.phi[a + i], z = h.z[a + i], l = h.layer[a + i];
        int c3 = 0, c5 = 0, c27 = 0;
        for (std::int64_t dp = -2; dp <= 2; ++dp)
          for (std::int64_t dz = -2; dz <= 2; ++dz) {
            const int m = at(p + dp, z + dz, l);
            c5 += m;
            if (dp >= -1 && dp <= 1 && dz >= -1 && dz <= 1) {
              c3 += m;
              c27 += m + at(p + dp, z + dz, l - 1) + at(p + dp, z + dz, l + 1);
            }
          }
        context[3 * i] = static_cast<float>(c3) / 9.0f;
        context[3 * i + 1] = static_cast<float>(c5) / 25.0f;
        context[3 * i + 2] = static_cast<float>(c27) / 27.0f;
      }
      for (std::size_t i = a; i < b; ++i) mask_[(h.phi[i] * Z_ + h.z[i]) * L_ + h.layer[i]] = 0;
      inputs.push_back({"context", context.data(), {static_cast<std::int64_t>(k), 3}, true});
    }
    model_->run_floats(inputs, "value", static_cast<std::int64_t>(k), kDecodeBatch, out);
    if (out.size() != k)
      throw ReadError(where_ + ": tpc_inr: the decoder graph gives " + std::to_string(out.size()) + " values for " +
                      std::to_string(k) + " hits");
  }

  // mode dense: each coded sector's INR on the whole (P, Z, L) grid, rint, clip to [0, 1023], the voxels at or
  // above the threshold in C order, sectors in the order of their first appearance
  void decode_dense(const std::string& weights,
                    const std::map<std::int64_t, std::pair<std::size_t, std::size_t>>& blob_of,
                    const std::vector<std::int64_t>& order, Event& out) {
    const std::int64_t N = P_ * Z_ * L_;
    if (grid_.empty()) {  // grid.grid_coords: normalised indices in C order
      grid_.resize(static_cast<std::size_t>(3 * N));
      const float np1 = static_cast<float>(P_) - 1.0f, nz1 = static_cast<float>(Z_) - 1.0f,
                  nl1 = static_cast<float>(L_) - 1.0f;
      for (std::int64_t i = 0; i < N; ++i) {
        grid_[3 * i] = 2.0f * static_cast<float>(i / (Z_ * L_)) / np1 - 1.0f;
        grid_[3 * i + 1] = 2.0f * static_cast<float>((i / L_) % Z_) / nz1 - 1.0f;
        grid_[3 * i + 2] = 2.0f * static_cast<float>(i % L_) / nl1 - 1.0f;
      }
    }
    auto& t = out.tpc;
    std::vector<float> latent, values;
    for (std::int64_t s : order) {
      if (s < 0 || s >= n_sectors_)  // the schema's ranges (check_ranges), before any narrowing
        throw ReadError(where_ + ": tpc_inr: sector " + std::to_string(s) + " outside 0.." + std::to_string(n_sectors_ - 1));
      const auto& b = blob_of.at(s);
      if (b.second == 0) {
        values.assign(static_cast<std::size_t>(N), static_cast<float>(threshold_));
      } else {
        unpack_latent(weights.data() + b.first, b.second, s, latent);
        model_->run_floats({{"latent", latent.data(), latent_shape_, false}, {"coords", grid_.data(), {N, 3}, true}},
                           "value", N, kDecodeBatch, values);
        if (values.size() != static_cast<std::size_t>(N))
          throw ReadError(where_ + ": tpc_inr: the decoder graph gives " + std::to_string(values.size()) +
                          " values for " + std::to_string(N) + " grid points");
        for (auto& v : values) v = v * 1023.0f;
      }
      for (std::int64_t i = 0; i < N; ++i) {
        const float a = std::min(std::max(std::nearbyint(values[i]), 0.0f), 1023.0f);  // NaN: no hit, as numpy
        if (!(a >= static_cast<float>(threshold_))) continue;
        t.sector.push_back(static_cast<std::uint16_t>(s));
        t.layer.push_back(static_cast<std::uint16_t>(i % L_));
        t.phi.push_back(static_cast<std::uint16_t>(i / (Z_ * L_)));
        t.z.push_back(static_cast<std::uint16_t>((i / L_) % Z_));
        t.adc.push_back(static_cast<std::uint16_t>(a));
      }
    }
  }

  // format 1 (hepvq.tpc.coords.decode): zstd of the key gaps as varints -> keys (the core) -> (sector, layer, phi, z)
  void coords_v1(const std::string& blob, sparse::TpcHitsKeyOrder& h) const {
    h = {};
    if (blob.empty()) return;
    const unsigned long long size = ZSTD_getFrameContentSize(blob.data(), blob.size());
    const auto cap = static_cast<unsigned long long>(10 * n_sectors_ * P_ * Z_ * L_);  // 10 bytes per possible hit
    if (size > cap)  // also the unknown / error sizes (the largest values)
      throw DataError("tpc_inr coords: zstd frame without a plausible size (" + std::to_string(size) + " bytes)");
    std::string raw(static_cast<std::size_t>(size), '\0');
    const std::size_t got = ZSTD_decompress(raw.data(), raw.size(), blob.data(), blob.size());
    if (ZSTD_isError(got) || got != size) throw DataError("tpc_inr coords: zstd stream does not decode");
    const auto* p = reinterpret_cast<const std::uint8_t*>(raw.data());
    std::vector<std::uint64_t> gaps(varint_count(p, raw.size()));
    varint_decode(p, raw.size(), gaps.data());
    std::vector<std::int64_t> keys(gaps.size());
    keys_from_gaps(gaps.data(), gaps.size(), keys.data());
    const std::size_t n = keys.size();
    h.sector.resize(n);
    h.layer.resize(n);
    h.phi.resize(n);
    h.z.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::int64_t k = keys[i];
      if (k < 0) throw DataError("tpc_inr coords: decoded key " + std::to_string(k) + " is negative");
      h.z[i] = k % Z_;
      k /= Z_;
      h.phi[i] = k % P_;
      k /= P_;
      h.layer[i] = k % L_;
      h.sector[i] = k / L_;
    }
  }

  // format 1 (hepvq.codecs.residual.unpack): a stream of zigzag varints (raw / zstd / LZMA2)
  void residuals_v1(const std::string& blob, std::vector<std::int64_t>& q) const {
    const std::size_t n = q.size();
    std::vector<std::uint64_t> z;
    if (!blob.empty()) {
      const std::string raw = decompress_stream(reinterpret_cast<const unsigned char*>(blob.data()), blob.size(),
                                                where_ + ": tpc_inr residuals");
      const auto* p = reinterpret_cast<const std::uint8_t*>(raw.data());
      z.resize(varint_count(p, raw.size()));
      varint_decode(p, raw.size(), z.data());
    }
    if (z.size() != n)
      throw DataError("tpc_inr: the event has " + std::to_string(z.size()) + " residuals for " + std::to_string(n) +
                      " hits");
    for (std::size_t i = 0; i < n; ++i) q[i] = unzigzag(z[i]);
  }

  std::int64_t format_ = 2;
  bool dense_ = false;
  std::vector<float> grid_;
  std::string where_, quant_;
  std::int64_t P_ = 0, Z_ = 0, L_ = 0, n_sectors_ = 0, threshold_ = 0, bound_ = -1, blob_size_ = 0, latent_n_ = 0;
  std::vector<std::int64_t> latent_shape_;
  bool context_ = false;
  sparse::Tables tables_;
  std::unique_ptr<OnnxModel> model_;
  std::vector<unsigned char> mask_;
  std::string raw_;
};

}  // namespace

std::unique_ptr<CollectionDecoder> makeTpcInr(const Blobs& blobs, const ReaderOptions& options, const std::string& where) {
  return std::make_unique<TpcInrDecoder>(blobs, options, where);
}

}  // namespace detail
}  // namespace hepvq
