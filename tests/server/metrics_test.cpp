// Tests of the metrics registry and vLLM's metric set: exact exposition text, float formatting as
// prometheus_client writes it, exact totals under concurrent updates, every name of spec/metrics.md,
// and (when python3 has prometheus_client) a parse + round-trip check by the official client.
#include "server/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics_registry.h"

namespace strata {
namespace {

// The value of the sample whose name and labels are exactly `series`; NaN when absent.
double sample_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nan("");
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

TEST(MetricsFormat, PythonFloatRepr) {
  EXPECT_EQ(python_float_repr(0.0), "0.0");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(0.005), "0.005");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(python_float_repr(2560.0), "2560.0");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(0.00001), "1e-05");
  EXPECT_EQ(python_float_repr(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1.5e16), "1.5e+16");
  EXPECT_EQ(python_float_repr(1e22), "1e+22");
  EXPECT_EQ(python_float_repr(123456789012345.6), "123456789012345.6");
}

TEST(MetricsFormat, PrometheusFloat) {
  EXPECT_EQ(prometheus_float(1.0), "1.0");
  EXPECT_EQ(prometheus_float(0.005), "0.005");
  EXPECT_EQ(prometheus_float(3.0), "3.0");
  EXPECT_EQ(prometheus_float(100000.0), "100000.0");
  EXPECT_EQ(prometheus_float(200000.0), "200000.0");
  EXPECT_EQ(prometheus_float(1e6), "1e+06");
  EXPECT_EQ(prometheus_float(2e6), "2e+06");
  EXPECT_EQ(prometheus_float(5e7), "5e+07");
  EXPECT_EQ(prometheus_float(1234567.5), "1.2345675e+06");
  EXPECT_EQ(prometheus_float(1e16), "1e+16");
  EXPECT_EQ(prometheus_float(-1e6), "-1000000.0");
  EXPECT_EQ(prometheus_float(INFINITY), "+Inf");
  EXPECT_EQ(prometheus_float(-INFINITY), "-Inf");
  EXPECT_EQ(prometheus_float(NAN), "NaN");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsRegistry, CounterText) {
  MetricsRegistry registry({{"model_name", "m"}, {"engine", "0"}});
  Counter& ok = registry.counter("test:requests", "Requests.", {{"finished_reason", "stop"}});
  Counter& bad = registry.counter("test:requests_total", "ignored", {{"finished_reason", "abort"}});
  ok.inc();
  ok.inc(2);
  ok.inc(-5);  // ignored
  bad.set_at_least(7);
  bad.set_at_least(3);  // never goes back
  EXPECT_EQ(registry.render(),
            "# HELP test:requests_total Requests.\n"
            "# TYPE test:requests_total counter\n"
            "test:requests_total{engine=\"0\",finished_reason=\"stop\",model_name=\"m\"} 3.0\n"
            "test:requests_total{engine=\"0\",finished_reason=\"abort\",model_name=\"m\"} 7.0\n");
}

TEST(MetricsRegistry, GaugeText) {
  MetricsRegistry registry({{"model_name", "org/My \"model\""}, {"engine", "0"}});
  Gauge& gauge = registry.gauge("test:usage", "Usage.\nSecond line \\ slash.");
  gauge.set(0.25);
  gauge.inc(2);
  gauge.dec(0.5);
  EXPECT_EQ(registry.render(),
            "# HELP test:usage Usage.\\nSecond line \\\\ slash.\n"
            "# TYPE test:usage gauge\n"
            "test:usage{engine=\"0\",model_name=\"org/My \\\"model\\\"\"} 1.75\n");
}

