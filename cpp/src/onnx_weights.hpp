// The float32 initializers of an ONNX model (name -> dims, values), read straight from its protobuf bytes
// (ModelProto.graph = 7, GraphProto.initializer = 5; TensorProto dims = 1, data_type = 2, float_data = 4,
// name = 8, raw_data = 9).  Used to take a VQ decoder's codebooks (book0, book1, ...) so that the core can
// compute the fractions itself; the reader checks the core against onnxruntime before it relies on that.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace hepvq {
namespace detail {

struct OnnxTensor {
  std::vector<std::int64_t> dims;
  std::vector<float> values;
};

class ProtoReader {
 public:
  ProtoReader(const unsigned char* p, std::size_t n) : p_(p), end_(p + n) {}
  bool done() const { return p_ >= end_; }
  bool ok() const { return ok_; }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int s = 0; s < 64 && p_ < end_; s += 7) {
      const unsigned char b = *p_++;
      v |= static_cast<std::uint64_t>(b & 0x7F) << s;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    p_ = end_;
    return 0;
  }
  // next field: (number, wire type); for wire type 2 `bytes` is the payload
  bool next(std::uint32_t& field, std::uint32_t& wire, const unsigned char*& data, std::size_t& len,
            std::uint64_t& value) {
    if (done() || !ok_) return false;
    const std::uint64_t key = varint();
    field = static_cast<std::uint32_t>(key >> 3);
    wire = static_cast<std::uint32_t>(key & 7);
    data = nullptr;
    len = 0;
    value = 0;
    switch (wire) {
      case 0: value = varint(); break;
      case 1: skip(8); break;
      case 5: skip(4); break;
      case 2: {
        len = static_cast<std::size_t>(varint());
        if (len > static_cast<std::size_t>(end_ - p_)) { ok_ = false; return false; }
        data = p_;
        p_ += len;
        break;
      }
      default: ok_ = false; return false;
    }
    return ok_;
  }

 private:
  void skip(std::size_t k) {
    if (k > static_cast<std::size_t>(end_ - p_)) { ok_ = false; p_ = end_; } else { p_ += k; }
  }
  const unsigned char* p_;
  const unsigned char* end_;
  bool ok_ = true;
};

// float32 initializers of the main graph; an unreadable model gives an empty map (the caller then keeps
// onnxruntime for everything)
inline std::map<std::string, OnnxTensor> onnx_float_initializers(const std::string& model) {
  std::map<std::string, OnnxTensor> out;
  std::uint32_t f, w;
  const unsigned char* d;
  std::size_t n;
  std::uint64_t v;
  ProtoReader m(reinterpret_cast<const unsigned char*>(model.data()), model.size());
  while (m.next(f, w, d, n, v)) {
    if (f != 7 || w != 2) continue;
    ProtoReader g(d, n);
    while (g.next(f, w, d, n, v)) {
      if (f != 5 || w != 2) continue;
      ProtoReader t(d, n);
      OnnxTensor tensor;
      std::string name;
      std::int64_t dtype = 0;
      while (t.next(f, w, d, n, v)) {
        if (f == 1 && w == 0) tensor.dims.push_back(static_cast<std::int64_t>(v));
        else if (f == 1 && w == 2) {
          ProtoReader packed(d, n);
          while (!packed.done() && packed.ok()) tensor.dims.push_back(static_cast<std::int64_t>(packed.varint()));
        } else if (f == 2 && w == 0) dtype = static_cast<std::int64_t>(v);
        else if (f == 8 && w == 2) name.assign(reinterpret_cast<const char*>(d), n);
        else if ((f == 9 || f == 4) && w == 2 && n % 4 == 0) {
          tensor.values.resize(n / 4);
          std::memcpy(tensor.values.data(), d, n);  // little-endian float32 (ONNX's raw_data layout)
        }
      }
      if (dtype == 1 && !name.empty()) out[name] = std::move(tensor);
    }
  }
  return out;
}

// metadata_props of the model (ModelProto field 14: key = 1, value = 2), what onnxruntime's custom metadata map
// returns, without creating a session
inline std::map<std::string, std::string> onnx_metadata(const std::string& model) {
  std::map<std::string, std::string> out;
  std::uint32_t f, w;
  const unsigned char* d;
  std::size_t n;
  std::uint64_t v;
  ProtoReader m(reinterpret_cast<const unsigned char*>(model.data()), model.size());
  while (m.next(f, w, d, n, v)) {
    if (f != 14 || w != 2) continue;
    ProtoReader e(d, n);
    std::string key, value;
    while (e.next(f, w, d, n, v)) {
      if (f == 1 && w == 2) key.assign(reinterpret_cast<const char*>(d), n);
      else if (f == 2 && w == 2) value.assign(reinterpret_cast<const char*>(d), n);
    }
    out[key] = value;
  }
  return out;
}

}  // namespace detail
}  // namespace hepvq
