// Gumbel noise for sampling by the Gumbel-max rule: argmax_j(logit_j / t + g_j) is a draw from
// softmax(logits / t) when the g_j are independent standard Gumbel variables. Here g_j is a pure
// function of (seed, j), so a row's draw depends only on its logits and its seed (one 64-bit number
// per request and step from the request's RNG): the same token whatever else is in the batch. The
// CUDA backend calls the same function (sampling.cu).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/dummy_init.h"

namespace strata {

// u strictly inside (0, 1) from the top 23 bits (k + 0.5 is exact in float for k < 2^23, so u never
// rounds to 1, where the noise would be +inf), then -log(-log(u)).
STRATA_HOST_DEVICE inline float gumbel_from_bits(uint64_t bits) {
  const float u = (static_cast<float>(bits >> 41) + 0.5f) * (1.0f / 8388608.0f);
  return -logf(-logf(u));
}
STRATA_HOST_DEVICE inline float gumbel_noise(uint64_t seed, uint64_t j) {
  return gumbel_from_bits(splitmix64(seed + j));
}

}  // namespace strata
