// pixel_vq encoding in C++, step for step what hepvq/pixel/codec.py PixelVQCodec._encode does for one event with
// lossless positions or without (a rare mask coded as the largest table shape inside it, as
// PixelVQCodec.shape_index does): patches from the core (extract_patches), shape table lookup or escape, charge level of
// the patch total (log grid, boundaries at geometric means), VQ codes of the multi-hit patches from encoder.onnx,
// context ranks, module table with delta-coded detIds and column deltas (255 + "farcols"), and with an ADC
// error bound the corrections against the codec's own decode (the core, as the reader decodes).
#include "hepvq/encoder.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <unordered_map>

#include "codec_pixel_vq_f2.hpp"
#include "hepvq/patches.hpp"
#include "hepvq/pixel_vq.hpp"
#include "hepvq/pixel_vq_f2_encode.hpp"
#include "hepvq/rans.hpp"
#include "hepvq/sha256.hpp"
#include "hepvq/vq_search.hpp"
#include "internal.hpp"
#include "json_util.hpp"
#include "onnx.hpp"

namespace hepvq {

using detail::json;

namespace {
const std::int64_t kBatch = 16384;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ReadError("pixel_vq model: cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// the narrowest unsigned type for max_value (PixelVQCodec's _uint_dtype)
std::pair<char, std::string> uint_type(std::uint64_t max_value) {
  if (max_value <= 0xFF) return {'b', "uint8"};
  if (max_value <= 0xFFFF) return {'s', "uint16"};
  if (max_value <= 0xFFFFFFFFULL) return {'i', "uint32"};
  return {'l', "uint64"};
}

// Python's json.dumps(obj, sort_keys=True) (hepvq's json_blob): ", " and ": " separators, keys sorted (nlohmann's
// objects are), numbers and strings as nlohmann writes them (shortest round-trip floats, as Python's repr)
std::string python_dumps(const json& j) {
  if (j.is_object()) {
    std::string out = "{";
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out += (first ? "" : ", ") + json(it.key()).dump() + ": " + python_dumps(it.value());
      first = false;
    }
    return out + "}";
  }
  if (j.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < j.size(); ++i) out += (i ? ", " : "") + python_dumps(j[i]);
    return out + "]";
  }
  return j.dump(-1, ' ', true);
}

std::vector<std::int32_t> inverse(const std::vector<std::int32_t>& perm, std::size_t symbols) {
  std::vector<std::int32_t> inv(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) inv[(i / symbols) * symbols + perm[i]] = static_cast<std::int32_t>(i % symbols);
  return inv;
}
}  // namespace

struct PixelVQEncoder::Impl {
  std::string dir, where;
  EncoderOptions options;
  json settings;
  std::string settings_blob, decoder_bytes;
  std::unique_ptr<detail::PixelVQCodecCore> codec;  // decode of what was encoded (corrections)
  std::unique_ptr<detail::OnnxModel> encoder;
  int module_rows = 0, module_cols = 0;
  std::unordered_map<std::uint64_t, std::int64_t> shape_of;
  std::vector<std::int32_t> inv_shape, inv_charge;
  std::vector<std::vector<std::int32_t>> inv_code;
  std::vector<EncodedField> fields;
  std::uint32_t crc = 0;
  // format 2: the operating point's tables (blob, contexts, stream tables) and the rate-aware code search
  std::string tables_blob;
  std::unique_ptr<detail::PixelVQF2Format> f2;
  std::unique_ptr<VQSearch> search;
  // field indices in `fields`
  enum { kCharge, kDcol, kRow, kShape, kCodes0 };
  std::size_t i_corr_dadc = 0, i_corr_dhit = 0, i_esc = 0, i_far = 0, i_ddet = 0, i_npatch = 0;

  const PixelVQModel& m() const { return codec->model(); }

