// Statistics, metrics and arrival schedule of `strata bench serve`, against hand-computed values
// (numpy semantics: linear-interpolation percentiles, population std, empty -> 0).
#include "bench/serve_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bench/serve_arrivals.h"
#include "bench/serve_http.h"

namespace strata::bench {
namespace {

TEST(ServeStats, PercentileLinearInterpolation) {
  const std::vector<double> v = {4, 1, 3, 2};  // unsorted on purpose
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 3.7);   // rank 2.7 -> 3 + 0.7 * (4 - 3)
  EXPECT_DOUBLE_EQ(percentile(v, 99), 3.97);  // rank 2.97
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4.0);
  EXPECT_DOUBLE_EQ(percentile(v, 25), 1.75);  // rank 0.75
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7.0);
  EXPECT_DOUBLE_EQ(percentile({}, 99), 0.0);
  // numpy.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 99) = 99.1
  EXPECT_NEAR(percentile({10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 99), 99.1, 1e-12);
}

TEST(ServeStats, MeanMedianStd) {
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(mean(v), 5.0);
  EXPECT_DOUBLE_EQ(stddev(v), 2.0);  // population std
  EXPECT_DOUBLE_EQ(median(v), 4.5);
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(mean({}), 0.0);
  EXPECT_DOUBLE_EQ(stddev({}), 0.0);
  const MetricSummary s = summarize_ms({0.001, 0.002, 0.003}, {50, 99.9});
  EXPECT_DOUBLE_EQ(s.mean_ms, 2.0);
  EXPECT_DOUBLE_EQ(s.median_ms, 2.0);
  EXPECT_NEAR(s.std_ms, std::sqrt(2.0 / 3.0), 1e-12);
  ASSERT_EQ(s.percentiles_ms.size(), 2u);
  EXPECT_NEAR(s.percentiles_ms[1].second, 2.998, 1e-12);
}

TEST(ServeStats, FormattingHelpers) {
  EXPECT_EQ(percentile_word(99), "99");
  EXPECT_EQ(percentile_word(99.9), "99.9");
  EXPECT_EQ(percentile_word(50.0), "50");
  EXPECT_EQ(py_float_str(INFINITY), "inf");
  EXPECT_EQ(py_float_str(1.0), "1.0");
  EXPECT_EQ(py_float_str(0.5), "0.5");
  EXPECT_EQ(py_float_str(10), "10.0");
}

RequestOutput ok_output(double start, double ttft, std::vector<double> itl, int64_t prompt_len,
                        int64_t out_tokens) {
  RequestOutput o;
  o.success = true;
  o.start_time = start;
  o.ttft = ttft;
  o.itl = std::move(itl);
  o.latency = ttft;
  for (double g : o.itl) o.latency += g;
  o.prompt_len = prompt_len;
  o.output_tokens = out_tokens;
  o.num_chunks = static_cast<int64_t>(o.itl.size()) + 1;
  return o;
}

TEST(ServeStats, CalculateMetrics) {
  std::vector<RequestOutput> outs;
  // A: sent at 0, first token at 0.1, then 3 more chunks 0.2 apart: E2EL 0.7, 4 tokens.
  outs.push_back(ok_output(0.0, 0.1, {0.2, 0.2, 0.2}, 10, 4));
  // B: sent at 0.5, first token at 0.5 + 0.3, one more at +0.4: E2EL 0.7, 2 tokens.
  outs.push_back(ok_output(0.5, 0.3, {0.4}, 20, 2));
  // C: failed.
  RequestOutput failed;
  failed.error = "boom";
  failed.prompt_len = 30;
  outs.push_back(failed);
  // D: single token (no TPOT), sent at 2.0.
  outs.push_back(ok_output(2.0, 0.05, {}, 5, 1));

  const BenchmarkMetrics m = calculate_metrics(outs, 2.5);
  EXPECT_EQ(m.completed, 3);
  EXPECT_EQ(m.failed, 1);
  EXPECT_EQ(m.total_input, 35);
  EXPECT_EQ(m.total_output, 7);
  EXPECT_EQ(m.output_lens, (std::vector<int64_t>{4, 2, 0, 1}));
  EXPECT_DOUBLE_EQ(m.request_throughput, 3 / 2.5);
  EXPECT_DOUBLE_EQ(m.output_throughput, 7 / 2.5);
  EXPECT_DOUBLE_EQ(m.total_token_throughput, 42 / 2.5);
  // TPOT: A (0.7 - 0.1) / 3 = 0.2, B (0.7 - 0.3) / 1 = 0.4; D has one token and no TPOT.
  ASSERT_EQ(m.tpots.size(), 2u);
  EXPECT_NEAR(m.tpots[0], 0.2, 1e-12);
  EXPECT_NEAR(m.tpots[1], 0.4, 1e-12);
  EXPECT_EQ(m.itls.size(), 4u);
  EXPECT_EQ(m.ttfts, (std::vector<double>{0.1, 0.3, 0.05}));
  // Intervals [0, 0.7), [0.5, 1.2), [2.0, 2.05): two overlap.
  EXPECT_EQ(m.max_concurrent_requests, 2);
  // Token times: A 0.1 0.3 0.5 0.7; B 0.8 1.2; D 2.05 -> second 0: 4 (A) + 1 (B 0.8) = 5.
  EXPECT_DOUBLE_EQ(m.max_output_tokens_per_s, 5.0);
  const auto per_s = output_tokens_per_second(outs);
  ASSERT_EQ(per_s.size(), 4u);  // ceil(2.05 - 0) + 1
  EXPECT_EQ(per_s, (std::vector<double>{5, 1, 1, 0}));
}

