// Per-request sampling and stopping options (the subset of vLLM's SamplingParams the offline
// generator needs; the serving engine extends it).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace strata {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy
  float top_p = 1.0f;        // (0, 1]
  int32_t top_k = -1;        // -1 or 0 = all tokens
  float min_p = 0.0f;
  int64_t max_tokens = 16;
  std::optional<uint64_t> seed;  // per-request; else derived from the engine seed and request index
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
};

}  // namespace strata
