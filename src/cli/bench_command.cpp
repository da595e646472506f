// `strata bench throughput` (offline, bench/throughput.h) and `strata bench serve` (load generator
// against a running server, bench/serve_bench.h).
#include <cstdio>

#include "bench/serve_bench.h"
#include "bench/throughput.h"
#include "cli/commands.h"
#include "cli/engine_setup.h"

namespace strata::cli {

Runner add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  auto* cmd = bench->add_subcommand("throughput", "offline throughput on random prompts (vllm bench throughput)");
  struct Args {
    EngineArgs engine;
    ThroughputOptions opts;
  };
  auto a = std::make_shared<Args>();
  add_engine_flags(*cmd, a->engine);
  cmd->add_option("--num-prompts", a->opts.num_prompts, "prompts")->capture_default_str();
  cmd->add_option("--input-len", a->opts.input_len, "prompt tokens each")->capture_default_str();
  cmd->add_option("--output-len", a->opts.output_len, "generated tokens each")->capture_default_str();
  auto* serve = bench->add_subcommand("serve", "online serving benchmark against a running server (vllm bench serve)");
  auto so = std::make_shared<bench::ServeBenchOptions>();
  bench::add_serve_bench_flags(*serve, *so);
  return [a, cmd, serve, so]() {
    if (*serve) {
      auto r = bench::run_serve_bench(*so, stdout);
      return r.ok() ? 0 : fail("bench serve", r.error().message());
    }
    if (!*cmd) return fail("bench", "unknown bench subcommand");
    a->opts.seed = a->engine.seed;
    exit_on_comm_failure();
    auto stack = load_stack(a->engine);
    if (!stack.ok()) return fail("bench throughput", stack.error().message());
    if ((*stack)->worker_node) return run_worker_node((*stack)->group_options);
    const int64_t per_req = std::min(a->opts.input_len + a->opts.output_len, (*stack)->model.max_model_len);
    const int64_t bs = a->engine.block_size;
    if (Status st = start_engine(**stack, a->engine, a->opts.num_prompts * ((per_req + bs - 1) / bs) * bs); !st.ok())
      return fail("bench throughput", st.error().message());
    auto r = run_throughput(*(*stack)->engine, (*stack)->model.config.vocab_size, a->opts);
    if (!r.ok()) return fail("bench throughput", r.error().message());
    const EngineStats st = (*stack)->engine->stats();
    std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n", r->requests_per_s(),
                r->total_tokens_per_s(), r->output_tokens_per_s());
    std::printf("Total num prompt tokens:  %lld\nTotal num output tokens:  %lld\nElapsed: %.2f s (%lld steps, %lld preemptions)\n",
                static_cast<long long>(r->input_tokens), static_cast<long long>(r->output_tokens), r->elapsed_s,
                static_cast<long long>(st.num_steps), static_cast<long long>(st.num_preemptions));
    return 0;
  };
}

}  // namespace strata::cli