TEST(ServeStats, PeakConcurrencyHalfOpen) {
  // [0, 1) and [1, 2) touch but do not overlap.
  std::vector<RequestOutput> outs = {ok_output(0, 1.0, {}, 1, 1), ok_output(1.0, 1.0, {}, 1, 1)};
  EXPECT_EQ(peak_concurrency(outs), 1);
  outs.push_back(ok_output(0.5, 1.0, {}, 1, 1));
  EXPECT_EQ(peak_concurrency(outs), 2);
}

TEST(ServeStats, OutputLenFallsBackToChunks) {
  RequestOutput o = ok_output(0, 0.1, {0.1, 0.1}, 1, 0);
  EXPECT_EQ(output_len_of(o), 3);
  o.output_tokens = 7;
  EXPECT_EQ(output_len_of(o), 7);
}

TEST(ServeStats, AllFailedGivesZeros) {
  std::vector<RequestOutput> outs(3);
  const BenchmarkMetrics m = calculate_metrics(outs, 1.0);
  EXPECT_EQ(m.completed, 0);
  EXPECT_EQ(m.failed, 3);
  EXPECT_EQ(m.max_concurrent_requests, 0);
  EXPECT_DOUBLE_EQ(m.max_output_tokens_per_s, 0.0);
  EXPECT_DOUBLE_EQ(summarize_ms(m.ttfts, {99}).mean_ms, 0.0);
}

TEST(ServeArrivals, InfiniteRateSendsAllAtZero) {
  const auto t = arrival_times(5, INFINITY, 1.0, 0);
  EXPECT_EQ(t, (std::vector<double>(5, 0.0)));
}

TEST(ServeArrivals, PoissonMeanIntervalIsInverseRate) {
  const double rate = 10.0;
  const int64_t n = 20000;
  const auto gaps = arrival_intervals(n, rate, 1.0, 0);
  ASSERT_EQ(gaps.size(), static_cast<size_t>(n));
  EXPECT_NEAR(mean(gaps), 1.0 / rate, 0.03 / rate);
  // Exponential gaps: standard deviation equals the mean.
  EXPECT_NEAR(stddev(gaps) / mean(gaps), 1.0, 0.05);
  // Rescaled so the last arrival is exactly n / rate.
  const auto t = arrival_times(n, rate, 1.0, 0);
  EXPECT_NEAR(t.back(), n / rate, 1e-9);
  EXPECT_NEAR(t.back() / static_cast<double>(n), 1.0 / rate, 1e-12);
  for (size_t i = 1; i < t.size(); ++i) ASSERT_LE(t[i - 1], t[i]);
}

TEST(ServeArrivals, GammaBurstinessShapesVariation) {
  const auto smooth = arrival_intervals(20000, 5.0, 4.0, 1);
  EXPECT_NEAR(mean(smooth), 0.2, 0.2 * 0.03);
  EXPECT_NEAR(stddev(smooth) / mean(smooth), 0.5, 0.03);  // CV = 1 / sqrt(shape)
  const auto bursty = arrival_intervals(20000, 5.0, 0.25, 1);
  EXPECT_NEAR(mean(bursty), 0.2, 0.2 * 0.06);
  EXPECT_NEAR(stddev(bursty) / mean(bursty), 2.0, 0.15);
  const auto constant = arrival_intervals(4, 5.0, INFINITY, 1);
  EXPECT_EQ(constant, (std::vector<double>(4, 0.2)));
}

TEST(ServeArrivals, SeededAndReproducible) {
  EXPECT_EQ(arrival_times(100, 3.0, 1.0, 42), arrival_times(100, 3.0, 1.0, 42));
  EXPECT_NE(arrival_times(100, 3.0, 1.0, 42), arrival_times(100, 3.0, 1.0, 43));
}

TEST(ServeHttp, ParseUrl) {
  auto u = parse_http_url("http://localhost:8080");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->path_prefix, "");
  u = parse_http_url("http://10.0.0.1/prefix/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->path_prefix, "/prefix");
  u = parse_http_url("http://[::1]:9000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9000");
  EXPECT_FALSE(parse_http_url("https://x:1").ok());
  EXPECT_FALSE(parse_http_url("http://:80").ok());
  EXPECT_FALSE(parse_http_url("http://h:8x").ok());
}

}  // namespace
}  // namespace strata::bench
