// Request: one sequence the engine schedules (a prompt and the tokens generated for it), owned by
// the Engine and referenced by the Scheduler. With n > 1 each sample is its own Request sharing
// the prompt's cached blocks through the prefix cache.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/sampling_params.h"

namespace strata {

enum class RequestStatus { kWaiting, kRunning, kFinished };

struct Request {
  RequestKey key = 0;
  std::string id;               // caller's id (e.g. "cmpl-...-0")
  std::vector<int32_t> tokens;  // prompt followed by the generated tokens
  size_t prompt_len = 0;
  SamplingParams params;
  int64_t max_tokens = 0;       // after capping by max_model_len
  int priority = 0;             // lower runs first under the priority policy
  uint64_t arrival = 0;         // submission order
  std::string cache_salt;       // extra prefix-cache key
  bool skip_prefix_cache = false;  // prompt_logprobs need every prompt position computed
  bool prompt_logits = false;      // prompt_logprobs: every prompt position's logits row is returned
  RequestStatus status = RequestStatus::kWaiting;
  int64_t num_computed = 0;     // tokens whose KV is in the cache
  int64_t num_preemptions = 0;
  int in_flight = 0;            // launched steps that compute it (its blocks are in use until they are back)
  // Its next chunk needs the output of a step in flight (the scheduler leaves it alone until that step
  // is back). Not set for chunks the engine ran ahead (async scheduling, see engine.h).
  bool awaits_step = false;
  // Async scheduling: the last num_pending entries of `tokens` are placeholders for tokens that steps
  // in flight are drawing on the device; the newest one comes from chunk `ahead_chunk` of step
  // `ahead_step` (engine step serials).
  int64_t num_pending = 0;
  int32_t ahead_chunk = -1;
  uint64_t ahead_step = 0;
  std::mt19937_64 rng;

  // Every token, placeholders included: what the scheduler computes.
  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  // The tokens known on the host (placeholders excluded): what stops, counts and the prefix cache see.
  int64_t num_known() const { return num_tokens() - num_pending; }
  std::span<const int32_t> known_tokens() const { return std::span<const int32_t>(tokens).first(static_cast<size_t>(num_known())); }
  int64_t num_output() const { return num_known() - static_cast<int64_t>(prompt_len); }
};

}  // namespace strata
