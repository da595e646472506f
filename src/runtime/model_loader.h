// Loading a model for serving or offline generation: config.json (+ generation_config.json),
// tokenizer, weights (safetensors or dummy), backend and communicator, built into a Model for this
// rank. With no model directory, the built-in default model: a small Llama-architecture config with
// dummy weights and the byte tokenizer (its output is random bytes, by design).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/communicator.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "weights/model_config.h"

namespace strata {

struct LoadOptions {
  std::string model;           // HF model directory; empty = built-in default model
  std::string tokenizer;       // tokenizer directory; empty = the model directory
  std::string load_format = "auto";  // auto | safetensors | dummy
  uint64_t seed = 0;           // dummy weights
  int64_t max_model_len = 0;   // 0 = max_position_embeddings (capped by the sliding window)
  std::string device = "auto";        // auto (CUDA when a GPU answers, else CPU) | cpu | cuda
  std::string dtype = "auto";         // auto | bfloat16 | float16 | float32 (CPU: always float32)
};

struct LoadedModel {
  std::string name;  // what --served-model-name defaults to
  bool builtin = false;
  ModelConfig config;
  int64_t max_model_len = 0;
  DType dtype = DType::kF32;  // weights, activations and KV cache on the backend
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Communicator> tp;
  std::unique_ptr<Model> model;
};

constexpr const char* kBuiltinModelName = "strata-builtin-tiny";
ModelConfig builtin_model_config();

Result<LoadedModel> load_model(const LoadOptions& options);
// --dtype → the compute dtype (float32 wherever the backend has nothing narrower).
Result<DType> compute_dtype(const std::string& flag, DType checkpoint, const Backend& backend);

}  // namespace strata
