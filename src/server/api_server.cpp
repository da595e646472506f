#include "server/api_server.h"

#include <cctype>
#include <chrono>
#include <random>

#include "core/logging.h"

namespace strata {

namespace {
int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
std::string header_of(const HttpRequest& req, const char* name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value());
}
}  // namespace

ApiServer::ApiServer(Engine& engine, const Tokenizer& tokenizer, const ModelConfig& model, ChatTemplateConfig chat,
                     ApiServerConfig config, ServingMetrics* metrics)
    : engine_(engine), tokenizer_(tokenizer), model_(model), chat_(std::move(chat)), config_(std::move(config)),
      metrics_(metrics) {
  std::optional<std::string> source = config_.chat_template ? config_.chat_template : chat_.chat_template;
  if (source) {
    auto t = ChatTemplate::parse(*source);
    if (t.ok()) default_template_ = std::move(t).value();
    else LOG_WARN("chat template does not parse ({}); chat requests will fail", t.error().message());
  }
}

void ApiServer::register_routes(HttpServer& http) {
  http_ = &http;
  http.set_filter([this](const std::shared_ptr<Exchange>& ex) { return filter(ex); });
  http.route("POST", "/v1/completions", [this](auto ex) { completions(ex); });
  http.route("POST", "/v1/chat/completions", [this](auto ex) { chat(ex); });
  http.route("GET", "/v1/models", [this](auto ex) { models(ex); });
  http.route("POST", "/tokenize", [this](auto ex) { tokenize(ex); });
  http.route("POST", "/detokenize", [this](auto ex) { detokenize(ex); });
  http.route("GET", "/metrics", [this](auto ex) { metrics(ex); });
  http.route("GET", "/version", [](auto ex) { ex->respond(200, R"({"version":"0.1.0"})"); });
  auto health = [this](std::shared_ptr<Exchange> ex) { ex->respond(healthy_ ? 200 : 503, "", ""); };
  http.route("GET", "/health", health);
  http.route("GET", "/ping", health);
  http.route("POST", "/ping", health);
  http.route("GET", "/load", [this](auto ex) {
    ex->respond(200, ojson{{"server_load", in_flight_.load()}}.dump());
  });
}

bool ApiServer::filter(const std::shared_ptr<Exchange>& ex) {
  const HttpRequest& req = ex->request();
  std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  if (!config_.allowed_origins.empty()) {
    ex->add_header("Access-Control-Allow-Origin", config_.allowed_origins);
    ex->add_header("Access-Control-Allow-Credentials", "false");
  }
  if (config_.enable_request_id_headers) {
    std::string rid = header_of(req, "X-Request-Id");
    if (!rid.empty()) ex->add_header("X-Request-Id", rid);
  }
  if (req.method() == http::verb::options) {
    ex->add_header("Access-Control-Allow-Methods", "*");
    ex->add_header("Access-Control-Allow-Headers", "*");
    ex->respond(200, "", "");
    return true;
  }
  if (config_.api_key && path.rfind("/v1", 0) == 0) {
    if (header_of(req, "Authorization") != "Bearer " + *config_.api_key) {
      ex->respond(401, R"({"error":"Unauthorized"})");
      return true;
    }
  }
  return false;
}

std::optional<ApiError> ApiServer::parse_body(const std::shared_ptr<Exchange>& ex, ojson& body) const {
  // The media type, case-insensitive, without parameters (as vLLM: "application/json; charset=utf-8").
  std::string media = header_of(ex->request(), "Content-Type");
  media = media.substr(0, media.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media != "application/json")
    return bad_request("Unsupported Media Type: Only 'application/json' is allowed");
  body = ojson::parse(ex->request().body(), nullptr, false);
  if (body.is_discarded()) return bad_request("Invalid JSON in the request body");
  if (!body.is_object()) return bad_request("The request body must be a JSON object");
  return std::nullopt;
}

std::optional<ApiError> ApiServer::check_model(const ojson& body) const {
  auto it = body.find("model");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return bad_request("'model' must be a string", "model");
  const std::string name = it->get<std::string>();
  if (name.empty()) return std::nullopt;
  for (const auto& n : config_.served_model_names)
    if (n == name) return std::nullopt;
  return ApiError{404, "NotFoundError", "The model `" + name + "` does not exist.", "model"};
}

