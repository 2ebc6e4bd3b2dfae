// hepvq_encode: run a hepvq encoder (and optionally its decoder) ONNX model with the onnxruntime C++ API.
//
//   hepvq_encode ENCODER.onnx PATCHES.bin INDICES.bin [--feed NAME FILE]... [--decoder DECODER.onnx DECODED.bin]
//                [--batch N] [--threads N] [--input NAME] [--output NAME] [--info]
//
// PATCHES.bin feeds the encoder's first input (or the one named by --input); every other model input is given by
// --feed NAME FILE (for pixel_vq: --feed mask mask.bin), for the encoder and the decoder alike. The encoder's
// first int64 output (or --output NAME; without an int64 output: the first output, float32) is written to INDICES.bin;
// the decoder gets the indices on its int64 input.
//
// File formats (all little-endian; docs/cpp.md has the details and examples/cpp/tensorfile.py reads/writes them):
//   tensor file = magic[4] + uint32 version (=1) + uint32 ndim + int64 shape[ndim] + row-major data
//   magic "HVQF": float32 data (patches in, decoded patches out);  magic "HVQI": int64 data (indices out).
// The first axis is the batch; the model's remaining input axes must match the file's.
//
// Build: examples/cpp/build.sh (C++17, onnxruntime headers + the library of the onnxruntime wheel).
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> f32;    // for HVQF
  std::vector<int64_t> i64;  // for HVQI
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t row_size() const {
    return std::accumulate(shape.begin() + (shape.empty() ? 0 : 1), shape.end(), int64_t{1}, std::multiplies<int64_t>());
  }
};

bool is_float(const Tensor& t) { return !t.f32.empty() || t.i64.empty(); }

// want_magic: "HVQF", "HVQI" or nullptr (either)
Tensor read_tensor(const std::string& path, const char* want_magic) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  char magic[4];
  uint32_t version = 0, ndim = 0;
  in.read(magic, 4);
  in.read(reinterpret_cast<char*>(&version), 4);
  in.read(reinterpret_cast<char*>(&ndim), 4);
  const bool known = std::memcmp(magic, "HVQF", 4) == 0 || std::memcmp(magic, "HVQI", 4) == 0;
  if (!in || !known || (want_magic && std::memcmp(magic, want_magic, 4) != 0))
    throw std::runtime_error(path + ": not a " + (want_magic ? std::string(want_magic, 4) : std::string("hepvq")) +
                             " tensor file");
  if (version != 1) throw std::runtime_error(path + ": unsupported version " + std::to_string(version));
  if (ndim < 1 || ndim > 8) throw std::runtime_error(path + ": bad ndim " + std::to_string(ndim));
  Tensor t;
  t.shape.resize(ndim);
  in.read(reinterpret_cast<char*>(t.shape.data()), 8 * ndim);
  const int64_t n = t.rows() * t.row_size();
  if (std::memcmp(magic, "HVQF", 4) == 0) {
    t.f32.resize(n);
    in.read(reinterpret_cast<char*>(t.f32.data()), 4 * n);
  } else {
    t.i64.resize(n);
    in.read(reinterpret_cast<char*>(t.i64.data()), 8 * n);
  }
  if (!in) throw std::runtime_error(path + ": truncated (expected " + std::to_string(n) + " values)");
  return t;
}

void write_tensor(const std::string& path, const char* magic, const std::vector<int64_t>& shape, const void* data,
                  size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot write " + path);
  const uint32_t version = 1, ndim = static_cast<uint32_t>(shape.size());
  out.write(magic, 4);
  out.write(reinterpret_cast<const char*>(&version), 4);
  out.write(reinterpret_cast<const char*>(&ndim), 4);
  out.write(reinterpret_cast<const char*>(shape.data()), 8 * shape.size());
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw std::runtime_error("error writing " + path);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + (s[i] < 0 ? std::string("N") : std::to_string(s[i]));
  return r + "]";
}

// A loaded model: session plus the names and shapes of its inputs/outputs (read from the model).
struct Model {
  Ort::Session session{nullptr};
  std::vector<std::string> in_names, out_names;
  std::vector<std::vector<int64_t>> in_shapes, out_shapes;
  std::vector<ONNXTensorElementDataType> in_types, out_types;

