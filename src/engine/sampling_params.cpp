#include "engine/sampling_params.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

namespace strata {
namespace {

// A float as Python's str() writes it ("-1.0", "0.5", "1e-05", "inf"), so messages match vLLM's.
std::string py_float(float v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_not_of("-0123456789") == std::string::npos) s += ".0";
  return s;
}

// Python's list repr of ints: "[1, -2]".
template <typename Ids>
std::string py_list(const Ids& ids) {
  return fmt::format("[{}]", fmt::join(ids, ", "));
}

template <typename Ids>
std::vector<int64_t> out_of_vocab(const Ids& ids, int64_t vocab_size) {
  std::vector<int64_t> bad;
  for (auto id : ids)
    if (id < 0 || id >= vocab_size) bad.push_back(id);
  return bad;
}

// SamplingParams._verify_args: the values alone.
Status verify_args(const SamplingParams& p) {
  if (p.n < 1) return make_error("n must be at least 1, got {}.", p.n);
  if (p.n > kMaxNumSequences) return make_error("n must be at most {}, got {}.", kMaxNumSequences, p.n);
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f))
    return make_error("presence_penalty must be in [-2, 2], got {}.", py_float(p.presence_penalty));
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f))
    return make_error("frequency_penalty must be in [-2, 2], got {}.", py_float(p.frequency_penalty));
  if (!std::isfinite(p.repetition_penalty))
    return make_error("repetition_penalty must be a finite number, got {}.", py_float(p.repetition_penalty));
  if (p.repetition_penalty <= 0.0f)
    return make_error("repetition_penalty must be greater than zero, got {}.",
                      py_float(p.repetition_penalty));
  if (!std::isfinite(p.temperature))
    return make_error("temperature must be a finite number, got {}.", py_float(p.temperature));
  if (p.temperature < 0.0f)
    return make_error("temperature must be non-negative, got {}.", py_float(p.temperature));
  if (p.temperature > 2.0f)
    return make_error("temperature must be in [0, 2], got {}.", py_float(p.temperature));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    return make_error("top_p must be in (0, 1], got {}.", py_float(p.top_p));
  // -1 is quietly accepted as "disabled", 0 preferred.
  if (p.top_k < -1) return make_error("top_k must be 0 (disable), or at least 1, got {}.", p.top_k);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    return make_error("min_p must be in [0, 1], got {}.", py_float(p.min_p));
  if (p.max_tokens < 1) return make_error("max_tokens must be at least 1, got {}.", p.max_tokens);
  if (p.min_tokens < 0)
    return make_error("min_tokens must be greater than or equal to 0, got {}.", p.min_tokens);
  if (p.min_tokens > p.max_tokens)
    return make_error("min_tokens must be less than or equal to max_tokens={}, got {}.", p.max_tokens,
                      p.min_tokens);
  if (p.logprobs && *p.logprobs != -1 && *p.logprobs < 0)
    return make_error("logprobs must be non-negative or -1, got {}.", *p.logprobs);
  if (p.prompt_logprobs && *p.prompt_logprobs != -1 && *p.prompt_logprobs < 0)
    return make_error("prompt_logprobs must be non-negative or -1, got {}.", *p.prompt_logprobs);
  for (const std::string& s : p.stop)
    if (s.empty()) return make_error("stop cannot contain an empty string.");
  return ok_status();
}

// SamplingParams.verify: against the model (vocabulary, --max-logprobs).
Status verify_against_model(const SamplingParams& p, int64_t vocab_size, int max_logprobs) {
  const int64_t max_lp = max_logprobs == -1 ? vocab_size : max_logprobs;
  if (p.logprobs && *p.logprobs != 0) {
    const int64_t num = *p.logprobs == -1 ? vocab_size : *p.logprobs;
    if (num > max_lp)
      return make_error("Requested sample logprobs of {}, which is greater than max allowed: {}", num,
                        max_lp);
  }
  if (p.prompt_logprobs && *p.prompt_logprobs != 0) {
    const int64_t num = *p.prompt_logprobs == -1 ? vocab_size : *p.prompt_logprobs;
    if (num > max_lp)
      return make_error("Requested prompt logprobs of {}, which is greater than max allowed: {}", num,
                        max_lp);
  }
  std::vector<int32_t> bias_ids;
  for (const auto& [id, bias] : p.logit_bias) bias_ids.push_back(id);
  if (auto bad = out_of_vocab(bias_ids, vocab_size); !bad.empty())
    return make_error("token_id(s) {} in logit_bias contain out-of-vocab token ids. Vocabulary size: {}",
                      py_list(bad), vocab_size);
  if (auto bad = out_of_vocab(p.stop_token_ids, vocab_size); !bad.empty())
    return make_error("token_id(s) {} in stop_token_ids contain out-of-vocab token ids. Vocabulary size: {}",
                      py_list(bad), vocab_size);
  if (p.allowed_token_ids) {
    if (p.allowed_token_ids->empty()) return make_error("allowed_token_ids is not None and empty!");
    if (!out_of_vocab(*p.allowed_token_ids, vocab_size).empty())
      return make_error("allowed_token_ids contains out-of-vocab token id!");
  }
  return ok_status();
}

}  // namespace

Status validate(const SamplingParams& params, int64_t vocab_size, int max_logprobs) {
  STRATA_RETURN_IF_ERROR(verify_args(params));
  // Greedy is judged after vLLM raises a tiny positive temperature to 0.01, so only 0 is greedy here.
  if (params.temperature == 0.0f && params.n > 1)
    return make_error("n must be 1 when using greedy sampling, got {}.", params.n);
  return verify_against_model(params, vocab_size, max_logprobs);
}

void normalize_sampling_params(SamplingParams& p) {
  if (p.temperature > 0.0f && p.temperature < kMinPositiveTemperature)
    p.temperature = kMinPositiveTemperature;
  if (is_greedy(p)) {
    p.top_p = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
  }
  std::unordered_set<int32_t> seen;
  std::erase_if(p.stop_token_ids, [&](int32_t id) { return !seen.insert(id).second; });
  for (auto& [id, bias] : p.logit_bias) bias = std::clamp(bias, -100.0f, 100.0f);
}

}  // namespace strata
