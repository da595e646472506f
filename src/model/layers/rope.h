// Rotary position embedding tables for every scaling the HF configs use (none, linear, dynamic,
// llama3, yarn), computed once: inverse frequencies (as transformers computes them) and a
// [max_positions, head_dim] table of cos (first half) and sin (second half), pre-multiplied by the
// attention factor (yarn's mscale).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "weights/model_config.h"

namespace strata {

struct RopeFrequencies {
  std::vector<double> inv_freq;  // [head_dim / 2]
  double attention_factor = 1.0;
};

RopeFrequencies compute_rope_frequencies(double theta, int64_t head_dim, const RopeScaling& scaling,
                                         int64_t max_position_embeddings);
// f32 host tensor [max_positions, head_dim].
Tensor build_cos_sin_table(const RopeFrequencies& f, int64_t max_positions);

}  // namespace strata