  Model(Ort::Env& env, const std::string& path, int threads) {
    Ort::SessionOptions opts;
    opts.SetIntraOpNumThreads(threads);
    opts.SetInterOpNumThreads(1);
    opts.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    session = Ort::Session(env, path.c_str(), opts);
    Ort::AllocatorWithDefaultOptions alloc;
    for (size_t i = 0; i < session.GetInputCount(); ++i) {
      in_names.emplace_back(session.GetInputNameAllocated(i, alloc).get());
      Ort::TypeInfo type_info = session.GetInputTypeInfo(i);  // must outlive `info`, which points into it
      auto info = type_info.GetTensorTypeAndShapeInfo();
      in_shapes.push_back(info.GetShape());
      in_types.push_back(info.GetElementType());
    }
    for (size_t i = 0; i < session.GetOutputCount(); ++i) {
      out_names.emplace_back(session.GetOutputNameAllocated(i, alloc).get());
      Ort::TypeInfo type_info = session.GetOutputTypeInfo(i);
      auto info = type_info.GetTensorTypeAndShapeInfo();
      out_shapes.push_back(info.GetShape());
      out_types.push_back(info.GetElementType());
    }
  }

  size_t input_index(const std::string& name) const { return index_of(in_names, name, "input"); }
  size_t output_index(const std::string& name) const { return index_of(out_names, name, "output"); }

  // ONNX element type names (onnx.TensorProto.DataType), instead of the enum's numbers
  static std::string type_name(ONNXTensorElementDataType t) {
    switch (t) {
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return "uint16";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return "int16";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return "string";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return "uint32";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return "uint64";
      case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return "bfloat16";
      default: return "onnx type " + std::to_string(static_cast<int>(t));
    }
  }

  void print(const std::string& label) {
    Ort::AllocatorWithDefaultOptions alloc;
    std::cout << label << ":\n";
    for (size_t i = 0; i < in_names.size(); ++i)
      std::cout << "  input  " << in_names[i] << " " << shape_str(in_shapes[i]) << " " << type_name(in_types[i])
                << "\n";
    for (size_t i = 0; i < out_names.size(); ++i)
      std::cout << "  output " << out_names[i] << " " << shape_str(out_shapes[i]) << " " << type_name(out_types[i])
                << "\n";
    auto meta = session.GetModelMetadata();
    for (auto& key : meta.GetCustomMetadataMapKeysAllocated(alloc)) {
      std::string value = meta.LookupCustomMetadataMapAllocated(key.get(), alloc).get();
      if (value.size() > 80) value = value.substr(0, 77) + "...";
      std::cout << "  metadata " << key.get() << " = " << value << "\n";
    }
  }

 private:
  static size_t index_of(const std::vector<std::string>& names, const std::string& name, const char* what) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      std::string all;
      for (auto& n : names) all += " " + n;
      throw std::runtime_error(std::string("model has no ") + what + " '" + name + "' (has:" + all + ")");
    }
    return static_cast<size_t>(it - names.begin());
  }
};

void check_row_shape(const Model& m, size_t input, const std::vector<int64_t>& file_shape, const std::string& path) {
  const auto& want = m.in_shapes[input];
  bool ok = want.size() == file_shape.size();
  for (size_t i = 1; ok && i < want.size(); ++i) ok = want[i] < 0 || want[i] == file_shape[i];
  if (!ok)
    throw std::runtime_error(path + ": shape " + shape_str(file_shape) + " does not fit model input '" +
                             m.in_names[input] + "' " + shape_str(want));
}

// One named input of a run: a float32 or int64 tensor whose first axis is the batch.
struct Feed {
  std::string name;
  const Tensor* tensor;
};

