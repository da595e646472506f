// OpenAI request fields → strata values, with vLLM's validation and error bodies.
//
// Every failure is an ApiError (HTTP status, OpenAI error type, message, offending param) that the
// routes turn into {"error":{"message","type","param","code"}}; wrong JSON types are 400s naming the
// field (vLLM answers 400, never 422).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling_params.h"
#include "weights/model_config.h"

namespace strata {

using ojson = nlohmann::ordered_json;

struct ApiError {
  unsigned status = 400;
  std::string type = "BadRequestError";
  std::string message;
  std::optional<std::string> param;
  std::string body() const;
};

ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt);

// A request the engine aborted while its client was still connected (server shutdown): 503 for a
// whole response; a stream gets it as an error event, since "abort" never reaches a client as a
// normal finish_reason.
ApiError aborted_error();

// Which request shape is being parsed: names and defaults differ slightly.
enum class ApiKind { kCompletion, kChat };

struct ParsedSampling {
  SamplingParams params;
  std::optional<int64_t> max_tokens;  // absent = max_model_len - prompt_len
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage = false;
  bool echo = false;
  int priority = 0;
  std::optional<std::string> request_id;
  bool add_special_tokens = true;
  std::optional<int64_t> truncate_prompt_tokens;
  bool logprobs_requested = false;  // chat: logprobs=true
};

// Parses the sampling / stopping / streaming fields shared by both APIs. Model generation_config
// defaults apply to omitted fields.
std::optional<ApiError> parse_sampling(const ojson& body, ApiKind kind, const GenerationDefaults& defaults,
                                       ParsedSampling& out);

// Final checks once the prompt length is known: the length limits with vLLM's messages, max_tokens
// filled in, then validate() of the sampling parameters.
std::optional<ApiError> finish_sampling(ParsedSampling& p, int64_t prompt_len, int64_t max_model_len,
                                        int64_t vocab_size, int max_logprobs);

// Logprob values for JSON: -inf (and NaN) become -9999.0 as vLLM writes them.
double json_logprob(float lp);

}  // namespace strata