TEST(MetricsRegistry, HistogramText) {
  MetricsRegistry registry({{"model_name", "m"}, {"engine", "0"}});
  Histogram& h = registry.histogram("test:latency_seconds", "Latency.", {0.005, 1, 1000000});
  for (double v : {0.001, 0.005, 0.5, 1.0, 2.0, 2e6}) h.observe(v);
  h.observe(NAN);  // ignored
  EXPECT_EQ(registry.render(),
            "# HELP test:latency_seconds Latency.\n"
            "# TYPE test:latency_seconds histogram\n"
            "test:latency_seconds_bucket{engine=\"0\",le=\"0.005\",model_name=\"m\"} 2.0\n"
            "test:latency_seconds_bucket{engine=\"0\",le=\"1.0\",model_name=\"m\"} 4.0\n"
            "test:latency_seconds_bucket{engine=\"0\",le=\"1e+06\",model_name=\"m\"} 5.0\n"
            "test:latency_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 6.0\n"
            "test:latency_seconds_count{engine=\"0\",model_name=\"m\"} 6.0\n"
            "test:latency_seconds_sum{engine=\"0\",model_name=\"m\"} 2.000003506e+06\n");
}

TEST(MetricsRegistry, NoLabels) {
  MetricsRegistry registry;
  registry.counter("c", "C.").inc();
  registry.histogram("h", "H.", {1}).observe(3);
  EXPECT_EQ(registry.render(),
            "# HELP c_total C.\n# TYPE c_total counter\nc_total 1.0\n"
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1.0\"} 0.0\nh_bucket{le=\"+Inf\"} 1.0\n"
            "h_count 1.0\nh_sum 3.0\n");
}

TEST(MetricsRegistry, ConcurrentUpdatesAreExact) {
  MetricsRegistry registry({{"model_name", "m"}, {"engine", "0"}});
  Counter& counter = registry.counter("t:c", "C.");
  Counter& high = registry.counter("t:high", "H.");
  Gauge& gauge = registry.gauge("t:g", "G.");
  Histogram& hist = registry.histogram("t:h", "H.", {0.5, 1.5, 2.5});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.inc();
        gauge.inc();
        gauge.dec();
        high.set_at_least(t * kPerThread + i);
        double v = static_cast<double>(i % 4);  // 0, 1, 2, 3 → one per bucket
        if (i % 100 == 0) {
          std::vector<double> many = {v, v};
          hist.observe_many(many);
        } else {
          hist.observe(v);
        }
        if (i % 1000 == 0) (void)registry.render();  // rendering while others write
      }
    });
  }
  for (auto& th : threads) th.join();
  const double per_thread_obs = kPerThread + kPerThread / 100;
  const std::string text = registry.render();
  EXPECT_EQ(sample_value(text, "t:c_total{engine=\"0\",model_name=\"m\"}"), kThreads * kPerThread);
  EXPECT_EQ(sample_value(text, "t:high_total{engine=\"0\",model_name=\"m\"}"), kThreads * kPerThread - 1);
  EXPECT_EQ(sample_value(text, "t:g{engine=\"0\",model_name=\"m\"}"), 0.0);
  EXPECT_EQ(sample_value(text, "t:h_count{engine=\"0\",model_name=\"m\"}"), kThreads * per_thread_obs);
  EXPECT_EQ(sample_value(text, "t:h_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"}"),
            kThreads * per_thread_obs);
  // Each of 0,1,2,3 is observed equally often (i % 100 == 0 → i % 4 == 0 gets the extra ones).
  const double quarter = kPerThread / 4.0;
  const double extra = kPerThread / 100.0;
  EXPECT_EQ(sample_value(text, "t:h_bucket{engine=\"0\",le=\"0.5\",model_name=\"m\"}"),
            kThreads * (quarter + extra));
  EXPECT_EQ(sample_value(text, "t:h_bucket{engine=\"0\",le=\"1.5\",model_name=\"m\"}"),
            kThreads * (2 * quarter + extra));
  EXPECT_EQ(sample_value(text, "t:h_sum{engine=\"0\",model_name=\"m\"}"),
            kThreads * quarter * (0 + 1 + 2 + 3));
}

TEST(ServingMetrics, Buckets125) {
  EXPECT_EQ(build_1_2_5_buckets(100), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(build_1_2_5_buckets(4096), (std::vector<double>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}));
  EXPECT_EQ(build_1_2_5_buckets(99), (std::vector<double>{1, 2, 5, 10, 20, 50}));
  EXPECT_TRUE(build_1_2_5_buckets(0).empty());
  EXPECT_EQ(build_1_2_5_buckets(131072).back(), 100000);
  EXPECT_EQ(build_1_2_5_buckets(int64_t{1} << 62).size(), 56u);
}

