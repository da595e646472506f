// ModelConfig: the Hugging Face config.json (+ generation_config.json) of a Llama-family checkpoint,
// parsed and validated once. Both the hub spelling (rope_theta + rope_scaling) and the
// transformers >= 5 spelling (rope_parameters) are read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/dtype.h"
#include "core/status.h"

namespace strata {

struct RopeScaling {
  enum class Type { kNone, kLinear, kDynamic, kLlama3, kYarn };
  Type type = Type::kNone;
  double factor = 1.0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  // llama3, yarn, dynamic: the pre-training context length (0 = max_position_embeddings)
  int64_t original_max_position_embeddings = 0;
  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
  std::optional<double> attention_factor;
  bool truncate = true;
};

// Sampling defaults a checkpoint's generation_config.json sets (vLLM applies them to requests that
// omit the field).
struct GenerationDefaults {
  std::optional<double> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k, max_new_tokens;
};

struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::string model_type;    // e.g. "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and o for some) biases; always true for Qwen2 q/k/v
  bool o_proj_bias = false;
  bool mlp_bias = false;
  std::optional<int64_t> sliding_window;  // attention window, when the model uses one
  std::string hidden_act = "silu";
  DType dtype = DType::kBF16;  // torch_dtype / dtype of the checkpoint
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // generation_config.json's, else config.json's
  GenerationDefaults generation;
};

// Architectures this build can run (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM).
bool is_supported_architecture(const std::string& arch);

// Parses a config.json object; `source` names the file in errors.
Result<ModelConfig> parse_model_config(const nlohmann::json& j, const std::string& source);
// Reads <dir>/config.json and, when present, <dir>/generation_config.json (eos ids).
Result<ModelConfig> load_model_config(const std::string& dir);

}  // namespace strata
