// pixel_vq: the file's settings blob -> the core's PixelVQModel; per entry the index branches -> the core's
// streams -> patches; fractions of the multi-hit patches from the file's decoder.onnx (onnxruntime, batches
// of 16384 rows as in Python); the core turns patches + fractions + corrections into hits.
#include <cstring>

#include "codec_pixel_vq_f2.hpp"
#include "hepvq/pixel_vq.hpp"
#include "internal.hpp"
#include "json_util.hpp"
#include "onnx.hpp"
#include "onnx_weights.hpp"

#include <map>
#include <mutex>
#include <random>

#include "hepvq/sha256.hpp"

namespace hepvq {
namespace detail {

namespace {

const char* kFormat = "hepvq-pixel-vq";
const int kFormatVersion = 2;  // 2: format 2 (settings with "format2", codec_pixel_vq_f2.cpp)
const std::int64_t kBatch = 16384;  // PixelVQCodec's default batch_size

std::vector<std::int32_t> rank_table(const json& t, std::size_t contexts, std::size_t symbols,
                                     const std::string& where) {
  try {
    const auto raw = base64_decode(t.at("data").get<std::string>(), where);
    const auto dtype = t.at("dtype").get<std::string>();
    const auto shape = t.at("shape");
    if (shape.size() != 2 || shape[0].get<std::size_t>() != contexts || shape[1].get<std::size_t>() != symbols)
      throw ReadError(where + " has shape " + shape.dump() + ", expected [" + std::to_string(contexts) + ", " +
                      std::to_string(symbols) + "]");
    const std::size_t width = dtype == "|u1" ? 1 : (dtype == "<u2" ? 2 : 0);
    if (!width) throw ReadError(where + " has dtype " + dtype + " (expected |u1 or <u2)");
    if (raw.size() != contexts * symbols * width)
      throw ReadError(where + " has " + std::to_string(raw.size()) + " bytes for shape " + shape.dump());
    std::vector<std::int32_t> out(contexts * symbols);
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = width == 1 ? raw[i] : static_cast<std::int32_t>(raw[2 * i] | (raw[2 * i + 1] << 8));
    return out;
  } catch (const json::exception& err) {
    throw ReadError(where + " is corrupt (" + err.what() + ")");
  }
}

class PixelVQDecoder : public CollectionDecoder, public PixelVQCodecCore {
 public:
  PixelVQDecoder(const Blobs& blobs, const ReaderOptions& options, const std::string& where) : where_(where) {
    auto s = blobs.find("settings");
    if (s == blobs.end()) throw ReadError(where + ": compressed file lacks metadata 'settings' of the pixel_vq codec");
    auto d = blobs.find("decoder.onnx");
    if (d == blobs.end())
      throw ReadError(where + ": compressed file lacks metadata 'decoder.onnx' of the pixel_vq codec");
    const json j = parse_json(s->second, where + ": metadata 'settings'");
    try {
      setup(j);
    } catch (const json::exception& err) {
      throw ReadError(where + ": metadata 'settings' is not what the pixel_vq codec writes (" + err.what() + ")");
    } catch (const std::invalid_argument& err) {
      throw ReadError(where + ": " + err.what());
    }
    if (j.contains("format2")) {  // PixelVQFormat2.from_metadata
      auto t = blobs.find("tables");
      if (t == blobs.end())
        throw ReadError(where + ": compressed file lacks metadata 'tables' of the pixel_vq format-2 codec");
      try {
        f2_ = std::make_unique<PixelVQF2Format>(j, t->second, model_, where);
      } catch (const json::exception& err) {
        throw ReadError(where + ": metadata 'settings' is not what the pixel_vq format-2 codec writes (" +
                        err.what() + ")");
      }
    }
    onnx_bytes_ = d->second;
    options_ = options;
    const auto meta = onnx_metadata(onnx_bytes_);
    // the graph must belong to these settings (PixelVQCodec._check_onnx)
    const std::pair<const char*, std::int64_t> want[] = {{"patch_rows", model_.patch_rows},
                                                         {"patch_cols", model_.patch_cols},
                                                         {"adc_max", model_.adc_max},
                                                         {"stages", model_.stages()},
                                                         {"codebook_size", codebook_size_}};
    for (const auto& [key, value] : want) {
      const auto it = meta.find(key);
      const std::string got = it == meta.end() ? std::string() : it->second;
      if (got.empty()) throw ReadError(where + ": decoder ONNX model lacks metadata '" + key + "'");
      if (got != std::to_string(value))
        throw ReadError(where + ": decoder ONNX model has " + key + "=" + got + " but the codec settings say " +
                        std::to_string(value) + " (model and settings do not belong together)");
    }
    if (options.fractions != "onnx" && options.fractions != "auto")
      throw ReadError(where + ": option fractions='" + options.fractions + "' (expected auto or onnx)");
    if (options.fractions == "auto") use_core_ = try_codebooks(d->second);
    if (!use_core_) session();  // fail now, not at the first entry, if onnxruntime cannot load the graph
  }

