// The printed report and the result JSON of `strata bench serve`, laid out and keyed as vLLM's
// `vllm bench serve` prints and saves them, so scripts that read vLLM's output read strata's.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/serve_metrics.h"

namespace strata::bench {

struct ReportConfig {
  std::string date;     // "%Y%m%d-%H%M%S"
  std::string backend;  // "openai" (completions) or "openai-chat"
  std::string model_id;
  std::string label;  // empty = null
  int64_t num_prompts = 0;
  double request_rate = 0;  // inf = all at once
  double burstiness = 1.0;
  int64_t max_concurrency = 0;                  // 0 = unlimited (null)
  std::vector<std::string> percentile_metrics;  // which sections are printed
  std::vector<double> metric_percentiles;       // which percentiles are printed (and saved)
};

// "Traffic request rate: ...", burstiness and concurrency, printed before the run starts.
void print_run_preamble(std::FILE* out, const ReportConfig& cfg);

// The "Serving Benchmark Result" block (preceded by up to 10 errors of failed requests).
void print_report(std::FILE* out, const ReportConfig& cfg, const std::vector<RequestOutput>& outputs,
                  const BenchmarkMetrics& m, double duration_s);

// date, backend, model_id, num_prompts, request_rate, burstiness, max_concurrency, duration, completed,
// failed, totals, throughputs, max_output_tokens_per_s, max_concurrent_requests,
// {mean,median,std,p50,p90,p99 and the requested pNN}_{ttft,tpot,itl,e2el}_ms, and the per-request
// input_lens, output_lens, ttfts, itls, latencies, start_times, errors.
nlohmann::json build_result_json(const ReportConfig& cfg, const std::vector<RequestOutput>& outputs,
                                 const BenchmarkMetrics& m, double duration_s);

// vLLM's default file name: "{label or backend}-{rate}qps[-concurrency{N}]-{model basename}-{date}.json".
std::string default_result_filename(const ReportConfig& cfg);

}  // namespace strata::bench
