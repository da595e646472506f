// POST /v1/completions: prompts (text, token ids, or lists of either) → n choices each, JSON or SSE.
#include <chrono>
#include <cstdint>
#include <utility>

#include "server/api_server.h"
#include "server/request_job.h"

namespace strata {

namespace {
int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The prompt field as token-id lists (and texts for echo); an ApiError for anything else.
std::optional<ApiError> read_prompts(const ojson& body, const Tokenizer& tok, bool add_special,
                                     std::vector<std::vector<int32_t>>& ids, std::vector<std::string>& texts) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return bad_request("'prompt' is required", "prompt");
  const ojson& p = *it;
  auto ints = [](const ojson& a) {
    for (const auto& x : a)
      if (!x.is_number_integer()) return false;
    return true;
  };
  // Ids outside int32 are out of vocabulary (they must not wrap around to valid ids).
  auto add_ids = [&](const ojson& a) -> std::optional<ApiError> {
    std::vector<int32_t> v;
    for (const auto& x : a) {
      const bool fits = x.is_number_unsigned()
                            ? x.get<uint64_t>() <= INT32_MAX
                            : x.get<int64_t>() >= INT32_MIN && x.get<int64_t>() <= INT32_MAX;
      if (!fits) return bad_request("Token id " + x.dump() + " is out of vocabulary", "prompt");
      v.push_back(x.get<int32_t>());
    }
    texts.push_back(tok.decode(v, false));
    ids.push_back(std::move(v));
    return std::nullopt;
  };
  if (p.is_string()) {
    texts.push_back(p.get<std::string>());
    ids.push_back(tok.encode(texts.back(), add_special));
  } else if (p.is_array() && !p.empty() && p[0].is_string()) {
    for (const auto& s : p) {
      if (!s.is_string()) return bad_request("'prompt' must be a string, a list of strings, or token ids", "prompt");
      texts.push_back(s.get<std::string>());
      ids.push_back(tok.encode(texts.back(), add_special));
    }
  } else if (p.is_array() && !p.empty() && p[0].is_array()) {
    for (const auto& a : p) {
      if (!a.is_array() || !ints(a) || a.empty())
        return bad_request("'prompt' must be a string, a list of strings, or token ids", "prompt");
      if (auto e = add_ids(a)) return e;
    }
  } else if (p.is_array() && !p.empty() && ints(p)) {
    if (auto e = add_ids(p)) return e;
  } else {
    return bad_request("'prompt' must be a non-empty string, list of strings, or token ids", "prompt");
  }
  for (const auto& v : ids)
    if (v.empty()) return bad_request("The prompt is empty: a prompt must have at least one token", "prompt");
  return std::nullopt;
}

// Characters (code points) of UTF-8 text: vLLM's text_offset counts Python str indexes, not bytes.
size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

ojson stop_reason_json(const StreamEvent& e) {
  if (e.stop_string) return *e.stop_string;
  if (e.stop_token) return *e.stop_token;
  return nullptr;
}

// One choice as it accumulates.
struct Choice {
  std::string text;
  ojson tokens = ojson::array(), token_logprobs = ojson::array(), top_logprobs = ojson::array(),
        text_offset = ojson::array();
  int64_t output_tokens = 0;
  std::string finish_reason;
  ojson stop_reason = nullptr;
  bool started = false;
};
}  // namespace

