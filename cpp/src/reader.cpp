// hepvq::Reader: the file's metadata (provenance JSON, sha256-verified blobs), the branch groups of every
// declared codec and of the plain collections, and per entry: ids, checksum check, decode, pass-through.
// Mirrors hepvq/io/metadata.py, hepvq/io/reading.py and hepvq/codecs/guard.py.
#include "hepvq/reader.hpp"

#include <TError.h>
#include <TFile.h>
#include <TKey.h>
#include <TObjString.h>
#include <TTree.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>

#include "hepvq/sha256.hpp"
#include "internal.hpp"
#include "json_util.hpp"

namespace hepvq {

using detail::Column;
using detail::json;

namespace {
const char* kProvenance = "hepvq_provenance";
const char* kBlobs = "hepvq_blobs";
const char* kCrc = "crc";

// ROOT prints its own errors (several lines) before returning null; the reader reports one line instead
struct QuietRoot {
  int saved = gErrorIgnoreLevel;
  QuietRoot() { gErrorIgnoreLevel = kFatal; }
  ~QuietRoot() { gErrorIgnoreLevel = saved; }
};

const std::vector<std::string> kPixelFields = {"detId", "row", "col", "adc"};
const std::vector<std::string> kTpcFields = {"sector", "layer", "phi", "z", "adc"};

struct CodecPlan {
  std::string label, codec, collection;
  std::unique_ptr<detail::CollectionDecoder> decoder;
  detail::Products products;   // instance -> field -> column
  Column* crc = nullptr;       // the <label>_crc branch, when the file has one
  std::vector<Column*> columns;
  detail::PixelVQCodecCore* vq = nullptr;  // pixel_vq: decoded in chunks of entries
  std::int64_t c0 = -1, c1 = -1;           // entries [c0, c1) decoded in `hits`
  PixelHits hits;
  std::vector<std::int64_t> start;         // first hit of each entry of the chunk
};
}  // namespace

struct Reader::Impl {
  std::string path, tree_name;
  ReaderOptions options;
  std::unique_ptr<TFile> file;
  TTree* tree = nullptr;
  std::string provenance_text;
  json provenance = json::object();
  std::map<std::string, std::string> blobs;
  std::vector<CollectionInfo> infos;
  std::vector<std::unique_ptr<Column>> owned;
  Column *run = nullptr, *lumi = nullptr, *event = nullptr;
  std::vector<CodecPlan> codecs;
  std::vector<Column*> plain_pixel, plain_tpc;  // schema order
  bool has_pixel = false, has_tpc = false;

  std::string where() const { return "file " + path + ", tree '" + tree_name + "'"; }

  Column* column(const std::string& branch) {
    owned.push_back(std::make_unique<Column>(tree, branch, where()));
    return owned.back().get();
  }

  void open() {
    {
      QuietRoot quiet;
      file.reset(TFile::Open(path.c_str(), "READ"));
    }
    if (!file || file->IsZombie()) throw ReadError("file " + path + ": cannot be opened as a ROOT file");
    read_metadata();
    tree = file->Get<TTree>(tree_name.c_str());
    if (!tree) throw ReadError("file " + path + ": no tree '" + tree_name + "'");
    plan();
  }

  void read_metadata() {
    TObject* prov = file->Get(kProvenance);
    TTree* blob_tree = file->Get<TTree>(kBlobs);
    if (!prov) {
      if (blob_tree)
        throw ReadError("file " + path + " has '" + kBlobs + "' but no '" + kProvenance +
                        "': its metadata is damaged");
      return;  // a plain file: collections pass through
    }
    auto* s = dynamic_cast<TObjString*>(prov);
    if (!s) throw ReadError("file " + path + ": metadata '" + kProvenance + "' is not a TObjString");
    provenance_text = s->GetString().Data();
    provenance = detail::parse_json(provenance_text, "file " + path + ": metadata '" + kProvenance + "'");
    if (!provenance.is_object() || (provenance.contains("codecs") && !provenance["codecs"].is_object()) ||
        (provenance.contains("products") && !provenance["products"].is_array()) ||
        (provenance.contains("blobs") && !provenance["blobs"].is_object()))
      throw ReadError("file " + path + ": metadata '" + kProvenance +
                      "' does not have the layout hepvq writes (codecs, products, blobs); the file is damaged");
    if (blob_tree) read_blobs(blob_tree);
    verify_blobs();
  }

  void read_blobs(TTree* t) {
    const std::string w = "file " + path + ", tree '" + kBlobs + "'";
    Column key(t, "key", w), data(t, "data", w);
    for (Long64_t i = 0; i < t->GetEntries(); ++i) {
      key.read(i);
      data.read(i);
      if (key.elemSize() != 1 || data.elemSize() != 1)
        throw ReadError(w + ": branches 'key' and 'data' must hold bytes (uint8)");
      std::string k(reinterpret_cast<const char*>(key.raw()), key.size());
      blobs[k] = std::string(reinterpret_cast<const char*>(data.raw()), data.size());
    }
  }

