// Per-request measurements of `strata bench serve` and the aggregate metrics computed from them,
// exactly as vLLM's benchmarks/serve.py calculate_metrics() does: TTFT, TPOT = (E2EL - TTFT) /
// (output_tokens - 1) for requests with more than one output token, ITL (every gap between token
// chunks of every request), E2EL; mean/median/std/percentiles like numpy (population std, linear
// interpolation, an empty list counts as [0]); peak output tokens per one-second bucket and the peak
// number of concurrent requests from a sweep over [start, start + latency) intervals.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strata::bench {

// What one request produced (vLLM's RequestFuncOutput). Times are seconds.
struct RequestOutput {
  bool success = false;
  double start_time = 0;      // when the request was sent, seconds since the run started
  double ttft = 0;            // time to the first chunk with non-empty choices
  double latency = 0;         // E2EL: time to the last such chunk
  std::vector<double> itl;    // gaps between consecutive such chunks
  int64_t prompt_len = 0;     // from the dataset, replaced by usage.prompt_tokens when reported
  int64_t output_tokens = 0;  // usage.completion_tokens (0 when not reported)
  int64_t num_chunks = 0;     // chunks with non-empty choices
  std::string generated_text;
  std::string error;
};

// numpy.percentile(values, p) with linear interpolation; values need not be sorted; empty -> 0.
double percentile(std::vector<double> values, double p);
double mean(const std::vector<double>& values);    // empty -> 0
double median(const std::vector<double>& values);  // empty -> 0
double stddev(const std::vector<double>& values);  // population (ddof 0); empty -> 0

// Summary of one metric in milliseconds.
struct MetricSummary {
  double mean_ms = 0, median_ms = 0, std_ms = 0;
  std::vector<std::pair<double, double>> percentiles_ms;  // (p, value)
};
MetricSummary summarize_ms(const std::vector<double>& seconds, const std::vector<double>& percentiles);

struct BenchmarkMetrics {
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t total_input = 0;
  int64_t total_output = 0;
  double request_throughput = 0;
  double output_throughput = 0;
  double total_token_throughput = 0;
  double max_output_tokens_per_s = 0;
  int64_t max_concurrent_requests = 0;
  std::vector<int64_t> output_lens;  // per request; 0 for a failed one
  // Raw samples in seconds.
  std::vector<double> ttfts, tpots, itls, e2els;
};

// Output length of a successful request: usage.completion_tokens, else the number of token chunks.
int64_t output_len_of(const RequestOutput& out);

BenchmarkMetrics calculate_metrics(const std::vector<RequestOutput>& outputs, double duration_s);

// The per-second series behind max_output_tokens_per_s (exposed for tests).
std::vector<double> output_tokens_per_second(const std::vector<RequestOutput>& outputs);
int64_t peak_concurrency(const std::vector<RequestOutput>& outputs);

// Python's str(float) for the values the report prints ("inf", "1.0", "0.5").
std::string py_float_str(double v);
// vLLM's percentile key word: "99" for 99.0, "99.9" for 99.9.
std::string percentile_word(double p);

}  // namespace strata::bench
