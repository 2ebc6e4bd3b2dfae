// onnxruntime through its C++ API: one Env per process, one session per decoder graph.
#include "onnx.hpp"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace hepvq {
namespace detail {

namespace {

// the float32 output of one batch of n rows, appended to out (refused unless it has one row per input row)
void append_rows(const Ort::Value& v, std::int64_t n, const std::string& what, std::vector<float>& out) {
  auto info = v.GetTensorTypeAndShapeInfo();
  if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || info.GetElementCount() % n)
    throw ReadError(what + " is not float32 with one row per input row");
  const float* p = v.GetTensorData<float>();
  out.insert(out.end(), p, p + info.GetElementCount());
}
Ort::Env& env() {
  static Ort::Env e(ORT_LOGGING_LEVEL_ERROR, "hepvq");
  return e;
}

// hepvq.runtime.onnx_scan.external_tensor: a minimal protobuf walk over the model's bytes; does any tensor point to
// external data (a file the untrusted model names, outside the blob)? "" when none.
std::string external_tensor(const std::string& model) {
  // field numbers of onnx.proto3: which length-delimited fields of each message kind hold which kind
  enum Kind { kModel, kGraph, kNode, kFunction, kAttribute, kSparse, kTensor, kNone };
  auto sub = [](Kind k, std::uint64_t f) -> Kind {
    switch (k) {
      case kModel: return f == 7 ? kGraph : f == 25 ? kFunction : kNone;
      case kGraph: return f == 1 ? kNode : f == 5 ? kTensor : f == 15 ? kSparse : kNone;
      case kNode: return f == 5 ? kAttribute : kNone;
      case kFunction: return f == 7 ? kNode : kNone;
      case kAttribute: return (f == 5 || f == 10) ? kTensor : (f == 6 || f == 11) ? kGraph : (f == 22 || f == 23) ? kSparse : kNone;
      case kSparse: return (f == 1 || f == 2) ? kTensor : kNone;
      default: return kNone;
    }
  };
  struct Msg { const unsigned char* p; std::size_t n; Kind kind; };
  std::vector<Msg> stack{{reinterpret_cast<const unsigned char*>(model.data()), model.size(), kModel}};
  auto varint = [](const unsigned char* p, std::size_t n, std::size_t& i) {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (i >= n || shift > 63) throw std::runtime_error("not an ONNX protobuf (truncated varint)");
      const unsigned char b = p[i++];
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (!stack.empty()) {
    const Msg m = stack.back();
    stack.pop_back();
    for (std::size_t i = 0; i < m.n;) {
      const std::uint64_t key = varint(m.p, m.n, i), field = key >> 3, wire = key & 7;
      std::uint64_t value = 0;
      const unsigned char* sp = nullptr;
      std::size_t size = 0;
      if (wire == 0) {
        value = varint(m.p, m.n, i);
      } else if (wire == 1 || wire == 5) {
        if ((wire == 1 ? 8u : 4u) > m.n - i) throw std::runtime_error("not an ONNX protobuf (truncated field)");
        i += wire == 1 ? 8 : 4;
      } else if (wire == 2) {
        const std::uint64_t len = varint(m.p, m.n, i);
        if (len > m.n - i) throw std::runtime_error("not an ONNX protobuf (truncated field)");
        sp = m.p + i;
        size = static_cast<std::size_t>(len);
        i += size;
      } else {
        throw std::runtime_error("not an ONNX protobuf (wire type " + std::to_string(wire) + ")");
      }
      if (m.kind == kTensor) {  // external_data (13) or data_location (14) = EXTERNAL (1)
        if (field == 13 || (field == 14 && wire == 0 && value == 1)) return "a tensor with external data";
        continue;
      }
      const Kind k = sub(m.kind, field);
      if (k != kNone && wire == 2) stack.push_back({sp, size, k});
    }
  }
  return "";
}

bool has_cuda() {
  for (const auto& p : Ort::GetAvailableProviders())
    if (p == "CUDAExecutionProvider") return true;
  return false;
}
}  // namespace

OnnxModel::OnnxModel(const std::string& bytes, const ReaderOptions& options, const std::string& where)
    : where_(where) {
  // the session is built from these bytes alone (hepvq.runtime.session.OnnxModel): a graph pointing at external
  // data is refused
  std::string ext;
  try {
    ext = external_tensor(bytes);
  } catch (const std::runtime_error& err) {
    throw ReadError(where + ": cannot load ONNX model: " + err.what());
  }
  if (!ext.empty())
    throw ReadError(where + ": ONNX model has " + ext + "; hepvq only runs self-contained models (export without "
                    "external data)");
  try {
    Ort::SessionOptions so;
    if (options.intraOpThreads > 0) so.SetIntraOpNumThreads(options.intraOpThreads);
    provider_ = "CPUExecutionProvider";
    if (options.provider == "cuda" && !has_cuda())
      throw ReadError(where + ": provider 'cuda' requested but this onnxruntime has no CUDAExecutionProvider");
    if (options.provider != "cpu" && has_cuda()) {
      OrtCUDAProviderOptions cuda{};
      so.AppendExecutionProvider_CUDA(cuda);
      provider_ = "CUDAExecutionProvider";
    }
    session_ = std::make_unique<Ort::Session>(env(), bytes.data(), bytes.size(), so);
  } catch (const Ort::Exception& err) {
    throw ReadError(where + ": onnxruntime cannot load the model: " + err.what());
  }
}

OnnxModel::~OnnxModel() = default;

std::string OnnxModel::metadata(const std::string& key) const {
  Ort::AllocatorWithDefaultOptions alloc;
  auto meta = session_->GetModelMetadata();
  auto v = meta.LookupCustomMetadataMapAllocated(key.c_str(), alloc);
  return v ? std::string(v.get()) : std::string();
}

void OnnxModel::run(const std::string& int_name, const std::vector<std::int64_t>& ints, std::int64_t a,
                    const std::string& float_name, const std::vector<float>& floats, std::int64_t b,
                    const std::string& output, std::int64_t rows, std::int64_t batch, std::vector<float>& out) {
  out.clear();
  if (rows == 0) return;
  try {
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const char* in_names[2] = {int_name.c_str(), float_name.c_str()};
    const char* out_names[1] = {output.c_str()};
    for (std::int64_t start = 0; start < rows; start += batch) {
      const std::int64_t n = std::min(batch, rows - start);
      const std::int64_t si[2] = {n, a}, sf[2] = {n, b};
      Ort::Value in[2] = {
          Ort::Value::CreateTensor<std::int64_t>(mem, const_cast<std::int64_t*>(ints.data()) + start * a,
                                                 static_cast<std::size_t>(n * a), si, 2),
          Ort::Value::CreateTensor<float>(mem, const_cast<float*>(floats.data()) + start * b,
                                          static_cast<std::size_t>(n * b), sf, 2)};
      auto res = session_->Run(Ort::RunOptions{nullptr}, in_names, in, 2, out_names, 1);
      append_rows(res[0], n, where_ + ": output '" + output + "'", out);
    }
  } catch (const Ort::Exception& err) {
    throw ReadError(where_ + ": onnxruntime run failed: " + err.what());
  }
}

void OnnxModel::run_encoder(const std::string& a_name, const std::vector<float>& a, const std::string& b_name,
                            const std::vector<float>& b, std::int64_t cols, const std::string& output,
                            std::int64_t rows, std::int64_t batch, std::vector<std::int64_t>& out,
                            std::int64_t& out_cols) {
  out.clear();
  out_cols = 0;
  if (rows == 0) return;
  try {
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    const char* in_names[2] = {a_name.c_str(), b_name.c_str()};
    const char* out_names[1] = {output.c_str()};
    for (std::int64_t start = 0; start < rows; start += batch) {
      const std::int64_t n = std::min(batch, rows - start);
      const std::int64_t shape[2] = {n, cols};
      Ort::Value in[2] = {
          Ort::Value::CreateTensor<float>(mem, const_cast<float*>(a.data()) + start * cols,
                                          static_cast<std::size_t>(n * cols), shape, 2),
          Ort::Value::CreateTensor<float>(mem, const_cast<float*>(b.data()) + start * cols,
                                          static_cast<std::size_t>(n * cols), shape, 2)};
      auto res = session_->Run(Ort::RunOptions{nullptr}, in_names, in, 2, out_names, 1);
      auto info = res[0].GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 || info.GetElementCount() % n)
        throw ReadError(where_ + ": output '" + output + "' is not int64 with one row per input row");
      out_cols = static_cast<std::int64_t>(info.GetElementCount()) / n;
      const std::int64_t* p = res[0].GetTensorData<std::int64_t>();
      out.insert(out.end(), p, p + info.GetElementCount());
    }
  } catch (const Ort::Exception& err) {
    throw ReadError(where_ + ": onnxruntime run failed: " + err.what());
  }
}

