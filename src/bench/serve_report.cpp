#include "bench/serve_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace strata::bench {

using nlohmann::json;

namespace {

struct MetricDef {
  const char* key;     // "ttft"
  const char* name;    // "TTFT"
  const char* header;  // "Time to First Token"
};
constexpr MetricDef kMetrics[] = {
    {"ttft", "TTFT", "Time to First Token"},
    {"tpot", "TPOT", "Time per Output Token (excl. 1st token)"},
    {"itl", "ITL", "Inter-token Latency"},
    {"e2el", "E2EL", "End-to-end Latency"},
};

const std::vector<double>& samples_of(const BenchmarkMetrics& m, const std::string& key) {
  if (key == "ttft") return m.ttfts;
  if (key == "tpot") return m.tpots;
  if (key == "itl") return m.itls;
  return m.e2els;
}

void line(std::FILE* out, const std::string& label, int64_t v) {
  std::fputs(fmt::format("{:<40} {:<10}\n", label, v).c_str(), out);
}
void line(std::FILE* out, const std::string& label, double v) {
  std::fputs(fmt::format("{:<40} {:<10.2f}\n", label, v).c_str(), out);
}

// The percentiles saved for every metric: the requested ones plus 50, 90 and 99.
std::vector<double> saved_percentiles(const std::vector<double>& requested) {
  std::vector<double> ps = requested;
  for (double p : {50.0, 90.0, 99.0})
    if (std::find(ps.begin(), ps.end(), p) == ps.end()) ps.push_back(p);
  return ps;
}

}  // namespace

void print_run_preamble(std::FILE* out, const ReportConfig& cfg) {
  std::fputs(fmt::format("Traffic request rate: {}\n", py_float_str(cfg.request_rate)).c_str(), out);
  std::fputs(fmt::format("Burstiness factor: {} ({})\n", py_float_str(cfg.burstiness),
                         cfg.burstiness == 1.0 ? "Poisson process" : "Gamma distribution")
                 .c_str(),
             out);
  std::fputs(fmt::format("Maximum request concurrency: {}\n",
                         cfg.max_concurrency > 0 ? std::to_string(cfg.max_concurrency) : "None")
                 .c_str(),
             out);
  std::fflush(out);
}

void print_report(std::FILE* out, const ReportConfig& cfg, const std::vector<RequestOutput>& outputs,
                  const BenchmarkMetrics& m, double duration_s) {
  if (m.failed > 0) {
    std::fputs("Failed requests during benchmark run detected (capping to 10):\n", out);
    int shown = 0;
    for (const RequestOutput& o : outputs) {
      if (o.success) continue;
      std::fputs(fmt::format("Error {}: {}\n", shown, o.error).c_str(), out);
      if (++shown == 10) break;
    }
  }
  std::fputs(fmt::format("{:=^50}\n", " Serving Benchmark Result ").c_str(), out);
  line(out, "Successful requests:", m.completed);
  line(out, "Failed requests:", m.failed);
  if (cfg.max_concurrency > 0) line(out, "Maximum request concurrency:", cfg.max_concurrency);
  if (!std::isinf(cfg.request_rate)) line(out, "Request rate configured (RPS):", cfg.request_rate);
  line(out, "Benchmark duration (s):", duration_s);
  line(out, "Total input tokens:", m.total_input);
  line(out, "Total generated tokens:", m.total_output);
  line(out, "Request throughput (req/s):", m.request_throughput);
  line(out, "Output token throughput (tok/s):", m.output_throughput);
  line(out, "Peak output token throughput (tok/s):", m.max_output_tokens_per_s);
  line(out, "Peak concurrent requests:", static_cast<double>(m.max_concurrent_requests));
  line(out, "Total Token throughput (tok/s):", m.total_token_throughput);
  for (const MetricDef& def : kMetrics) {
    if (std::find(cfg.percentile_metrics.begin(), cfg.percentile_metrics.end(), def.key) ==
        cfg.percentile_metrics.end())
      continue;
    const MetricSummary s = summarize_ms(samples_of(m, def.key), cfg.metric_percentiles);
    std::fputs(fmt::format("{:-^50}\n", def.header).c_str(), out);
    line(out, fmt::format("Mean {} (ms):", def.name), s.mean_ms);
    line(out, fmt::format("Median {} (ms):", def.name), s.median_ms);
    for (const auto& [p, v] : s.percentiles_ms)
      line(out, fmt::format("P{} {} (ms):", percentile_word(p), def.name), v);
  }
  std::fputs((std::string(50, '=') + "\n").c_str(), out);
  std::fflush(out);
}

