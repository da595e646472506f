// OfflineGenerator: runs a list of prompts through the model in batches over the paged KV cache
// (`strata generate`, `strata bench`-style offline use). Each step decodes one token for every
// running sequence and admits waiting prompts (their whole prefill) while the token budget and free
// KV blocks allow; a sequence reserves blocks for prompt + max_tokens at admission, so nothing is
// ever preempted. The serving engine (scheduler with chunked prefill and preemption) supersedes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/sampling_params.h"
#include "runtime/model_runner.h"
#include "weights/model_config.h"

namespace strata {

struct GenerationRequest {
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
};

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> output_ids;
  std::string finish_reason;  // "stop" (EOS / stop token) or "length" (max_tokens / max_model_len)
};

struct GeneratorConfig {
  int64_t max_model_len = 0;
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 2048;
  uint64_t seed = 0;
};

class OfflineGenerator {
 public:
  OfflineGenerator(ModelRunner& runner, int32_t num_blocks, const ModelConfig& model, GeneratorConfig config);
  // Validates every request first (prompt length, ids within the vocabulary, KV capacity), then runs.
  Result<std::vector<GenerationResult>> generate(const std::vector<GenerationRequest>& requests);

 private:
  ModelRunner& runner_;
  int32_t num_blocks_;
  const ModelConfig& model_;
  GeneratorConfig config_;
};

}  // namespace strata
