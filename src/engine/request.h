// Request: one sequence the engine schedules (a prompt and the tokens generated for it), owned by
// the Engine and referenced by the Scheduler. With n > 1 each sample is its own Request sharing
// the prompt's cached blocks through the prefix cache.
#pragma once

#include <cstdint>
#include <random>
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
  bool in_flight = false;       // a launched step computes it: the scheduler leaves it alone until it is back
  std::mt19937_64 rng;

  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_output() const { return num_tokens() - static_cast<int64_t>(prompt_len); }
};

}  // namespace strata