void OnnxModel::run_floats(const std::vector<FloatInput>& inputs, const std::string& output, std::int64_t rows,
                           std::int64_t batch, std::vector<float>& out) {
  out.clear();
  if (rows == 0) return;
  try {
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    std::vector<const char*> names;
    for (const auto& in : inputs) names.push_back(in.name.c_str());
    const char* out_names[1] = {output.c_str()};
    for (std::int64_t start = 0; start < rows; start += batch) {
      const std::int64_t n = std::min(batch, rows - start);
      std::vector<Ort::Value> values;
      for (const auto& in : inputs) {
        std::vector<std::int64_t> shape = in.shape;
        std::int64_t row_size = 1;
        for (std::size_t k = 1; k < shape.size(); ++k) row_size *= shape[k];
        std::int64_t count = row_size * shape[0];
        const float* p = in.data;
        if (in.sliced) {
          shape[0] = n;
          count = row_size * n;
          p += start * row_size;
        }
        values.push_back(Ort::Value::CreateTensor<float>(mem, const_cast<float*>(p), static_cast<std::size_t>(count),
                                                         shape.data(), shape.size()));
      }
      auto res = session_->Run(Ort::RunOptions{nullptr}, names.data(), values.data(), values.size(), out_names, 1);
      append_rows(res[0], n, where_ + ": output '" + output + "'", out);
    }
  } catch (const Ort::Exception& err) {
    throw ReadError(where_ + ": onnxruntime run failed: " + err.what());
  }
}

}  // namespace detail
}  // namespace hepvq
