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

// What every rank loads from: config, tokenizer and the (mmap'd or dummy) weights, before any backend.
struct ModelSource {
  std::string name;
  bool builtin = false;
  ModelConfig config;
  int64_t max_model_len = 0;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<WeightLoader> weights;  // read concurrently by every local rank
};

constexpr const char* kBuiltinModelName = "strata-builtin-tiny";
ModelConfig builtin_model_config();

Result<ModelSource> open_model(const LoadOptions& options);
// The backend --device asks for (auto: CUDA when a GPU answers), on GPU `device_index`.
Result<std::unique_ptr<Backend>> create_backend(const std::string& device, int device_index);
// This rank's shard of the model on `backend` (logs the load time and upload rate); *dtype gets the
// compute dtype --dtype resolved to.
Result<std::unique_ptr<Model>> build_model(const ModelSource& source, const LoadOptions& options, Backend& backend,
                                           Communicator& tp, Communicator* pp, DType* dtype);
// One rank, this process: open_model + create_backend + build_model.
Result<LoadedModel> load_model(const LoadOptions& options);
// --dtype → the compute dtype (float32 wherever the backend has nothing narrower).
Result<DType> compute_dtype(const std::string& flag, DType checkpoint, const Backend& backend);

}  // namespace strata
