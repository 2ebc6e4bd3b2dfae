// onnxruntime through its C++ API: one Env per process, one session per decoder graph.
#include "onnx.hpp"

#include <onnxruntime_cxx_api.h>

#include <algorithm>

namespace hepvq {
namespace detail {

namespace {
Ort::Env& env() {
  static Ort::Env e(ORT_LOGGING_LEVEL_ERROR, "hepvq");
  return e;
}

bool has_cuda() {
  for (const auto& p : Ort::GetAvailableProviders())
    if (p == "CUDAExecutionProvider") return true;
  return false;
}
}  // namespace

OnnxModel::OnnxModel(const std::string& bytes, const ReaderOptions& options, const std::string& where)
    : where_(where) {
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
      auto info = res[0].GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || info.GetElementCount() % n)
        throw ReadError(where_ + ": output '" + output + "' is not float32 with one row per input row");
      const float* p = res[0].GetTensorData<float>();
      out.insert(out.end(), p, p + info.GetElementCount());
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
      auto info = res[0].GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || info.GetElementCount() % n)
        throw ReadError(where_ + ": output '" + output + "' is not float32 with one row per input row");
      const float* p = res[0].GetTensorData<float>();
      out.insert(out.end(), p, p + info.GetElementCount());
    }
  } catch (const Ort::Exception& err) {
    throw ReadError(where_ + ": onnxruntime run failed: " + err.what());
  }
}

}  // namespace detail
}  // namespace hepvq
