#include "bench/serve_bench.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "bench/serve_arrivals.h"
#include "bench/serve_dataset.h"
#include "bench/serve_http.h"
#include "bench/serve_report.h"
#include "bench/serve_request.h"

namespace strata::bench {

using nlohmann::json;

namespace {

void say(std::FILE* out, const std::string& s) {
  if (!out) return;
  std::fputs(s.c_str(), out);
  std::fputc('\n', out);
  std::fflush(out);
}

std::string now_date() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Waits for a slot when max_concurrency > 0; counts every request to the end of the run.
class InFlight {
 public:
  explicit InFlight(int64_t limit, int64_t total) : limit_(limit), remaining_(total) {}
  void acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    if (limit_ > 0) cv_.wait(lock, [&] { return in_flight_ < limit_; });
    ++in_flight_;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    --remaining_;
    cv_.notify_all();
  }
  // Waits for the last request; with `progress`, prints "N/M requests done" to stderr every 10 s.
  void wait_all(bool progress, int64_t total) {
    std::unique_lock<std::mutex> lock(mu_);
    auto next_print = BenchClock::now() + std::chrono::seconds(10);
    while (!cv_.wait_until(lock, next_print, [&] { return remaining_ == 0; })) {
      if (progress)
        std::fprintf(stderr, "%lld/%lld requests done\n", static_cast<long long>(total - remaining_),
                     static_cast<long long>(total));
      next_print += std::chrono::seconds(10);
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t limit_;
  int64_t in_flight_ = 0;
  int64_t remaining_;
};

// Sends every request at its arrival time (waiting for a slot under the concurrency cap) and collects
// the outputs; returns the wall time of the whole run in seconds.
double run_requests(HttpClient& client, const std::string& target, const std::vector<RequestInput>& inputs,
                    const std::vector<double>& arrivals, int64_t max_concurrency, bool progress,
                    std::vector<RequestOutput>& outputs) {
  outputs.assign(inputs.size(), RequestOutput{});
  InFlight in_flight(max_concurrency, static_cast<int64_t>(inputs.size()));
  const std::string id_prefix = fmt::format("bench-{:08x}-", static_cast<uint32_t>(std::random_device{}()));
  const auto bench_start = BenchClock::now();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (arrivals[i] > 0)
      std::this_thread::sleep_until(bench_start + std::chrono::duration_cast<BenchClock::duration>(
                                                      std::chrono::duration<double>(arrivals[i])));
    in_flight.acquire();
    const RequestInput& in = inputs[i];
    const auto start = BenchClock::now();
    auto acc = std::make_shared<StreamAccumulator>(in.chat, in.prompt_len, start);
    auto handler = std::make_shared<HttpStreamHandler>();
    handler->on_headers = [acc](int status, std::string_view reason) { acc->on_headers(status, reason); };
    handler->on_body = [acc](std::string_view bytes, BenchClock::time_point at) { acc->on_bytes(bytes, at); };
    const double start_s = std::chrono::duration<double>(start - bench_start).count();
    handler->on_done = [acc, &outputs, &in_flight, i, start_s](const std::string& error) {
      acc->on_done(error);
      outputs[i] = std::move(acc->output());
      outputs[i].start_time = start_s;
      in_flight.release();
    };
    client.start(true, target, build_request_body(in), {{"x-request-id", id_prefix + std::to_string(i)}},
                 std::move(handler));
  }
  in_flight.wait_all(progress, static_cast<int64_t>(inputs.size()));
  return std::chrono::duration<double>(BenchClock::now() - bench_start).count();
}

Status validate(const ServeBenchOptions& o) {
  if (o.num_prompts < 1) return make_error("--num-prompts must be at least 1");
  if (o.max_concurrency < 0) return make_error("--max-concurrency must be greater than 0");
  if (!(o.request_rate > 0)) return make_error("--request-rate must be positive (inf = all at once)");
  if (!(o.burstiness > 0)) return make_error("--burstiness must be positive");
  if (o.dataset_name != "random" && o.dataset_name != "sharegpt")
    return make_error("--dataset-name {}: only random and sharegpt are supported", o.dataset_name);
  if (o.dataset_name == "random" && !o.dataset_path.empty())
    return make_error(
        "Cannot use 'random' dataset with --dataset-path. Please specify --dataset-name sharegpt "
        "for your dataset file: {}",
        o.dataset_path);
  for (const std::string& m : o.percentile_metrics)
    if (m != "ttft" && m != "tpot" && m != "itl" && m != "e2el")
      return make_error("--percentile-metrics: unknown metric '{}' (ttft, tpot, itl, e2el)", m);
  for (double p : o.metric_percentiles)
    if (!(p >= 0 && p <= 100)) return make_error("--metric-percentiles: {} is not in [0, 100]", p);
  if (!o.backend.empty() && o.backend != "openai" && o.backend != "vllm" && o.backend != "openai-chat")
    return make_error("--backend {}: only openai, vllm and openai-chat are supported", o.backend);
  const bool chat_endpoint = ends_with(o.endpoint, "chat/completions");
  if (o.backend == "openai-chat" && !chat_endpoint)
    return make_error("OpenAI Chat Completions API URL must end with 'chat/completions' (--endpoint {})",
                      o.endpoint);
  if (!chat_endpoint && !ends_with(o.endpoint, "completions"))
    return make_error("--endpoint {}: must end with completions or chat/completions", o.endpoint);
  return ok_status();
}

}  // namespace

Result<json> run_serve_bench(const ServeBenchOptions& options, std::FILE* out) {
  ServeBenchOptions o = options;
  STRATA_RETURN_IF_ERROR(validate(o));
  const bool chat = ends_with(o.endpoint, "chat/completions");
  std::string backend = o.backend.empty() ? (chat ? "openai-chat" : "openai") : o.backend;
  const std::string base_url = o.base_url.empty() ? fmt::format("http://{}:{}", o.host, o.port) : o.base_url;
  std::string api_key = o.api_key;
  if (api_key.empty())
    if (const char* env = std::getenv("OPENAI_API_KEY")) api_key = env;
  const int io_threads = o.num_io_threads > 0
                             ? o.num_io_threads
                             : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  STRATA_TRY(std::unique_ptr<HttpClient> client, HttpClient::create(base_url, io_threads, api_key));

  std::string model_name = o.model, model_id = o.model;
  if (model_name.empty()) {
    say(out, "Model not specified, fetching first model from server...");
    STRATA_TRY(json models, client->get_json("/v1/models"));
    if (!models.contains("data") || !models["data"].is_array() || models["data"].empty() ||
        !models["data"][0].contains("id") || !models["data"][0]["id"].is_string())
      return make_error(
          "No models found on the server at {}. Make sure the server is running and has models loaded.",
          base_url);
    const json& card = models["data"][0];
    model_name = card["id"].get<std::string>();
    model_id =
        card.contains("root") && card["root"].is_string() ? card["root"].get<std::string>() : model_name;
    say(out, fmt::format("First model name: {}, first model id: {}", model_name, model_id));
  }

  ServerTokenizer tokenizer(*client, model_name);
  std::vector<SampleRequest> samples;
  if (o.dataset_name == "random") {
    o.ignore_eos = true;  // generation runs to the sampled length, as vLLM does for random prompts
    RandomDatasetOptions ro;
    ro.num_prompts = o.num_prompts;
    ro.input_len = o.random_input_len;
    ro.output_len = o.random_output_len;
    ro.range_ratio = o.random_range_ratio;
    ro.prefix_len = o.random_prefix_len;
    ro.seed = o.seed;
    ro.vocab_size = o.random_vocab_size;
    STRATA_TRY(samples, sample_random_requests(tokenizer, ro));
  } else {
    ShareGptOptions so;
    so.path = o.dataset_path;
    so.num_prompts = o.num_prompts;
    so.seed = o.seed;
    STRATA_TRY(samples, sample_sharegpt_requests(tokenizer, so));
  }

  std::vector<RequestInput> inputs;
  inputs.reserve(samples.size());
  for (SampleRequest& s : samples)
    inputs.push_back(RequestInput{model_name, std::move(s.prompt), s.prompt_len, s.expected_output_len, chat,
                                  o.ignore_eos});
  const std::vector<double> arrivals =
      arrival_times(static_cast<int64_t>(inputs.size()), o.request_rate, o.burstiness, o.seed);

  ReportConfig cfg;
  cfg.date = now_date();
  cfg.backend = backend;
  cfg.model_id = model_id;
  cfg.label = o.label;
  cfg.num_prompts = o.num_prompts;
  cfg.request_rate = o.request_rate;
  cfg.burstiness = o.burstiness;
  cfg.max_concurrency = o.max_concurrency;
  cfg.percentile_metrics = o.percentile_metrics;
  cfg.metric_percentiles = o.metric_percentiles;

  say(out, "Starting main benchmark run...");
  if (out) print_run_preamble(out, cfg);
  std::vector<RequestOutput> outputs;
  const double duration =
      run_requests(*client, o.endpoint, inputs, arrivals, o.max_concurrency, !o.disable_tqdm, outputs);
  client.reset();

  const BenchmarkMetrics metrics = calculate_metrics(outputs, duration);
  if (metrics.completed == 0)
    say(out, "WARNING: All requests failed. Check the benchmark arguments and the server.");
  if (out) print_report(out, cfg, outputs, metrics, duration);
  json result = build_result_json(cfg, outputs, metrics, duration);

  if (o.save_result) {
    std::string file = o.result_filename.empty() ? default_result_filename(cfg) : o.result_filename;
    if (!o.result_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(o.result_dir, ec);
      file = (std::filesystem::path(o.result_dir) / file).string();
    }
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    if (!f) return make_error("{}: cannot write the result file", file);
    f << dump_json(result);
    if (!f) return make_error("{}: write failed", file);
  }
  return result;
}

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) parts.push_back(item);
  return parts;
}

}  // namespace