  // the onnxruntime session of decoder.onnx, created when first needed (not at all when the core computes
  // the fractions of a model already checked in this process)
  OnnxModel& session() {
    if (!model_onnx_) model_onnx_ = std::make_unique<OnnxModel>(onnx_bytes_, options_, where_ + ": decoder.onnx");
    return *model_onnx_;
  }

  std::string method() const override {
    return use_core_ ? "core (codebooks of decoder.onnx)" : "onnxruntime (" + model_onnx_->provider() + ")";
  }

  void symbolsOf(const Products& products, PixelVQSymbols& y) const override {
    if (f2_) {
      f2_->symbolsOf(products, y.f2);
      y.has_corrections = products.count("corrections") != 0;
      optional(products, "corrections", "dhit", y.dhit);
      optional(products, "corrections", "dadc", y.dadc);
      return;
    }
    // the main product and the module table; the other instances may be absent when empty
    field(products, "", "shape", where_).toInt64(y.shape);
    field(products, "", "dcol", where_).toInt64(y.dcol);
    field(products, "", "row", where_).toInt64(y.row);
    field(products, "", "charge", where_).toInt64(y.charge);
    field(products, "modules", "ddet", where_).toInt64(y.ddet);
    field(products, "modules", "npatch", where_).toInt64(y.npatch);
    y.codes.resize(model_.stages());
    for (int st = 0; st < model_.stages(); ++st)
      field(products, "codes", "c" + std::to_string(st), where_).toInt64(y.codes[st]);
    optional(products, "escapes", "mask", y.escapes);
    optional(products, "farcols", "dcol", y.farcols);
    y.has_corrections = products.count("corrections") != 0;
    optional(products, "corrections", "dhit", y.dhit);
    optional(products, "corrections", "dadc", y.dadc);
  }

  void decode(const Products& products, Event& out) override {
    symbolsOf(products, sym_);
    PixelHits h = decodeSymbols(sym_);
    out.pixel.detId.swap(h.det);
    out.pixel.row.swap(h.row);
    out.pixel.col.swap(h.col);
    out.pixel.adc.swap(h.adc);
  }

  PixelHits decodeSymbols(const PixelVQSymbols& y) override { return decodeChunk({y}, 1); }

  const PixelVQModel& model() const override { return model_; }
  int adcErrorBound() const override { return adc_error_bound_; }
  std::int64_t codebookSize() const override { return codebook_size_; }

