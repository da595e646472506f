#include "bench/serve_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace strata::bench {

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

double mean(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

double median(const std::vector<double>& values) {
  return percentile(values, 50.0);
}

double stddev(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  const double m = mean(values);
  double acc = 0;
  for (double v : values) acc += (v - m) * (v - m);
  return std::sqrt(acc / static_cast<double>(values.size()));
}

MetricSummary summarize_ms(const std::vector<double>& seconds, const std::vector<double>& percentiles) {
  MetricSummary s;
  s.mean_ms = mean(seconds) * 1000.0;
  s.median_ms = median(seconds) * 1000.0;
  s.std_ms = stddev(seconds) * 1000.0;
  for (double p : percentiles) s.percentiles_ms.emplace_back(p, percentile(seconds, p) * 1000.0);
  return s;
}

int64_t output_len_of(const RequestOutput& out) {
  if (out.output_tokens > 0) return out.output_tokens;
  return std::max<int64_t>(out.num_chunks, 1);
}

std::vector<double> output_tokens_per_second(const std::vector<RequestOutput>& outputs) {
  double min_start = INFINITY, max_end = -INFINITY;
  for (const RequestOutput& o : outputs) {
    if (!o.success) continue;
    min_start = std::min(min_start, o.start_time);
    max_end = std::max(max_end, o.start_time + o.latency);
  }
  if (!std::isfinite(min_start)) return {};
  const int64_t num_buckets = static_cast<int64_t>(std::ceil(max_end - min_start)) + 1;
  std::vector<double> buckets(static_cast<size_t>(num_buckets), 0.0);
  for (const RequestOutput& o : outputs) {
    if (!o.success) continue;
    // One token per chunk, at start + ttft and then after each inter-token gap (as vLLM counts).
    double t = o.start_time + o.ttft;
    auto add = [&](double when) {
      const int64_t b = static_cast<int64_t>(when - min_start);  // truncation, as Python int()
      if (b >= 0 && b < num_buckets) buckets[static_cast<size_t>(b)] += 1;
    };
    add(t);
    for (double gap : o.itl) {
      t += gap;
      add(t);
    }
  }
  return buckets;
}

int64_t peak_concurrency(const std::vector<RequestOutput>& outputs) {
  std::vector<std::pair<double, int>> events;
  for (const RequestOutput& o : outputs) {
    if (!o.success) continue;
    events.emplace_back(o.start_time, 1);
    events.emplace_back(o.start_time + o.latency, -1);
  }
  // Half-open intervals: at equal times a departure (-1) sorts before an arrival (+1).
  std::sort(events.begin(), events.end());
  int64_t current = 0, peak = 0;
  for (const auto& e : events) {
    current += e.second;
    peak = std::max(peak, current);
  }
  return peak;
}

BenchmarkMetrics calculate_metrics(const std::vector<RequestOutput>& outputs, double duration_s) {
  BenchmarkMetrics m;
  for (const RequestOutput& o : outputs) {
    if (!o.success) {
      m.output_lens.push_back(0);
      ++m.failed;
      continue;
    }
    const int64_t output_len = output_len_of(o);
    m.output_lens.push_back(output_len);
    m.total_input += o.prompt_len;
    m.total_output += output_len;
    if (output_len > 1) m.tpots.push_back((o.latency - o.ttft) / static_cast<double>(output_len - 1));
    m.itls.insert(m.itls.end(), o.itl.begin(), o.itl.end());
    m.ttfts.push_back(o.ttft);
    m.e2els.push_back(o.latency);
    ++m.completed;
  }
  const double dur = duration_s > 0 ? duration_s : 1e-9;
  m.request_throughput = static_cast<double>(m.completed) / dur;
  m.output_throughput = static_cast<double>(m.total_output) / dur;
  m.total_token_throughput = static_cast<double>(m.total_input + m.total_output) / dur;
  const std::vector<double> per_second = output_tokens_per_second(outputs);
  if (!per_second.empty()) {
    m.max_output_tokens_per_s = *std::max_element(per_second.begin(), per_second.end());
    m.max_concurrent_requests = peak_concurrency(outputs);
  }
  return m;
}

std::string py_float_str(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "nan";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string percentile_word(double p) {
  if (std::floor(p) == p && std::fabs(p) < 1e15) return fmt::format("{}", static_cast<int64_t>(p));
  return fmt::format("{}", p);
}

}  // namespace strata::bench
