// decode.C -- decode a hepvq-compressed file in a plain ROOT session with the C++ reader (cpp/), fill
// histograms from the decoded pixel DIGIs, once with an event loop and once through RDataFrame.
//
//   cpp/build.sh                                     # builds cpp/build/libhepvq_reader.so
//   root -b -q 'examples/root/decode.C("premix_compressed.root")'
//   root -b -q 'examples/root/decode.C("premix_compressed.root", "adc.png")'
//
// Run from the repository root (the include and library paths below are relative to it).  The reader
// verifies the file's blobs, sets the codec up from the file's own metadata and returns each entry as plain
// vectors (hepvq::Event: run, luminosityBlock, event, pixel.detId/row/col/adc).
R__ADD_INCLUDE_PATH(cpp/include)
R__LOAD_LIBRARY(cpp/build/libhepvq_reader.so)

#include <ROOT/RDataFrame.hxx>
#include <ROOT/RVec.hxx>
#include <TCanvas.h>
#include <TH1D.h>

#include <iostream>

#include "hepvq/reader.hpp"

void decode(const char* path = "premix_compressed.root", const char* png = "")
{
   try {
      hepvq::Reader reader(path);
      for (const auto& c : reader.collections())
         std::cout << "decode.C: " << c.name << " <- " << (c.codec.empty() ? "plain" : c.codec) << " '" << c.label
                   << "'" << std::endl;

      // 1. an event loop over the decoded entries
      TH1D adc("adc", "decoded pixel ADC;ADC;hits", 256, 0, 256);
      hepvq::Event ev;
      long long hits = 0;
      for (std::int64_t i = 0; i < reader.entries(); ++i) {
         reader.read(i, ev);
         for (auto a : ev.pixel.adc) adc.Fill(a);
         hits += ev.pixel.size();
      }
      std::cout << "decode.C: " << reader.entries() << " events, " << hits << " hits, mean ADC " << adc.GetMean()
                << std::endl;

      // 2. RDataFrame: the decoded columns defined over the reader (single-threaded: one reader, one cursor)
      ROOT::RDataFrame df(reader.entries());
      auto dec = df.Define("entry", [](ULong64_t e) { return static_cast<std::int64_t>(e); }, {"rdfentry_"})
                    .Define("PixelDigi_adc",
                            [&reader, &ev](std::int64_t e) {
                               reader.read(e, ev);
                               return ROOT::RVec<unsigned short>(ev.pixel.adc.begin(), ev.pixel.adc.end());
                            },
                            {"entry"})
                    .Define("nPixelDigi", [](const ROOT::RVec<unsigned short>& a) { return a.size(); },
                            {"PixelDigi_adc"});
      auto total = dec.Sum<std::size_t>("nPixelDigi");
      auto h = dec.Histo1D({"adc_rdf", "decoded pixel ADC (RDataFrame);ADC;hits", 256, 0, 256}, "PixelDigi_adc");
      std::cout << "decode.C: RDataFrame " << *total << " hits, mean ADC " << h->GetMean() << std::endl;

      if (png && *png) {
         TCanvas c("c", "c", 800, 600);
         adc.Draw();
         c.SaveAs(png);
      }
   } catch (const std::exception& err) {
      std::cerr << "decode.C: error: " << err.what() << std::endl;
   }
}
