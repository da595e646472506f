// POST /v1/chat/completions: messages → the chat template → n choices, JSON or SSE (with the
// DeepSeek-R1 reasoning split when --reasoning-parser deepseek_r1).
#include <chrono>
#include <utility>

#include "server/api_server.h"
#include "server/reasoning_parser.h"
#include "server/request_job.h"

namespace strata {

namespace {
int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
ojson bytes_of(const std::string& s) {
  ojson b = ojson::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}
// tool_choice: "none" and "auto" only prompt with the tools; forcing a call needs structured output.
std::optional<ApiError> check_tool_choice(const ojson& body) {
  auto it = body.find("tool_choice");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string() && (*it == "none" || *it == "auto")) return std::nullopt;
  if ((it->is_string() && *it == "required") || it->is_object())
    return ApiError{501, "NotImplementedError",
                    "tool_choice 'required' or a named function (a forced tool call) is not supported yet",
                    "tool_choice"};
  return bad_request(
      "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", ...}",
      "tool_choice");
}

struct ChatChoice {
  std::string content, reasoning;
  ojson logprobs = ojson::array();
  ReasoningParser parser;
  bool role_sent = false;
  int64_t output_tokens = 0;
  std::string finish_reason;
  ojson stop_reason = nullptr;
};
}  // namespace

