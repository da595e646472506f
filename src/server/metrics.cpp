#include "server/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace strata {

namespace {

const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                          0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                          20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kTokenLatencyBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                                  0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
const std::vector<double> kRequestLatencyBuckets = {0.3,  0.5,   0.8,   1.0,   1.5,   2.0,    2.5,
                                                    5.0,  10.0,  15.0,  20.0,  30.0,  40.0,   50.0,
                                                    60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
const std::vector<double> kIterationTokenBuckets = {1,   8,    16,   32,   64,   128,  256,
                                                    512, 1024, 2048, 4096, 8192, 16384};

// Python's str() of a float as vLLM's config holds it: integral values without ".0" for fields
// whose defaults are ints (swap_space=4, cpu_offload_gb=0).
std::string python_number(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  return python_float_repr(value);
}

MetricLabels cache_config_labels(const CacheInfo& cache) {
  auto py_bool = [](bool b) { return std::string(b ? "True" : "False"); };
  auto py_optional = [](const std::optional<int64_t>& v) {
    return v ? std::to_string(*v) : std::string("None");
  };
  MetricLabels labels = {
      {"block_size", std::to_string(cache.block_size)},
      {"cache_dtype", cache.cache_dtype},
      {"cpu_offload_gb", python_number(cache.cpu_offload_gb)},
      {"enable_prefix_caching", py_bool(cache.enable_prefix_caching)},
      {"gpu_memory_utilization", python_float_repr(cache.gpu_memory_utilization)},
      {"is_attention_free", py_bool(cache.is_attention_free)},
      {"num_cpu_blocks", std::to_string(cache.num_cpu_blocks)},
      {"num_gpu_blocks", std::to_string(cache.num_gpu_blocks)},
      {"num_gpu_blocks_override", py_optional(cache.num_gpu_blocks_override)},
      {"prefix_caching_hash_algo", cache.prefix_caching_hash_algo},
      {"sliding_window", py_optional(cache.sliding_window)},
      {"swap_space", python_number(cache.swap_space)},
  };
  for (const auto& [name, value] : cache.extra) {
    auto it = std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == name; });
    if (it != labels.end()) {
      it->second = value;
    } else {
      labels.emplace_back(name, value);
    }
  }
  return labels;
}

double non_negative(double seconds) {
  return seconds > 0.0 ? seconds : 0.0;
}

}  // namespace

std::vector<double> build_1_2_5_buckets(int64_t max_value) {
  std::vector<double> buckets;
  for (int64_t scale = 1; scale <= max_value; scale *= 10) {
    for (int64_t mantissa : {1, 2, 5}) {
      int64_t value = mantissa * scale;
      if (value > max_value) return buckets;
      buckets.push_back(static_cast<double>(value));
    }
    if (scale > max_value / 10) break;
  }
  return buckets;
}

double ServingMetrics::now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

ServingMetrics::ServingMetrics(std::string model_name, int64_t max_model_len, const CacheInfo& cache)
    : model_name_(std::move(model_name)),
      registry_(MetricLabels{{"model_name", model_name_}, {"engine", "0"}}) {
  MetricsRegistry& r = registry_;

  // Scheduler state and KV cache.
  num_requests_running_ =
      &r.gauge("vllm:num_requests_running", "Number of requests in model execution batches.");
  num_requests_waiting_ =
      &r.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.");
  gpu_cache_usage_ = &r.gauge("vllm:gpu_cache_usage_perc",
                              "GPU KV-cache usage. 1 means 100 percent usage."
                              "DEPRECATED: Use vllm:kv_cache_usage_perc instead.");
  kv_cache_usage_ = &r.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.");
  prefix_cache_queries_ =
      &r.counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.");
  prefix_cache_hits_ =
      &r.counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.");

  // Counters.
  num_preemptions_ = &r.counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.");
  prompt_tokens_ = &r.counter("vllm:prompt_tokens", "Number of prefill tokens processed.");
  generation_tokens_ = &r.counter("vllm:generation_tokens", "Number of generation tokens processed.");
  for (const char* reason : {"stop", "length", "abort"}) success_counter(reason);

  // Histograms of counts.
  const std::vector<double> token_buckets = build_1_2_5_buckets(max_model_len);
  request_prompt_tokens_ =
      &r.histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", token_buckets);
  request_generation_tokens_ =
      &r.histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", token_buckets);
  iteration_tokens_ = &r.histogram("vllm:iteration_tokens_total",
                                   "Histogram of number of tokens per engine_step.", kIterationTokenBuckets);
  request_params_max_tokens_ = &r.histogram("vllm:request_params_max_tokens",
                                            "Histogram of the max_tokens request parameter.", token_buckets);

  // Histograms of timing intervals.
  time_to_first_token_ = &r.histogram("vllm:time_to_first_token_seconds",
                                      "Histogram of time to first token in seconds.", kTtftBuckets);
  time_per_output_token_ = &r.histogram("vllm:time_per_output_token_seconds",
                                        "Histogram of time per output token in seconds."
                                        "DEPRECATED: Use vllm:inter_token_latency_seconds instead.",
                                        kTokenLatencyBuckets);
  inter_token_latency_ = &r.histogram("vllm:inter_token_latency_seconds",
                                      "Histogram of inter-token latency in seconds.", kTokenLatencyBuckets);
  request_time_per_output_token_ =
      &r.histogram("vllm:request_time_per_output_token_seconds",
                   "Histogram of time_per_output_token_seconds per request.", kTokenLatencyBuckets);
  e2e_request_latency_ = &r.histogram("vllm:e2e_request_latency_seconds",
                                      "Histogram of e2e request latency in seconds.", kRequestLatencyBuckets);
  request_queue_time_ =
      &r.histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                   kRequestLatencyBuckets);
  request_inference_time_ =
      &r.histogram("vllm:request_inference_time_seconds",
                   "Histogram of time spent in RUNNING phase for request.", kRequestLatencyBuckets);
  request_prefill_time_ =
      &r.histogram("vllm:request_prefill_time_seconds",
                   "Histogram of time spent in PREFILL phase for request.", kRequestLatencyBuckets);
  request_decode_time_ =
      &r.histogram("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                   kRequestLatencyBuckets);

  r.gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig", cache_config_labels(cache))
      .set(1.0);

  // strata's own.
  http_connections_open_ = &r.gauge("strata:http_connections_open", "Number of open HTTP connections.");
  model_load_seconds_ = &r.gauge("strata:model_load_seconds",
                                 "Seconds spent loading the model weights and preparing the engine.");
}

