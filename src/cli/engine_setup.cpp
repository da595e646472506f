#include "cli/engine_setup.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "cli/commands.h"
#include "core/logging.h"

namespace strata::cli {

void add_engine_flags(CLI::App& cmd, EngineArgs& a) {
  add_model_flags(cmd, a.load);
  cmd.add_option("--seed", a.seed, "random seed (dummy weights; sampling of unseeded requests)")
      ->capture_default_str()
      ->each([&a](const std::string&) { a.seed_set = true; });
  cmd.add_option("--block-size", a.block_size, "tokens per KV block")->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd.add_option("--kv-cache-memory", a.kv_cache_memory, "CPU: KV cache bytes at most (e.g. 4GiB)")
      ->capture_default_str();
  cmd.add_option("--gpu-memory-utilization", a.gpu_memory_utilization,
                 "GPU: share of device memory for weights, step workspace and KV cache")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1.0))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd.add_flag("--enforce-eager", a.enforce_eager, "GPU: no CUDA graphs (every step runs eagerly)");
  cmd.add_option("--max-num-seqs", a.max_num_seqs, "sequences per step")->capture_default_str();
  cmd.add_option("--max-num-batched-tokens", a.max_num_batched_tokens,
                 "tokens per step (default 2048; 8192 on GPUs of at least 70 GiB)");
  cmd.add_flag("--no-enable-prefix-caching", a.no_prefix_caching, "disable automatic prefix caching");
  cmd.add_flag("--enable-prefix-caching{false}", a.no_prefix_caching, "automatic prefix caching (default on)");
  cmd.add_flag("--no-enable-chunked-prefill", a.no_chunked_prefill, "schedule whole prompts only");
  cmd.add_flag("--enable-chunked-prefill{false}", a.no_chunked_prefill, "chunked prefill (default on)");
  cmd.add_option("--num-gpu-blocks-override", a.num_gpu_blocks_override,
                 "exactly this many KV blocks, whatever the memory budget (tests)");
  cmd.add_option_function<std::string>(
         "--scheduling-policy", [&a](const std::string& v) { a.priority_policy = v == "priority"; },
         "fcfs | priority")
      ->check(CLI::IsMember({"fcfs", "priority"}));
}

Result<std::unique_ptr<EngineStack>> load_stack(const EngineArgs& a) {
  STRATA_TRY(int64_t kv_bytes, parse_bytes(a.kv_cache_memory));
  (void)kv_bytes;  // validated before the (slow) model load
  LoadOptions lo = a.load;
  lo.seed = a.seed;
  auto stack = std::make_unique<EngineStack>();
  const auto t0 = std::chrono::steady_clock::now();
  STRATA_TRY(stack->model, load_model(lo));
  LoadedModel& m = stack->model;
  LOG_INFO("loaded {} ({} layers, hidden {}, vocab {}) in {:.2f} s; max_model_len {}", m.name,
           m.config.num_hidden_layers, m.config.hidden_size, m.config.vocab_size,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), m.max_model_len);
  return stack;
}

