// Sampler: one token from one row of f32 logits (the full vocabulary), on the host, in vLLM V1's order.
//
//   raw logits ──► logprobs (log_softmax of the RAW row: vLLM V1's default "raw_logprobs")
//        │
//        ▼ process_logits (in place, on a copy):
//   1. allowed_token_ids: every other token -inf
//   2. min_tokens: while the output is shorter, stop_token_ids and the model's EOS ids get -inf
//      (EOS too when ignore_eos: vLLM masks all its stop ids)
//   3. logit_bias added (each bias clamped to [-100, 100], as vLLM's OpenAI path does)
//   4. penalties: repetition over prompt + output (logit > 0 → logit / p, else logit * p), then
//      frequency (− f × count in the output), then presence (− p if in the output)
//        ▼ draw:
//   5. temperature < kSamplingEps → argmax (lowest id on ties), nothing drawn from the RNG
//   6. logits / temperature; min_p (drop p < min_p × p_max); top_k (keep logits ≥ the k-th largest,
//      ties included); top_p over what is left (smallest prefix, most likely first, whose mass
//      reaches top_p; the token that crosses it is kept)
//   7. one uniform draw from the request's own std::mt19937_64 (exactly one rng() call), so seeded
//      requests are deterministic whatever shares the batch.
//
// Stop strings, include_stop_str_in_output, skip_special_tokens, n > 1 and max_tokens live in the
// engine's output processing, not here. A Sampler owns scratch buffers (no allocation per call once
// warm); one per thread. The free functions use a thread-local one.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "engine/sampling_params.h"

namespace strata {

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  int32_t rank = 0;  // 1 = most likely; for the sampled/prompt token: how many tokens have logprob >= it
};

struct SampleLogprobs {
  TokenLogprob sampled;           // the sampled (or prompt) token
  std::vector<TokenLogprob> top;  // the `num_top` most likely, descending (ties: lower id first), rank 1..
};

struct SampleResult {
  int32_t token = 0;
  std::optional<SampleLogprobs> logprobs;  // set when params.logprobs is
};

// What the sampler needs of the request's history. Spans are borrowed for the call only.
struct SamplingContext {
  std::span<const int32_t> prompt_ids;     // for the repetition penalty
  std::span<const int32_t> output_ids;     // generated so far (penalties, min_tokens)
  std::span<const int64_t> eos_token_ids;  // the model's EOS ids (ModelConfig), masked under min_tokens
};

// Whether the model runner's device draw (Backend::sample_filtered: penalties, temperature, top-k /
// top-p / min-p, raw logprobs of up to kMaxSampleLogprobs tokens) stands in for this sampler for the
// next token: everything but allowed_token_ids, logit_bias, min_tokens while it masks stop / EOS ids,
// logprobs of the whole vocabulary (-1) or more than kMaxSampleLogprobs, and vocabularies above
// kMaxSampleVocab. (Prompt logprobs chunks, whose logits come to the host anyway, are the engine's
// call.) The device draw takes one number from the request's RNG per step, as draw() does.
bool device_sampling_supports(const SamplingParams& params, const SamplingContext& context, int64_t vocab);

class Sampler {
 public:
  SampleResult sample(std::span<const float> logits, const SamplingParams& params,
                      const SamplingContext& context, std::mt19937_64& rng);

  // Steps 1-4, in place: the row greedy decoding takes its argmax of.
  void process_logits(std::span<float> logits, const SamplingParams& params, const SamplingContext& context);

  // Steps 5-7 on already processed logits.
  int32_t draw(std::span<const float> logits, const SamplingParams& params, std::mt19937_64& rng);

  // The tokens draw() chooses among on processed logits, ascending: greedy (or nothing above -inf)
  // the argmax alone, with no filter every token of nonzero probability.
  std::vector<int32_t> kept_tokens(std::span<const float> logits, const SamplingParams& params);

 private:
  struct Candidate {
    float logit;
    float weight;  // exp((logit - max) / temperature): probability relative to the most likely token
    int32_t token;
    uint32_t bucket;  // for top_p: -log(weight) in fixed steps
  };

  // Most likely first; lower id first on ties.
  static bool before(const Candidate& a, const Candidate& b);

  // Step 6 of draw() after the greedy case: the kept tokens in candidates_[0, n), or false (and max_logit) when
  // nothing filters (n = 0 when no logit is above -inf).
  bool filter(std::span<const float> logits, const SamplingParams& params, size_t& n, float& max_logit);

  void apply_penalties(std::span<float> logits, const SamplingParams& params, const SamplingContext& context);
  int32_t draw_unfiltered(std::span<const float> logits, float max_logit, float temperature,
                          std::mt19937_64& rng);
  // The k-th largest logit (-inf when fewer than k are not NaN); the largest into max_logit.
  float kth_largest(std::span<const float> logits, size_t k, float& max_logit);
  // Moves the top-p nucleus of c to its front and returns its size: every candidate whose more likely
  // predecessors (in `before` order) hold less than top_p of c's mass; at least one.
  size_t select_nucleus(std::span<Candidate> c, float top_p);

  std::vector<float> work_;                       // [vocab] processed copy of the row
  std::vector<float> weights_;                    // [vocab] unnormalized probabilities
  std::vector<uint32_t> counts_;                  // [vocab] output token counts, all zero between calls
  std::vector<uint8_t> seen_;                     // [vocab] repetition-penalty marks, all zero between calls
  std::vector<std::pair<int32_t, float>> saved_;  // allowed tokens' logits while the row is masked
  std::vector<Candidate> candidates_;             // tokens that survive min_p, then top_k / top_p prefixes
  std::vector<float> heap_;                       // [top_k] for kth_largest
  std::vector<double> bucket_mass_;               // select_nucleus's histogram
  std::vector<Candidate> tail_;                   // select_nucleus's boundary bucket
  std::vector<double> block_sums_;                // the final draw's partial sums
};

// Sampler::sample on this thread's Sampler.
SampleResult sample(std::span<const float> logits, const SamplingParams& params,
                    const SamplingContext& context, std::mt19937_64& rng);

// log_softmax(logits)[token] with its rank, plus the num_top most likely tokens (-1 = the whole
// vocabulary, 0 = none). vLLM computes sample and prompt logprobs this way from the raw logits.
SampleLogprobs logprobs_for(std::span<const float> logits, int32_t token, int num_top);

// Prompt logprobs for a run of prompt positions: logits is [num_rows, vocab_size], row r being the
// model's output at some prompt position i, and next_ids[r] the prompt token at i + 1 (so for a whole
// prompt: rows 0..len-2 and next_ids = prompt_ids[1..]; the first prompt token has none). Works per
// chunk under chunked prefill.
std::vector<SampleLogprobs> prompt_logprobs_for(std::span<const float> logits, int64_t vocab_size,
                                                std::span<const int32_t> next_ids, int num_top);

// Index of the largest logit, lowest id on ties (NaN never wins; 0 when nothing is > -inf).
int32_t argmax(std::span<const float> logits);
// The largest logit, NaN ignored (-inf when none).
float max_of(std::span<const float> logits);

// sample(...).token with no history (offline generator): no penalties, no EOS masking by min_tokens.
int32_t sample_token(std::span<const float> logits, const SamplingParams& params, std::mt19937_64& rng);

}  // namespace strata