void ApiServer::fail(const std::shared_ptr<Exchange>& ex, const ApiError& e) const { ex->respond(e.status, e.body()); }

std::string ApiServer::request_id(const std::shared_ptr<Exchange>& ex, const char* prefix,
                                  const std::optional<std::string>& from_body) const {
  if (config_.enable_request_id_headers) {
    std::string rid = header_of(ex->request(), "X-Request-Id");
    if (!rid.empty()) return rid;
  }
  if (from_body) return *from_body;
  thread_local std::mt19937_64 rng(std::random_device{}() ^ (counter_++ * 0x9e3779b97f4a7c15ull));
  static const char* kHex = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 32; ++i) id += kHex[rng() & 15];
  return id;
}

std::string ApiServer::engine_id(const std::string& id) const {
  return id + "#" + std::to_string(engine_seq_++);
}

std::string ApiServer::token_text(int32_t id) const {
  const int32_t one[1] = {id};
  return tokenizer_.decode(one, false);
}

ojson ApiServer::prompt_logprobs_json(const std::vector<SampleLogprobs>& positions) const {
  ojson out = ojson::array({nullptr});
  for (const SampleLogprobs& lp : positions) {
    ojson pos = ojson::object();
    auto add = [&](const TokenLogprob& t) {
      const std::string key = std::to_string(t.token);
      if (!pos.contains(key))
        pos[key] = {
            {"logprob", json_logprob(t.logprob)}, {"rank", t.rank}, {"decoded_token", token_text(t.token)}};
    };
    add(lp.sampled);  // the prompt token, then the most likely ones
    for (const TokenLogprob& t : lp.top) add(t);
    out.push_back(std::move(pos));
  }
  return out;
}

void ApiServer::models(const std::shared_ptr<Exchange>& ex) {
  ojson data = ojson::array();
  const int64_t now = unix_now();
  for (const auto& name : config_.served_model_names) {
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", now},
                    {"owned_by", "vllm"},
                    {"root", config_.model_root},
                    {"parent", nullptr},
                    {"max_model_len", config_.max_model_len},
                    {"permission",
                     {{{"id", "modelperm-" + name},
                       {"object", "model_permission"},
                       {"created", now},
                       {"allow_create_engine", false},
                       {"allow_sampling", true},
                       {"allow_logprobs", true},
                       {"allow_search_indices", false},
                       {"allow_view", true},
                       {"allow_fine_tuning", false},
                       {"organization", "*"},
                       {"group", nullptr},
                       {"is_blocking", false}}}}});
  }
  ex->respond(200, ojson{{"object", "list"}, {"data", data}}.dump());
}

void ApiServer::tokenize(const std::shared_ptr<Exchange>& ex) {
  ojson body;
  if (auto e = parse_body(ex, body)) return fail(ex, *e);
  if (auto e = check_model(body)) return fail(ex, *e);
  std::vector<int32_t> ids;
  if (body.contains("messages")) {
    bool agp = body.value("add_generation_prompt", true);
    auto text = render_chat(body, agp, body.value("continue_final_message", false));
    if (!text.ok()) return fail(ex, bad_request(text.error().message()));
    ids = tokenizer_.encode(*text, body.value("add_special_tokens", false));
  } else if (body.contains("prompt") && body["prompt"].is_string()) {
    ids = tokenizer_.encode(body["prompt"].get<std::string>(), body.value("add_special_tokens", true));
  } else {
    return fail(ex, bad_request("'prompt' (a string) or 'messages' is required", "prompt"));
  }
  ojson out = {{"count", ids.size()}, {"max_model_len", config_.max_model_len}, {"tokens", ids}, {"token_strs", nullptr}};
  if (body.value("return_token_strs", false)) {
    ojson strs = ojson::array();
    for (int32_t id : ids) strs.push_back(tokenizer_.id_to_token(id));
    out["token_strs"] = strs;
  }
  ex->respond(200, out.dump(-1, ' ', false, ojson::error_handler_t::replace));
}

