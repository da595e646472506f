// Model registry: HF architecture name → implementation.
#include <functional>
#include <map>

#include "model/llama.h"

namespace strata {

Result<std::unique_ptr<Model>> create_model(const ModelConfig& config, const WeightLoader& weights,
                                            Backend& backend, Communicator& tp, const ModelOptions& options) {
  using Factory = std::function<Result<std::unique_ptr<Model>>(const ModelConfig&, const WeightLoader&, Backend&,
                                                               Communicator&, const ModelOptions&)>;
  static const std::map<std::string, Factory> kRegistry = {
      {"LlamaForCausalLM", LlamaModel::create},
      {"Qwen2ForCausalLM", LlamaModel::create},
      {"MistralForCausalLM", LlamaModel::create},
  };
  auto it = kRegistry.find(config.architecture);
  if (it == kRegistry.end()) return make_error("architecture '{}' is not supported", config.architecture);
  if (options.max_model_len <= 0) return make_error("max_model_len must be positive");
  return it->second(config, weights, backend, tp, options);
}

}  // namespace strata