// Every metric of spec/metrics.md with its type.
const std::vector<std::pair<std::string, std::string>> kSpecMetrics = {
    {"vllm:num_requests_running", "gauge"},
    {"vllm:num_requests_waiting", "gauge"},
    {"vllm:kv_cache_usage_perc", "gauge"},
    {"vllm:gpu_cache_usage_perc", "gauge"},
    {"vllm:prompt_tokens_total", "counter"},
    {"vllm:generation_tokens_total", "counter"},
    {"vllm:request_success_total", "counter"},
    {"vllm:num_preemptions_total", "counter"},
    {"vllm:prefix_cache_queries_total", "counter"},
    {"vllm:prefix_cache_hits_total", "counter"},
    {"vllm:time_to_first_token_seconds", "histogram"},
    {"vllm:inter_token_latency_seconds", "histogram"},
    {"vllm:time_per_output_token_seconds", "histogram"},
    {"vllm:e2e_request_latency_seconds", "histogram"},
    {"vllm:request_queue_time_seconds", "histogram"},
    {"vllm:request_prefill_time_seconds", "histogram"},
    {"vllm:request_decode_time_seconds", "histogram"},
    {"vllm:request_inference_time_seconds", "histogram"},
    {"vllm:request_prompt_tokens", "histogram"},
    {"vllm:request_generation_tokens", "histogram"},
    {"vllm:request_params_max_tokens", "histogram"},
    {"vllm:iteration_tokens_total", "histogram"},
    {"vllm:cache_config_info", "gauge"},
    {"strata:http_connections_open", "gauge"},
    {"strata:model_load_seconds", "gauge"},
};

CacheInfo test_cache_info() {
  CacheInfo cache;
  cache.block_size = 16;
  cache.num_gpu_blocks = 81767;
  cache.cache_dtype = "auto";
  cache.enable_prefix_caching = true;
  return cache;
}

TEST(ServingMetrics, EverySpecMetricWithLabels) {
  ServingMetrics metrics("meta-llama/Llama-3.1-8B-Instruct", 4096, test_cache_info());
  const std::string text = metrics.render();
  for (const auto& [name, type] : kSpecMetrics) {
    EXPECT_NE(text.find("# TYPE " + name + " " + type + "\n"), std::string::npos) << name;
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
  }
  size_t num_samples = 0;
  for (const std::string& line : lines_of(text)) {
    if (line.empty() || line[0] == '#') continue;
    ++num_samples;
    EXPECT_NE(line.find("model_name=\"meta-llama/Llama-3.1-8B-Instruct\""), std::string::npos) << line;
    EXPECT_NE(line.find("engine=\"0\""), std::string::npos) << line;
  }
  EXPECT_GT(num_samples, 200u);
  for (const char* reason : {"stop", "length", "abort"}) {
    EXPECT_EQ(sample_value(text, std::string("vllm:request_success_total{engine=\"0\",finished_reason=\"") +
                                     reason + "\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"}"),
              0.0);
  }
  // Token histograms: 1 2 5 ... 2000 for max_model_len 4096, then +Inf.
  EXPECT_NE(text.find("vllm:request_prompt_tokens_bucket{engine=\"0\",le=\"2000.0\","), std::string::npos);
  EXPECT_EQ(text.find("vllm:request_prompt_tokens_bucket{engine=\"0\",le=\"5000.0\","), std::string::npos);
  EXPECT_NE(text.find("vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"2560.0\","),
            std::string::npos);
  EXPECT_NE(text.find("vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"7680.0\","),
            std::string::npos);
  EXPECT_NE(text.find("vllm:iteration_tokens_total_bucket{engine=\"0\",le=\"16384.0\","), std::string::npos);
  EXPECT_NE(text.find("vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",cpu_offload_gb=\"0\","
                      "enable_prefix_caching=\"True\",engine=\"0\",gpu_memory_utilization=\"0.9\","
                      "is_attention_free=\"False\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\","
                      "num_cpu_blocks=\"0\",num_gpu_blocks=\"81767\",num_gpu_blocks_override=\"None\","
                      "prefix_caching_hash_algo=\"sha256\",sliding_window=\"None\",swap_space=\"4\"} 1.0\n"),
            std::string::npos)
      << text;
}