  // hepvq.io.metadata.verify_blobs: every listed blob present with its size and sha256, nothing unlisted
  void verify_blobs() {
    const json listed = provenance.value("blobs", json::object());
    for (auto it = listed.begin(); it != listed.end(); ++it) {
      auto b = blobs.find(it.key());
      if (b == blobs.end())
        throw ReadError("file " + path + ": blob '" + it.key() + "' listed in '" + kProvenance +
                        "' is missing from '" + kBlobs + "'");
      const json& info = it.value();
      const bool ok = info.is_object() && info.value("bytes", json(-1)).is_number_integer() &&
                      info.value("bytes", std::int64_t(-1)) == static_cast<std::int64_t>(b->second.size()) &&
                      info.value("sha256", std::string()) == sha256_hex(b->second.data(), b->second.size());
      if (!ok)
        throw ReadError("file " + path + ": blob '" + it.key() + "' does not match the sha256 recorded in '" +
                        kProvenance + "' (" + std::to_string(b->second.size()) +
                        " bytes); the file was damaged or edited after it was written");
    }
    for (const auto& kv : blobs)
      if (!listed.contains(kv.first))
        throw ReadError("file " + path + ": blob '" + kv.first + "' in '" + kBlobs + "' is not listed in '" +
                        kProvenance + "' (no hash to verify it against)");
  }

  void plan() {
    std::set<std::string> branches;
    for (TObject* o : *tree->GetListOfBranches()) branches.insert(o->GetName());
    for (const char* id : {"run", "luminosityBlock", "event"})
      if (branches.count(id)) {
        Column* c = column(id);
        if (c->jagged()) throw ReadError(where() + ", branch '" + id + "': the event id must be a scalar");
        (std::string(id) == "run" ? run : std::string(id) == "event" ? event : lumi) = c;
      }
    // branch prefixes the file lists, longest first (hepvq.io.layout.group_branches)
    std::vector<std::string> known;
    for (const auto& p : provenance.value("products", json::array()))
      if (p.is_object() && p.contains("prefix") && p["prefix"].is_string()) known.push_back(p["prefix"]);
    std::sort(known.begin(), known.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() > b.size() : a < b;
    });
    auto owner = [&](const std::string& b) -> std::string {
      for (const auto& k : known)
        if (b == k || (b.size() > k.size() + 1 && b.compare(0, k.size(), k) == 0 && b[k.size()] == '_')) return k;
      return "";
    };
    std::set<std::string> decoded;
    const json codecs_json = provenance.value("codecs", json::object());
    std::set<std::string> blob_labels;
    for (const auto& kv : blobs)
      if (kv.first.find('/') != std::string::npos) blob_labels.insert(kv.first.substr(0, kv.first.find('/')));
    for (const auto& p : provenance.value("products", json::array()))
      if (p.is_object() && blob_labels.count(p.value("label", std::string())) &&
          !codecs_json.contains(p.value("label", std::string())))
        throw ReadError("file " + path + ": products '" + p.value("prefix", std::string()) + "' of encoder '" +
                        p.value("label", std::string()) +
                        "' are in the file but the provenance declares no codec for them; the file is damaged");
    for (auto it = codecs_json.begin(); it != codecs_json.end(); ++it) {
      const std::string label = it.key();
      const json& info = it.value();
      if (!info.is_object() || !info.contains("codec") || !info["codec"].is_string() ||
          info["codec"].get<std::string>().empty())
        throw ReadError("file " + path + ": codec declaration of '" + label +
                        "' in the provenance names no codec; the file is damaged");
      CodecPlan c;
      c.label = label;
      c.codec = info["codec"].get<std::string>();
      c.collection = info.value("collection", std::string("PixelDigi"));
      detail::Blobs own;
      for (const auto& kv : blobs)
        if (kv.first.compare(0, label.size() + 1, label + "/") == 0) own[kv.first.substr(label.size() + 1)] = kv.second;
      const std::string w = "file " + path + ": codec '" + label + "' (" + c.codec + ")";
      if (c.codec == "pixel_vq") {
        c.decoder = detail::makePixelVQ(own, options, w);
        c.vq = dynamic_cast<detail::PixelVQCodecCore*>(c.decoder.get());
      }
      else if (c.codec == "pixel_sparse")
        c.decoder = detail::makePixelSparse(own, w);
      else if (c.codec == "tpc_inr")
        c.decoder = detail::makeTpcInr(own, options, w);
      else
        throw ReadError(w + " cannot be decoded by the C++ reader (it decodes pixel_vq, pixel_sparse and tpc_inr; "
                            "use hepvq.open in Python)");
      const std::string gives = c.codec == "tpc_inr" ? "TpcHit" : "PixelDigi";
      if (c.collection != gives)
        throw ReadError(w + ": decodes to collection '" + c.collection + "', the C++ reader's " + c.codec +
                        " gives " + gives);
      const json prefixes = info.value("prefixes", json::object());
      for (auto pi = prefixes.begin(); pi != prefixes.end(); ++pi) {
        const std::string inst = pi.key(), prefix = pi.value().get<std::string>();
        bool any = false;
        for (const auto& b : branches) {
          if (owner(b) != prefix) continue;
          any = true;
          Column* col = column(b);
          c.columns.push_back(col);
          const std::string fieldname = b == prefix ? "" : b.substr(prefix.size() + 1);
          if (inst == kCrc)
            c.crc = col;
          else
            c.products[inst][fieldname] = col;
        }
        if (!any)
          throw ReadError(where() + ": codec '" + label + "' needs branches '" + prefix + "*' that the file lacks");
      }
      decoded.insert(c.collection);
      infos.push_back({c.collection, c.codec, label, c.decoder->method()});
      codecs.push_back(std::move(c));
    }
    // collections stored plainly pass through (decoded ones take precedence)
    auto plain = [&](const std::string& coll, const std::vector<std::string>& fields, std::vector<Column*>& out) {
      if (decoded.count(coll)) return false;
      std::size_t found = 0;
      for (const auto& f : fields) found += branches.count(coll + "_" + f);
      if (!found) return false;
      if (found != fields.size())
        throw ReadError(where() + ": collection '" + coll + "' lacks some of its branches " + coll + "_{" +
                        [&] { std::string s; for (const auto& f : fields) s += (s.empty() ? "" : ",") + f; return s; }() + "}");
      for (const auto& f : fields) {
        Column* col = column(coll + "_" + f);
        if (!col->jagged())
          throw ReadError(where() + ", branch '" + coll + "_" + f + "': expected one array per event (counter + array)");
        out.push_back(col);
      }
      infos.push_back({coll, "", coll, "plain"});
      return true;
    };
    has_pixel = decoded.count("PixelDigi") || plain("PixelDigi", kPixelFields, plain_pixel);
    has_tpc = decoded.count("TpcHit") || plain("TpcHit", kTpcFields, plain_tpc);
  }

