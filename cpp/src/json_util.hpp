// JSON (nlohmann/json, the header-only copy that ships in ROOT's include directory) and base64 helpers.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "hepvq/reader.hpp"

namespace hepvq {
namespace detail {

using json = nlohmann::json;

inline json parse_json(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const std::exception& err) {
    std::string msg = err.what();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    throw ReadError(where + " is not valid JSON (" + msg + "); the file is damaged");
  }
}

// An integer written as a JSON number or as a decimal string (large shape masks are written as strings).
inline std::int64_t as_int(const json& v, const std::string& where) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_string()) {
    try {
      std::size_t pos = 0;
      const auto s = v.get<std::string>();
      const long long x = std::stoll(s, &pos);
      if (pos == s.size()) return x;
    } catch (const std::exception&) {
    }
  }
  throw ReadError(where + ": expected an integer, found " + v.dump());
}

inline std::vector<unsigned char> base64_decode(const std::string& s, const std::string& where) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> out;
  out.reserve(s.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    if (c == '\n' || c == '\r') continue;
    const auto pos = chars.find(c);
    if (pos == std::string::npos) throw ReadError(where + ": not base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace detail
}  // namespace hepvq