// Run `m` on all rows of `feeds` in batches of `batch` rows; returns output `out_idx`, concatenated.
template <typename Out>
std::vector<Out> run_batched(Model& m, const std::vector<Feed>& feeds, size_t out_idx, int64_t batch,
                             std::vector<int64_t>& out_shape) {
  Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const int64_t rows = feeds.at(0).tensor->rows();
  for (auto& f : feeds)
    if (f.tensor->rows() != rows)
      throw std::runtime_error("input '" + f.name + "' has " + std::to_string(f.tensor->rows()) + " rows, '" +
                               feeds[0].name + "' has " + std::to_string(rows));
  std::vector<const char*> in_names;
  for (auto& f : feeds) in_names.push_back(f.name.c_str());
  const char* out_name = m.out_names[out_idx].c_str();
  std::vector<Out> result;
  out_shape.clear();
  for (int64_t start = 0; start < rows; start += batch) {
    const int64_t n = std::min(batch, rows - start);
    std::vector<Ort::Value> inputs;
    std::vector<std::vector<int64_t>> shapes;
    shapes.reserve(feeds.size());
    for (auto& f : feeds) {
      const Tensor& t = *f.tensor;
      shapes.push_back(t.shape);
      shapes.back()[0] = n;
      const int64_t row = t.row_size();
      if (is_float(t))
        inputs.push_back(Ort::Value::CreateTensor<float>(mem, const_cast<float*>(t.f32.data() + start * row),
                                                         static_cast<size_t>(n * row), shapes.back().data(),
                                                         shapes.back().size()));
      else
        inputs.push_back(Ort::Value::CreateTensor<int64_t>(mem, const_cast<int64_t*>(t.i64.data() + start * row),
                                                           static_cast<size_t>(n * row), shapes.back().data(),
                                                           shapes.back().size()));
    }
    auto outputs = m.session.Run(Ort::RunOptions{nullptr}, in_names.data(), inputs.data(), inputs.size(),
                                 &out_name, 1);
    auto info = outputs[0].GetTensorTypeAndShapeInfo();
    auto oshape = info.GetShape();
    const Out* p = outputs[0].GetTensorData<Out>();
    result.insert(result.end(), p, p + info.GetElementCount());
    if (out_shape.empty()) out_shape = oshape; else out_shape[0] += oshape[0];
  }
  if (out_shape.empty()) {  // zero rows: shape from the model with batch 0
    out_shape = m.out_shapes[out_idx];
    for (auto& d : out_shape) d = d < 0 ? 0 : d;
    out_shape[0] = 0;
  }
  return result;
}

// The feeds of every input of `m`: by name from `named`, else `first` for input 0 (when given).
std::vector<Feed> feeds_for(const Model& m, const std::vector<std::pair<std::string, Tensor>>& named,
                            const Tensor* first, const std::string& first_path) {
  std::vector<Feed> out;
  for (size_t i = 0; i < m.in_names.size(); ++i) {
    const std::string& name = m.in_names[i];
    const Tensor* t = nullptr;
    std::string where;
    for (auto& [n, tensor] : named)
      if (n == name) { t = &tensor; where = "--feed " + n; }
    if (!t && i == 0 && first) { t = first; where = first_path; }
    if (!t) throw std::runtime_error("model input '" + name + "' " + shape_str(m.in_shapes[i]) +
                                     " has no data: give it with --feed " + name + " FILE");
    const bool want_float = m.in_types[i] == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    const bool want_int = m.in_types[i] == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    if (!(want_float && is_float(*t)) && !(want_int && !is_float(*t)))
      throw std::runtime_error(where + ": element type does not fit model input '" + name + "' (type " +
                               std::to_string(m.in_types[i]) + ")");
    check_row_shape(m, i, t->shape, where);
    out.push_back({name, t});
  }
  return out;
}

// The one named, else the first output of the wanted element type, else (fallback=true) output 0.
size_t pick_output(const Model& m, const std::string& name, ONNXTensorElementDataType type, bool fallback = false) {
  if (!name.empty()) return m.output_index(name);
  for (size_t i = 0; i < m.out_types.size(); ++i)
    if (m.out_types[i] == type) return i;
  if (fallback && !m.out_types.empty()) return 0;
  throw std::runtime_error("model has no output of element type " + std::to_string(type));
}

