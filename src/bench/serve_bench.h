// `strata bench serve`: the online serving benchmark, a C++ port of `vllm bench serve` (same flags,
// same printed report, same result JSON keys; see spec/bench.md).
//
// Flow: resolve the server (--base-url or --host/--port) -> model (--model, else the first of
// /v1/models) -> prompts (serve_dataset.h: random token ids or ShareGPT conversations, measured with
// the server's /tokenize and /detokenize) -> arrival times (serve_arrivals.h: all at once, Poisson or
// gamma) -> every request streamed over HTTP/1.1 (serve_http.h), at most --max-concurrency in flight,
// each response folded into TTFT / ITL / E2EL / token counts as its SSE chunks arrive
// (serve_request.h) -> aggregate metrics (serve_metrics.h) -> report and JSON (serve_report.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace CLI {
class App;
}

namespace strata::bench {

struct ServeBenchOptions {
  std::string base_url;  // "http://host:port"; empty = http://{host}:{port}
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string endpoint = "/v1/completions";  // or /v1/chat/completions
  std::string backend;  // "openai" / "vllm" (completions) or "openai-chat"; empty = from the endpoint
  std::string model;    // empty = first id of GET /v1/models
  std::string label;    // result file name prefix; empty = backend
  int64_t num_prompts = 1000;
  std::string dataset_name = "random";  // random | sharegpt
  std::string dataset_path;
  int64_t random_input_len = 1024;
  int64_t random_output_len = 128;
  double random_range_ratio = 0.0;
  int64_t random_prefix_len = 0;
  int64_t random_vocab_size = 0;  // ordinary token ids to sample; 0 = discover through /detokenize
  double request_rate = INFINITY;
  double burstiness = 1.0;
  int64_t max_concurrency = 0;  // 0 = unlimited
  bool ignore_eos = false;      // forced on for the random dataset
  std::vector<std::string> percentile_metrics{"ttft", "tpot", "itl"};
  std::vector<double> metric_percentiles{99};
  bool save_result = false;
  std::string result_dir;
  std::string result_filename;  // empty = vLLM's default name
  uint64_t seed = 0;
  std::string api_key;        // empty = $OPENAI_API_KEY (sent as a Bearer token when set)
  int num_io_threads = 0;     // 0 = min(4, hardware threads)
  bool disable_tqdm = false;  // no "N/M requests done" lines on stderr
};

// Runs the benchmark, prints the vLLM-style report to report_out (progress lines included) and returns
// the vLLM-keyed result JSON (written to a file as well when save_result).
Result<nlohmann::json> run_serve_bench(const ServeBenchOptions& options, std::FILE* report_out);

// Adds the flags with vLLM's spellings (--base-url, --host, --port, --endpoint, --model,
// --num-prompts, --dataset-name, --dataset-path, --random-input-len, --random-output-len,
// --random-range-ratio, --random-prefix-len, --request-rate, --burstiness, --max-concurrency,
// --ignore-eos, --percentile-metrics, --metric-percentiles, --save-result, --result-filename,
// --seed, and --backend, --label, --input-len, --output-len, --result-dir, --disable-tqdm,
// --save-detailed) bound to `o`, which must outlive parsing.
void add_serve_bench_flags(CLI::App& cmd, ServeBenchOptions& o);

}  // namespace strata::bench
