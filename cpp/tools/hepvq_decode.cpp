// hepvq_decode IN.root OUT.root [--tree Events] [--provider auto|cpu|cuda] [--threads N] [--fractions auto|onnx]
//              [--chunk ENTRIES] [--verbose]   (--verbose: one line per collection saying how it is decoded;
//              --chunk: pixel_vq entries decoded per call of the core, default 16; --threads: its threads)
// Writes the decompressed Events tree in the input schema (run, luminosityBlock, event, nPixelDigi +
// PixelDigi_detId/_row/_col/_adc, nTpcHit + TpcHit_*): same events, same order, what
// python_cfg/decompress_cfg.py writes.  Output goes to OUT.tmp-<pid> and is renamed when complete; on any
// error the message is one line, nothing is left behind and the exit status is 1 (2: bad usage).
#include <TFile.h>
#include <TSystem.h>
#include <TTree.h>
#include <Compression.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <unistd.h>

#include "hepvq/reader.hpp"

namespace {

int usage() {
  std::cerr << "usage: hepvq_decode IN.root OUT.root [--tree Events] [--provider auto|cpu|cuda] [--threads N]\n"
               "       [--fractions auto|onnx] [--chunk ENTRIES] [--verbose]\n";
  return 2;
}

void write(hepvq::Reader& r, const std::string& tmp, const std::string& out_name) {
  std::unique_ptr<TFile> f(TFile::Open(tmp.c_str(), "RECREATE", "",
                                       ROOT::CompressionSettings(ROOT::RCompressionSetting::EAlgorithm::kZSTD, 5)));
  if (!f || f->IsZombie()) throw hepvq::ReadError("file " + out_name + ": cannot be created");
  auto* t = new TTree("Events", "hepvq decompressed");
  hepvq::Event ev;
  Int_t npix = 0, ntpc = 0;
  t->Branch("run", &ev.run, "run/i");
  t->Branch("luminosityBlock", &ev.luminosityBlock, "luminosityBlock/i");
  t->Branch("event", &ev.event, "event/l");
  // array branches: addresses are set per entry (the vectors may move)
  const char* pix[4] = {"PixelDigi_detId", "PixelDigi_row", "PixelDigi_col", "PixelDigi_adc"};
  const char* tpc[5] = {"TpcHit_sector", "TpcHit_layer", "TpcHit_phi", "TpcHit_z", "TpcHit_adc"};
  TBranch* bp[4] = {};
  TBranch* bt[5] = {};
  if (r.hasPixel()) {
    t->Branch("nPixelDigi", &npix, "nPixelDigi/I");
    bp[0] = t->Branch(pix[0], static_cast<void*>(nullptr), "PixelDigi_detId[nPixelDigi]/i");
    for (int i = 1; i < 4; ++i)
      bp[i] = t->Branch(pix[i], static_cast<void*>(nullptr), (std::string(pix[i]) + "[nPixelDigi]/s").c_str());
  }
  if (r.hasTpc()) {
    t->Branch("nTpcHit", &ntpc, "nTpcHit/I");
    for (int i = 0; i < 5; ++i)
      bt[i] = t->Branch(tpc[i], static_cast<void*>(nullptr), (std::string(tpc[i]) + "[nTpcHit]/s").c_str());
  }
  std::uint32_t dummy32 = 0;
  std::uint16_t dummy16 = 0;
  for (std::int64_t i = 0; i < r.entries(); ++i) {
    r.read(i, ev);
    if (r.hasPixel()) {
      npix = static_cast<Int_t>(ev.pixel.size());
      bp[0]->SetAddress(npix ? static_cast<void*>(ev.pixel.detId.data()) : &dummy32);
      bp[1]->SetAddress(npix ? static_cast<void*>(ev.pixel.row.data()) : &dummy16);
      bp[2]->SetAddress(npix ? static_cast<void*>(ev.pixel.col.data()) : &dummy16);
      bp[3]->SetAddress(npix ? static_cast<void*>(ev.pixel.adc.data()) : &dummy16);
    }
    if (r.hasTpc()) {
      ntpc = static_cast<Int_t>(ev.tpc.size());
      std::vector<std::uint16_t>* cols[5] = {&ev.tpc.sector, &ev.tpc.layer, &ev.tpc.phi, &ev.tpc.z, &ev.tpc.adc};
      for (int k = 0; k < 5; ++k) bt[k]->SetAddress(ntpc ? static_cast<void*>(cols[k]->data()) : &dummy16);
    }
    if (t->Fill() < 0) throw hepvq::ReadError("file " + out_name + ": cannot write entry " + std::to_string(i));
  }
  if (f->Write() <= 0 || f->TestBit(TFile::kWriteError))
    throw hepvq::ReadError("file " + out_name + ": write failed (disk full?)");
  f->Close();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  hepvq::ReaderOptions opts;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--tree" || a == "--provider" || a == "--threads" || a == "--fractions" || a == "--chunk") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--tree") opts.tree = v;
      else if (a == "--provider") opts.provider = v;
      else if (a == "--fractions") opts.fractions = v;
      else if (a == "--chunk") opts.chunkEntries = std::atoi(v.c_str());
      else opts.intraOpThreads = opts.threads = std::atoi(v.c_str());
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a.rfind("--", 0) == 0) {
      return usage();
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) return usage();
  const std::string in = pos[0], out = pos[1];
  const std::string tmp = out + ".tmp-" + std::to_string(getpid());
  try {
    if (gSystem->AccessPathName(in.c_str())) throw hepvq::ReadError("file " + in + ": does not exist");
    std::error_code ec;
    if (std::filesystem::equivalent(in, out, ec))
      throw hepvq::ReadError("file " + out + ": the output would overwrite the input");
    hepvq::Reader r(in, opts);
    if (verbose)
      for (const auto& c : r.collections())
        std::cout << "hepvq_decode: " << c.name << " <- '" << c.label << "' " << (c.codec.empty() ? "plain" : c.codec)
                  << ", " << c.method << "\n";
    write(r, tmp, out);
    if (std::rename(tmp.c_str(), out.c_str()) != 0) throw hepvq::ReadError("file " + out + ": cannot rename " + tmp);
    std::cout << "hepvq_decode: " << r.entries() << " events " << in << " -> " << out << "\n";
    return 0;
  } catch (const std::exception& err) {
    std::remove(tmp.c_str());
    std::string msg = err.what();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    std::cerr << "hepvq_decode: error: " << msg << "\n";
    return 1;
  }
}
