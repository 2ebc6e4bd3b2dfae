// hepvq_encode IN.root OUT.root --model DIR [--format 2|1] [--operating-point default|fine|coarse]
//              [--adc-error-bound B] [--lossless-positions true|false] [--label pixelVQ] [--tree Events]
//              [--provider auto|cpu|cuda] [--threads N] [--max-events N]
// Compresses the PixelDigi collection of IN with the pixel_vq model DIR into a hepvq file: the products
// PixelDigiVQEncoder writes (same branch names and types, per-event CRC-32) -- format 2 at operating point
// "default" unless told otherwise, as python_cfg/premix_compress_cfg.py (per-event rANS byte streams, the point's
// tables as a blob; --format 1: integer index branches) -- the model's settings and decoder.onnx as sha256-listed
// blobs, the provenance; hepvq.open, hepvq_decode and decompress_cfg.py decode it.  Output goes to
// OUT.tmp-<pid> and is renamed when complete; errors: one line, exit 1, nothing left.
#include <Compression.h>
#include <TFile.h>
#include <TObjString.h>
#include <TTree.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "hepvq/encoder.hpp"
#include "hepvq/reader.hpp"
#include "hepvq/sha256.hpp"

#ifndef HEPVQ_VERSION
#define HEPVQ_VERSION "unknown"
#endif

