// One benchmark request against /v1/completions or /v1/chat/completions (vLLM's
// async_request_openai_completions / _chat_completions): the JSON body, and the fold of the streamed
// response into a RequestOutput.
//
// Bytes -> SseParser -> events. An event with non-empty "choices" is a token chunk: the first sets
// TTFT, each later one appends an inter-token gap, the last one ends E2EL. An event with "usage" and
// no choices gives completion_tokens (and prompt_tokens, which replaces the dataset's prompt length).
// "[DONE]" and SSE comments are ignored. The request failed when the status is not 200, the transport
// broke, an event is not JSON, or no token chunk ever came.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bench/serve_http.h"
#include "bench/serve_metrics.h"
#include "bench/serve_sse.h"

namespace strata::bench {

struct RequestInput {
  std::string model;
  std::string prompt;
  int64_t prompt_len = 0;
  int64_t output_len = 0;
  bool chat = false;  // /v1/chat/completions: one user message
  bool ignore_eos = false;
};

// {model, prompt, max_tokens, stream, stream_options: {include_usage}, ignore_eos} or, for chat,
// {model, messages, max_completion_tokens, stream, stream_options, ignore_eos}.
std::string build_request_body(const RequestInput& in);

class StreamAccumulator {
 public:
  StreamAccumulator(bool chat, int64_t prompt_len, BenchClock::time_point start);

  void on_headers(int status, std::string_view reason);
  void on_bytes(std::string_view bytes, BenchClock::time_point at);
  // The exchange ended (transport_error empty = the whole response was read); completes output().
  void on_done(const std::string& transport_error);

  // start_time is left 0: the caller knows the run's origin.
  const RequestOutput& output() const { return out_; }
  RequestOutput& output() { return out_; }

 private:
  void on_event(const std::string& data, BenchClock::time_point at);

  bool chat_;
  BenchClock::time_point start_;
  BenchClock::time_point last_;           // the last token chunk
  BenchClock::time_point last_bytes_at_;  // the last body bytes
  int status_ = 0;
  std::string reason_;
  std::string error_body_;    // body of a non-200 response (first KiB)
  std::string stream_error_;  // message of an {"error": ...} event
  bool bad_json_ = false;
  SseParser sse_;
  RequestOutput out_;
};

}  // namespace strata::bench
