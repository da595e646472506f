// Offline throughput benchmark (`strata bench throughput`, as `vllm bench throughput`): N prompts of
// random token ids with a given input length, each generating exactly output-len tokens
// (ignore_eos), all submitted at once to the Engine; reports requests/s and input/output tokens/s.
#pragma once

#include <cstdint>
#include <string>

#include "engine/engine.h"

namespace strata {

struct ThroughputOptions {
  int64_t num_prompts = 100;
  int64_t input_len = 128;
  int64_t output_len = 128;
  uint64_t seed = 0;
};

struct ThroughputResult {
  double elapsed_s = 0;
  int64_t num_requests = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double requests_per_s() const { return num_requests / elapsed_s; }
  double output_tokens_per_s() const { return output_tokens / elapsed_s; }
  double total_tokens_per_s() const { return (input_tokens + output_tokens) / elapsed_s; }
};

Result<ThroughputResult> run_throughput(Engine& engine, int64_t vocab_size, const ThroughputOptions& options);

}  // namespace strata