// Feeds a fixed scenario: two finished requests, one abort while waiting, engine snapshots, steps.
void feed_scenario(ServingMetrics& metrics) {
  RequestRecord a;
  a.finished_reason = "stop";
  a.num_prompt_tokens = 7;
  a.num_generation_tokens = 4;
  a.max_tokens = 16;
  a.arrival_time = 100.0;
  a.first_scheduled_time = 100.25;
  a.first_token_time = 100.5;
  a.finished_time = 102.0;
  a.inter_token_gaps = {0.5, 0.5, 0.5};
  metrics.on_request_finished(a);

  RequestRecord b = a;
  b.finished_reason = "length";
  b.num_generation_tokens = 1;
  b.max_tokens = 0;
  b.inter_token_gaps.clear();
  metrics.on_request_finished(b);

  RequestRecord c;
  c.finished_reason = "abort";
  c.num_prompt_tokens = 3000;
  c.arrival_time = 10.0;
  c.finished_time = 10.125;
  metrics.on_request_finished(c);

  EngineSnapshot snap;
  snap.num_running = 3;
  snap.num_waiting = 2;
  snap.kv_usage = 0.375;
  snap.prompt_tokens = 3014;
  snap.generation_tokens = 5;
  snap.num_preemptions = 1;
  snap.prefix_queries = 64;
  snap.prefix_hits = 32;
  metrics.update_engine_gauges(snap);
  snap.prompt_tokens = 10;  // an older total never lowers a counter
  metrics.update_engine_gauges(snap);

  for (int n : {1, 8, 9, 20000}) metrics.observe_iteration_tokens(n);
  metrics.on_connection_opened();
  metrics.on_connection_opened();
  metrics.on_connection_closed();
  metrics.set_model_load_seconds(12.5);
}