int usage() {
  std::cerr << "usage: hepvq_encode ENCODER.onnx PATCHES.bin INDICES.bin [--feed NAME FILE]...\n"
               "                    [--decoder DECODER.onnx DECODED.bin] [--batch N] [--threads N]\n"
               "                    [--input NAME] [--output NAME] [--info]\n"
               "  PATCHES.bin feeds the encoder's first input (or --input NAME); --feed gives other inputs\n"
               "  (e.g. --feed mask mask.bin), to the encoder and the decoder alike; the decoder's int64\n"
               "  input receives the indices.\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  std::string decoder_path, decoded_path, input_name, output_name;
  std::vector<std::pair<std::string, std::string>> feed_files;
  int64_t batch = 65536;
  int threads = 1;
  bool info = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
      return argv[++i];
    };
    try {
      if (a == "--decoder") { decoder_path = next(); decoded_path = next(); }
      else if (a == "--batch") batch = std::stoll(next());
      else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--input") input_name = next();
      else if (a == "--feed") { std::string n = next(); feed_files.emplace_back(n, next()); }
      else if (a == "--output") output_name = next();
      else if (a == "--info") info = true;
      else if (a == "-h" || a == "--help") return usage();
      else pos.push_back(a);
    } catch (const std::exception& e) {
      std::cerr << "hepvq_encode: " << e.what() << "\n";
      return usage();
    }
  }
  if (pos.size() != 3 || batch < 1) return usage();
  try {
    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "hepvq_encode");
    Model encoder(env, pos[0], threads);
    if (info) encoder.print("encoder " + pos[0]);
    // indices: the first int64 output; a model without one (e.g. a continuous-latent encoder) -> its first output
    const size_t out_idx = pick_output(encoder, output_name, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, true);
    const bool int_out = encoder.out_types[out_idx] == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    if (!int_out && encoder.out_types[out_idx] != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
      throw std::runtime_error("encoder output '" + encoder.out_names[out_idx] + "' is neither int64 nor float");

    Tensor patches = read_tensor(pos[1], "HVQF");
    std::vector<std::pair<std::string, Tensor>> named;
    for (auto& [name, path] : feed_files) named.emplace_back(name, read_tensor(path, nullptr));
    if (!input_name.empty()) named.emplace_back(input_name, patches);
    auto feeds = feeds_for(encoder, named, input_name.empty() ? &patches : nullptr, pos[1]);
    std::vector<int64_t> idx_shape;
    std::vector<int64_t> indices;
    if (int_out) {
      indices = run_batched<int64_t>(encoder, feeds, out_idx, batch, idx_shape);
      write_tensor(pos[2], "HVQI", idx_shape, indices.data(), indices.size() * sizeof(int64_t));
    } else {
      auto latent = run_batched<float>(encoder, feeds, out_idx, batch, idx_shape);
      write_tensor(pos[2], "HVQF", idx_shape, latent.data(), latent.size() * sizeof(float));
    }
    std::cout << "encoded " << patches.rows() << " patches " << shape_str(patches.shape) << " -> "
              << (int_out ? "indices " : "float output ") << shape_str(idx_shape) << " ("
              << encoder.out_names[out_idx] << ") in " << pos[2] << "\n";
    if (!decoder_path.empty() && !int_out)
      throw std::runtime_error("--decoder needs an encoder with int64 indices");

    if (!decoder_path.empty()) {
      Model decoder(env, decoder_path, threads);
      if (info) decoder.print("decoder " + decoder_path);
      const size_t d_out = pick_output(decoder, "", ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT);
      // the decoder's index input: the one named like the encoder's output, else its first int64 input
      Tensor idx_tensor;
      idx_tensor.shape = idx_shape;
      idx_tensor.i64 = indices;
      std::string idx_name;
      for (size_t i = 0; i < decoder.in_names.size() && idx_name.empty(); ++i)
        if (decoder.in_names[i] == encoder.out_names[out_idx]) idx_name = decoder.in_names[i];
      for (size_t i = 0; i < decoder.in_names.size() && idx_name.empty(); ++i)
        if (decoder.in_types[i] == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64) idx_name = decoder.in_names[i];
      if (idx_name.empty()) throw std::runtime_error("decoder has no int64 input for the indices");
      auto dnamed = named;
      dnamed.emplace_back(idx_name, idx_tensor);
      auto dfeeds = feeds_for(decoder, dnamed, nullptr, "");
      std::vector<int64_t> dec_shape;
      auto decoded = run_batched<float>(decoder, dfeeds, d_out, batch, dec_shape);
      write_tensor(decoded_path, "HVQF", dec_shape, decoded.data(), decoded.size() * sizeof(float));
      std::cout << "decoded -> " << shape_str(dec_shape) << " (" << decoder.out_names[d_out] << ") in "
                << decoded_path << "\n";
    }
  } catch (const Ort::Exception& e) {
    std::cerr << "hepvq_encode: onnxruntime error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "hepvq_encode: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