void ApiServer::completions(const std::shared_ptr<Exchange>& ex) {
  ojson body;
  if (auto e = parse_body(ex, body)) return fail(ex, *e);
  if (auto e = check_model(body)) return fail(ex, *e);
  ParsedSampling ps;
  if (auto e = parse_sampling(body, ApiKind::kCompletion, model_.generation, ps)) return fail(ex, *e);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> texts;
  if (auto e = read_prompts(body, tokenizer_, ps.add_special_tokens, prompts, texts)) return fail(ex, *e);
  std::vector<SamplingParams> params;
  for (auto& p : prompts) {
    if (ps.truncate_prompt_tokens && *ps.truncate_prompt_tokens > 0 &&
        static_cast<int64_t>(p.size()) > *ps.truncate_prompt_tokens)
      p.erase(p.begin(), p.end() - *ps.truncate_prompt_tokens);
    for (int32_t id : p)
      if (id < 0 || id >= model_.vocab_size)
        return fail(ex, bad_request("Token id " + std::to_string(id) + " is out of vocabulary", "prompt"));
    ParsedSampling each = ps;
    if (auto e = finish_sampling(each, static_cast<int64_t>(p.size()), config_.max_model_len, model_.vocab_size,
                                 config_.max_logprobs))
      return fail(ex, *e);
    params.push_back(each.params);
  }
  const std::string id = request_id(ex, "cmpl-", ps.request_id);
  const std::string model_name = body.contains("model") && body["model"].is_string() && !body["model"].get<std::string>().empty()
                                     ? body["model"].get<std::string>()
                                     : config_.served_model_names.front();
  const int64_t created = unix_now();
  const int n = params.front().n;
  auto job = std::make_shared<RequestJob>(engine_, ex, metrics_);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EngineRequest r{engine_id(id + "-" + std::to_string(i)), prompts[i], params[i], ps.priority, {}};
    auto s = engine_.submit(r);
    if (!s.ok()) {
      job->abort_all();
      return fail(ex, bad_request(s.error().message()));
    }
    job->add(*s, r.id, ps.max_tokens.value_or(0));
  }
  struct State {
    std::vector<Choice> choices;
    int64_t prompt_tokens = 0;
    bool aborted = false;                // a stream got the abort error event
    std::vector<ojson> prompt_logprobs;  // per prompt, when requested
  };
  auto st = std::make_shared<State>();
  st->choices.resize(prompts.size() * static_cast<size_t>(n));
  st->prompt_logprobs.resize(prompts.size());
  for (const auto& p : prompts) st->prompt_tokens += static_cast<int64_t>(p.size());
  const bool stream = ps.stream, echo = ps.echo, include_usage = ps.include_usage,
             continuous = ps.continuous_usage;
  const std::optional<int32_t> want_lp = params.front().logprobs;
  ++in_flight_;
  if (stream) ex->start_stream();
  auto usage = [st] {
    int64_t out = 0;
    for (const auto& c : st->choices) out += c.output_tokens;
    return ojson{{"prompt_tokens", st->prompt_tokens}, {"total_tokens", st->prompt_tokens + out},
                 {"completion_tokens", out}, {"prompt_tokens_details", nullptr}};
  };
  auto chunk = [=](ojson choices) {
    return ojson{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model_name},
                 {"choices", std::move(choices)}, {"usage", nullptr}};
  };
  job->start(
      [=, this](size_t prompt, StreamEvent& e) {
        const size_t index = prompt * static_cast<size_t>(n) + static_cast<size_t>(e.index);
        Choice& c = st->choices[index];
        if (e.prompt_logprobs && st->prompt_logprobs[prompt].is_null())
          st->prompt_logprobs[prompt] = prompt_logprobs_json(*e.prompt_logprobs);
        std::string text = e.text;
        if (echo && !c.started) text = texts[prompt] + text;
        c.started = true;
        ojson lp_delta = nullptr;
        if (want_lp && !e.logprobs.empty()) {
          lp_delta = {{"text_offset", ojson::array()}, {"token_logprobs", ojson::array()},
                      {"tokens", ojson::array()}, {"top_logprobs", ojson::array()}};
          size_t offset = utf8_length(c.text) + utf8_length(text) - utf8_length(e.text);
          for (size_t k = 0; k < e.logprobs.size(); ++k) {
            const SampleLogprobs& lp = e.logprobs[k];
            const std::string tok = token_text(lp.sampled.token);
            ojson top = ojson::object();
            for (const auto& t : lp.top) top[token_text(t.token)] = json_logprob(t.logprob);
            top[tok] = json_logprob(lp.sampled.logprob);
            for (auto [key, arr, val] : {std::tuple{"text_offset", &c.text_offset, ojson(offset)},
                                         {"token_logprobs", &c.token_logprobs, ojson(json_logprob(lp.sampled.logprob))},
                                         {"tokens", &c.tokens, ojson(tok)},
                                         {"top_logprobs", &c.top_logprobs, top}}) {
              arr->push_back(val);
              lp_delta[key].push_back(val);
            }
            offset += utf8_length(tok);
          }
        }
        c.text += text;
        c.output_tokens = e.num_output_tokens;
        if (e.finished) {
          c.finish_reason = e.finish_reason;
          c.stop_reason = stop_reason_json(e);
        }
        if (!stream) return;
        if (e.finished && e.finish_reason == "abort") {
          if (!std::exchange(st->aborted, true)) ex->send_event(aborted_error().body());
          return;
        }
        if (text.empty() && !e.finished && lp_delta.is_null()) return;
        ojson choice = {{"index", index}, {"text", text}, {"logprobs", lp_delta},
                        {"finish_reason", e.finished ? ojson(e.finish_reason) : ojson(nullptr)},
                        {"stop_reason", e.finished ? c.stop_reason : ojson(nullptr)}};
        ojson ch = chunk(ojson::array({choice}));
        if (continuous) ch["usage"] = usage();
        ex->send_event(ch.dump(-1, ' ', false, ojson::error_handler_t::replace));
      },
      [=, this]() {
        --in_flight_;
        if (ex->disconnected()) return;
        if (stream) {
          if (include_usage && !st->aborted) {
            ojson u = chunk(ojson::array());
            u["usage"] = usage();
            ex->send_event(u.dump());
          }
          ex->send_event("[DONE]");
          ex->end_stream();
          return;
        }
        ojson choices = ojson::array();
        for (size_t i = 0; i < st->choices.size(); ++i) {
          Choice& c = st->choices[i];
          if (c.finish_reason == "abort") return fail(ex, aborted_error());
          ojson lp = nullptr;
          if (want_lp)
            lp = {{"text_offset", c.text_offset}, {"token_logprobs", c.token_logprobs}, {"tokens", c.tokens},
                  {"top_logprobs", c.top_logprobs}};
          choices.push_back({{"index", i},
                             {"text", c.text},
                             {"logprobs", lp},
                             {"finish_reason", c.finish_reason},
                             {"stop_reason", c.stop_reason},
                             {"prompt_logprobs", st->prompt_logprobs[i / static_cast<size_t>(n)]}});
        }
        ojson out = chunk(choices);
        out["usage"] = usage();
        ex->respond(200, out.dump(-1, ' ', false, ojson::error_handler_t::replace));
      });
}

}  // namespace strata