  void setup() {
    settings = detail::parse_json(read_file(dir + "/codec.json"), "pixel_vq model " + dir + "/codec.json");
    // the options decide, as the cfg's parameters do over the model's codec.json (PixelVQCodec's constructor)
    if (options.adcErrorBound >= 0 && !options.losslessPositions)
      throw ReadError(where + ": adc_error_bound needs lossless_positions=True (corrections refer to every input hit)");
    if (options.format == 2) setup_f2_settings();
    else if (options.format != 1) throw ReadError("parameter --format: " + std::to_string(options.format) + " (1 or 2)");
    settings["encoding"] = {{"lossless_positions", options.losslessPositions},
                            {"adc_error_bound", options.adcErrorBound}};
    settings_blob = options.format == 2 ? python_dumps(settings) : settings.dump();
    decoder_bytes = read_file(dir + "/decoder.onnx");
    ReaderOptions ro;
    ro.provider = options.provider;
    ro.intraOpThreads = options.intraOpThreads;
    detail::Blobs blobs = {{"settings", settings_blob}, {"decoder.onnx", decoder_bytes}};
    if (options.format == 2) blobs["tables"] = tables_blob;
    codec = detail::makePixelVQCore(blobs, ro, where);
    encoder = std::make_unique<detail::OnnxModel>(read_file(dir + "/encoder.onnx"), ro, where + ": encoder.onnx");
    for (const char* key : {"patch_rows", "patch_cols", "stages"}) {
      const std::int64_t want = std::string(key) == "patch_rows" ? m().patch_rows
                                : std::string(key) == "patch_cols" ? m().patch_cols : m().stages();
      if (encoder->metadata(key) != std::to_string(want))
        throw ReadError(where + ": encoder ONNX model has " + key + "=" + encoder->metadata(key) +
                        " but the codec settings say " + std::to_string(want));
    }
    module_rows = settings.at("module_rows").get<int>();
    module_cols = settings.at("module_cols").get<int>();
    for (std::size_t i = 0; i < m().shapes.size(); ++i) shape_of.emplace(m().shapes[i], static_cast<std::int64_t>(i));
    if (options.format == 2) return setup_f2();
    const std::size_t n_sym = m().shapes.size() + 1;
    if (!m().shape_perm.empty()) inv_shape = inverse(m().shape_perm, n_sym);
    if (!m().charge_perm.empty()) inv_charge = inverse(m().charge_perm, m().levels.size());
    for (int s = 0; s < static_cast<int>(m().code_perm.size()); ++s)
      inv_code.push_back(inverse(m().code_perm[s], static_cast<std::size_t>(m().codebook_sizes[s])));
    // the products, instances and fields in sorted order (the checksum's order); types as Python's codec
    auto add = [&](const std::string& inst, const std::string& field, std::pair<char, std::string> t) {
      fields.push_back({inst, field, t.first, t.second, {}});
      return fields.size() - 1;
    };
    add("", "charge", uint_type(m().levels.size() - 1));
    add("", "dcol", {'b', "uint8"});
    add("", "row", module_rows <= 256 ? std::make_pair('b', std::string("uint8")) : std::make_pair('s', std::string("uint16")));
    add("", "shape", uint_type(m().shapes.size()));
    for (int s = 0; s < m().stages(); ++s)
      add("codes", "c" + std::to_string(s), uint_type(static_cast<std::uint64_t>(m().codebook_sizes[s] - 1)));
    if (options.adcErrorBound >= 0) {
      i_corr_dadc = add("corrections", "dadc", {'S', "int16"});
      i_corr_dhit = add("corrections", "dhit", {'i', "uint32"});
    }
    i_esc = add("escapes", "mask", uint_type(m().size() == 64 ? ~0ULL : (1ULL << m().size()) - 1));
    i_far = add("farcols", "dcol", {'s', "uint16"});
    i_ddet = add("modules", "ddet", {'i', "uint32"});
    i_npatch = add("modules", "npatch", {'s', "uint16"});
  }