TEST(ServingMetrics, RecordsRequestsAndEngineState) {
  ServingMetrics metrics("m", 4096, test_cache_info());
  feed_scenario(metrics);
  const std::string text = metrics.render();
  auto v = [&](const std::string& name, const std::string& extra = "") {
    std::string labels = "{engine=\"0\"," + extra + "model_name=\"m\"}";
    return sample_value(text, name + labels);
  };
  EXPECT_EQ(v("vllm:request_success_total", "finished_reason=\"stop\","), 1.0);
  EXPECT_EQ(v("vllm:request_success_total", "finished_reason=\"length\","), 1.0);
  EXPECT_EQ(v("vllm:request_success_total", "finished_reason=\"abort\","), 1.0);
  EXPECT_EQ(v("vllm:num_requests_running"), 3.0);
  EXPECT_EQ(v("vllm:num_requests_waiting"), 2.0);
  EXPECT_EQ(v("vllm:kv_cache_usage_perc"), 0.375);
  EXPECT_EQ(v("vllm:gpu_cache_usage_perc"), 0.375);
  EXPECT_EQ(v("vllm:prompt_tokens_total"), 3014.0);
  EXPECT_EQ(v("vllm:generation_tokens_total"), 5.0);
  EXPECT_EQ(v("vllm:num_preemptions_total"), 1.0);
  EXPECT_EQ(v("vllm:prefix_cache_queries_total"), 64.0);
  EXPECT_EQ(v("vllm:prefix_cache_hits_total"), 32.0);

  EXPECT_EQ(v("vllm:e2e_request_latency_seconds_count"), 3.0);
  EXPECT_EQ(v("vllm:e2e_request_latency_seconds_sum"), 4.125);
  EXPECT_EQ(v("vllm:time_to_first_token_seconds_count"), 2.0);  // the abort never got a token
  EXPECT_EQ(v("vllm:time_to_first_token_seconds_sum"), 1.0);
  EXPECT_EQ(v("vllm:time_to_first_token_seconds_bucket", "le=\"0.25\","), 0.0);
  EXPECT_EQ(v("vllm:time_to_first_token_seconds_bucket", "le=\"0.5\","), 2.0);
  EXPECT_EQ(v("vllm:request_queue_time_seconds_count"), 2.0);
  EXPECT_EQ(v("vllm:request_queue_time_seconds_sum"), 0.5);
  EXPECT_EQ(v("vllm:request_prefill_time_seconds_sum"), 0.5);
  EXPECT_EQ(v("vllm:request_decode_time_seconds_sum"), 3.0);
  EXPECT_EQ(v("vllm:request_inference_time_seconds_sum"), 3.5);
  EXPECT_EQ(v("vllm:inter_token_latency_seconds_count"), 3.0);
  EXPECT_EQ(v("vllm:inter_token_latency_seconds_sum"), 1.5);
  EXPECT_EQ(v("vllm:time_per_output_token_seconds_count"), 3.0);
  EXPECT_EQ(v("vllm:time_per_output_token_seconds_sum"), 1.5);
  EXPECT_EQ(v("vllm:request_time_per_output_token_seconds_sum"), 0.5);  // 1.5 s / 3 tokens, and 0
  EXPECT_EQ(v("vllm:request_prompt_tokens_sum"), 3014.0);
  EXPECT_EQ(v("vllm:request_prompt_tokens_bucket", "le=\"10.0\","), 2.0);
  EXPECT_EQ(v("vllm:request_prompt_tokens_bucket", "le=\"2000.0\","), 2.0);
  EXPECT_EQ(v("vllm:request_prompt_tokens_bucket", "le=\"+Inf\","), 3.0);
  EXPECT_EQ(v("vllm:request_generation_tokens_sum"), 5.0);
  EXPECT_EQ(v("vllm:request_params_max_tokens_count"), 1.0);
  EXPECT_EQ(v("vllm:request_params_max_tokens_sum"), 16.0);
  EXPECT_EQ(v("vllm:iteration_tokens_total_bucket", "le=\"1.0\","), 1.0);
  EXPECT_EQ(v("vllm:iteration_tokens_total_bucket", "le=\"8.0\","), 2.0);
  EXPECT_EQ(v("vllm:iteration_tokens_total_bucket", "le=\"16.0\","), 3.0);
  EXPECT_EQ(v("vllm:iteration_tokens_total_bucket", "le=\"16384.0\","), 3.0);
  EXPECT_EQ(v("vllm:iteration_tokens_total_bucket", "le=\"+Inf\","), 4.0);
  EXPECT_EQ(v("strata:http_connections_open"), 1.0);
  EXPECT_EQ(v("strata:model_load_seconds"), 12.5);
}

TEST(ServingMetrics, UnknownFinishReasonGetsItsOwnSeries) {
  ServingMetrics metrics("m", 128, test_cache_info());
  RequestRecord r;
  r.finished_reason = "error";
  metrics.on_request_finished(r);
  metrics.on_request_finished(r);
  const std::string text = metrics.render();
  EXPECT_EQ(sample_value(
                text, "vllm:request_success_total{engine=\"0\",finished_reason=\"error\",model_name=\"m\"}"),
            2.0);
  EXPECT_EQ(text.find("# TYPE vllm:request_success_total counter"),
            text.rfind("# TYPE vllm:request_success_total counter"));
}

