// hepvq_sha256 FILE...: the sha256 of each file as `<hex>  <name>` (sha256sum's format), computed by the
// reader's own SHA-256 (tests compare it with Python's hashlib).
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "hepvq/sha256.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    if (!f) {
      std::cerr << "hepvq_sha256: error: cannot read " << argv[i] << "\n";
      return 1;
    }
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::cout << hepvq::sha256_hex(data.data(), data.size()) << "  " << argv[i] << "\n";
  }
  return 0;
}
