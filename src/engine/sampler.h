// Sampler: one token from one row of logits (f32 over the full vocabulary), on the host.
// temperature 0 → argmax (lowest id on ties); otherwise softmax(logits / T) restricted by top-k,
// then top-p (smallest set whose mass reaches p), then min-p, and a draw from the request's RNG.
#pragma once

#include <cstdint>
#include <random>
#include <span>

#include "engine/sampling_params.h"

namespace strata {

int32_t argmax(std::span<const float> logits);
int32_t sample_token(std::span<const float> logits, const SamplingParams& params, std::mt19937_64& rng);

}  // namespace strata
