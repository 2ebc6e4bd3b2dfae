// onnxruntime sessions for the codecs' decoder graphs (the model bytes come from the file's blobs).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hepvq/reader.hpp"

namespace Ort {
struct Session;
}

namespace hepvq {
namespace detail {

class OnnxModel {
 public:
  // provider: "auto" (CUDA when this onnxruntime has it), "cpu" or "cuda"; where: names the model in errors
  OnnxModel(const std::string& bytes, const ReaderOptions& options, const std::string& where);
  ~OnnxModel();
  // The graph's output `output` (float32) for an int64 input (rows x a) and a float32 input (rows x b),
  // run in slices of `batch` rows like hepvq.runtime's OnnxModel.run.
  void run(const std::string& int_name, const std::vector<std::int64_t>& ints, std::int64_t a,
           const std::string& float_name, const std::vector<float>& floats, std::int64_t b,
           const std::string& output, std::int64_t rows, std::int64_t batch, std::vector<float>& out);
  // The graph's int64 output `output` for two float32 inputs of `cols` columns (an encoder: x, mask -> indices);
  // `out_cols` is set to the output's columns.
  void run_encoder(const std::string& a_name, const std::vector<float>& a, const std::string& b_name,
                   const std::vector<float>& b, std::int64_t cols, const std::string& output, std::int64_t rows,
                   std::int64_t batch, std::vector<std::int64_t>& out, std::int64_t& out_cols);
  // float32 inputs -> the float32 output `output` (one value or row per input row): inputs with `rows` set are
  // sliced by rows in batches of `batch` (the others, e.g. a latent, go whole into every run), as
  // hepvq.tpc.amortised_rt.AmortisedRuntime.decode feeds its decoder
  struct FloatInput {
    std::string name;
    const float* data;
    std::vector<std::int64_t> shape;  // of the whole input; shape[0] is the row axis when sliced
    bool sliced;
  };
  void run_floats(const std::vector<FloatInput>& inputs, const std::string& output, std::int64_t rows,
                  std::int64_t batch, std::vector<float>& out);
  const std::string& provider() const { return provider_; }
  // custom metadata of the graph (key -> value), "" when absent
  std::string metadata(const std::string& key) const;

 private:
  std::unique_ptr<Ort::Session> session_;
  std::string where_, provider_;
};

}  // namespace detail
}  // namespace hepvq
