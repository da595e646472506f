// `strata serve [MODEL]`: the OpenAI-compatible server (vLLM's flags, spec/cli.md). Loads the model,
// starts the engine, then listens; /health answers only once everything is ready. SIGTERM / SIGINT:
// stop accepting, let in-flight requests finish for up to --shutdown-grace-seconds, abort the rest.
#include <csignal>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "cli/engine_setup.h"
#include "core/logging.h"
#include "server/api_server.h"

namespace strata::cli {

namespace {
std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal = sig; }

struct ServeArgs {
  EngineArgs engine;
  std::string positional_model;
  HttpServerOptions http;
  std::vector<std::string> served_model_names;
  std::string api_key;
  std::string kv_cache_dtype = "auto", quantization, download_dir, distributed_backend;
  bool trust_remote_code = false, disable_log_requests = false, enable_log_requests = false;
  std::string log_level = "info";
  bool enable_request_id_headers = false;
  std::string allowed_origins = "*";
  std::string chat_template, reasoning_parser;
  bool trust_request_chat_template = false;
  int max_logprobs = kDefaultMaxLogprobs;
  int shutdown_grace_s = 30;
  bool disable_log_stats = false;
};

int run_serve(ServeArgs& a) {
  init_logging(a.log_level == "trace" ? "trace" : a.log_level);
  if (!a.positional_model.empty()) {
    if (!a.engine.load.model.empty() && a.engine.load.model != a.positional_model)
      return fail("serve", "the model is given twice: positional '" + a.positional_model + "' and --model '" +
                               a.engine.load.model + "'");
    a.engine.load.model = a.positional_model;
  }
  if (a.kv_cache_dtype != "auto") return fail("serve", "--kv-cache-dtype " + a.kv_cache_dtype + " is not supported yet");
  if (!a.quantization.empty() && a.quantization != "none")
    return fail("serve", "--quantization " + a.quantization + " is not supported yet");
  std::optional<std::string> chat_override;
  if (!a.chat_template.empty()) {
    auto t = load_chat_template_arg(a.chat_template);
    if (!t.ok()) return fail("serve", "--chat-template: " + t.error().message());
    chat_override = *t;
  }
  const double t0 = ServingMetrics::now_seconds();
  auto metrics_slot = std::make_shared<std::atomic<ServingMetrics*>>(nullptr);
  exit_on_comm_failure();
  auto stack_or = load_stack(a.engine);
  if (!stack_or.ok()) return fail("serve", stack_or.error().message());
  EngineStack& stack = **stack_or;
  if (stack.worker_node) {
    // LeaderWorkerSet signals every pod of the group at once: the leader drains its requests and then
    // stops the group, so a worker keeps serving steps until the leader says stop (or is lost).
    std::signal(SIGTERM, [](int) {});
    return run_worker_node(stack.group_options);
  }
  if (Status st = start_engine(stack, a.engine, 0, [metrics_slot](int64_t n) {
        if (ServingMetrics* m = metrics_slot->load()) m->observe_iteration_tokens(n);
      });
      !st.ok())
    return fail("serve", st.error().message());
  LoadedModel& m = stack.model;
  ChatTemplateConfig chat;
  if (!m.builtin) {
    auto c = load_chat_template_config(a.engine.load.tokenizer.empty() ? m.name : a.engine.load.tokenizer);
    if (c.ok()) chat = std::move(c).value();
    else LOG_WARN("no chat template: {}", c.error().message());
  }
  ApiServerConfig cfg;
  cfg.served_model_names = a.served_model_names.empty() ? std::vector<std::string>{m.name} : a.served_model_names;
  cfg.model_root = m.name;
  cfg.max_model_len = m.max_model_len;
  if (!a.api_key.empty()) cfg.api_key = a.api_key;
  else if (const char* k = std::getenv("VLLM_API_KEY"); k && *k) cfg.api_key = k;
  cfg.enable_request_id_headers = a.enable_request_id_headers;
  cfg.allowed_origins = a.allowed_origins;
  cfg.reasoning_parser = a.reasoning_parser;
  cfg.max_logprobs = a.max_logprobs;
  cfg.chat_template = chat_override;
  cfg.trust_request_chat_template = a.trust_request_chat_template;
  CacheInfo ci;
  ci.block_size = a.engine.block_size;
  ci.num_gpu_blocks = stack.engine->config().num_blocks;
  ci.enable_prefix_caching = !a.engine.no_prefix_caching;
  ci.gpu_memory_utilization = a.engine.gpu_memory_utilization;
  ServingMetrics metrics(cfg.served_model_names.front(), m.max_model_len, ci);
  metrics.set_model_load_seconds(ServingMetrics::now_seconds() - t0);
  metrics_slot->store(&metrics);
  ApiServer api(*stack.engine, *m.tokenizer, m.config, std::move(chat), cfg, &metrics);
  HttpServer http(a.http);
  api.register_routes(http);
  // A lost rank: /health answers 503 for a moment (so probes and the load balancer see it), then exit 1.
  static std::atomic<ApiServer*> g_api{nullptr};
  g_api = &api;
  struct Unset {  // before `api` goes, on every return path
    ~Unset() { g_api = nullptr; }
  } unset;
  exit_on_comm_failure([] {
    if (ApiServer* p = g_api.load()) {
      p->set_healthy(false);
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  });
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  if (Status st = http.start(); !st.ok()) return fail("serve", st.error().message());
  LOG_INFO("serving {} on http://{}:{} (model {}, max_model_len {})", cfg.served_model_names.front(), a.http.host,
           http.port(), m.name, m.max_model_len);
  while (g_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  LOG_INFO("signal {}: no new connections; waiting up to {} s for {} requests in flight", g_signal.load(),
           a.shutdown_grace_s, api.in_flight());
  http.stop_accepting();
  api.set_healthy(false);
  for (int i = 0; i < a.shutdown_grace_s * 10 && api.in_flight() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stack.engine.reset();  // aborts whatever is left; their responses complete
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  http.stop();
  metrics_slot->store(nullptr);
  LOG_INFO("shut down");
  return 0;
}
}  // namespace

Runner add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (vllm serve flags)");
  cmd->add_option("model_tag", a->positional_model, "model directory (same as --model)");
  add_engine_flags(*cmd, a->engine);
  cmd->add_option("--host", a->http.host, "listen address")->capture_default_str();
  cmd->add_option("--port", a->http.port, "listen port")->capture_default_str();
  cmd->add_option("--served-model-name", a->served_model_names, "names the API accepts (first: in responses)");
  cmd->add_option("--api-key", a->api_key, "require Authorization: Bearer KEY on /v1 (env VLLM_API_KEY)");
  cmd->add_option("--kv-cache-dtype", a->kv_cache_dtype, "auto | fp8")->check(CLI::IsMember({"auto", "fp8"}));
  cmd->add_option("--quantization,-q", a->quantization, "from config.json");
  cmd->add_option("--download-dir", a->download_dir, "accepted");
  cmd->add_flag("--trust-remote-code", a->trust_remote_code, "accepted and ignored (nothing is executed)");
  cmd->add_option("--chat-template", a->chat_template, "chat template file (or inline template)");
  cmd->add_flag("--trust-request-chat-template", a->trust_request_chat_template,
                "accept a chat_template in requests (it runs on the server)");
  cmd->add_option("--distributed-executor-backend", a->distributed_backend, "accepted; strata uses its own");
  cmd->add_flag("--disable-log-requests", a->disable_log_requests, "accepted");
  cmd->add_flag("--enable-log-requests", a->enable_log_requests, "accepted");
  cmd->add_flag("--disable-log-stats", a->disable_log_stats, "accepted");
  cmd->add_option("--uvicorn-log-level", a->log_level, "log level")
      ->check(CLI::IsMember({"critical", "error", "warning", "info", "debug", "trace"}));
  cmd->add_flag("--enable-request-id-headers", a->enable_request_id_headers, "echo X-Request-Id");
  cmd->add_option("--allowed-origins", a->allowed_origins, "CORS allowed origins");
  cmd->add_option("--reasoning-parser", a->reasoning_parser, "deepseek_r1")->check(CLI::IsMember({"deepseek_r1"}));
  cmd->add_option("--max-logprobs", a->max_logprobs, "largest logprobs a request may ask for")->capture_default_str();
  cmd->add_option("--shutdown-grace-seconds", a->shutdown_grace_s, "SIGTERM: wait this long for requests in flight")
      ->capture_default_str();
  return [a]() { return run_serve(*a); };
}

}  // namespace strata::cli