void add_serve_bench_flags(CLI::App& cmd, ServeBenchOptions& o) {
  cmd.add_option("--base-url", o.base_url,
                 "server or API base URL, e.g. http://host:8000 (instead of --host/--port)");
  cmd.add_option("--host", o.host, "server host")->capture_default_str();
  cmd.add_option("--port", o.port, "server port")->capture_default_str();
  cmd.add_option("--endpoint", o.endpoint, "API endpoint (/v1/completions or /v1/chat/completions)")
      ->capture_default_str();
  cmd.add_option("--backend", o.backend,
                 "openai, vllm (completions) or openai-chat; default from --endpoint");
  cmd.add_option("--model", o.model, "model name; default: the first model of the server's /v1/models");
  cmd.add_option("--label", o.label, "prefix of the result file name (default: the backend)");
  cmd.add_option("--num-prompts", o.num_prompts, "number of prompts to process")->capture_default_str();
  cmd.add_option("--dataset-name", o.dataset_name, "random or sharegpt")->capture_default_str();
  cmd.add_option("--dataset-path", o.dataset_path, "ShareGPT JSON file (--dataset-name sharegpt)");
  cmd.add_option("--random-input-len", o.random_input_len, "input tokens per random prompt")
      ->capture_default_str();
  cmd.add_option("--random-output-len", o.random_output_len, "output tokens per random request")
      ->capture_default_str();
  cmd.add_option("--random-range-ratio", o.random_range_ratio,
                 "lengths uniform in [len*(1-r), len*(1+r)], r in [0, 1)")
      ->capture_default_str();
  cmd.add_option("--random-prefix-len", o.random_prefix_len, "random tokens shared by every random prompt")
      ->capture_default_str();
  cmd.add_option("--input-len", o.random_input_len, "same as --random-input-len");
  cmd.add_option("--output-len", o.random_output_len, "same as --random-output-len");
  cmd.add_option("--request-rate", o.request_rate,
                 "requests per second; inf sends all at once, otherwise Poisson/gamma arrivals")
      ->capture_default_str();
  cmd.add_option("--burstiness", o.burstiness, "gamma shape of the arrival gaps (1 = Poisson)")
      ->capture_default_str();
  cmd.add_option("--max-concurrency", o.max_concurrency,
                 "most requests in flight at once (default: unlimited)");
  cmd.add_flag("--ignore-eos", o.ignore_eos, "send ignore_eos (always on for the random dataset)");
  cmd.add_option_function<std::string>(
      "--percentile-metrics", [&o](const std::string& s) { o.percentile_metrics = split_commas(s); },
      "comma-separated metrics to report percentiles of: ttft,tpot,itl,e2el (default ttft,tpot,itl)");
  cmd.add_option_function<std::string>(
      "--metric-percentiles",
      [&o](const std::string& s) {
        o.metric_percentiles.clear();
        for (const std::string& p : split_commas(s)) {
          char* end = nullptr;
          const double v = std::strtod(p.c_str(), &end);
          if (end == p.c_str() || *end != '\0')
            throw CLI::ValidationError("--metric-percentiles", p + " is not a number");
          o.metric_percentiles.push_back(v);
        }
      },
      "comma-separated percentiles, e.g. 25,50,99 (default 99)");
  cmd.add_flag("--save-result", o.save_result, "save the result JSON to a file");
  cmd.add_option("--result-dir", o.result_dir, "directory of the result file");
  cmd.add_option("--result-filename", o.result_filename, "result file name (default: vLLM's naming)");
  cmd.add_option("--seed", o.seed, "random seed")->capture_default_str();
  cmd.add_flag("--disable-tqdm", o.disable_tqdm, "no progress lines on stderr");
  cmd.add_flag("--save-detailed")
      ->description("accepted for vLLM compatibility (per-request details are always saved)");
}

}  // namespace strata::bench
