// `strata bench serve` end to end against an in-process fake OpenAI server (fake_openai_server.h),
// the datasets against an in-process character tokenizer, and the CLI flags.
#include "bench/serve_bench.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "bench/serve_dataset.h"
#include "fake_openai_server.h"

namespace strata::bench {
namespace {

using nlohmann::json;
using test::CharTokenizer;
using test::FakeOpenAiServer;

class LocalTokenizer : public BenchTokenizer {
 public:
  Result<std::vector<int64_t>> tokenize(const std::string& text, bool add_special) override {
    return CharTokenizer::encode(text, add_special);
  }
  Result<std::string> detokenize(const std::vector<int64_t>& ids) override {
    return CharTokenizer::decode(ids);
  }
};

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("strata_bench_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Runs the benchmark with its report captured; returns (result, report text).
std::pair<json, std::string> run_captured(const ServeBenchOptions& o) {
  std::FILE* f = std::tmpfile();
  auto r = run_serve_bench(o, f);
  std::string text;
  std::rewind(f);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return {r.ok() ? *r : json(), text};
}

TEST(ServeDataset, DiscoverVocabSkipsTrailingSpecials) {
  LocalTokenizer tok;
  auto v = discover_vocab(tok);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->num_ids, CharTokenizer::kVocab);
  EXPECT_EQ(v->num_ordinary, CharTokenizer::kBos);
}

TEST(ServeDataset, RandomPromptsHaveExactLengths) {
  LocalTokenizer tok;
  RandomDatasetOptions o;
  o.num_prompts = 50;
  o.input_len = 40;
  o.output_len = 10;
  o.range_ratio = 0.5;
  o.prefix_len = 8;
  o.seed = 3;
  auto r = sample_random_requests(tok, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 50u);
  std::set<int64_t> input_lens;
  const std::string prefix = (*r)[0].prompt.substr(0, 8);
  for (const SampleRequest& s : *r) {
    // 39 non-BOS tokens * [0.5, 1.5] -> [19, 59], plus the 8-token prefix.
    EXPECT_GE(s.prompt_len, 8 + 19);
    EXPECT_LE(s.prompt_len, 8 + 59);
    EXPECT_EQ(static_cast<int64_t>(CharTokenizer::encode(s.prompt, false).size()), s.prompt_len);
    EXPECT_GE(s.expected_output_len, 5);
    EXPECT_LE(s.expected_output_len, 15);
    EXPECT_EQ(s.prompt.substr(0, 8), prefix);  // shared prefix
    input_lens.insert(s.prompt_len);
  }
  EXPECT_GT(input_lens.size(), 5u);
  // Same seed, same prompts.
  auto again = sample_random_requests(tok, o);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < r->size(); ++i) EXPECT_EQ((*again)[i].prompt, (*r)[i].prompt);
}

TEST(ServeDataset, ShareGptFiltersLikeVllm) {
  const std::string path = temp_path("sharegpt.json");
  json data = json::array();
  data.push_back({{"id", "ok1"},
                  {"conversations",
                   {{{"from", "human"}, {"value", "Tell me a joke please"}},
                    {{"from", "gpt"}, {"value", "Why did the chicken cross?"}}}}});
  data.push_back({{"id", "one-turn"}, {"conversations", {{{"from", "human"}, {"value", "alone here"}}}}});
  data.push_back({{"id", "short-out"},
                  {"conversations",
                   {{{"from", "human"}, {"value", "Say hi to me"}}, {{"from", "gpt"}, {"value", "hi"}}}}});
  data.push_back({{"id", "long"},
                  {"conversations",
                   {{{"from", "human"}, {"value", std::string(1500, 'x')}},
                    {{"from", "gpt"}, {"value", "fine thanks"}}}}});
  data.push_back(
      {{"id", "ok2"},
       {"conversations",
        {{{"from", "human"}, {"value", "What is two plus two?"}}, {{"from", "gpt"}, {"value", "Four."}}}}});
  std::ofstream(path) << data.dump();
  LocalTokenizer tok;
  ShareGptOptions o;
  o.path = path;
  o.num_prompts = 2;
  auto r = sample_sharegpt_requests(tok, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  std::set<std::string> prompts;
  for (const SampleRequest& s : *r) {
    prompts.insert(s.prompt);
    EXPECT_EQ(s.prompt_len, static_cast<int64_t>(s.prompt.size()) + 1);  // + BOS
  }
  EXPECT_EQ(prompts, (std::set<std::string>{"Tell me a joke please", "What is two plus two?"}));
  // Asking for more than the valid pairs tops up by drawing among them again.
  o.num_prompts = 5;
  r = sample_sharegpt_requests(tok, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 5u);
  o.path = temp_path("missing.json");
  EXPECT_FALSE(sample_sharegpt_requests(tok, o).ok());
}

TEST(ServeBench, RandomCompletionsEndToEnd) {
  FakeOpenAiServer server;
  ServeBenchOptions o;
  o.base_url = server.base_url();
  o.num_prompts = 12;
  o.random_input_len = 32;
  o.random_output_len = 6;
  o.percentile_metrics = {"ttft", "tpot", "itl", "e2el"};
  o.metric_percentiles = {50, 99.9};
  auto [r, report] = run_captured(o);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["completed"], 12);
  EXPECT_EQ(r["failed"], 0);
  EXPECT_EQ(r["total_input_tokens"], 12 * 32);  // exact prompt lengths, BOS included
  EXPECT_EQ(r["total_output_tokens"], 12 * 6);
  EXPECT_EQ(r["model_id"], "/models/fake-model");  // the card's root, as vLLM records it
  EXPECT_EQ(r["backend"], "openai");
  EXPECT_EQ(r["request_rate"], "inf");
  EXPECT_TRUE(r["max_concurrency"].is_null());
  EXPECT_EQ(server.num_completions(), 12);
  for (const char* key : {"date",
                          "backend",
                          "model_id",
                          "num_prompts",
                          "request_rate",
                          "burstiness",
                          "max_concurrency",
                          "duration",
                          "completed",
                          "failed",
                          "total_input_tokens",
                          "total_output_tokens",
                          "request_throughput",
                          "output_throughput",
                          "total_token_throughput",
                          "max_output_tokens_per_s",
                          "max_concurrent_requests",
                          "input_lens",
                          "output_lens",
                          "ttfts",
                          "itls",
                          "errors"})
    EXPECT_TRUE(r.contains(key)) << key;
  for (const char* stat : {"mean", "median", "std", "p50", "p90", "p99", "p99.9"})
    for (const char* metric : {"ttft", "tpot", "itl", "e2el"})
      EXPECT_TRUE(r.contains(std::string(stat) + "_" + metric + "_ms")) << stat << "_" << metric;
  ASSERT_EQ(r["ttfts"].size(), 12u);
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(r["input_lens"][i], 32);
    EXPECT_EQ(r["output_lens"][i], 6);
    EXPECT_EQ(r["itls"][i].size(), 5u);  // 6 token chunks
    EXPECT_EQ(r["errors"][i], "");
    const double ttft = r["ttfts"][i].get<double>();
    EXPECT_GT(ttft, 0.0);
    EXPECT_LT(ttft, r["latencies"][i].get<double>());
  }
  EXPECT_LT(r["mean_ttft_ms"].get<double>(), r["mean_e2el_ms"].get<double>());
  EXPECT_GT(r["mean_tpot_ms"].get<double>(), 2.0);  // chunks are >= 5 ms apart
  EXPECT_GE(r["max_concurrent_requests"].get<int64_t>(), 2);
  EXPECT_GT(r["duration"].get<double>(), 0.0);
  for (const char* line : {"============ Serving Benchmark Result ============",
                           "Successful requests:                     12",
                           "Benchmark duration (s):",
                           "Total input tokens:                      384",
                           "Total generated tokens:                  72",
                           "Request throughput (req/s):",
                           "Output token throughput (tok/s):",
                           "Total Token throughput (tok/s):",
                           "Peak concurrent requests:",
                           "---------------Time to First Token----------------",
                           "Mean TTFT (ms):",
                           "Median TTFT (ms):",
                           "P50 TTFT (ms):",
                           "P99.9 TTFT (ms):",
                           "-----Time per Output Token (excl. 1st token)------",
                           "---------------Inter-token Latency----------------",
                           "----------------End-to-end Latency----------------",
                           "P99.9 E2EL (ms):",
                           "Traffic request rate: inf",
                           "Burstiness factor: 1.0 (Poisson process)",
                           "==================================================\n"})
    EXPECT_NE(report.find(line), std::string::npos) << line << "\n" << report;
  EXPECT_EQ(report.find("P99 TTFT"), std::string::npos);  // only the requested percentiles are printed
}