Status start_engine(EngineStack& stack, const EngineArgs& args, int64_t tokens_hint,
                    std::function<void(int64_t)> on_step) {
  STRATA_TRY(int64_t kv_bytes, parse_bytes(args.kv_cache_memory));
  LoadedModel& m = stack.model;
  EngineArgs a = args;
  if (a.max_num_batched_tokens <= 0) {
    const int64_t device_bytes = m.backend->memory_info().second;
    a.max_num_batched_tokens = device_bytes >= (70ll << 30) ? 8192 : 2048;
  }
  const int64_t per_block = m.model->kv_bytes_per_block(a.block_size);
  int64_t num_blocks = 0;
  const bool gpu = m.backend->memory_info().second > 0;
  if (gpu) {
    // Profile the largest step with a one-block cache, then give the KV cache what the budget leaves.
    {
      KvCache probe_cache = m.model->allocate_kv_cache(1, a.block_size);
      ModelRunner probe(*m.model, *m.backend, probe_cache);
      probe.profile(std::max<int64_t>(a.max_num_batched_tokens, 1), a.max_num_seqs);
    }
    // The budget is this process's share of the device (so several servers can share one GPU), never
    // more than is free now.
    auto [free_b, total_b] = m.backend->memory_info();
    const int64_t used = m.backend->memory_in_use();
    const int64_t reserve = 256ll << 20;  // CUDA graphs, cuBLASLt plans, fragmentation
    const int64_t budget =
        std::min(static_cast<int64_t>(a.gpu_memory_utilization * static_cast<double>(total_b)) - used, free_b) -
        reserve;
    num_blocks = budget / per_block;
    LOG_INFO("GPU memory: {:.2f} GiB total, {:.2f} GiB in use after profiling (weights + step workspace {:.2f} GiB); "
             "KV cache budget {:.2f} GiB at --gpu-memory-utilization {}",
             total_b / 1073741824.0, used / 1073741824.0, m.backend->workspace_high_water() / 1073741824.0,
             std::max<int64_t>(budget, 0) / 1073741824.0, a.gpu_memory_utilization);
    if (num_blocks < 1 && a.num_gpu_blocks_override <= 0)
      return make_error("no GPU memory left for the KV cache ({:.2f} GiB in use of {:.2f} GiB); raise "
                        "--gpu-memory-utilization or lower --max-num-batched-tokens", used / 1073741824.0,
                        total_b / 1073741824.0);
  } else {
    num_blocks = kv_bytes / per_block;
    if (num_blocks < 1)
      return make_error("--kv-cache-memory {} is smaller than one KV block ({} bytes)", a.kv_cache_memory, per_block);
  }
  if (tokens_hint > 0) num_blocks = std::min(num_blocks, (tokens_hint + a.block_size - 1) / a.block_size);
  if (a.num_gpu_blocks_override > 0) num_blocks = a.num_gpu_blocks_override;
  num_blocks = std::min<int64_t>(num_blocks, std::numeric_limits<int32_t>::max());
  if (a.no_chunked_prefill && a.max_num_batched_tokens < m.max_model_len)
    return make_error("--max-num-batched-tokens ({}) must be at least max_model_len ({}) when chunked prefill is "
                      "disabled", a.max_num_batched_tokens, m.max_model_len);
  LOG_INFO("KV cache: {} blocks of {} tokens ({:.1f} MiB, {} tokens)", num_blocks, a.block_size,
           static_cast<double>(num_blocks * per_block) / (1 << 20), num_blocks * a.block_size);
  stack.cache = m.model->allocate_kv_cache(num_blocks, a.block_size);
  stack.runner = std::make_unique<ModelRunner>(*m.model, *m.backend, stack.cache);
  if (!a.enforce_eager && m.backend->supports_graphs()) {
    const auto t0 = std::chrono::steady_clock::now();
    // A decode step has one token per sequence: no more sequences than tokens per step.
    const int32_t max_batch = static_cast<int32_t>(std::min<int64_t>(a.max_num_seqs, a.max_num_batched_tokens));
    const int n = stack.runner->capture_graphs(max_batch, m.max_model_len);
    LOG_INFO("captured {} decode graphs (batch 1..{}) in {:.2f} s", n, max_batch,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  EngineConfig ec;
  ec.scheduler.max_model_len = m.max_model_len;
  ec.scheduler.max_num_seqs = a.max_num_seqs;
  ec.scheduler.max_num_batched_tokens = a.max_num_batched_tokens;
  ec.scheduler.enable_chunked_prefill = !a.no_chunked_prefill;
  ec.scheduler.priority_policy = a.priority_policy;
  ec.block_size = a.block_size;
  ec.num_blocks = static_cast<int32_t>(num_blocks);
  ec.enable_prefix_caching = !a.no_prefix_caching;
  ec.seed = a.seed;
  ec.on_step = std::move(on_step);
  stack.engine = std::make_unique<Engine>(*stack.runner, *m.tokenizer, m.config, ec);
  return ok_status();
}

}  // namespace strata::cli
