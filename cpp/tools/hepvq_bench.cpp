// hepvq_bench COMPRESSED.root RAW.root [--runs N] [--threads N] [--chunk ENTRIES]
// C++ decode speed of a hepvq file (hepvq::Reader, every entry, file opening and model set-up included)
// against a TTreeReader read of the raw DIGIs of the same events; runs interleaved, medians printed.
#include <TFile.h>
#include <TTreeReader.h>
#include <TTreeReaderArray.h>
#include <TTreeReaderValue.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <vector>

#include "hepvq/reader.hpp"

namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// every decoded value touched, so nothing is optimised away; returns the number of hits
std::uint64_t decode_all(const std::string& path, const hepvq::ReaderOptions& opts, std::uint64_t& checksum,
                         double& open_s) {
  const auto t0 = Clock::now();
  hepvq::Reader r(path, opts);
  open_s = seconds_since(t0);
  hepvq::Event ev;
  std::uint64_t hits = 0;
  for (std::int64_t i = 0; i < r.entries(); ++i) {
    r.read(i, ev);
    hits += ev.pixel.size();
    for (std::size_t k = 0; k < ev.pixel.size(); ++k)
      checksum += ev.pixel.detId[k] + ev.pixel.row[k] + ev.pixel.col[k] + ev.pixel.adc[k];
  }
  return hits;
}

std::uint64_t read_raw(const std::string& path, std::uint64_t& checksum) {
  std::unique_ptr<TFile> f(TFile::Open(path.c_str()));
  if (!f || f->IsZombie()) throw std::runtime_error("file " + path + ": cannot be opened");
  TTreeReader reader("Events", f.get());
  TTreeReaderArray<UInt_t> det(reader, "PixelDigi_detId");
  TTreeReaderArray<UShort_t> row(reader, "PixelDigi_row"), col(reader, "PixelDigi_col"), adc(reader, "PixelDigi_adc");
  std::uint64_t hits = 0;
  while (reader.Next()) {
    const std::size_t n = det.GetSize();
    hits += n;
    for (std::size_t k = 0; k < n; ++k) checksum += det[k] + row[k] + col[k] + adc[k];
  }
  if (reader.GetEntryStatus() != TTreeReader::kEntryNotFound && reader.GetEntryStatus() != TTreeReader::kEntryBeyondEnd)
    throw std::runtime_error("file " + path + ": TTreeReader stopped with status " +
                             std::to_string(static_cast<int>(reader.GetEntryStatus())));
  return hits;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: hepvq_bench COMPRESSED.root RAW.root [--runs N] [--threads N] [--chunk ENTRIES]\n";
    return 2;
  }
  int runs = 5;
  hepvq::ReaderOptions opts;
  opts.provider = "cpu";
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--threads") opts.intraOpThreads = opts.threads = std::atoi(argv[i + 1]);
    else if (a == "--chunk") opts.chunkEntries = std::atoi(argv[i + 1]);
  }
  try {
    std::vector<double> dec, raw, open, dec_cpu, raw_cpu;
    std::uint64_t hd = 0, hr = 0, cd = 0, cr = 0;
    for (int k = 0; k < runs; ++k) {  // interleaved, so both see the same machine state
      auto t0 = Clock::now();
      std::clock_t c0 = std::clock();
      double o = 0;
      hd = decode_all(argv[1], opts, cd, o);
      dec.push_back(seconds_since(t0));
      dec_cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
      open.push_back(o);
      t0 = Clock::now();
      c0 = std::clock();
      hr = read_raw(argv[2], cr);
      raw.push_back(seconds_since(t0));
      raw_cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
    }
    const double d = median(dec), r = median(raw);
    std::cout << "hepvq_bench: " << runs << " runs, median wall time\n"
              << "  decode " << argv[1] << ": " << d * 1e3 << " ms, " << hd << " hits, " << hd / d / 1e6
              << " M hits/s (of which opening, blob checks and codec set-up " << median(open) * 1e3 << " ms)\n"
              << "  TTreeReader " << argv[2] << ": " << r * 1e3 << " ms, " << hr << " hits, " << hr / r / 1e6
              << " M hits/s\n"
              << "  ratio decode / raw read: " << d / r << "\n"
              << "  CPU time (all threads): decode " << median(dec_cpu) * 1e3 << " ms, raw read "
              << median(raw_cpu) * 1e3 << " ms, ratio " << median(dec_cpu) / median(raw_cpu) << "\n";
    if (hd != hr) std::cout << "  note: the files hold different numbers of hits\n";
    return 0;
  } catch (const std::exception& err) {
    std::cerr << "hepvq_bench: error: " << err.what() << "\n";
    return 1;
  }
}