TEST(ServeBench, ChatWithConcurrencyCapAndRate) {
  FakeOpenAiServer server;
  ServeBenchOptions o;
  o.base_url = server.base_url();
  o.endpoint = "/v1/chat/completions";
  o.num_prompts = 10;
  o.random_input_len = 16;
  o.random_output_len = 4;
  o.request_rate = 200;
  o.burstiness = 2.0;
  o.max_concurrency = 2;
  o.save_result = true;
  o.result_filename = temp_path("chat_result.json");
  auto [r, report] = run_captured(o);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["completed"], 10);
  EXPECT_EQ(r["backend"], "openai-chat");
  EXPECT_EQ(r["max_concurrency"], 2);
  EXPECT_DOUBLE_EQ(r["request_rate"].get<double>(), 200.0);
  EXPECT_LE(server.max_in_flight(), 2);
  // Keep-alive connections are reused: dataset round trips use at most 32 at once, the run 2; without
  // reuse every one of the ~50 exchanges would open its own.
  EXPECT_LE(server.num_connections(), 34);
  EXPECT_LE(r["max_concurrent_requests"].get<int64_t>(), 2);
  EXPECT_EQ(r["total_output_tokens"], 40);
  EXPECT_NE(report.find("Maximum request concurrency:             2"), std::string::npos) << report;
  EXPECT_NE(report.find("Request rate configured (RPS):           200.00"), std::string::npos) << report;
  std::ifstream f(o.result_filename);
  ASSERT_TRUE(f.good());
  json saved = json::parse(f);
  EXPECT_EQ(saved["completed"], 10);
  EXPECT_TRUE(saved.contains("p99_ttft_ms"));
}