void ApiServer::chat(const std::shared_ptr<Exchange>& ex) {
  ojson body;
  if (auto e = parse_body(ex, body)) return fail(ex, *e);
  if (auto e = check_model(body)) return fail(ex, *e);
  ParsedSampling ps;
  if (auto e = parse_sampling(body, ApiKind::kChat, model_.generation, ps)) return fail(ex, *e);
  if (!body.contains("messages") || !body["messages"].is_array())
    return fail(ex, bad_request("'messages' is required and must be a list", "messages"));
  if (auto e = check_tool_choice(body)) return fail(ex, *e);
  const bool continue_final = body.value("continue_final_message", false);
  const bool agp = body.value("add_generation_prompt", true);
  if (continue_final && agp && body.contains("add_generation_prompt"))
    return fail(ex, bad_request("Cannot set both `continue_final_message` and `add_generation_prompt` to True."));
  auto text = render_chat(body, agp, continue_final);
  if (!text.ok()) return fail(ex, bad_request(text.error().message()));
  std::vector<int32_t> prompt = tokenizer_.encode(*text, ps.add_special_tokens);
  if (prompt.empty()) return fail(ex, bad_request("The rendered prompt is empty", "messages"));
  if (auto e = finish_sampling(ps, static_cast<int64_t>(prompt.size()), config_.max_model_len, model_.vocab_size,
                               config_.max_logprobs))
    return fail(ex, *e);
  const std::string id = request_id(ex, "chatcmpl-", ps.request_id);
  const std::string model_name = body.contains("model") && body["model"].is_string() && !body["model"].get<std::string>().empty()
                                     ? body["model"].get<std::string>()
                                     : config_.served_model_names.front();
  const int64_t created = unix_now();
  auto job = std::make_shared<RequestJob>(engine_, ex, metrics_);
  EngineRequest r{engine_id(id), prompt, ps.params, ps.priority, {}};
  auto s = engine_.submit(r);
  if (!s.ok()) return fail(ex, bad_request(s.error().message()));
  job->add(*s, r.id, ps.max_tokens.value_or(0));

  auto choices = std::make_shared<std::vector<ChatChoice>>(static_cast<size_t>(ps.params.n));
  auto aborted = std::make_shared<bool>(false);  // a stream got the abort error event
  auto prompt_lps = std::make_shared<ojson>(nullptr);
  const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
  const bool stream = ps.stream, include_usage = ps.include_usage, continuous = ps.continuous_usage;
  const bool reasoning = config_.reasoning_parser == "deepseek_r1";
  const bool want_lp = ps.logprobs_requested;
  auto usage = [choices, prompt_tokens] {
    int64_t out = 0;
    for (const auto& c : *choices) out += c.output_tokens;
    return ojson{{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens + out},
                 {"completion_tokens", out}, {"prompt_tokens_details", nullptr}};
  };
  auto chunk = [=](ojson choice) {
    return ojson{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model_name},
                 {"choices", ojson::array({std::move(choice)})}, {"usage", nullptr}};
  };
  ++in_flight_;
  if (stream) ex->start_stream();
  job->start(
      [=, this](size_t, StreamEvent& e) {
        ChatChoice& c = (*choices)[static_cast<size_t>(e.index)];
        if (e.prompt_logprobs && prompt_lps->is_null())
          *prompt_lps = prompt_logprobs_json(*e.prompt_logprobs);
        ReasoningParser::Delta d;
        if (reasoning) {
          d = c.parser.push(e.text);
          if (e.finished) {
            ReasoningParser::Delta rest = c.parser.finish();
            d.reasoning += rest.reasoning;
            d.content += rest.content;
          }
        } else {
          d.content = e.text;
        }
        c.content += d.content;
        c.reasoning += d.reasoning;
        c.output_tokens = e.num_output_tokens;
        ojson lp_delta = ojson::array();
        for (const SampleLogprobs& lp : e.logprobs) {
          const std::string tok = token_text(lp.sampled.token);
          ojson top = ojson::array();
          for (const auto& t : lp.top) {
            const std::string tt = token_text(t.token);
            top.push_back({{"token", tt}, {"logprob", json_logprob(t.logprob)}, {"bytes", bytes_of(tt)}});
          }
          ojson item = {{"token", tok}, {"logprob", json_logprob(lp.sampled.logprob)}, {"bytes", bytes_of(tok)},
                        {"top_logprobs", top}};
          c.logprobs.push_back(item);
          lp_delta.push_back(item);
        }
        if (e.finished) {
          c.finish_reason = e.finish_reason;
          if (e.stop_string) c.stop_reason = *e.stop_string;
          else if (e.stop_token) c.stop_reason = *e.stop_token;
        }
        if (!stream || ex->disconnected()) return;
        if (e.finished && e.finish_reason == "abort") {
          if (!std::exchange(*aborted, true)) ex->send_event(aborted_error().body());
          return;
        }
        const ojson idx = e.index;
        if (!c.role_sent) {
          c.role_sent = true;
          ojson first = chunk({{"index", idx}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                               {"logprobs", nullptr}, {"finish_reason", nullptr}});
          if (continuous) first["usage"] = usage();
          ex->send_event(first.dump());
        }
        ojson delta = ojson::object();
        if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
        if (!d.content.empty()) delta["content"] = d.content;
        if (delta.empty() && !e.finished && lp_delta.empty()) return;
        ojson choice = {{"index", idx}, {"delta", delta},
                        {"logprobs", want_lp ? ojson{{"content", lp_delta}} : ojson(nullptr)},
                        {"finish_reason", e.finished ? ojson(e.finish_reason) : ojson(nullptr)}};
        if (e.finished) choice["stop_reason"] = c.stop_reason;
        ojson ch = chunk(choice);
        if (continuous) ch["usage"] = usage();
        ex->send_event(ch.dump(-1, ' ', false, ojson::error_handler_t::replace));
      },
      [=, this]() {
        --in_flight_;
        if (ex->disconnected()) return;
        if (stream) {
          if (include_usage && !*aborted) {
            ojson u = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model_name},
                       {"choices", ojson::array()}, {"usage", usage()}};
            ex->send_event(u.dump());
          }
          ex->send_event("[DONE]");
          ex->end_stream();
          return;
        }
        ojson out_choices = ojson::array();
        for (size_t i = 0; i < choices->size(); ++i) {
          ChatChoice& c = (*choices)[i];
          if (c.finish_reason == "abort") return fail(ex, aborted_error());
          ojson msg = {{"role", "assistant"},
                       {"content", reasoning && c.content.empty() ? ojson(nullptr) : ojson(c.content)},
                       {"reasoning_content", reasoning ? ojson(c.reasoning) : ojson(nullptr)},
                       {"tool_calls", ojson::array()}};
          out_choices.push_back({{"index", i}, {"message", msg},
                                 {"logprobs", want_lp ? ojson{{"content", c.logprobs}} : ojson(nullptr)},
                                 {"finish_reason", c.finish_reason}, {"stop_reason", c.stop_reason}});
        }
        ojson out = {{"id", id},
                     {"object", "chat.completion"},
                     {"created", created},
                     {"model", model_name},
                     {"choices", out_choices},
                     {"usage", usage()},
                     {"prompt_logprobs", *prompt_lps}};
        ex->respond(200, out.dump(-1, ' ', false, ojson::error_handler_t::replace));
      });
}

}  // namespace strata
