#include "server/openai_params.h"

#include <cerrno>
#include <cmath>
#include <limits>
#include <type_traits>

namespace strata {

std::string ApiError::body() const {
  ojson e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", status}};
  if (param) e["param"] = *param;
  return ojson{{"error", e}}.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

ApiError bad_request(std::string message, std::optional<std::string> param) {
  return ApiError{400, "BadRequestError", std::move(message), std::move(param)};
}

ApiError aborted_error() {
  return ApiError{503, "ServiceUnavailableError", "The request was aborted (server shutting down)",
                  std::nullopt};
}

double json_logprob(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

namespace {

std::string type_name(const ojson& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

// Whether a JSON number is integral and fits T (a too-large n or token id must not wrap around).
template <typename T>
bool integral_fits(const ojson& v) {
  static_assert(std::is_signed_v<T>);
  constexpr double kLimit = -static_cast<double>(std::numeric_limits<T>::min());  // 2^(bits-1)
  if (v.is_number_unsigned())
    return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    return x >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
           x <= static_cast<int64_t>(std::numeric_limits<T>::max());
  }
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::floor(d) == d && d >= -kLimit && d < kLimit;
}

// Field readers: absent or null keeps the default; a wrong type is a 400 naming the field.
struct Fields {
  const ojson& body;
  std::optional<ApiError> err;

  const ojson* get(const char* name) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void fail(const char* name, const std::string& want, const ojson& v) {
    if (!err) err = bad_request(std::string("'") + name + "' must be " + want + ", got " + type_name(v), name);
  }
  template <typename T>
  void number(const char* name, T& out) {
    if (const ojson* v = get(name)) {
      if (!v->is_number() || v->is_boolean()) return fail(name, "a number", *v);
      out = v->get<T>();
    }
  }
  void out_of_range(const char* name, const ojson& v) {
    if (!err) err = bad_request(std::string("'") + name + "' is out of range: " + v.dump(), name);
  }
  template <typename T>
  void integer(const char* name, T& out) {
    if (const ojson* v = get(name)) {
      const bool integral = v->is_number_integer() ||
                            (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>());
      if (!integral) return fail(name, "an integer", *v);
      if (!integral_fits<T>(*v)) return out_of_range(name, *v);
      out = v->is_number_float() ? static_cast<T>(v->get<double>()) : v->get<T>();
    }
  }
  void boolean(const char* name, bool& out) {
    if (const ojson* v = get(name)) {
      if (!v->is_boolean()) return fail(name, "a boolean", *v);
      out = v->get<bool>();
    }
  }
  void int_list(const char* name, std::vector<int32_t>& out) {
    if (const ojson* v = get(name)) {
      if (!v->is_array()) return fail(name, "a list of integers", *v);
      for (const auto& x : *v) {
        if (!x.is_number_integer()) return fail(name, "a list of integers", *v);
        if (!integral_fits<int32_t>(x)) return out_of_range(name, x);
        out.push_back(x.get<int32_t>());
      }
    }
  }
};

}  // namespace

std::optional<ApiError> parse_sampling(const ojson& body, ApiKind kind, const GenerationDefaults& d,
                                       ParsedSampling& out) {
  SamplingParams& p = out.params;
  // generation_config.json defaults first; request fields override.
  if (d.temperature) p.temperature = static_cast<float>(*d.temperature);
  if (d.top_p) p.top_p = static_cast<float>(*d.top_p);
  if (d.top_k) p.top_k = static_cast<int32_t>(*d.top_k);
  if (d.min_p) p.min_p = static_cast<float>(*d.min_p);
  if (d.repetition_penalty) p.repetition_penalty = static_cast<float>(*d.repetition_penalty);
  Fields f{body, std::nullopt};
  if (kind == ApiKind::kCompletion) {
    out.max_tokens = 16;
    if (const ojson* v = f.get("max_tokens")) {
      if (!v->is_number_integer()) f.fail("max_tokens", "an integer", *v);
      else if (!integral_fits<int64_t>(*v))
        f.out_of_range("max_tokens", *v);
      else out.max_tokens = v->get<int64_t>();
    } else if (body.contains("max_tokens")) {
      out.max_tokens.reset();  // explicit null: up to the context length
    }
  } else {
    for (const char* name : {"max_completion_tokens", "max_tokens"})
      if (const ojson* v = f.get(name)) {
        if (!v->is_number_integer()) f.fail(name, "an integer", *v);
        else if (!integral_fits<int64_t>(*v))
          f.out_of_range(name, *v);
        else out.max_tokens = v->get<int64_t>();
        break;
      }
  }
  f.number("temperature", p.temperature);
  f.number("top_p", p.top_p);
  f.integer("top_k", p.top_k);
  f.number("min_p", p.min_p);
  f.integer("n", p.n);
  f.number("presence_penalty", p.presence_penalty);
  f.number("frequency_penalty", p.frequency_penalty);
  f.number("repetition_penalty", p.repetition_penalty);
  f.boolean("ignore_eos", p.ignore_eos);
  f.integer("min_tokens", p.min_tokens);
  f.boolean("include_stop_str_in_output", p.include_stop_str_in_output);
  f.boolean("skip_special_tokens", p.skip_special_tokens);
  f.int_list("stop_token_ids", p.stop_token_ids);
  f.boolean("stream", out.stream);
  f.boolean("echo", out.echo);
  f.integer("priority", out.priority);
  if (f.get("truncate_prompt_tokens")) {
    int64_t k = 0;
    f.integer("truncate_prompt_tokens", k);
    out.truncate_prompt_tokens = k;
  }
  out.add_special_tokens = kind == ApiKind::kCompletion;
  f.boolean("add_special_tokens", out.add_special_tokens);
  if (const ojson* v = f.get("seed")) {
    if (!v->is_number_integer()) f.fail("seed", "an integer", *v);
    else if (!integral_fits<int64_t>(*v))
      f.out_of_range("seed", *v);
    else p.seed = static_cast<uint64_t>(v->get<int64_t>());
  }
  if (const ojson* v = f.get("request_id")) {
    if (v->is_string()) out.request_id = v->get<std::string>();
  }
  if (const ojson* v = f.get("stop")) {
    if (v->is_string()) {
      p.stop = {v->get<std::string>()};
    } else if (v->is_array()) {
      for (const auto& s : *v) {
        if (!s.is_string()) {
          f.fail("stop", "a string or a list of strings", *v);
          break;
        }
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      f.fail("stop", "a string or a list of strings", *v);
    }
  }
  if (const ojson* v = f.get("logit_bias")) {
    if (!v->is_object()) {
      f.fail("logit_bias", "an object of token id to bias", *v);
    } else {
      for (auto it = v->begin(); it != v->end(); ++it) {
        char* end = nullptr;
        errno = 0;
        long long id = std::strtoll(it.key().c_str(), &end, 10);
        if (it.key().empty() || *end != '\0' || !it->is_number()) {
          f.fail("logit_bias", "an object of token id to bias", *v);
          break;
        }
        if (errno == ERANGE || id < std::numeric_limits<int32_t>::min() ||
            id > std::numeric_limits<int32_t>::max()) {
          f.out_of_range("logit_bias", ojson(it.key()));
          break;
        }
        p.logit_bias[static_cast<int32_t>(id)] = it->get<float>();
      }
    }
  }
  if (const ojson* v = f.get("allowed_token_ids")) {
    std::vector<int32_t> ids;
    f.int_list("allowed_token_ids", ids);
    if (v->is_array()) p.allowed_token_ids = ids;
  }
  if (kind == ApiKind::kCompletion) {
    if (const ojson* v = f.get("logprobs")) {
      if (!v->is_number_integer()) f.fail("logprobs", "an integer", *v);
      else if (!integral_fits<int32_t>(*v))
        f.out_of_range("logprobs", *v);
      else p.logprobs = v->get<int32_t>();
    }
  } else {
    f.boolean("logprobs", out.logprobs_requested);
    int32_t top = 0;
    bool has_top = f.get("top_logprobs") != nullptr;
    f.integer("top_logprobs", top);
    if (has_top && top > 0 && !out.logprobs_requested && !f.err)
      f.err = bad_request("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs");
    if (out.logprobs_requested) p.logprobs = top;
  }
  if (const ojson* v = f.get("prompt_logprobs")) {
    if (!v->is_number_integer()) f.fail("prompt_logprobs", "an integer", *v);
    else if (!integral_fits<int32_t>(*v))
      f.out_of_range("prompt_logprobs", *v);
    else p.prompt_logprobs = v->get<int32_t>();
  }
  if (const ojson* v = f.get("stream_options")) {
    if (!v->is_object()) {
      f.fail("stream_options", "an object", *v);
    } else {
      out.include_usage = true;
      if (v->contains("include_usage") && (*v)["include_usage"].is_boolean())
        out.include_usage = (*v)["include_usage"].get<bool>();
      if (v->contains("continuous_usage_stats") && (*v)["continuous_usage_stats"].is_boolean())
        out.continuous_usage = (*v)["continuous_usage_stats"].get<bool>();
    }
    if (!out.stream && !f.err) f.err = bad_request("Stream options can only be defined when `stream=True`.", "stream_options");
  }
  if (f.err) return f.err;
  if (kind == ApiKind::kCompletion && f.get("suffix"))
    return bad_request("suffix is not currently supported", "suffix");
  if (const ojson* v = f.get("best_of")) {
    if (!v->is_number_integer() || v->get<int64_t>() != p.n)
      return bad_request("best_of must be equal to n (best_of > n is not supported)", "best_of");
  }
  for (const char* guided : {"guided_json", "guided_regex", "guided_choice", "guided_grammar"})
    if (f.get(guided)) return ApiError{501, "NotImplementedError", std::string(guided) + " is not supported yet", guided};
  if (const ojson* v = f.get("response_format")) {
    if (!v->is_object() || !v->contains("type") || !(*v)["type"].is_string())
      return bad_request("'response_format' must be an object with a 'type'", "response_format");
    if ((*v)["type"] != "text")
      return ApiError{501, "NotImplementedError", "response_format type '" + (*v)["type"].get<std::string>() +
                                                      "' is not supported yet (structured output)", "response_format"};
  }
  if (p.n < 1) return bad_request("n must be at least 1, got " + std::to_string(p.n) + ".", "n");
  return std::nullopt;
}

std::optional<ApiError> finish_sampling(ParsedSampling& s, int64_t prompt_len, int64_t max_model_len,
                                        int64_t vocab_size, int max_logprobs) {
  if (prompt_len >= max_model_len)
    return bad_request("This model's maximum context length is " + std::to_string(max_model_len) +
                       " tokens. However, your request has " + std::to_string(prompt_len) +
                       " input tokens. Please reduce the length of the input messages.");
  if (s.max_tokens) {
    if (*s.max_tokens < 1)
      return bad_request("max_tokens must be at least 1, got " + std::to_string(*s.max_tokens) + ".", "max_tokens");
    if (*s.max_tokens > max_model_len - prompt_len)
      return bad_request("'max_tokens' or 'max_completion_tokens' is too large: " + std::to_string(*s.max_tokens) +
                         ". This model's maximum context length is " + std::to_string(max_model_len) +
                         " tokens and your request has " + std::to_string(prompt_len) + " input tokens (" +
                         std::to_string(*s.max_tokens) + " > " + std::to_string(max_model_len) + " - " +
                         std::to_string(prompt_len) + ").", "max_tokens");
    s.params.max_tokens = *s.max_tokens;
  } else {
    s.params.max_tokens = max_model_len - prompt_len;
  }
  if (Status st = validate(s.params, vocab_size, max_logprobs); !st.ok()) return bad_request(st.error().message());
  normalize_sampling_params(s.params);
  return std::nullopt;
}

}  // namespace strata