  // PixelVQFormat2.__init__ from a model directory: format 1's settings without the rank tables, the operating
  // point's charge grid (the tables header's, which PixelVQFormat2 checks against the point's) and "format2"
  void setup_f2_settings() {
    const std::string& op = options.operatingPoint;
    if (op != "fine" && op != "default" && op != "coarse")
      throw ReadError("parameter --operating-point: '" + op + "' (fine, default or coarse)");
    const std::string file = "format2_" + op + ".tables";
    {
      std::ifstream probe(dir + "/" + file, std::ios::binary);
      if (!probe)
        throw ReadError("pixel_vq model " + dir + " has no format-2 tables for operating point '" + op + "' (" + file +
                        "); fit them with: hepvq-train pixel-vq-tables --model " + dir);
    }
    tables_blob = read_file(dir + "/" + file);
    const char magic[] = "HEPVQ-PXF2\n";
    const std::size_t ml = sizeof(magic) - 1;
    if (tables_blob.size() < ml + 4 || tables_blob.compare(0, ml, magic) != 0)
      throw ReadError(where + ": " + file + ": not pixel_vq format-2 tables (bad magic)");
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(tables_blob[ml + i])) << (8 * i);
    if (n > tables_blob.size() - ml - 4) throw ReadError(where + ": " + file + ": header truncated");
    const json head = detail::parse_json(tables_blob.substr(ml + 4, n), where + ": " + file);
    if (head.value("operating_point", std::string()) != op)
      throw ReadError(where + ": " + file + " was fitted for operating point '" +
                      head.value("operating_point", std::string("?")) + "', not '" + op + "'");
    settings.erase("ranks");
    // the tables' extra shapes extend the model's shape table (PixelVQFormat2.__init__, format2.EXTRA_SHAPES)
    if (head.contains("extra_shapes"))
      for (const auto& v : head.at("extra_shapes")) settings["shapes"].push_back(v);
    settings["charge_step"] = head.at("charge_step");
    settings["charge_levels"] = head.at("charge_levels");
    settings["format2"] = {{"operating_point", op}, {"charge_step", head.at("charge_step")}, {"mu", head.at("mu")},
                           {"tables_sha256", sha256_hex(tables_blob.data(), tables_blob.size())}};
    // an operating point's own code choice (format2.RATE_KEYS), in the header when the point sets it
    for (const char* key : {"rate_lambda", "rate_topk"})
      if (head.contains(key)) settings["format2"][key] = head.at(key);
    if (head.contains("rate_lambda")) rate_lambda = head.at("rate_lambda").get<double>();
    if (head.contains("rate_topk")) rate_topk = head.at("rate_topk").get<int>();
    settings["version"] = 2;
    mu = head.at("mu").get<double>();
  }

  double mu = 0;
  double rate_lambda = -1;  // < 0: the model's centroid_lambda
  int rate_topk = 16;       // format2.RATE_TOPK

  // the products of format 2 (PixelVQFormat2._encode / format2.encode_products): main counts, one byte stream per
  // field, the unknown detIds; the rate-aware code search (FastVQSearch(codebook, RATE_TOPK, lambda) with the
  // code0 table's bits, as PixelVQFormat2._rate_search)
  void setup_f2() {
    f2 = std::make_unique<detail::PixelVQF2Format>(settings, tables_blob, m(), where);
    if (m().stages() != 1 || !m().has_codebooks())
      throw ReadError(where + ": format 2 encodes one-stage VQ models with codebooks only");
    if (!(mu > 0)) throw ReadError(where + ": format 2 operating point with mu <= 0 is not supported by hepvq_encode");
    const std::size_t k = static_cast<std::size_t>(m().codebook_sizes[0]), d = static_cast<std::size_t>(m().size());
    std::vector<double> cb(m().codebooks[0].begin(), m().codebooks[0].end());
    if (rate_topk < 1) throw ReadError(where + ": format-2 tables: rate_topk " + std::to_string(rate_topk) + " < 1");
    const double lam = rate_lambda >= 0 ? rate_lambda
                       : std::stod(encoder->metadata("centroid_lambda").empty() ? std::string("0.3")
                                                                                : encoder->metadata("centroid_lambda"));
    search = std::make_unique<VQSearch>(std::move(cb), k, d, std::min<int>(rate_topk, static_cast<int>(k)), lam,
                                        m().patch_cols);
    search->tol = 1e-9;  // fastsearch.TOL
    const auto& names = f2->names();
    const std::size_t c0 = std::find(names.begin(), names.end(), "code0") - names.begin();
    search->rate_bits = pixel_vq_f2_rate_bits(f2->tables().at(c0), k);
    search->rate_contexts = f2->tables().at(c0).n_contexts;
    search->rate_mu = mu;
    fields.clear();
    for (const char* c : {"nmod", "ncl", "npatch"}) fields.push_back({"", c, 'i', "uint32", {}, "record"});
    for (const auto& name : names) fields.push_back({"s_" + name, "", 'b', "uint8", {}, "jagged"});
    i_far = fields.size();
    fields.push_back({"fardet", "", 'i', "uint32", {}, "jagged"});
    if (options.adcErrorBound >= 0) {  // format 1's corrections product (PixelVQCodec._corrections' field order)
      i_corr_dhit = fields.size();
      fields.push_back({"corrections", "dhit", 'i', "uint32", {}, "jagged_record"});
      i_corr_dadc = fields.size();
      fields.push_back({"corrections", "dadc", 'S', "int16", {}, "jagged_record"});
    }
  }

  void encode_f2(const PatchSet& p) {
    const std::size_t n = p.mask.size();
    const int d = m().size();
    std::vector<std::uint64_t> masks(n);
    std::vector<std::int64_t> shape(n), total(n), nhit(n), charge(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t mask = p.mask[i];
      auto it = shape_of.find(mask);
      std::int64_t s = it == shape_of.end() ? m().escape() : it->second;
      if (s == m().escape() && !options.losslessPositions) {
        const std::int64_t best = largest_subset_shape(mask);
        if (best >= 0) {
          s = best;
          mask = m().shapes[static_cast<std::size_t>(best)];
        }
      }
      masks[i] = mask;
      shape[i] = s;
    }
    std::vector<float> x;
    if (n) patch_fractions(masks.data(), p.adc.data(), n, d, total.data(), nhit.data(), x);
    std::vector<std::uint8_t> multi(n);
    std::vector<std::uint64_t> mask_m;
    std::vector<std::int64_t> ctx_m;
    for (std::size_t i = 0; i < n; ++i) {
      charge[i] = level_of(total[i]);
      multi[i] = nhit[i] >= 2;
      if (multi[i]) {
        mask_m.push_back(masks[i]);
        ctx_m.push_back(pixel_vq_f2_code_context(m(), f2->context(), shape[i], nhit[i], charge[i]));
      }
    }
    std::vector<std::int64_t> codes(mask_m.size());
    std::vector<std::uint8_t> amb(mask_m.size());
    // rows the core flags within 1e-9 of a tie keep the core's choice (Python sends them to its numpy search)
    if (!mask_m.empty()) search->search_rate(x.data(), mask_m.data(), ctx_m.data(), mask_m.size(), codes.data(), amb.data());
    std::vector<std::int64_t> ev(n, 0);
    PixelVQF2PatchesIn in;
    in.n = n;
    in.n_events = 1;
    in.event = ev.data();
    in.det = p.det.data();
    in.row = p.row.data();
    in.col = p.col.data();
    in.cluster = p.cluster.data();
    in.shape = shape.data();
    in.mask = masks.data();
    in.charge = charge.data();
    in.multi = multi.data();
    in.codes = codes.data();
    in.n_multi = codes.size();
    hepvq::PixelVQF2Symbols sy = pixel_vq_f2_symbols(m(), f2->context(), in);
    fields[0].values = {sy.nmod[0]};
    fields[1].values = {sy.ncl[0]};
    fields[2].values = {sy.npatch[0]};
    for (std::size_t k = 0; k < sy.sym.size(); ++k) {
      std::vector<std::uint32_t> sym(sy.sym[k].begin(), sy.sym[k].end()), ctx(sy.ctx[k].begin(), sy.ctx[k].end());
      const std::vector<std::uint8_t> bytes = rans::encode(sym.data(), ctx.data(), sym.size(), f2->tables()[k]);
      fields[3 + k].values.assign(bytes.begin(), bytes.end());
    }
    fields[i_far].values = sy.fardet;
    if (options.adcErrorBound < 0) return;
    // the decoded ADC of every hit (canonical order), as PixelVQCodec._decode_hit_adc: fractions from the codebooks,
    // the core's per-hit gather; then the corrections against the input
    PixelVQPatches pp;
    pp.mask = masks;
    pp.multi_row.assign(n, -1);
    std::int64_t r = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (multi[i]) pp.multi_row[i] = r++;
    pp.codes = codes;
    pp.n_multi = codes.size();
    const std::vector<float> frac = pixel_vq_fractions(m(), pp);
    std::vector<std::int64_t> level(n), dec(p.order.size());
    for (std::size_t i = 0; i < n; ++i) level[i] = m().levels[static_cast<std::size_t>(charge[i])];
    hit_adc(frac.data(), pp.n_multi, d, multi.data(), level.data(), n, p.hit_patch.data(), p.slot.data(), dec.size(),
            m().adc_min, m().adc_max, dec.data());
    add_corrections(dec, p);
  }

  std::vector<double> bounds;
  // quantise_charge: the nearest charge level in log space (boundaries at geometric means)
  std::int64_t level_of(std::int64_t total) {
    if (bounds.size() + 1 != m().levels.size()) {
      bounds.resize(m().levels.size() - 1);
      for (std::size_t i = 0; i + 1 < m().levels.size(); ++i)
        bounds[i] = std::sqrt(static_cast<double>(m().levels[i]) * static_cast<double>(m().levels[i + 1]));
    }
    return std::lower_bound(bounds.begin(), bounds.end(), static_cast<double>(total)) - bounds.begin();
  }

  [[noreturn]] void fail(std::int64_t entry, const std::string& what) const {
    throw ReadError(where + ", entry " + std::to_string(entry) + ": " + what);
  }

  void encode(const PixelDigis& h, std::int64_t entry) {
    const std::size_t n = h.size();
    std::vector<std::int64_t> ev(n, 0), det(n), row(n), col(n), adc(n);
    for (std::size_t i = 0; i < n; ++i) {
      det[i] = h.detId[i];
      row[i] = h.row[i];
      col[i] = h.col[i];
      adc[i] = h.adc[i];
      if (row[i] >= module_rows || col[i] >= module_cols)
        fail(entry, "pixel DIGI outside the module's range " + std::to_string(module_rows) + " rows x " +
                        std::to_string(module_cols) + " cols: detId=" + std::to_string(det[i]) + " row=" +
                        std::to_string(row[i]) + " col=" + std::to_string(col[i]));
      if (adc[i] < 1 || adc[i] > m().adc_max)
        fail(entry, "pixel DIGI ADC outside the model's range 1.." + std::to_string(m().adc_max) + ": detId=" +
                        std::to_string(det[i]) + " row=" + std::to_string(row[i]) + " col=" + std::to_string(col[i]) +
                        " adc=" + std::to_string(adc[i]));
    }
    PixelHitsIn in;
    in.n = n;
    in.event = ev.data();
    in.det = det.data();
    in.row = row.data();
    in.col = col.data();
    in.adc = adc.data();
    in_det = det;
    in_row = row;
    in_col = col;
    in_adc = adc;
    PatchSet p;
    try {
      p = extract_patches(in, m().patch_rows, m().patch_cols, module_rows, module_cols);
    } catch (const std::exception& err) {
      fail(entry, err.what());
    }
    for (auto& f : fields) f.values.clear();
    if (options.format == 2) {
      try {
        encode_f2(p);
      } catch (const std::exception& err) {
        fail(entry, err.what());
      }
      check_ranges(entry);
      return checksum_of_fields();
    }
    const int d = m().size();
    detail::PixelVQSymbols sym;
    std::vector<float> x, mk;
    std::vector<std::int64_t> shape, charge, multi_shape;
    std::vector<std::size_t> kept;  // the patches coded (without lossless positions one may lose every hit)
    for (std::size_t i = 0; i < p.mask.size(); ++i) {
      std::uint64_t mask = p.mask[i];  // the mask coded
      auto it = shape_of.find(mask);
      std::int64_t s = it == shape_of.end() ? m().escape() : it->second;
      if (s == m().escape() && !options.losslessPositions) {
        const std::int64_t best = largest_subset_shape(mask);
        if (best >= 0) {
          s = best;
          mask = m().shapes[static_cast<std::size_t>(best)];
        }
      }
      std::int64_t total = 0;
      for (int k = 0; k < d; ++k)
        if ((mask >> k) & 1) total += p.adc[i * d + k];
      if (total == 0) continue;  // PixelVQCodec._symbols: keep = total > 0
      kept.push_back(i);
      shape.push_back(s);
      if (s == m().escape()) fields[i_esc].values.push_back(static_cast<std::int64_t>(mask));
      charge.push_back(level_of(total));
      if (__builtin_popcountll(mask) >= 2) {
        for (int k = 0; k < d; ++k) {
          const bool on = (mask >> k) & 1;
          x.push_back(on ? static_cast<float>(static_cast<double>(p.adc[i * d + k]) / static_cast<double>(total)) : 0.0f);
          mk.push_back(on ? 1.0f : 0.0f);
        }
        multi_shape.push_back(s);
      }
    }
    const std::size_t np = kept.size();
    std::vector<std::int64_t> codes;
    std::int64_t cols = 0;
    encoder->run_encoder("x", x, "mask", mk, d, "indices", static_cast<std::int64_t>(multi_shape.size()), kBatch,
                         codes, cols);
    const int stages = m().stages();
    if (!multi_shape.empty() && cols != stages)
      fail(entry, "encoder.onnx gave " + std::to_string(cols) + " indices per patch for a " + std::to_string(stages) +
                      "-stage model");
    // ranks given the shape (and the module's shape context)
    const std::size_t n_sym = m().shapes.size() + 1, n_lev = m().levels.size();
    for (std::size_t j = 0; j < np; ++j) {
      const std::size_t i = kept[j];
      const std::int64_t r_shape = inv_shape.empty() ? shape[j]
          : inv_shape[static_cast<std::size_t>(m().det_context(p.det[i])) * n_sym + shape[j]];
      fields[kShape].values.push_back(r_shape);
      fields[kCharge].values.push_back(inv_charge.empty() ? charge[j] : inv_charge[shape[j] * n_lev + charge[j]]);
      fields[kRow].values.push_back(p.row[i]);
    }
    for (std::size_t j = 0; j < multi_shape.size(); ++j)
      for (int s = 0; s < stages; ++s) {
        const std::int64_t c = codes[j * stages + s], k = m().codebook_sizes[s];
        if (c < 0 || c >= k) fail(entry, "encoder.onnx gave code " + std::to_string(c) + " beyond the codebook");
        fields[kCodes0 + s].values.push_back(inv_code.empty() ? c : inv_code[s][multi_shape[j] * k + c]);
      }
    // module table (patches come sorted by detId, anchor col, anchor row) and column deltas
    for (std::size_t j = 0; j < np; ++j) {
      const std::size_t i = kept[j], prev = j == 0 ? 0 : kept[j - 1];
      const bool newmod = j == 0 || p.det[i] != p.det[prev];
      if (newmod) {
        fields[i_ddet].values.push_back(p.det[i] - (j == 0 ? 0 : p.det[prev]));
        fields[i_npatch].values.push_back(0);
      }
      ++fields[i_npatch].values.back();
      const std::int64_t dcol = p.col[i] - (newmod ? 0 : p.col[prev]);
      fields[kDcol].values.push_back(std::min<std::int64_t>(dcol, 255));
      if (dcol >= 255) fields[i_far].values.push_back(dcol - 255);
    }
    if (options.adcErrorBound >= 0) corrections(p, entry);
    check_ranges(entry);
    checksum_of_fields();
  }

  // every value must fit its branch type
  void check_ranges(std::int64_t entry) const {
    for (const auto& f : fields) {
      std::int64_t lo = 0, hi = 0;
      switch (f.leaf) {
        case 'b': hi = 0xFF; break;
        case 's': hi = 0xFFFF; break;
        case 'i': hi = 0xFFFFFFFFLL; break;
        case 'S': lo = -32768; hi = 32767; break;
        default: hi = std::numeric_limits<std::int64_t>::max();
      }
      for (auto v : f.values)
        if (v < lo || v > hi)
          fail(entry, "product '" + f.instance + "' field '" + f.field + "' value " + std::to_string(v) +
                          " does not fit " + f.type);
    }
  }

  // P.largest_subset_shape: the table shape with the most pixels among those inside `mask` (ties: the lowest
  // index), -1 when none (of at least one pixel) is
  std::int64_t largest_subset_shape(std::uint64_t mask) const {
    std::int64_t best = -1;
    int best_size = 0;
    for (std::size_t j = 0; j < m().shapes.size(); ++j) {
      const std::uint64_t t = m().shapes[j];
      if (t & ~mask) continue;
      const int size = __builtin_popcountll(t);
      if (size > best_size) {
        best = static_cast<std::int64_t>(j);
        best_size = size;
      }
    }
    return best;
  }

  void corrections(const PatchSet& p, std::int64_t entry) {
    detail::PixelVQSymbols y;
    y.charge = fields[kCharge].values;
    y.dcol = fields[kDcol].values;
    y.row = fields[kRow].values;
    y.shape = fields[kShape].values;
    for (int s = 0; s < m().stages(); ++s) y.codes.push_back(fields[kCodes0 + s].values);
    y.escapes = fields[i_esc].values;
    y.farcols = fields[i_far].values;
    y.ddet = fields[i_ddet].values;
    y.npatch = fields[i_npatch].values;
    PixelHits dec = codec->decodeSymbols(y);  // no corrections yet
    const std::size_t n = p.order.size();
    if (dec.det.size() != n) fail(entry, "the codec's decode gives " + std::to_string(dec.det.size()) + " hits for " +
                                         std::to_string(n));
    // lossless positions put every decoded hit where the input's hit order[k] (the k-th in canonical order) is
    for (std::size_t k = 0; k < n; ++k) {
      const std::int64_t i = p.order[k];
      if (dec.det[k] != in_det[i] || dec.row[k] != in_row[i] || dec.col[k] != in_col[i])
        fail(entry, "the codec's decode moved hit " + std::to_string(k) + " (lossless positions broken)");
    }
    add_corrections(std::vector<std::int64_t>(dec.adc.begin(), dec.adc.end()), p);
  }

  // PixelVQCodec._corrections (formats 1 and 2): per hit in canonical order whose decoded ADC is off by more than
  // the bound, the hit index delta and the quantised correction
  void add_corrections(const std::vector<std::int64_t>& dec_adc, const PatchSet& p) {
    const std::size_t n = p.order.size();
    const std::int64_t bound = options.adcErrorBound, step = 2 * bound + 1;
    std::int64_t prev = 0;
    bool first = true;
    for (std::size_t k = 0; k < n; ++k) {
      const std::int64_t err = dec_adc[k] - in_adc[static_cast<std::size_t>(p.order[k])];
      if (std::llabs(err) <= bound) continue;
      const double q = std::nearbyint(static_cast<double>(-err) / static_cast<double>(step));
      fields[i_corr_dhit].values.push_back(first ? static_cast<std::int64_t>(k) : static_cast<std::int64_t>(k) - prev);
      fields[i_corr_dadc].values.push_back(static_cast<std::int64_t>(q));
      prev = static_cast<std::int64_t>(k);
      first = false;
    }
  }

  // guard.event_checksums: instances and fields in sorted order, each jagged column's count (uint32) before it
  void checksum_of_fields() {
    crc = 0;
    std::vector<const EncodedField*> sorted;
    for (const auto& f : fields) sorted.push_back(&f);
    std::stable_sort(sorted.begin(), sorted.end(), [](const EncodedField* a, const EncodedField* b) {
      return a->instance != b->instance ? a->instance < b->instance : a->field < b->field;
    });
    for (const EncodedField* fp : sorted) {
      const EncodedField& f = *fp;
      const std::uint32_t n = static_cast<std::uint32_t>(f.values.size());
      const unsigned char le[4] = {static_cast<unsigned char>(n), static_cast<unsigned char>(n >> 8),
                                   static_cast<unsigned char>(n >> 16), static_cast<unsigned char>(n >> 24)};
      if (f.kind != "record") crc = crc32_update(crc, le, 4);
      const int size = f.leaf == 'b' ? 1 : (f.leaf == 's' || f.leaf == 'S') ? 2 : f.leaf == 'i' ? 4 : 8;
      std::vector<unsigned char> bytes(f.values.size() * size);
      for (std::size_t i = 0; i < f.values.size(); ++i) {
        const std::uint64_t v = static_cast<std::uint64_t>(f.values[i]);
        for (int b = 0; b < size; ++b) bytes[i * size + b] = static_cast<unsigned char>(v >> (8 * b));
      }
      crc = crc32_update(crc, bytes.data(), bytes.size());
    }
  }

  std::vector<std::int64_t> in_det, in_row, in_col, in_adc;
};

PixelVQEncoder::PixelVQEncoder(const std::string& modelDir, const EncoderOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->dir = modelDir;
  impl_->where = "pixel_vq model " + modelDir;
  impl_->options = options;
  impl_->setup();
}

PixelVQEncoder::~PixelVQEncoder() = default;

const std::vector<EncodedField>& PixelVQEncoder::encode(const PixelDigis& hits, std::int64_t entry) {
  impl_->encode(hits, entry);
  return impl_->fields;
}

std::uint32_t PixelVQEncoder::checksum() const { return impl_->crc; }

std::vector<std::pair<std::string, std::string>> PixelVQEncoder::metadata() const {
  if (impl_->options.format == 2)
    return {{"decoder.onnx", impl_->decoder_bytes}, {"settings", impl_->settings_blob}, {"tables", impl_->tables_blob}};
  return {{"decoder.onnx", impl_->decoder_bytes}, {"settings", impl_->settings_blob}};
}

const std::string& PixelVQEncoder::onnxProvider() const { return impl_->encoder->provider(); }

}  // namespace hepvq
