// `strata generate`: offline generation for prompts from arguments or a file, all submitted at once
// to the serving Engine (continuous batching, prefix caching, preemption). Prints text (or one JSON
// object per sample with --json) in prompt order; throughput on stderr.
#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/logging.h"
#include "cli/engine_setup.h"

namespace strata::cli {

namespace {
struct GenerateArgs {
  EngineArgs engine;
  std::vector<std::string> prompts;
  std::string prompts_file;
  SamplingParams sampling;
  bool json = false;
};

Result<std::vector<std::string>> read_prompts(const GenerateArgs& a) {
  std::vector<std::string> out = a.prompts;
  if (!a.prompts_file.empty()) {
    std::ifstream in(a.prompts_file);
    if (!in) return make_error("{}: cannot open prompts file", a.prompts_file);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(line);
  }
  if (out.empty()) return make_error("no prompts: pass --prompt TEXT (repeatable) or --prompts-file FILE");
  return out;
}

int run_generate(const GenerateArgs& a) {
  auto prompts = read_prompts(a);
  if (!prompts.ok()) return fail("generate", prompts.error().message());
  exit_on_comm_failure();
  auto stack_or = load_stack(a.engine);
  if (!stack_or.ok()) return fail("generate", stack_or.error().message());
  EngineStack& stack = **stack_or;
  if (stack.worker_node) return run_worker_node(stack.group_options);
  LoadedModel& m = stack.model;
  std::vector<EngineRequest> requests;
  int64_t tokens_needed = 0;  // all samples at once: the KV cache needs no more
  for (size_t i = 0; i < prompts->size(); ++i) {
    EngineRequest r;
    r.id = "prompt-" + std::to_string(i);
    r.prompt_ids = m.tokenizer->encode((*prompts)[i], true);
    r.params = a.sampling;
    if (a.engine.seed_set) r.params.seed = a.engine.seed + i;
    const int64_t blocks = (std::min<int64_t>(static_cast<int64_t>(r.prompt_ids.size()) + r.params.max_tokens,
                                              m.max_model_len) + a.engine.block_size - 1) / a.engine.block_size;
    tokens_needed += r.params.n * blocks * a.engine.block_size;
    requests.push_back(std::move(r));
  }
  if (Status st = start_engine(stack, a.engine, tokens_needed); !st.ok()) return fail("generate", st.error().message());
  Engine& engine = *stack.engine;
  auto t2 = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& r : requests) {
    const std::string& id = r.id;
    auto s = engine.submit(r);
    if (!s.ok()) return fail("generate", id + ": " + s.error().message());
    streams.push_back(*s);
  }
  struct Sample {
    std::vector<int32_t> ids;
    std::string text, finish_reason;
  };
  std::vector<std::vector<Sample>> results(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    results[i].resize(static_cast<size_t>(requests[i].params.n));
    while (!streams[i]->done())
      for (StreamEvent& e : streams[i]->next()) {
        Sample& smp = results[i][static_cast<size_t>(e.index)];
        smp.ids.insert(smp.ids.end(), e.token_ids.begin(), e.token_ids.end());
        smp.text += e.text;
        if (e.finished) smp.finish_reason = e.finish_reason;
      }
  }
  auto t3 = std::chrono::steady_clock::now();

  int64_t in_tokens = 0, out_tokens = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    in_tokens += static_cast<int64_t>(requests[i].prompt_ids.size());
    for (const Sample& smp : results[i]) {
      out_tokens += static_cast<int64_t>(smp.ids.size());
      if (a.json) {
        nlohmann::json j;
        j["prompt"] = (*prompts)[i];
        j["prompt_token_ids"] = requests[i].prompt_ids;
        j["output_token_ids"] = smp.ids;
        j["text"] = smp.text;
        j["finish_reason"] = smp.finish_reason;
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        std::printf("Prompt: %s\nGenerated: %s\n\n", nlohmann::json((*prompts)[i]).dump().c_str(),
                    nlohmann::json(smp.text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      }
    }
  }
  std::fflush(stdout);
  const double secs = std::chrono::duration<double>(t3 - t2).count();
  const EngineStats st = engine.stats();
  LOG_INFO("{} prompts: {} prompt + {} generated tokens in {:.3f} s: {:.2f} generated tokens/s, {:.2f} total "
           "tokens/s ({} steps, {} preemptions, prefix cache hits {}/{} tokens)",
           results.size(), in_tokens, out_tokens, secs, out_tokens / secs, (in_tokens + out_tokens) / secs,
           st.num_steps, st.num_preemptions, st.prefix_hits, st.prefix_queries);
  if (m.builtin) LOG_WARN("the built-in model has random weights: the text above is random by design");
  return 0;
}
}  // namespace

Runner add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "generate text offline for one or more prompts (batched)");
  add_engine_flags(*cmd, a->engine);
  cmd->add_option("--prompt,-p", a->prompts, "prompt text (repeatable)");
  cmd->add_option("--prompts-file", a->prompts_file, "file with one prompt per line");
  cmd->add_option("--max-tokens", a->sampling.max_tokens, "tokens to generate per prompt")->capture_default_str();
  cmd->add_option("--temperature", a->sampling.temperature, "0 = greedy")->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-p", a->sampling.top_p, "nucleus sampling mass")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--top-k", a->sampling.top_k, "keep the k most likely tokens (0 or -1 = all)")->capture_default_str();
  cmd->add_option("--min-p", a->sampling.min_p, "drop tokens below min_p x the top probability")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("-n,--n", a->sampling.n, "samples per prompt")->capture_default_str();
  cmd->add_option("--presence-penalty", a->sampling.presence_penalty, "[-2, 2]");
  cmd->add_option("--frequency-penalty", a->sampling.frequency_penalty, "[-2, 2]");
  cmd->add_option("--repetition-penalty", a->sampling.repetition_penalty, "> 0; 1 = off");
  cmd->add_option("--stop", a->sampling.stop, "stop string (repeatable)");
  cmd->add_option("--min-tokens", a->sampling.min_tokens, "generate at least this many tokens");
  cmd->add_flag("--ignore-eos", a->sampling.ignore_eos, "keep generating after EOS");
  cmd->add_flag("--json", a->json, "one JSON object per prompt: prompt_token_ids, output_token_ids, text, finish_reason");
  return [a]() {
    if (a->sampling.top_p <= 0.0f) return fail("generate", "--top-p must be in (0, 1]");
    if (a->sampling.max_tokens < 1) return fail("generate", "--max-tokens must be at least 1");
    return run_generate(*a);
  };
}

}  // namespace strata::cli
