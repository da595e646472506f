// ServingMetrics: vLLM's Prometheus metric set for one served model (spec/metrics.md), plus strata's own.
//
// The server owns one instance. Three feeds update it, from any thread:
//   - update_engine_gauges(EngineSnapshot): the engine's current state (running/waiting/KV usage) and
//     its running totals (tokens, preemptions, prefix-cache queries/hits); totals only move forward.
//   - on_request_finished(RequestRecord): one finished request's reason, token counts and timestamps,
//     from which TTFT, inter-token latency, e2e/queue/prefill/decode/inference times are observed.
//   - observe_iteration_tokens(n): tokens scheduled in one engine step.
// render() returns the /metrics body (serve it with MetricsRegistry::kContentType). Every sample
// carries model_name="<served name>" and engine="0"; names, HELP texts and buckets follow vLLM's
// vllm/v1/metrics/loggers.py.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/metrics_registry.h"

namespace strata {

// vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... while <= max_value.
std::vector<double> build_1_2_5_buckets(int64_t max_value);

// The KV cache configuration shown as labels of the vllm:cache_config_info gauge (value 1). Values
// are written as Python's str() would write vLLM's CacheConfig fields ("True", "None", "0.9").
struct CacheInfo {
  int64_t block_size = 16;
  int64_t num_gpu_blocks = 0;
  int64_t num_cpu_blocks = 0;
  std::string cache_dtype = "auto";
  bool enable_prefix_caching = true;
  std::string prefix_caching_hash_algo = "sha256";
  double gpu_memory_utilization = 0.9;
  double swap_space = 4;      // GiB
  double cpu_offload_gb = 0;  // GiB
  std::optional<int64_t> num_gpu_blocks_override;
  std::optional<int64_t> sliding_window;
  bool is_attention_free = false;
  MetricLabels extra;  // further labels, written verbatim (a key here replaces a field above)
};

// The engine's state at one moment. The token/preemption/prefix fields are running totals since
// start; a smaller value than one seen before is ignored (counters never go back).
struct EngineSnapshot {
  int64_t num_running = 0;
  int64_t num_waiting = 0;
  double kv_usage = 0.0;  // fraction of KV blocks in use, 0..1
  int64_t prompt_tokens = 0;
  int64_t generation_tokens = 0;
  int64_t num_preemptions = 0;
  int64_t prefix_queries = 0;  // tokens looked up in the prefix cache
  int64_t prefix_hits = 0;     // of those, tokens found
};

// One finished request. Times are seconds on one steady clock (see ServingMetrics::now_seconds());
// a phase the request never reached (aborted while waiting) is left empty and its histograms are not
// observed.
struct RequestRecord {
  std::string finished_reason = "stop";  // "stop", "length" or "abort"
  int64_t num_prompt_tokens = 0;
  int64_t num_generation_tokens = 0;
  int64_t max_tokens = 0;  // the max_tokens request parameter; 0 = not given (not observed)
  double arrival_time = 0.0;
  std::optional<double> first_scheduled_time;
  std::optional<double> first_token_time;
  double finished_time = 0.0;
  std::vector<double> inter_token_gaps;  // seconds between consecutive output tokens
};

class ServingMetrics {
 public:
  ServingMetrics(std::string model_name, int64_t max_model_len, const CacheInfo& cache);
  ServingMetrics(const ServingMetrics&) = delete;
  ServingMetrics& operator=(const ServingMetrics&) = delete;

  void update_engine_gauges(const EngineSnapshot& snapshot);
  void on_request_finished(const RequestRecord& record);
  void observe_iteration_tokens(int64_t num_tokens);

  // strata's own metrics.
  void on_connection_opened() { http_connections_open_->inc(); }
  void on_connection_closed() { http_connections_open_->dec(); }
  void set_connections_open(int64_t n) { http_connections_open_->set(static_cast<double>(n)); }
  void set_model_load_seconds(double seconds) { model_load_seconds_->set(seconds); }

  // The /metrics body.
  std::string render() const { return registry_.render(); }
  static constexpr const char* kContentType = MetricsRegistry::kContentType;

  // For further strata:* metrics (per-rank step time, communication time); they get the same labels.
  MetricsRegistry& registry() { return registry_; }

  // Seconds on the steady clock, the time base RequestRecord expects.
  static double now_seconds();

 private:
  Counter& success_counter(const std::string& reason);

  std::string model_name_;
  MetricsRegistry registry_;

  Gauge* num_requests_running_;
  Gauge* num_requests_waiting_;
  Gauge* gpu_cache_usage_;
  Gauge* kv_cache_usage_;
  Counter* prefix_cache_queries_;
  Counter* prefix_cache_hits_;
  Counter* num_preemptions_;
  Counter* prompt_tokens_;
  Counter* generation_tokens_;

  std::mutex success_mutex_;  // guards success_ (a new finished_reason adds a child)
  std::map<std::string, Counter*> success_;

  Histogram* request_prompt_tokens_;
  Histogram* request_generation_tokens_;
  Histogram* iteration_tokens_;
  Histogram* request_params_max_tokens_;
  Histogram* time_to_first_token_;
  Histogram* time_per_output_token_;
  Histogram* inter_token_latency_;
  Histogram* request_time_per_output_token_;
  Histogram* e2e_request_latency_;
  Histogram* request_queue_time_;
  Histogram* request_inference_time_;
  Histogram* request_prefill_time_;
  Histogram* request_decode_time_;

  Gauge* http_connections_open_;
  Gauge* model_load_seconds_;
};

}  // namespace strata