  PixelHits decodeChunk(const std::vector<PixelVQSymbols>& events, int threads) override {
    if (f2_) return decodeChunkF2(events, threads);
    // the events' streams concatenated, with per-event counts (the core decodes a chunk of events)
    PixelVQSymbols& c = chunk_;
    c = PixelVQSymbols();
    c.codes.resize(model_.stages());
    n_patch_.clear();
    n_module_.clear();
    n_corr_.clear();
    bool corr = false;
    for (const auto& y : events) {
      if (y.dcol.size() != y.shape.size() || y.row.size() != y.shape.size() || y.charge.size() != y.shape.size())
        throw ReadError(where_ + ": fields of the main product differ in length");
      if (y.npatch.size() != y.ddet.size()) throw ReadError(where_ + ": fields of 'modules' differ in length");
      if (y.dadc.size() != y.dhit.size()) throw ReadError(where_ + ": fields of 'corrections' differ in length");
      if (static_cast<int>(y.codes.size()) != model_.stages())
        throw ReadError(where_ + ": " + std::to_string(y.codes.size()) + " code fields for a " +
                        std::to_string(model_.stages()) + "-stage model");
      for (const auto& k : y.codes)
        if (k.size() != y.codes[0].size()) throw ReadError(where_ + ": fields of 'codes' differ in length");
      auto append = [](std::vector<std::int64_t>& to, const std::vector<std::int64_t>& from) {
        to.insert(to.end(), from.begin(), from.end());
      };
      append(c.shape, y.shape);
      append(c.dcol, y.dcol);
      append(c.row, y.row);
      append(c.charge, y.charge);
      append(c.ddet, y.ddet);
      append(c.npatch, y.npatch);
      append(c.escapes, y.escapes);
      append(c.farcols, y.farcols);
      append(c.dhit, y.dhit);
      append(c.dadc, y.dadc);
      for (int st = 0; st < model_.stages(); ++st) append(c.codes[st], y.codes[st]);
      n_patch_.push_back(static_cast<std::int64_t>(y.shape.size()));
      n_module_.push_back(static_cast<std::int64_t>(y.ddet.size()));
      n_corr_.push_back(static_cast<std::int64_t>(y.dhit.size()));
      corr = corr || y.has_corrections;
    }
    escapes_.assign(c.escapes.begin(), c.escapes.end());
    PixelVQStreams s;
    s.n_events = events.size();
    s.n_patch = n_patch_.data();
    s.n_module = n_module_.data();
    s.n_corr = corr ? n_corr_.data() : nullptr;
    s.shape = c.shape.data();
    s.dcol = c.dcol.data();
    s.row = c.row.data();
    s.charge = c.charge.data();
    s.patches = c.shape.size();
    s.ddet = c.ddet.data();
    s.npatch = c.npatch.data();
    s.modules = c.ddet.size();
    for (auto& k : c.codes) s.codes.push_back(k.data());
    s.code_rows = c.codes.empty() ? 0 : c.codes[0].size();
    s.escapes = escapes_.data();
    s.n_escapes = escapes_.size();
    s.farcols = c.farcols.data();
    s.n_farcols = c.farcols.size();
    s.dhit = c.dhit.data();
    s.dadc = c.dadc.data();
    s.n_corrections = c.dhit.size();
    s.adc_error_bound = adc_error_bound_;
    try {
      const PixelVQPatches p = pixel_vq_patches(model_, s);
      if (use_core_) return pixel_vq_hits(model_, p, nullptr, s, threads);  // fractions from the codebooks
      onnx_fractions(p, frac_);
      return pixel_vq_hits(model_, p, frac_.data(), s, threads);
    } catch (const DataError& err) {
      throw ReadError(where_ + ": " + err.what());
    }
  }

 private:
  // format 2: streams -> patches by the core's format-2 decoder, then fractions, corrections and hits as format 1
  PixelHits decodeChunkF2(const std::vector<PixelVQSymbols>& events, int threads) {
    std::vector<const PixelVQF2Symbols*> f2;
    n_corr_.clear();
    dhit_.clear();
    dadc_.clear();
    for (const auto& y : events) {
      // format2._check_instances: corrections exactly when the settings have an ADC error bound
      if (adc_error_bound_ >= 0 && !y.has_corrections)
        throw ReadError(where_ + ": pixel_vq format 2 decode: product instance 'corrections' is missing");
      if (adc_error_bound_ < 0 && y.has_corrections)
        throw ReadError(where_ + ": pixel_vq format 2 decode: product 'corrections' present but the settings have "
                                 "no ADC error bound (adc_error_bound -1): settings and products do not belong together");
      if (y.dadc.size() != y.dhit.size()) throw ReadError(where_ + ": fields of 'corrections' differ in length");
      f2.push_back(&y.f2);
      n_corr_.push_back(static_cast<std::int64_t>(y.dhit.size()));
      dhit_.insert(dhit_.end(), y.dhit.begin(), y.dhit.end());
      dadc_.insert(dadc_.end(), y.dadc.begin(), y.dadc.end());
    }
    PixelVQStreams s;  // only the corrections: the patches come from the format-2 streams
    s.n_events = events.size();
    if (adc_error_bound_ >= 0) {
      s.n_corr = n_corr_.data();
      s.dhit = dhit_.data();
      s.dadc = dadc_.data();
      s.n_corrections = dhit_.size();
    }
    s.adc_error_bound = adc_error_bound_;
    try {
      const PixelVQPatches p = f2_->patches(model_, f2, threads);
      if (use_core_) return pixel_vq_hits(model_, p, nullptr, s, threads);
      onnx_fractions(p, frac_);
      return pixel_vq_hits(model_, p, frac_.data(), s, threads);
    } catch (const DataError& err) {
      throw ReadError(where_ + ": " + err.what());
    }
  }

