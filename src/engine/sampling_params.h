// Per-request sampling and stopping options: what vLLM's SamplingParams carries for an OpenAI request
// (vLLM V1 semantics and defaults). The server fills one from the JSON body, calls validate() (vLLM's
// messages, for a 400), then normalize_sampling_params(); the sampler (engine/sampler.h) reads the
// token-level fields, the engine's output processing the stop / detokenization fields.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata {

// vLLM's _SAMPLING_EPS: a temperature below it is greedy.
inline constexpr float kSamplingEps = 1e-5f;
// vLLM raises a positive temperature below this to it (numerical safety).
inline constexpr float kMinPositiveTemperature = 1e-2f;
// vLLM's default VLLM_MAX_N_SEQUENCES.
inline constexpr int32_t kMaxNumSequences = 16384;
// vLLM's default --max-logprobs.
inline constexpr int kDefaultMaxLogprobs = 20;

struct SamplingParams {
  int32_t n = 1;                    // completions per prompt (the engine forks sequences)
  float presence_penalty = 0.0f;    // [-2, 2]; subtracted once from every token in the output so far
  float frequency_penalty = 0.0f;   // [-2, 2]; subtracted per occurrence in the output so far
  float repetition_penalty = 1.0f;  // > 0; over prompt + output: logit > 0 → logit / p, else logit * p
  float temperature = 1.0f;         // [0, 2]; 0 = greedy
  float top_p = 1.0f;               // (0, 1]
  int32_t top_k = 0;                // 0 or -1 = all tokens
  float min_p = 0.0f;               // [0, 1]
  std::optional<uint64_t> seed;     // per-request; else derived from the engine seed and request index
  std::vector<std::string> stop;    // stop strings (engine output processing, not the sampler)
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  int64_t max_tokens = 16;
  int64_t min_tokens = 0;  // EOS and stop_token_ids are masked until this many outputs exist
  // Number of top alternatives per sampled token (0 = the sampled token's only, -1 = whole vocab);
  // unset = no logprobs. Values are log_softmax of the raw model logits (vLLM V1 "raw_logprobs").
  std::optional<int32_t> logprobs;
  std::optional<int32_t> prompt_logprobs;  // the same, per prompt position
  bool skip_special_tokens = true;
  std::map<int32_t, float> logit_bias;                    // added to the logits (each clamped to [-100, 100])
  std::optional<std::vector<int32_t>> allowed_token_ids;  // when set, every other token is -inf
};

// Checks the values as vLLM does (SamplingParams._verify_args, then SamplingParams.verify against the
// model), returning the first failure with vLLM's message, e.g. "top_p must be in (0, 1], got 0.0.".
// max_logprobs is the server's --max-logprobs (-1 = vocab_size).
Status validate(const SamplingParams& params, int64_t vocab_size, int max_logprobs = kDefaultMaxLogprobs);

// vLLM's SamplingParams.__post_init__ adjustments, applied after validate(): a temperature in
// (0, 0.01) becomes 0.01; greedy (temperature < kSamplingEps) resets top_p, top_k and min_p;
// stop_token_ids lose duplicates (first occurrence kept); logit_bias values are clamped to [-100, 100].
void normalize_sampling_params(SamplingParams& params);

inline bool is_greedy(const SamplingParams& params) {
  return params.temperature < kSamplingEps;
}

}  // namespace strata