namespace {

int usage() {
  std::cerr << "usage: hepvq_encode IN.root OUT.root --model DIR [--format 2|1] [--operating-point default|fine|coarse]\n"
               "                    [--adc-error-bound B] [--lossless-positions true|false]\n"
               "                    [--label pixelVQ] [--tree Events] [--provider auto|cpu|cuda] [--threads N]\n"
               "                    [--max-events N]\n";
  return 2;
}

// one output branch: typed buffer filled from the int64 values of each event
struct Out {
  std::string instance, field, branch;
  char leaf;
  int size;
  std::vector<unsigned char> buf;
  TBranch* b = nullptr;
  std::string kind;
};

std::string utc_now() {
  char s[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S+00:00", std::gmtime(&t));
  return s;
}

void run(const std::string& in, const std::string& out, const std::string& tmp, const std::string& model,
         const std::string& label, const hepvq::ReaderOptions& ro, const hepvq::EncoderOptions& eo,
         const std::string& cmdline, std::int64_t max_events) {
  hepvq::Reader reader(in, ro);
  if (!reader.hasPixel()) throw hepvq::ReadError("file " + in + ", tree '" + ro.tree + "': no PixelDigi collection");
  hepvq::PixelVQEncoder enc(model, eo);
  std::unique_ptr<TFile> f(TFile::Open(tmp.c_str(), "RECREATE", "",
                                       ROOT::CompressionSettings(ROOT::RCompressionSetting::EAlgorithm::kZSTD, 5)));
  if (!f || f->IsZombie()) throw hepvq::ReadError("file " + out + ": cannot be created");
  auto* t = new TTree("Events", "hepvq");
  hepvq::Event ev;
  t->Branch("run", &ev.run, "run/i");
  t->Branch("luminosityBlock", &ev.luminosityBlock, "luminosityBlock/i");
  t->Branch("event", &ev.event, "event/l");
  hepvq::PixelDigis none;
  const auto& fields = enc.encode(none, -1);  // the layout (instances, fields, types)
  std::map<std::string, Int_t> counts;
  std::vector<Out> outs;
  for (const auto& fl : fields) {
    const std::string prefix = fl.instance.empty() ? label : label + "_" + fl.instance;
    if (!counts.count(fl.instance) && fl.kind != "record") {
      counts[fl.instance] = 0;
      t->Branch(("n" + prefix).c_str(), &counts[fl.instance], ("n" + prefix + "/I").c_str());
    }
    const int size = fl.leaf == 'b' ? 1 : (fl.leaf == 's' || fl.leaf == 'S') ? 2 : fl.leaf == 'i' ? 4 : 8;
    outs.push_back({fl.instance, fl.field, fl.kind == "jagged" ? prefix : prefix + "_" + fl.field, fl.leaf, size, {},
                    nullptr, fl.kind});
  }
  for (auto& o : outs) {
    o.buf.resize(o.size);
    const std::string prefix = o.instance.empty() ? label : label + "_" + o.instance;
    o.b = t->Branch(o.branch.c_str(), o.buf.data(),
                    (o.kind == "record" ? o.branch + "/" + o.leaf : o.branch + "[n" + prefix + "]/" + o.leaf).c_str());
  }
  UInt_t crc = 0;
  t->Branch((label + "_crc").c_str(), &crc, (label + "_crc/i").c_str());
  const std::int64_t n_events = max_events >= 0 ? std::min(max_events, reader.entries()) : reader.entries();
  for (std::int64_t i = 0; i < n_events; ++i) {
    reader.read(i, ev);
    const std::vector<hepvq::EncodedField>* encoded = nullptr;
    try {
      encoded = &enc.encode(ev.pixel, i);
    } catch (const hepvq::ReadError& err) {  // name the input: the encoder only knows the model and the entry
      throw hepvq::ReadError("file " + in + ", tree '" + ro.tree + "', PixelDigi: " + err.what());
    }
    const auto& fl = *encoded;
    for (std::size_t k = 0; k < fl.size(); ++k) {
      Out& o = outs[k];
      if (o.kind == "record" && fl[k].values.size() != 1)
        throw hepvq::ReadError("product '" + o.instance + "' field '" + o.field + "': not one value per event");
      if (o.kind != "record") counts[o.instance] = static_cast<Int_t>(fl[k].values.size());
      o.buf.resize(std::max<std::size_t>(1, fl[k].values.size()) * o.size);
      for (std::size_t j = 0; j < fl[k].values.size(); ++j) {
        const auto v = static_cast<std::uint64_t>(fl[k].values[j]);
        for (int b = 0; b < o.size; ++b) o.buf[j * o.size + b] = static_cast<unsigned char>(v >> (8 * b));
      }
      o.b->SetAddress(o.buf.data());
    }
    crc = enc.checksum();
    if (t->Fill() < 0) throw hepvq::ReadError("file " + out + ": cannot write entry " + std::to_string(i));
  }
  // metadata: provenance (JSON), cfg text, blobs (hepvq/io/metadata.py's layout)
  nlohmann::json prov = {{"hepvq_version", HEPVQ_VERSION}, {"created", utc_now()}, {"process", "HEPVQ_ENCODE_CPP"},
                         {"input_files", {in}}, {"events", n_events}, {"tree", "Events"},
                         {"tree_format", "TTree"}, {"compression", "ZSTD(5)"}, {"output_module", "hepvq_encode"}};
  nlohmann::json products = nlohmann::json::array(), prefixes = nlohmann::json::object();
  // one product per instance, in the encoder's order: jagged_record "var * {f: t, ...}", record "{f: t, ...}",
  // jagged "var * t" (hepvq's product kinds)
  std::vector<std::string> order;
  std::map<std::string, std::string> types, kinds;
  for (const auto& fl : fields) {
    if (!kinds.count(fl.instance)) order.push_back(fl.instance);
    kinds[fl.instance] = fl.kind;
    if (fl.kind == "jagged") types[fl.instance] = fl.type;
    else types[fl.instance] += (types[fl.instance].empty() ? "" : ", ") + fl.field + ": " + fl.type;
  }
  for (const auto& inst : order) {
    const std::string prefix = inst.empty() ? label : label + "_" + inst;
    const std::string& kind = kinds[inst];
    const std::string type = kind == "jagged" ? "var * " + types[inst]
                             : kind == "record" ? "{" + types[inst] + "}" : "var * {" + types[inst] + "}";
    products.push_back({{"label", label}, {"instance", inst}, {"prefix", prefix}, {"kind", kind}, {"type", type}});
    prefixes[inst] = prefix;
  }
  products.push_back({{"label", label}, {"instance", "crc"}, {"prefix", label + "_crc"}, {"kind", "number"},
                      {"type", "uint32"}});
  prefixes["crc"] = label + "_crc";
  prov["products"] = products;
  prov["codecs"] = {{label, {{"codec", "pixel_vq"}, {"collection", "PixelDigi"}, {"prefixes", prefixes}}}};
  nlohmann::json blobs = nlohmann::json::object();
  for (const auto& kv : enc.metadata())
    blobs[label + "/" + kv.first] = {{"bytes", kv.second.size()}, {"sha256", hepvq::sha256_hex(kv.second.data(), kv.second.size())}};
  prov["blobs"] = blobs;
  TObjString(prov.dump().c_str()).Write("hepvq_provenance");
  TObjString(("# written by " + cmdline + " (C++ encoder, not a cfg)\n").c_str()).Write("hepvq_cfg");
  auto* bt = new TTree("hepvq_blobs", "hepvq blobs");
  Int_t nkey = 0, ndata = 0;
  std::vector<unsigned char> key(1), data(1);
  bt->Branch("nkey", &nkey, "nkey/I");
  TBranch* bk = bt->Branch("key", key.data(), "key[nkey]/b");
  bt->Branch("ndata", &ndata, "ndata/I");
  TBranch* bd = bt->Branch("data", data.data(), "data[ndata]/b");
  for (const auto& kv : enc.metadata()) {
    const std::string k = label + "/" + kv.first;
    key.assign(k.begin(), k.end());
    data.assign(kv.second.begin(), kv.second.end());
    nkey = static_cast<Int_t>(key.size());
    ndata = static_cast<Int_t>(data.size());
    bk->SetAddress(key.data());
    bd->SetAddress(data.data());
    bt->Fill();
  }
  if (f->Write() <= 0 || f->TestBit(TFile::kWriteError)) throw hepvq::ReadError("file " + out + ": write failed");
  f->Close();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string model, label = "pixelVQ";
  hepvq::ReaderOptions ro;
  hepvq::EncoderOptions eo;
  std::string cmdline = "hepvq_encode";
  std::int64_t max_events = -1;
  for (int i = 1; i < argc; ++i) cmdline += std::string(" ") + argv[i];
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      if (i + 1 >= argc) return usage();
      const std::string v = argv[++i];
      if (a == "--model") model = v;
      else if (a == "--adc-error-bound") eo.adcErrorBound = std::atoi(v.c_str());
      else if (a == "--format" && (v == "1" || v == "2")) eo.format = std::atoi(v.c_str());
      else if (a == "--operating-point") eo.operatingPoint = v;
      else if (a == "--lossless-positions" && (v == "true" || v == "false")) eo.losslessPositions = v == "true";
      else if (a == "--label") label = v;
      else if (a == "--tree") ro.tree = v;
      else if (a == "--provider") ro.provider = eo.provider = v;
      else if (a == "--max-events") max_events = std::atoll(v.c_str());
      else if (a == "--threads") ro.intraOpThreads = eo.intraOpThreads = std::atoi(v.c_str());
      else return usage();
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2 || model.empty()) return usage();
  const std::string in = pos[0], out = pos[1];
  const std::string tmp = out + ".tmp-" + std::to_string(getpid());
  try {
    if (!std::filesystem::exists(in)) throw hepvq::ReadError("file " + in + ": does not exist");
    std::error_code ec;
    if (std::filesystem::equivalent(in, out, ec)) throw hepvq::ReadError("file " + out + ": the output would overwrite the input");
    if (eo.adcErrorBound < -1) throw hepvq::ReadError("parameter --adc-error-bound: must be >= 0 (or -1: none)");
    run(in, out, tmp, model, label, ro, eo, cmdline, max_events);
    if (std::rename(tmp.c_str(), out.c_str()) != 0) throw hepvq::ReadError("file " + out + ": cannot rename " + tmp);
    std::cout << "hepvq_encode: " << in << " -> " << out << "\n";
    return 0;
  } catch (const std::exception& err) {
    std::remove(tmp.c_str());
    std::string msg = err.what();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    std::cerr << "hepvq_encode: error: " << msg << "\n";
    return 1;
  }
}
