// The CPU backend's Backend::sample_filtered, one row at a time, plainly: the reference the CUDA
// kernel is tested against (tests/gpu) and that is tested against the host Sampler's semantics
// (tests/engine). The pieces are exposed for those tests.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"

namespace strata::cpu_sampling {

// row = sanitize(raw) with the penalties of entries (pairs of token, count | kInPromptBit) applied.
void penalized_row(std::span<const float> raw, const SamplingRowParams& p, std::span<const int32_t> entries,
                   std::vector<float>& row);

// The tokens the draw chooses among for a penalized row, ascending: with temperature <= 0 the argmax
// alone; when the row has no finite value, token 0; with no filter every token.
std::vector<int32_t> kept_tokens(std::span<const float> row, const SamplingRowParams& p);

// The token sample_filtered draws from a penalized row.
int32_t draw(std::span<const float> row, const SamplingRowParams& p);

// Raw logprobs of one row as sample_filtered returns them: {logprob of token, rank} then the top n.
struct Logprobs {
  float logprob = 0.0f;
  int32_t rank = 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};
Logprobs raw_logprobs(std::span<const float> raw, int32_t token, int num_top);

}  // namespace strata::cpu_sampling