TEST(ServeBench, ShareGptEndToEnd) {
  FakeOpenAiServer server;
  const std::string path = temp_path("sharegpt_e2e.json");
  json data = json::array();
  for (int i = 0; i < 6; ++i)
    data.push_back({{"conversations",
                     {{{"from", "human"}, {"value", "Question number " + std::to_string(i)}},
                      {{"from", "gpt"}, {"value", "Answer " + std::to_string(i)}}}}});
  std::ofstream(path) << data.dump();
  ServeBenchOptions o;
  o.base_url = server.base_url();
  o.model = "fake-model";
  o.dataset_name = "sharegpt";
  o.dataset_path = path;
  o.num_prompts = 6;
  auto [r, report] = run_captured(o);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["completed"], 6);
  EXPECT_EQ(r["model_id"], "fake-model");
  // Output length = tokens of "Answer i" + BOS = 9, which the fake server generates exactly.
  EXPECT_EQ(r["total_output_tokens"], 6 * 9);
  EXPECT_EQ(r["total_input_tokens"], 6 * (17 + 1));
}

TEST(ServeBench, FailedRequestsAreCounted) {
  FakeOpenAiServer server;
  ServeBenchOptions o;
  o.base_url = server.base_url();
  o.model = "no-such-model";  // /tokenize ignores the model; completions answer 404
  o.num_prompts = 3;
  o.random_input_len = 8;
  o.random_output_len = 2;
  auto [r, report] = run_captured(o);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["completed"], 0);
  EXPECT_EQ(r["failed"], 3);
  EXPECT_NE(r["errors"][0].get<std::string>().find("does not exist"), std::string::npos) << r["errors"][0];
  EXPECT_NE(report.find("Failed requests during benchmark run detected"), std::string::npos);
  EXPECT_NE(report.find("Failed requests:                         3"), std::string::npos);
}