TEST(ServingMetrics, ConcurrentRequests) {
  ServingMetrics metrics("m", 4096, test_cache_info());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      RequestRecord r;
      r.num_prompt_tokens = 5;
      r.num_generation_tokens = 3;
      r.first_scheduled_time = 0.5;
      r.first_token_time = 1.0;
      r.finished_time = 2.0;
      r.inter_token_gaps = {0.5, 0.5};
      for (int i = 0; i < kPerThread; ++i) {
        r.finished_reason = i % 2 ? "stop" : "length";
        metrics.on_request_finished(r);
        metrics.observe_iteration_tokens(i);
        metrics.on_connection_opened();
        metrics.on_connection_closed();
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = metrics.render();
  const double total = kThreads * kPerThread;
  EXPECT_EQ(sample_value(
                text, "vllm:request_success_total{engine=\"0\",finished_reason=\"stop\",model_name=\"m\"}"),
            total / 2);
  EXPECT_EQ(sample_value(text, "vllm:e2e_request_latency_seconds_count{engine=\"0\",model_name=\"m\"}"),
            total);
  EXPECT_EQ(sample_value(text, "vllm:inter_token_latency_seconds_count{engine=\"0\",model_name=\"m\"}"),
            2 * total);
  EXPECT_EQ(sample_value(text, "vllm:inter_token_latency_seconds_sum{engine=\"0\",model_name=\"m\"}"), total);
  EXPECT_EQ(sample_value(text, "vllm:iteration_tokens_total_count{engine=\"0\",model_name=\"m\"}"), total);
  EXPECT_EQ(sample_value(text, "strata:http_connections_open{engine=\"0\",model_name=\"m\"}"), 0.0);
}

// Runs tests/server/metrics_parse_check.py on `body` with `args`; skips when python3 or
// prometheus_client is missing, fails with the script's output otherwise.
void run_parse_check(const std::string& body_text, const std::string& args) {
  namespace fs = std::filesystem;
  const fs::path script = fs::path(__FILE__).parent_path() / "metrics_parse_check.py";
  if (!fs::exists(script)) GTEST_SKIP() << "script not found: " << script;
  if (std::system("python3 -c 'import prometheus_client' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 with prometheus_client not available (pip install prometheus_client)";
  }
  static int counter = 0;
  const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const fs::path body = fs::temp_directory_path() / ("strata_metrics_" + tag + ".txt");
  const fs::path log = fs::temp_directory_path() / ("strata_metrics_" + tag + ".log");
  {
    std::ofstream out(body, std::ios::binary);
    out << body_text;
  }
  const std::string command =
      "python3 '" + script.string() + "' '" + body.string() + "' " + args + " > '" + log.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(body);
  fs::remove(log);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
}

// The official client parses the vLLM metric set; the families, types, labels, bucket lists and
// histogram invariants are checked, and the client's own generate_latest() of the parsed families
// must reproduce the text byte for byte.
TEST(ServingMetrics, PrometheusClientParsesAndRoundTrips) {
  ServingMetrics metrics("org/model \"q\"\\x", 131072, test_cache_info());
  feed_scenario(metrics);
  run_parse_check(metrics.render(),
                  "--max-model-len 131072"
                  " --expect vllm:request_success_total=3"
                  " --expect vllm:e2e_request_latency_seconds_count=3"
                  " --expect vllm:inter_token_latency_seconds_count=3"
                  " --expect vllm:iteration_tokens_total_count=4"
                  " --expect vllm:prompt_tokens_total=3014");
}

// Values of every magnitude, as gauges and histogram bounds: the client must write them identically.
TEST(MetricsFormat, FloatsRoundTripThroughPrometheusClient) {
  MetricsRegistry registry({{"model_name", "m"}, {"engine", "0"}});
  std::mt19937_64 rng(1234);
  std::uniform_real_distribution<double> mantissa(1.0, 10.0);
  std::vector<double> bounds;
  for (int exponent = -12; exponent <= 22; ++exponent) {
    for (int i = 0; i < 6; ++i) {
      double value = mantissa(rng) * std::pow(10.0, exponent);
      if (i == 0) value = std::pow(10.0, exponent);
      if (i == 1) value = std::round(mantissa(rng) * 10) * std::pow(10.0, exponent);
      bounds.push_back(value);
      registry.gauge("t:g", "G.", {{"i", std::to_string(bounds.size())}}).set(i % 2 ? value : -value);
    }
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  Histogram& h = registry.histogram("t:h", "H.", bounds);
  for (double b : bounds) h.observe(b);
  registry.gauge("t:special", "S.", {{"i", "0"}}).set(0.0);
  registry.gauge("t:special", "S.", {{"i", "1"}}).set(-0.0);
  registry.gauge("t:special", "S.", {{"i", "2"}}).set(INFINITY);
  registry.gauge("t:special", "S.", {{"i", "3"}}).set(-INFINITY);
  run_parse_check(registry.render(), "--format-only");
}

}  // namespace
}  // namespace strata