Counter& ServingMetrics::success_counter(const std::string& reason) {
  std::lock_guard<std::mutex> lock(success_mutex_);
  auto it = success_.find(reason);
  if (it != success_.end()) return *it->second;
  Counter& counter = registry_.counter("vllm:request_success", "Count of successfully processed requests.",
                                       {{"finished_reason", reason}});
  success_.emplace(reason, &counter);
  return counter;
}

void ServingMetrics::update_engine_gauges(const EngineSnapshot& snapshot) {
  num_requests_running_->set(static_cast<double>(snapshot.num_running));
  num_requests_waiting_->set(static_cast<double>(snapshot.num_waiting));
  gpu_cache_usage_->set(snapshot.kv_usage);
  kv_cache_usage_->set(snapshot.kv_usage);
  prompt_tokens_->set_at_least(static_cast<double>(snapshot.prompt_tokens));
  generation_tokens_->set_at_least(static_cast<double>(snapshot.generation_tokens));
  num_preemptions_->set_at_least(static_cast<double>(snapshot.num_preemptions));
  prefix_cache_queries_->set_at_least(static_cast<double>(snapshot.prefix_queries));
  prefix_cache_hits_->set_at_least(static_cast<double>(snapshot.prefix_hits));
}

void ServingMetrics::on_request_finished(const RequestRecord& record) {
  success_counter(record.finished_reason).inc();

  e2e_request_latency_->observe(non_negative(record.finished_time - record.arrival_time));
  request_prompt_tokens_->observe(static_cast<double>(record.num_prompt_tokens));
  request_generation_tokens_->observe(static_cast<double>(record.num_generation_tokens));
  if (record.max_tokens > 0) request_params_max_tokens_->observe(static_cast<double>(record.max_tokens));

  if (record.first_token_time) {
    time_to_first_token_->observe(non_negative(*record.first_token_time - record.arrival_time));
    double decode = non_negative(record.finished_time - *record.first_token_time);
    request_decode_time_->observe(decode);
    // Per-request TPOT as vLLM defines it: decode time over the tokens after the first, 0 if none.
    double tpot = record.num_generation_tokens > 1
                      ? decode / static_cast<double>(record.num_generation_tokens - 1)
                      : 0.0;
    request_time_per_output_token_->observe(tpot);
  }
  if (record.first_scheduled_time) {
    request_queue_time_->observe(non_negative(*record.first_scheduled_time - record.arrival_time));
    request_inference_time_->observe(non_negative(record.finished_time - *record.first_scheduled_time));
    if (record.first_token_time) {
      request_prefill_time_->observe(non_negative(*record.first_token_time - *record.first_scheduled_time));
    }
  }
  if (!record.inter_token_gaps.empty()) {
    inter_token_latency_->observe_many(record.inter_token_gaps);
    time_per_output_token_->observe_many(record.inter_token_gaps);
  }
}

void ServingMetrics::observe_iteration_tokens(int64_t num_tokens) {
  iteration_tokens_->observe(static_cast<double>(num_tokens));
}

}  // namespace strata
