#include "runtime/model_loader.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "core/logging.h"

namespace strata {
namespace fs = std::filesystem;

ModelConfig builtin_model_config() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 512;  // 256 bytes + <s> + </s>, padded
  c.hidden_size = 256;
  c.intermediate_size = 768;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.head_dim = 32;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = 2048;
  c.tie_word_embeddings = false;
  c.dtype = DType::kF32;
  c.bos_token_id = 256;
  c.eos_token_ids = {257};
  return c;
}

Result<DType> compute_dtype(const std::string& flag, DType checkpoint, const Backend& backend) {
  DType dt;
  if (flag == "auto") {
    // The checkpoint's 16-bit type; float32 checkpoints are served in bfloat16 (as vLLM does on GPUs).
    dt = checkpoint == DType::kF16 ? DType::kF16 : DType::kBF16;
  } else if (flag == "bfloat16" || flag == "bf16") {
    dt = DType::kBF16;
  } else if (flag == "float16" || flag == "half" || flag == "fp16") {
    dt = DType::kF16;
  } else if (flag == "float32" || flag == "float") {
    dt = DType::kF32;
  } else {
    return make_error("--dtype {}: expected auto, bfloat16, float16 or float32", flag);
  }
  if (!backend.supports_dtype(dt)) {
    if (flag != "auto") LOG_INFO("--dtype {}: the {} backend computes in float32", flag, backend.name());
    dt = DType::kF32;
  }
  return dt;
}

Result<ModelSource> open_model(const LoadOptions& o) {
  ModelSource m;
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda")
    return make_error("--device {}: expected auto, cpu or cuda", o.device);
  if (o.load_format != "auto" && o.load_format != "safetensors" && o.load_format != "dummy")
    return make_error("--load-format {}: expected auto, safetensors or dummy", o.load_format);
  std::unique_ptr<WeightLoader>& weights = m.weights;
  if (o.model.empty()) {
    m.builtin = true;
    m.name = kBuiltinModelName;
    m.config = builtin_model_config();
    m.tokenizer = Tokenizer::byte_level();
    weights = std::make_unique<WeightLoader>(WeightLoader::dummy(o.seed));
    LOG_WARN("no --model given: using the built-in {} model with RANDOM weights; its output is random bytes",
             kBuiltinModelName);
  } else {
    m.name = o.model;
    STRATA_TRY(m.config, load_model_config(o.model));
    std::string tok_dir = o.tokenizer.empty() ? o.model : o.tokenizer;
    STRATA_TRY(m.tokenizer, Tokenizer::from_dir(tok_dir));
    if (o.load_format == "dummy") {
      weights = std::make_unique<WeightLoader>(WeightLoader::dummy(o.seed));
    } else {
      STRATA_TRY(WeightStore store, WeightStore::open_dir(o.model));
      weights = std::make_unique<WeightLoader>(WeightLoader::from_checkpoint(std::move(store)));
    }
  }
  int64_t limit = m.config.max_position_embeddings;
  if (m.config.sliding_window && *m.config.sliding_window < limit) {
    LOG_WARN("sliding-window attention is not implemented: max_model_len capped at the window ({})",
             *m.config.sliding_window);
    limit = *m.config.sliding_window;
  }
  m.max_model_len = o.max_model_len > 0 ? o.max_model_len : limit;
  if (m.max_model_len > limit)
    return make_error("--max-model-len {} exceeds the model's limit {} (max_position_embeddings{})",
                      m.max_model_len, limit, m.config.sliding_window ? " / sliding_window" : "");
  return m;
}

Result<std::unique_ptr<Backend>> create_backend(const std::string& device, int device_index) {
  if (device == "cuda" || (device == "auto" && cuda_available())) return create_cuda_backend(device_index);
  return create_cpu_backend();
}

Result<std::unique_ptr<Model>> build_model(const ModelSource& s, const LoadOptions& o, Backend& backend,
                                           Communicator& tp, Communicator* pp, DType* dtype) {
  ModelOptions mo;
  mo.max_model_len = s.max_model_len;
  mo.pp = pp;
  STRATA_TRY(mo.dtype, compute_dtype(o.dtype, s.config.dtype, backend));
  const auto t0 = std::chrono::steady_clock::now();
  STRATA_TRY(auto model, create_model(s.config, *s.weights, backend, tp, mo));
  if (dtype) *dtype = mo.dtype;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto [bytes, upload_s] = backend.upload_stats();
  if (bytes > 0)
    LOG_INFO("weights: {:.2f} GB uploaded to the {} backend in {:.2f} s ({:.2f} GB/s while copying, {:.2f} s in all)",
             bytes / 1e9, backend.name(), upload_s, bytes / 1e9 / std::max(upload_s, 1e-9), secs);
  else
    LOG_INFO("weights: {} on the {} backend in {:.2f} s", s.weights->is_dummy() ? "generated" : "loaded",
             backend.name(), secs);
  return model;
}

Result<LoadedModel> load_model(const LoadOptions& o) {
  STRATA_TRY(ModelSource s, open_model(o));
  LoadedModel m;
  m.name = s.name;
  m.builtin = s.builtin;
  m.config = s.config;
  m.max_model_len = s.max_model_len;
  m.tokenizer = std::move(s.tokenizer);
  STRATA_TRY(m.backend, create_backend(o.device, 0));
  m.tp = create_single_rank_communicator();
  STRATA_TRY(m.model, build_model(s, o, *m.backend, *m.tp, nullptr, &m.dtype));
  return m;
}

}  // namespace strata