  // hepvq.codecs.guard.event_checksums: instances sorted (crc excluded), fields sorted; per jagged field
  // the count as uint32 then the values' bytes; per scalar the value's bytes
  void check_crc(CodecPlan& c, std::int64_t entry) {
    std::uint32_t crc = 0;
    for (const auto& inst : c.products)
      for (const auto& f : inst.second) {
        const Column* col = f.second;
        if (col->jagged()) {
          const std::uint32_t n = static_cast<std::uint32_t>(col->size());
          const unsigned char le[4] = {static_cast<unsigned char>(n), static_cast<unsigned char>(n >> 8),
                                       static_cast<unsigned char>(n >> 16), static_cast<unsigned char>(n >> 24)};
          crc = crc32_update(crc, le, 4);
        }
        crc = crc32_update(crc, col->raw(), col->size() * col->elemSize());
      }
    const auto stored = static_cast<std::uint32_t>(c.crc->at(0));
    if (stored != crc) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "stored %#010x, computed %#010x", stored, crc);
      throw ReadError("file " + path + ": products of '" + c.label + "' at entry " + std::to_string(entry) +
                      " do not match their checksum (branch '" + c.crc->name() + "': " + buf +
                      "); the file was damaged after it was written");
    }
  }

  // entries [entry, entry + chunkEntries) of a pixel_vq codec: read, checksums checked, decoded in one call
  void decode_chunk(CodecPlan& c, std::int64_t entry) {
    const std::int64_t end = std::min<std::int64_t>(entry + options.chunkEntries, tree->GetEntries());
    c.c0 = c.c1 = -1;
    std::vector<detail::PixelVQSymbols> symbols(static_cast<std::size_t>(end - entry));
    for (std::int64_t e = entry; e < end; ++e) {
      for (Column* col : c.columns) col->read(e);
      if (c.crc && options.verifyChecksums) check_crc(c, e);
      c.vq->symbolsOf(c.products, symbols[static_cast<std::size_t>(e - entry)]);
    }
    try {
      c.hits = c.vq->decodeChunk(symbols, std::max(1, options.threads));
    } catch (const ReadError& err) {
      throw ReadError(std::string(err.what()) + " (entries " + std::to_string(entry) + "-" +
                      std::to_string(end - 1) + ")");
    }
    c.start.assign(1, 0);
    for (auto n : c.hits.counts) c.start.push_back(c.start.back() + n);
    if (c.start.size() != symbols.size() + 1) throw ReadError(where() + ": the core decoded the wrong number of events");
    c.c0 = entry;
    c.c1 = end;
  }

  template <class T>
  void copy_plain(const Column* col, std::int64_t entry, std::vector<T>& out) {
    out.resize(col->size());
    for (std::size_t i = 0; i < col->size(); ++i) {
      const std::int64_t v = col->at(i);
      if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max())
        throw ReadError(where() + ", branch '" + col->name() + "', entry " + std::to_string(entry) + ": value " +
                        std::to_string(v) + " outside the schema's type");
      out[i] = static_cast<T>(v);
    }
  }

  void read(std::int64_t entry, Event& ev) {
    if (entry < 0 || entry >= tree->GetEntries())
      throw ReadError(where() + ": entry " + std::to_string(entry) + " outside 0.." +
                      std::to_string(tree->GetEntries() - 1));
    ev.entry = entry;
    ev.pixel.clear();
    ev.tpc.clear();
    for (Column* c : {run, lumi, event})
      if (c) c->read(entry);
    ev.run = run ? static_cast<std::uint32_t>(run->at(0)) : 0;
    ev.luminosityBlock = lumi ? static_cast<std::uint32_t>(lumi->at(0)) : 0;
    ev.event = event ? static_cast<std::uint64_t>(event->at(0)) : 0;
    for (auto& c : codecs) {
      if (c.vq && options.chunkEntries > 1) {
        if (entry < c.c0 || entry >= c.c1) decode_chunk(c, entry);
        const std::size_t a = static_cast<std::size_t>(c.start[entry - c.c0]);
        const std::size_t b = static_cast<std::size_t>(c.start[entry - c.c0 + 1]);
        ev.pixel.detId.assign(c.hits.det.begin() + a, c.hits.det.begin() + b);
        ev.pixel.row.assign(c.hits.row.begin() + a, c.hits.row.begin() + b);
        ev.pixel.col.assign(c.hits.col.begin() + a, c.hits.col.begin() + b);
        ev.pixel.adc.assign(c.hits.adc.begin() + a, c.hits.adc.begin() + b);
        continue;
      }
      for (Column* col : c.columns) col->read(entry);
      if (c.crc && options.verifyChecksums) check_crc(c, entry);
      try {
        c.decoder->decode(c.products, ev);
      } catch (const ReadError& err) {
        throw ReadError(std::string(err.what()) + " (entry " + std::to_string(entry) + ")");
      }
    }
    if (!plain_pixel.empty()) {
      for (Column* col : plain_pixel) col->read(entry);
      copy_plain(plain_pixel[0], entry, ev.pixel.detId);
      copy_plain(plain_pixel[1], entry, ev.pixel.row);
      copy_plain(plain_pixel[2], entry, ev.pixel.col);
      copy_plain(plain_pixel[3], entry, ev.pixel.adc);
    }
    if (!plain_tpc.empty()) {
      for (Column* col : plain_tpc) col->read(entry);
      copy_plain(plain_tpc[0], entry, ev.tpc.sector);
      copy_plain(plain_tpc[1], entry, ev.tpc.layer);
      copy_plain(plain_tpc[2], entry, ev.tpc.phi);
      copy_plain(plain_tpc[3], entry, ev.tpc.z);
      copy_plain(plain_tpc[4], entry, ev.tpc.adc);
    }
  }
};

Reader::Reader(const std::string& path, const ReaderOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->tree_name = options.tree;
  impl_->options = options;
  impl_->open();
}

Reader::~Reader() = default;

const std::string& Reader::path() const { return impl_->path; }
std::int64_t Reader::entries() const { return impl_->tree->GetEntries(); }
bool Reader::hasPixel() const { return impl_->has_pixel; }
bool Reader::hasTpc() const { return impl_->has_tpc; }
const std::vector<CollectionInfo>& Reader::collections() const { return impl_->infos; }
const std::string& Reader::provenanceJson() const { return impl_->provenance_text; }

std::vector<std::string> Reader::blobKeys() const {
  std::vector<std::string> out;
  for (const auto& kv : impl_->blobs) out.push_back(kv.first);
  return out;
}

const std::string& Reader::blob(const std::string& key) const {
  auto it = impl_->blobs.find(key);
  if (it == impl_->blobs.end()) throw ReadError("file " + impl_->path + ": no blob '" + key + "'");
  return it->second;
}

void Reader::read(std::int64_t entry, Event& out) { impl_->read(entry, out); }

std::string sha256Hex(const std::string& bytes) { return sha256_hex(bytes.data(), bytes.size()); }

}  // namespace hepvq