json build_result_json(const ReportConfig& cfg, const std::vector<RequestOutput>& outputs,
                       const BenchmarkMetrics& m, double duration_s) {
  json r;
  r["date"] = cfg.date;
  r["endpoint_type"] = cfg.backend;
  r["backend"] = cfg.backend;
  r["label"] = cfg.label.empty() ? json(nullptr) : json(cfg.label);
  r["model_id"] = cfg.model_id;
  r["tokenizer_id"] = cfg.model_id;
  r["num_prompts"] = cfg.num_prompts;
  r["request_rate"] = std::isinf(cfg.request_rate) ? json("inf") : json(cfg.request_rate);
  r["burstiness"] = cfg.burstiness;
  r["max_concurrency"] = cfg.max_concurrency > 0 ? json(cfg.max_concurrency) : json(nullptr);
  r["duration"] = duration_s;
  r["completed"] = m.completed;
  r["failed"] = m.failed;
  r["total_input_tokens"] = m.total_input;
  r["total_output_tokens"] = m.total_output;
  r["request_throughput"] = m.request_throughput;
  r["request_goodput"] = nullptr;
  r["output_throughput"] = m.output_throughput;
  r["total_token_throughput"] = m.total_token_throughput;
  r["max_output_tokens_per_s"] = m.max_output_tokens_per_s;
  r["max_concurrent_requests"] = m.max_concurrent_requests;
  const std::vector<double> ps = saved_percentiles(cfg.metric_percentiles);
  for (const MetricDef& def : kMetrics) {
    const MetricSummary s = summarize_ms(samples_of(m, def.key), ps);
    r[fmt::format("mean_{}_ms", def.key)] = s.mean_ms;
    r[fmt::format("median_{}_ms", def.key)] = s.median_ms;
    r[fmt::format("std_{}_ms", def.key)] = s.std_ms;
    for (const auto& [p, v] : s.percentiles_ms) r[fmt::format("p{}_{}_ms", percentile_word(p), def.key)] = v;
  }
  json input_lens = json::array(), ttfts = json::array(), itls = json::array(), latencies = json::array(),
       start_times = json::array(), errors = json::array();
  for (const RequestOutput& o : outputs) {
    input_lens.push_back(o.prompt_len);
    ttfts.push_back(o.ttft);
    itls.push_back(o.itl);
    latencies.push_back(o.latency);
    start_times.push_back(o.start_time);
    errors.push_back(o.error);
  }
  r["input_lens"] = std::move(input_lens);
  r["output_lens"] = m.output_lens;
  r["ttfts"] = std::move(ttfts);
  r["itls"] = std::move(itls);
  r["latencies"] = std::move(latencies);
  r["start_times"] = std::move(start_times);
  r["errors"] = std::move(errors);
  return r;
}

std::string default_result_filename(const ReportConfig& cfg) {
  std::string base_model = cfg.model_id;
  if (const size_t slash = base_model.rfind('/'); slash != std::string::npos)
    base_model = base_model.substr(slash + 1);
  const std::string concurrency =
      cfg.max_concurrency > 0 ? fmt::format("-concurrency{}", cfg.max_concurrency) : "";
  const std::string label = cfg.label.empty() ? cfg.backend : cfg.label;
  return fmt::format("{}-{}qps{}-{}-{}.json", label, py_float_str(cfg.request_rate), concurrency, base_model,
                     cfg.date);
}

}  // namespace strata::bench
