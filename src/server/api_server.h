// ApiServer: vLLM's OpenAI-compatible HTTP API over an Engine (routes and behaviour per
// ../shared/spec/api.md). Requests are parsed and validated on the I/O threads, prompts rendered
// (chat template) and tokenized there, then submitted to the engine; a RequestJob streams the
// engine's events back as JSON or SSE.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai_params.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace strata {

struct ApiServerConfig {
  std::vector<std::string> served_model_names;  // first = the name in responses and metrics
  std::string model_root;                       // --model value, shown as "root" in /v1/models
  int64_t max_model_len = 0;
  std::optional<std::string> api_key;
  bool enable_request_id_headers = false;
  std::string allowed_origins = "*";
  std::string reasoning_parser;                 // "" or "deepseek_r1"
  int max_logprobs = kDefaultMaxLogprobs;
  std::optional<std::string> chat_template;     // --chat-template contents (overrides the model's)
  bool trust_request_chat_template = false;     // accept a request's own "chat_template" (vLLM's flag)
};

class ApiServer {
 public:
  ApiServer(Engine& engine, const Tokenizer& tokenizer, const ModelConfig& model, ChatTemplateConfig chat,
            ApiServerConfig config, ServingMetrics* metrics);
  void register_routes(HttpServer& http);
  void set_healthy(bool healthy) { healthy_ = healthy; }
  int64_t in_flight() const { return in_flight_.load(); }

 private:
  bool filter(const std::shared_ptr<Exchange>& ex);
  void completions(const std::shared_ptr<Exchange>& ex);
  void chat(const std::shared_ptr<Exchange>& ex);
  void tokenize(const std::shared_ptr<Exchange>& ex);
  void detokenize(const std::shared_ptr<Exchange>& ex);
  void models(const std::shared_ptr<Exchange>& ex);
  void metrics(const std::shared_ptr<Exchange>& ex);

  // Body as JSON (ordered, as transformers sees tool schemas) or an ApiError.
  std::optional<ApiError> parse_body(const std::shared_ptr<Exchange>& ex, ojson& body) const;
  std::optional<ApiError> check_model(const ojson& body) const;
  void fail(const std::shared_ptr<Exchange>& ex, const ApiError& e) const;
  // Renders a chat request's messages (tools, kwargs) to prompt text.
  Result<std::string> render_chat(const ojson& body, bool add_generation_prompt, bool continue_final) const;
  std::string request_id(const std::shared_ptr<Exchange>& ex, const char* prefix,
                         const std::optional<std::string>& from_body) const;
  // The engine's id for one prompt of a request: unique even when clients reuse a request id (an
  // X-Request-Id or request_id field), so one client's disconnect never aborts another's request.
  std::string engine_id(const std::string& id) const;
  std::string token_text(int32_t id) const;
  // vLLM's prompt_logprobs: [null, {"<token id>": {"logprob", "rank", "decoded_token"}}, ...], one
  // entry per prompt position (the first has nothing to predict it).
  ojson prompt_logprobs_json(const std::vector<SampleLogprobs>& positions) const;

  Engine& engine_;
  const Tokenizer& tokenizer_;
  const ModelConfig& model_;
  ChatTemplateConfig chat_;
  std::optional<ChatTemplate> default_template_;
  ApiServerConfig config_;
  ServingMetrics* metrics_;
  const HttpServer* http_ = nullptr;  // for its open connection count
  std::atomic<bool> healthy_{true};
  std::atomic<int64_t> in_flight_{0};
  mutable std::atomic<uint64_t> counter_{0};
  mutable std::atomic<uint64_t> engine_seq_{0};
  friend class InFlight;
};

}  // namespace strata