  void onnx_fractions(const PixelVQPatches& p, std::vector<float>& frac) {
    // the decoder graph's inputs for the multi-hit patches: code symbols and the dense mask
    const int d = model_.size();
    mask_.assign(p.n_multi * d, 0.0f);
    for (std::size_t i = 0; i < p.mask.size(); ++i) {
      const std::int64_t r = p.multi_row[i];
      if (r < 0) continue;
      for (int k = 0; k < d; ++k) mask_[r * d + k] = ((p.mask[i] >> k) & 1) ? 1.0f : 0.0f;
    }
    session().run("indices", p.codes, model_.stages(), "mask", mask_, d, "fractions",
                     static_cast<std::int64_t>(p.n_multi), kBatch, frac);
    if (frac.size() != p.n_multi * d) throw ReadError(where_ + ": decoder.onnx gave fractions of the wrong size");
  }

  // A VQ decoder (initializers book0.. of shape codebook_sizes[s] x patch size): the core computes the
  // fractions when it gives onnxruntime's bytes exactly on random patches (as Python's fast encoder search
  // is checked); anything else (VQ-VAE, another graph, a mismatch) keeps onnxruntime.
  bool try_codebooks(const std::string& onnx) {
    const auto inits = onnx_float_initializers(onnx);
    std::vector<std::vector<float>> books;
    for (int st = 0; st < model_.stages(); ++st) {
      auto it = inits.find("book" + std::to_string(st));
      if (it == inits.end() || it->second.dims.size() != 2 || it->second.dims[0] != model_.codebook_sizes[st] ||
          it->second.dims[1] != model_.size() ||
          it->second.values.size() != static_cast<std::size_t>(model_.codebook_sizes[st] * model_.size()))
        return false;
      books.push_back(it->second.values);
    }
    if (books.empty() || inits.size() != books.size()) return false;  // other weights: not a plain codebook graph
    model_.codebooks = books;
    // the verdict for this graph is kept for the process (opening many files of one model checks it once)
    static std::mutex mutex;
    static std::map<std::string, bool> verdicts;
    const std::string key = sha256_hex(onnx.data(), onnx.size()) + "/" + options_.provider;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto v = verdicts.find(key);
      if (v != verdicts.end()) {
        if (!v->second) model_.codebooks.clear();
        return v->second;
      }
    }
    const bool ok = codebooks_match();
    std::lock_guard<std::mutex> lock(mutex);
    verdicts[key] = ok;
    return ok;
  }

  // the core's fractions against onnxruntime's on random multi-hit patches, bit for bit
  bool codebooks_match() {
    std::mt19937_64 rng(12345);
    PixelVQPatches p;
    const std::size_t n = 4096;
    const int d = model_.size();
    p.n_events = 1;
    p.n_multi = n;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t mask = 0;
      const double density = 0.05 + 0.6 * (rng() % 1000) / 1000.0;
      for (int k = 0; k < d; ++k)
        if ((rng() % 1000) / 1000.0 < density) mask |= 1ULL << k;
      mask |= 1ULL << (rng() % d);
      mask |= 1ULL << (rng() % d);
      if (__builtin_popcountll(mask) < 2) mask |= (mask == 1ULL ? 2ULL : 1ULL);
      p.mask.push_back(mask);
      p.multi_row.push_back(static_cast<std::int64_t>(i));
      for (int st = 0; st < model_.stages(); ++st)
        p.codes.push_back(static_cast<std::int64_t>(rng() % model_.codebook_sizes[st]));
    }
    std::vector<float> ref;
    onnx_fractions(p, ref);
    const auto core = pixel_vq_fractions(model_, p);
    if (core.size() == ref.size() && std::memcmp(core.data(), ref.data(), ref.size() * sizeof(float)) == 0)
      return true;
    model_.codebooks.clear();
    return false;
  }

