// read_compressed.C -- read a hepvq-compressed pixel file with plain ROOT (no hepvq needed) and histogram the
// usage of the VQ codebook, i.e. how often each code index appears in the index branch.
//
//   hepvq-run python_cfg/premix_compress_cfg.py pixelVQ.debugIndices=True
//   root -b -q 'examples/root/read_compressed.C("premix_compressed.root")'
//   root -b -q 'examples/root/read_compressed.C("premix_compressed.root", "pixelVQ_debugcodes_code", "code_usage.png")'
//
// The file is what `hepvq-run python_cfg/premix_compress_cfg.py` writes: TTree "Events", TObjString
// "hepvq_provenance" (JSON: codecs, products, model hashes) and TTree "hepvq_blobs" (the decoder ONNX, settings and
// tables). The main job's default, pixel_vq format 2, stores rANS byte streams; with pixelVQ.debugIndices=True it
// also writes the decoded symbols as integer branches (pixelVQ_debugcodes_code: code of each multi-hit patch,
// pixelVQ_debug_shape, pixelVQ_debug_charge). Format 1 (pixelVQ.format=1) stores integer index branches only
// (pixelVQ_codes_c0, pixelVQ_shape, pixelVQ_charge, ...). Without a branch name the macro takes
// pixelVQ_debugcodes_code, else pixelVQ_codes_c0. Kept interpreted on purpose (no '+', no ACLiC compile).
#include <TCanvas.h>
#include <TFile.h>
#include <TH1D.h>
#include <TObjString.h>
#include <TString.h>
#include <TTree.h>

#include <cmath>
#include <iostream>

void read_compressed(const char* path = "premix_compressed.root", const char* branch = "",
                     const char* png = "code_usage.png")
{
   TFile* f = TFile::Open(path);
   if (!f || f->IsZombie()) {
      std::cerr << "read_compressed: cannot open " << path << std::endl;
      return;
   }
   if (auto* prov = dynamic_cast<TObjString*>(f->Get("hepvq_provenance"))) {
      TString json = prov->GetString();
      std::cout << "hepvq_provenance: " << json(0, json.Length() < 300 ? json.Length() : 300)
                << (json.Length() > 300 ? "..." : "") << std::endl;
   }
   TTree* t = nullptr;
   f->GetObject("Events", t);
   if (!t) {
      std::cerr << "read_compressed: no TTree Events in " << path << std::endl;
      return;
   }
   if (!branch || !*branch) {
      branch = t->GetBranch("pixelVQ_debugcodes_code") ? "pixelVQ_debugcodes_code" : "pixelVQ_codes_c0";
   }
   if (!t->GetBranch(branch)) {
      if (t->GetBranch("pixelVQ_s_code0"))
         std::cerr << "read_compressed: " << path << " is pixel_vq format 2 without readable symbols; write it with "
                   << "pixelVQ.debugIndices=True (or pixelVQ.format=1)" << std::endl;
      std::cerr << "read_compressed: no branch " << branch << "; index branches in this file:" << std::endl;
      for (auto* b : *t->GetListOfBranches()) std::cerr << "  " << b->GetName() << std::endl;
      return;
   }
   const int ncodes = static_cast<int>(t->GetMaximum(branch)) + 1;
   TH1D* h = new TH1D("code_usage", TString::Format("%s: code usage;code index;patches", branch), ncodes, -0.5,
                      ncodes - 0.5);
   const Long64_t n = t->Draw(TString::Format("%s>>code_usage", branch), "", "goff");
   double entropy = 0;
   int used = 0;
   for (int i = 1; i <= ncodes; ++i) {
      const double p = h->GetBinContent(i) / h->GetEntries();
      if (p > 0) {
         entropy -= p * std::log2(p);
         ++used;
      }
   }
   std::cout << "events " << t->GetEntries() << ", " << branch << ": " << n << " values, " << used << " of "
             << ncodes << " codes used, entropy " << entropy << " bits/code, perplexity " << std::pow(2, entropy)
             << std::endl;
   TCanvas c("c", "code usage", 900, 500);
   h->SetFillColor(38);
   h->Draw("hist");
   c.SaveAs(png);
}