TEST(ServeBench, UnreachableServerIsAnError) {
  ServeBenchOptions o;
  o.base_url = "http://127.0.0.1:1";
  o.num_prompts = 1;
  auto r = run_serve_bench(o, nullptr);
  EXPECT_FALSE(r.ok());
}

TEST(ServeBench, InvalidOptions) {
  ServeBenchOptions o;
  o.dataset_name = "sonnet";
  EXPECT_FALSE(run_serve_bench(o, nullptr).ok());
  o = {};
  o.dataset_path = "x.json";  // random with a path, as vLLM refuses
  EXPECT_FALSE(run_serve_bench(o, nullptr).ok());
  o = {};
  o.percentile_metrics = {"ttft", "bogus"};
  EXPECT_FALSE(run_serve_bench(o, nullptr).ok());
}

TEST(ServeBenchFlags, VllmSpellings) {
  CLI::App app;
  ServeBenchOptions o;
  add_serve_bench_flags(app, o);
  app.parse(
      "--base-url http://h:1 --endpoint /v1/chat/completions --model m --num-prompts 7 --dataset-name "
      "sharegpt "
      "--dataset-path d.json --random-input-len 11 --random-output-len 12 --random-range-ratio 0.25 "
      "--random-prefix-len 3 --request-rate 2.5 --burstiness 0.5 --max-concurrency 9 --ignore-eos "
      "--percentile-metrics ttft,e2el --metric-percentiles 50,90,99.9 --save-result --result-filename r.json "
      "--seed 5 --disable-tqdm",
      false);
  EXPECT_EQ(o.base_url, "http://h:1");
  EXPECT_EQ(o.endpoint, "/v1/chat/completions");
  EXPECT_EQ(o.model, "m");
  EXPECT_EQ(o.num_prompts, 7);
  EXPECT_EQ(o.dataset_name, "sharegpt");
  EXPECT_EQ(o.dataset_path, "d.json");
  EXPECT_EQ(o.random_input_len, 11);
  EXPECT_EQ(o.random_output_len, 12);
  EXPECT_DOUBLE_EQ(o.random_range_ratio, 0.25);
  EXPECT_EQ(o.random_prefix_len, 3);
  EXPECT_DOUBLE_EQ(o.request_rate, 2.5);
  EXPECT_DOUBLE_EQ(o.burstiness, 0.5);
  EXPECT_EQ(o.max_concurrency, 9);
  EXPECT_TRUE(o.ignore_eos);
  EXPECT_EQ(o.percentile_metrics, (std::vector<std::string>{"ttft", "e2el"}));
  EXPECT_EQ(o.metric_percentiles, (std::vector<double>{50, 90, 99.9}));
  EXPECT_TRUE(o.save_result);
  EXPECT_EQ(o.result_filename, "r.json");
  EXPECT_EQ(o.seed, 5u);
  EXPECT_TRUE(o.disable_tqdm);

  CLI::App app2;
  ServeBenchOptions d;
  add_serve_bench_flags(app2, d);
  app2.parse("--host 10.1.2.3 --port 8080 --request-rate inf", false);
  EXPECT_EQ(d.host, "10.1.2.3");
  EXPECT_EQ(d.port, 8080);
  EXPECT_TRUE(std::isinf(d.request_rate));
  EXPECT_EQ(d.percentile_metrics, (std::vector<std::string>{"ttft", "tpot", "itl"}));
  EXPECT_EQ(d.metric_percentiles, (std::vector<double>{99}));
}

}  // namespace
}  // namespace strata::bench
