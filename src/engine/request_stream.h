// RequestStream: the consumer side of one submitted request (all of its n samples). The engine
// thread pushes events; any other thread waits for them. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace strata {

// Wall-clock milestones of one sample (seconds since the steady clock's epoch).
struct RequestTimes {
  double arrival = 0;
  double first_scheduled = 0;
  double first_token = 0;
  double finished = 0;
};

struct StreamEvent {
  int index = 0;                         // which of the n samples
  std::vector<int32_t> token_ids;        // new tokens
  std::string text;                      // new text (final UTF-8)
  std::vector<SampleLogprobs> logprobs;  // one per new token, when requested
  std::optional<std::vector<SampleLogprobs>> prompt_logprobs;  // once, with the first token
  int64_t num_prompt_tokens = 0;
  int64_t num_cached_tokens = 0;         // prompt tokens served from the prefix cache
  bool finished = false;
  std::string finish_reason;             // "stop", "length", "abort" (on the finishing event)
  std::optional<std::string> stop_string;   // stop reason when a stop string matched
  std::optional<int32_t> stop_token;        // stop reason when a stop_token_id matched
  int64_t num_output_tokens = 0;         // total so far
  double time = 0;                       // when the engine produced it (steady clock, seconds)
  RequestTimes times;                    // on the finishing event
};

class RequestStream {
 public:
  explicit RequestStream(int n) : pending_samples_(n) {}
  // Waits until events are available or the request is done; returns them (empty once done).
  std::vector<StreamEvent> next(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  bool done() const;

  void push(StreamEvent e);  // engine thread
  // Called (on the engine thread, after the event is queued) whenever an event arrives; set before
  // submitting work that could push. The callback must be cheap (e.g. post a task elsewhere).
  void set_notify(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    notify_ = std::move(fn);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  int pending_samples_;
  std::function<void()> notify_;
};

}  // namespace strata