  void setup(const json& j) {
    if (j.value("format", std::string()) != kFormat)
      throw ReadError(where_ + ": not a pixel_vq model (format " + j.value("format", json()).dump() + ", expected " +
                      kFormat + ")");
    if (j.value("version", 0) > kFormatVersion)
      throw ReadError(where_ + ": pixel_vq format version " + std::to_string(j.value("version", 0)) +
                      " is newer than this reader (" + std::to_string(kFormatVersion) + ")");
    if (j.value("version", 0) >= 2 && !j.contains("format2"))
      throw ReadError(where_ + ": pixel_vq settings of version " + std::to_string(j.value("version", 0)) +
                      " lack 'format2' (the format-2 operating point and tables hash)");
    model_.patch_rows = j.at("patch_rows").get<int>();
    model_.patch_cols = j.at("patch_cols").get<int>();
    model_.adc_min = j.at("adc_min").get<int>();
    model_.adc_max = j.at("adc_max").get<int>();
    for (const auto& v : j.at("charge_levels")) model_.levels.push_back(as_int(v, where_ + ": charge_levels"));
    for (const auto& v : j.at("shapes"))
      model_.shapes.push_back(static_cast<std::uint64_t>(as_int(v, where_ + ": shapes")));
    const auto& m = j.at("model");
    const int stages = m.at("stages").get<int>();
    codebook_size_ = m.at("codebook_size").get<std::int64_t>();
    if (m.contains("codebook_sizes"))
      for (const auto& k : m.at("codebook_sizes")) model_.codebook_sizes.push_back(k.get<std::int64_t>());
    else
      model_.codebook_sizes.assign(stages, codebook_size_);
    if (static_cast<int>(model_.codebook_sizes.size()) != stages)
      throw ReadError(where_ + ": settings give " + std::to_string(model_.codebook_sizes.size()) +
                      " codebook sizes for " + std::to_string(stages) + " stages");
    if (j.contains("shape_context") && j.at("shape_context").is_object()) {
      const auto& sc = j.at("shape_context");
      for (const auto& bf : sc.value("bitfields", json::array()))
        model_.ctx_bitfields.emplace_back(bf.at(0).get<int>(), bf.at(1).get<std::int64_t>());
      for (const auto& k : sc.value("keys", json::array())) model_.ctx_keys.push_back(k.get<std::int64_t>());
    }
    const std::size_t n_sym = model_.shapes.size() + 1;
    if (j.contains("ranks") && j.at("ranks").is_object() && !j.at("ranks").empty()) {
      const auto& r = j.at("ranks");
      auto table = [&](const std::string& name, std::size_t ctx, std::size_t sym) {
        if (!r.contains(name)) throw ReadError(where_ + ": pixel_vq settings: rank table '" + name + "' missing");
        return rank_table(r.at(name), ctx, sym, where_ + ": pixel_vq settings: rank table '" + name + "'");
      };
      model_.charge_perm = table("charge", n_sym, model_.levels.size());
      for (int st = 0; st < stages; ++st)
        model_.code_perm.push_back(table("c" + std::to_string(st), n_sym, model_.codebook_sizes[st]));
      if (r.contains("shape")) model_.shape_perm = table("shape", model_.ctx_keys.size() + 1, n_sym);
    }
    const auto enc = j.value("encoding", json::object());
    adc_error_bound_ = enc.value("adc_error_bound", -1);
    model_.validate();
  }

  static void optional(const Products& products, const std::string& inst, const std::string& name,
                       std::vector<std::int64_t>& out) {
    out.clear();
    auto p = products.find(inst);
    if (p == products.end()) return;
    auto f = p->second.find(name);
    if (f != p->second.end()) f->second->toInt64(out);
  }

  std::string where_;
  PixelVQModel model_;
  std::int64_t codebook_size_ = 0;
  int adc_error_bound_ = -1;
  std::unique_ptr<OnnxModel> model_onnx_;
  std::string onnx_bytes_;
  ReaderOptions options_;
  bool use_core_ = false;
  std::unique_ptr<PixelVQF2Format> f2_;  // format 2 (null: format 1)
  std::vector<std::int64_t> dhit_, dadc_;
  // per-entry buffers, reused
  PixelVQSymbols sym_, chunk_;
  std::vector<std::uint64_t> escapes_;
  std::vector<float> mask_, frac_;
  std::vector<std::int64_t> n_patch_, n_module_, n_corr_;
};

}  // namespace

std::unique_ptr<CollectionDecoder> makePixelVQ(const Blobs& blobs, const ReaderOptions& options,
                                               const std::string& where) {
  return std::make_unique<PixelVQDecoder>(blobs, options, where);
}

std::unique_ptr<PixelVQCodecCore> makePixelVQCore(const Blobs& blobs, const ReaderOptions& options,
                                                  const std::string& where) {
  return std::make_unique<PixelVQDecoder>(blobs, options, where);
}

}  // namespace detail
}  // namespace hepvq