void ApiServer::detokenize(const std::shared_ptr<Exchange>& ex) {
  ojson body;
  if (auto e = parse_body(ex, body)) return fail(ex, *e);
  if (auto e = check_model(body)) return fail(ex, *e);
  if (!body.contains("tokens") || !body["tokens"].is_array())
    return fail(ex, bad_request("'tokens' must be a list of integers", "tokens"));
  std::vector<int32_t> ids;
  for (const auto& t : body["tokens"]) {
    if (!t.is_number_integer()) return fail(ex, bad_request("'tokens' must be a list of integers", "tokens"));
    int64_t v = t.get<int64_t>();
    if (v < 0 || v >= tokenizer_.vocab_size())
      return fail(ex, bad_request("token id " + std::to_string(v) + " is out of vocabulary", "tokens"));
    ids.push_back(static_cast<int32_t>(v));
  }
  ex->respond(200, ojson{{"prompt", tokenizer_.decode(ids, false)}}.dump(-1, ' ', false, ojson::error_handler_t::replace));
}

void ApiServer::metrics(const std::shared_ptr<Exchange>& ex) {
  if (!metrics_) return ex->respond(404, "", "");
  const EngineStats st = engine_.stats();
  EngineSnapshot snap;
  snap.num_running = st.num_running;
  snap.num_waiting = st.num_waiting;
  snap.kv_usage = st.kv_usage;
  snap.prompt_tokens = st.prompt_tokens;
  snap.generation_tokens = st.generation_tokens;
  snap.num_preemptions = st.num_preemptions;
  snap.prefix_queries = st.prefix_queries;
  snap.prefix_hits = st.prefix_hits;
  metrics_->update_engine_gauges(snap);
  if (http_) metrics_->set_connections_open(http_->open_connections());
  ex->respond(200, metrics_->render(), ServingMetrics::kContentType);
}

Result<std::string> ApiServer::render_chat(const ojson& body, bool add_generation_prompt, bool continue_final) const {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
    return make_error("'messages' must be a non-empty list");
  for (const auto& m : body["messages"])
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return make_error("each message needs a 'role' string");
  const ojson tools = body.contains("tools") && !body["tools"].is_null() ? body["tools"] : ojson(nullptr);
  if (!tools.is_null()) {
    if (!tools.is_array()) return make_error("'tools' must be a list of tools");
    for (const auto& t : tools)
      if (!t.is_object() || !t.contains("function") || !t["function"].is_object())
        return make_error("each tool must be an object with type \"function\" and a \"function\" object");
  }
  const ojson documents = body.contains("documents") ? body["documents"] : ojson(nullptr);
  ojson kwargs = body.contains("chat_template_kwargs") && body["chat_template_kwargs"].is_object()
                     ? body["chat_template_kwargs"]
                     : ojson::object();
  // A template from the request is code run on the server (a nested loop can spin an I/O thread
  // forever): refused unless the operator trusts clients, as vLLM does.
  const bool request_template = (body.contains("chat_template") && !body["chat_template"].is_null()) ||
                                (kwargs.contains("chat_template") && !kwargs["chat_template"].is_null());
  if (request_template && !config_.trust_request_chat_template)
    return make_error(
        "Chat template is passed with request, but --trust-request-chat-template is not set. "
        "Refused request with untrusted chat template.");
  std::optional<ChatTemplate> picked;
  const ChatTemplate* tmpl = default_template_ ? &*default_template_ : nullptr;
  if (!config_.chat_template && body.contains("chat_template") && body["chat_template"].is_string()) {
    STRATA_TRY(ChatTemplate t, ChatTemplate::parse(body["chat_template"].get<std::string>()));
    picked = std::move(t);
    tmpl = &*picked;
  } else if (!config_.chat_template && !tools.is_null() && chat_.named_templates.count("tool_use")) {
    STRATA_TRY(ChatTemplate t, ChatTemplate::parse(chat_.named_templates.at("tool_use")));
    picked = std::move(t);
    tmpl = &*picked;
  }
  if (!tmpl)
    return make_error("As of transformers v4.44, default chat template is no longer allowed, so you must provide a "
                      "chat template if the tokenizer does not define one.");
  // As vLLM: content parts joined (or kept, for templates that loop over parts), null content "",
  // unknown keys dropped, tool-call arguments parsed from their JSON strings.
  STRATA_TRY(ojson messages, to_vllm_conversation(body["messages"], tmpl->content_format()));
  ojson ctx = make_chat_context(chat_, messages, tools, documents, add_generation_prompt && !continue_final, kwargs);
  STRATA_TRY(std::string text, tmpl->render(ctx));
  if (continue_final) {
    STRATA_TRY(text, apply_continue_final_message(text, messages.back().value("content", ojson(""))));
  }
  return text;
}

}  // namespace strata
