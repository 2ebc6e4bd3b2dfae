// pixel_vq format 2 in the C++ reader: see codec_pixel_vq_f2.hpp.  The checks mirror PixelVQFormat2.__init__ and
// format2.Tables.from_bytes; the decode is the core's (pixel_vq_f2_patches), as for Python's decode_core.
#include "codec_pixel_vq_f2.hpp"

#include <cstring>
#include <map>

#include "hepvq/sha256.hpp"

namespace hepvq {
namespace detail {

namespace {

const char kMagic[] = "HEPVQ-PXF2\n";  // format2.MAGIC
const std::size_t kMagicLen = sizeof(kMagic) - 1;
// format2.py's context constants (not stored in the tables header: they are part of the format)
const std::vector<std::int64_t> kNclEdges = {2, 4, 8, 16, 32};
const int kOwnShapes = 32, kNhitBuckets = 8, kChargeBuckets = 4, kTilePositions = 17;

}  // namespace

PixelVQF2Format::PixelVQF2Format(const json& settings, const std::string& blob, const PixelVQModel& model,
                                 const std::string& where)
    : where_(where) {
  const json& f2 = settings.at("format2");
  if (!f2.is_object()) throw ReadError(where + ": pixel_vq settings: 'format2' is not an object");
  // the tables belong to these settings (PixelVQFormat2: sha256 of the blob == settings' tables_sha256)
  const std::string want_sha = f2.value("tables_sha256", std::string());
  if (sha256_hex(blob.data(), blob.size()) != want_sha)
    throw ReadError(where + ": pixel_vq format-2 tables do not match the sha256 in the settings (" +
                    (want_sha.empty() ? std::string("?") : want_sha.substr(0, 16)) +
                    "...); the tables belong to another model or operating point");
  // format2.Tables.from_bytes: MAGIC, uint32 header length, JSON header, one rANS table per stream
  const std::string tw = where + ": metadata 'tables'";
  if (blob.size() < kMagicLen + 4 || std::memcmp(blob.data(), kMagic, kMagicLen) != 0)
    throw ReadError(tw + ": not pixel_vq format-2 tables (bad magic)");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(blob[kMagicLen + i])) << (8 * i);
  std::size_t pos = kMagicLen + 4;
  if (n > blob.size() - pos) throw ReadError(tw + ": pixel_vq format-2 tables are corrupt (header truncated)");
  const json head = parse_json(blob.substr(pos, n), tw + ": header");
  pos += n;
  std::map<std::string, rans::Tables> by_name;
  try {
    const auto& streams = head.at("streams");
    const auto& sizes = head.at("sizes");
    if (!streams.is_array() || !sizes.is_array() || streams.size() != sizes.size())
      throw ReadError(tw + ": pixel_vq format-2 tables are corrupt (streams and sizes differ)");
    for (std::size_t i = 0; i < streams.size(); ++i) {
      const std::string name = streams[i].get<std::string>();
      const auto size = sizes[i].get<std::uint64_t>();
      if (size > blob.size() - pos)
        throw ReadError(tw + ": pixel_vq format-2 tables are corrupt (table '" + name + "' truncated)");
      try {
        by_name[name] = rans::Tables::from_bytes(reinterpret_cast<const std::uint8_t*>(blob.data()) + pos, size);
      } catch (const DataError& err) {
        throw ReadError(tw + ": pixel_vq format-2 tables are corrupt (table '" + name + "': " + err.what() + ")");
      }
      pos += size;
    }
    if (pos != blob.size())
      throw ReadError(tw + ": pixel_vq format-2 tables are corrupt (" + std::to_string(blob.size() - pos) +
                      " trailing bytes)");
    // fitted for this model and operating point (PixelVQFormat2: model_sha256, n_shapes, charge_levels)
    const json& m = settings.at("model");
    const json weights = m.contains("weights_sha256") ? m.at("weights_sha256") : json();
    bool same = head.contains("model_sha256") && head.at("model_sha256") == weights;
    const char* key = "model_sha256";
    if (same) {
      key = "n_shapes";
      same = head.contains("n_shapes") && head.at("n_shapes").is_number_integer() &&
             head.at("n_shapes").get<std::int64_t>() == static_cast<std::int64_t>(model.shapes.size());
    }
    if (same) {
      key = "charge_levels";
      const json& lv = head.value("charge_levels", json::array());
      same = lv.is_array() && lv.size() == model.levels.size();
      for (std::size_t i = 0; same && i < lv.size(); ++i)
        same = lv[i].is_number_integer() && lv[i].get<std::int64_t>() == model.levels[i];
    }
    if (!same)
      throw ReadError(where + ": pixel_vq format-2 tables were fitted for another model or operating point (" +
                      key + " differs)");
    for (const auto& v : head.at("known_dets")) ctx_.known_dets.push_back(v.get<std::int64_t>());
    for (const auto& v : head.at("layers")) ctx_.layers.push_back(v.get<std::int64_t>());
    for (const auto& v : head.at("charge_edges")) ctx_.charge_edges.push_back(v.get<double>());
    ctx_.module_rows = settings.at("module_rows").get<int>();
    ctx_.module_cols = settings.at("module_cols").get<int>();
  } catch (const json::exception& err) {
    throw ReadError(tw + ": pixel_vq format-2 tables are corrupt (" + err.what() + ")");
  }
  ctx_.ncl_edges = kNclEdges;
  ctx_.own_shapes = kOwnShapes;
  ctx_.nhit_buckets = kNhitBuckets;
  ctx_.charge_buckets = kChargeBuckets;
  ctx_.tile_positions = kTilePositions;
  // every stream's table with the alphabet and context count of format2.Contexts.spec
  const std::int64_t n_det = static_cast<std::int64_t>(model.ctx_keys.size()) + 1;
  const std::int64_t n_layer = static_cast<std::int64_t>(ctx_.layers.size()) + 1;
  const std::int64_t pr = model.patch_rows, pc = model.patch_cols;
  const std::int64_t nj = (ctx_.module_cols + pc - 1) / pc, ni = (ctx_.module_rows + pr - 1) / pr;
  const std::int64_t n_shape_b = kOwnShapes + kNhitBuckets, escape = static_cast<std::int64_t>(model.shapes.size());
  std::vector<std::pair<std::string, std::pair<std::int64_t, std::int64_t>>> spec = {
      {"mod", {static_cast<std::int64_t>(ctx_.known_dets.size()) + 1, 1}},
      {"ncl", {static_cast<std::int64_t>(ctx_.module_rows) * ctx_.module_cols, n_det}},
      {"dcol", {ctx_.module_cols, n_layer * static_cast<std::int64_t>(kNclEdges.size() + 1)}},
      {"row", {ctx_.module_rows, 2 * n_layer}},
      {"layout", {ni * nj, n_det}},
      {"tiles", {2, 1}},
      {"shape", {escape + 1, kTilePositions * n_det}},
      {"esc", {std::int64_t(1) << pc, pr * n_det}},
      {"charge", {static_cast<std::int64_t>(model.levels.size()), n_shape_b * n_layer * 2}}};
  for (int s = 0; s < model.stages(); ++s)
    spec.push_back({"code" + std::to_string(s), {model.codebook_sizes[s], n_shape_b * (kChargeBuckets + 1)}});
  for (const auto& [name, size] : spec) {
    auto t = by_name.find(name);
    if (t == by_name.end() || static_cast<std::int64_t>(t->second.alphabet) != size.first ||
        static_cast<std::int64_t>(t->second.n_contexts) != size.second)
      throw ReadError(where + ": pixel_vq format-2 table '" + name +
                      "' is missing or has the wrong size; refit with hepvq-train pixel-vq-tables");
    names_.push_back(name);
    tables_.push_back(t->second);
  }
}

void PixelVQF2Format::symbolsOf(const Products& products, PixelVQF2Symbols& out) const {
  // format2._check_instances: the main product, 'fardet' and every stream must be there
  auto count = [&](const char* name) {
    const Column& c = field(products, "", name, where_);
    if (c.jagged() || c.size() != 1)
      throw ReadError(where_ + ": branch '" + c.name() + "' must hold one count per event");
    return c.at(0);
  };
  out.nmod = count("nmod");
  out.ncl = count("ncl");
  out.npatch = count("npatch");
  field(products, "fardet", "", where_).toInt64(out.fardet);
  out.streams.resize(names_.size());
  for (std::size_t k = 0; k < names_.size(); ++k) {
    const Column& c = field(products, "s_" + names_[k], "", where_);
    if (c.elemSize() != 1 || !c.jagged())
      throw ReadError(where_ + ": branch '" + c.name() + "' must hold the stream's bytes (uint8 array)");
    out.streams[k].assign(c.raw(), c.raw() + c.size());
  }
}

PixelVQPatches PixelVQF2Format::patches(const PixelVQModel& model, const std::vector<const PixelVQF2Symbols*>& events,
                                        int threads) const {
  const std::size_t n_ev = events.size();
  std::vector<std::int64_t> nmod(n_ev), ncl(n_ev), npatch(n_ev), fardet, fardet_counts(n_ev);
  std::vector<std::vector<std::uint8_t>> data(names_.size());
  std::vector<std::vector<std::int64_t>> offsets(names_.size(), std::vector<std::int64_t>(1, 0));
  for (std::size_t e = 0; e < n_ev; ++e) {
    const PixelVQF2Symbols& y = *events[e];
    if (y.streams.size() != names_.size()) throw ReadError(where_ + ": format-2 streams of an entry not read");
    nmod[e] = y.nmod;
    ncl[e] = y.ncl;
    npatch[e] = y.npatch;
    fardet.insert(fardet.end(), y.fardet.begin(), y.fardet.end());
    fardet_counts[e] = static_cast<std::int64_t>(y.fardet.size());
    for (std::size_t k = 0; k < names_.size(); ++k) {
      data[k].insert(data[k].end(), y.streams[k].begin(), y.streams[k].end());
      offsets[k].push_back(static_cast<std::int64_t>(data[k].size()));
    }
  }
  PixelVQF2Input in;
  in.n_events = n_ev;
  in.nmod = nmod.data();
  in.ncl = ncl.data();
  in.npatch = npatch.data();
  in.fardet = fardet.data();
  in.fardet_counts = fardet_counts.data();
  in.n_fardet = fardet.size();
  for (std::size_t k = 0; k < names_.size(); ++k)
    in.streams.push_back({data[k].data(), data[k].size(), offsets[k].data()});
  return pixel_vq_f2_patches(model, ctx_, tables_, in, threads);
}

}  // namespace detail
}  // namespace hepvq
