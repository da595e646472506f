#include "cli/engine_setup.h"

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
  cmd.add_option("--kv-cache-memory", a.kv_cache_memory, "KV cache bytes at most (e.g. 4GiB)")->capture_default_str();
  cmd.add_option("--max-num-seqs", a.max_num_seqs, "sequences per step")->capture_default_str();
  cmd.add_option("--max-num-batched-tokens", a.max_num_batched_tokens, "tokens per step")->capture_default_str();
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

Status start_engine(EngineStack& stack, const EngineArgs& a, int64_t tokens_hint, std::function<void(int64_t)> on_step) {
  STRATA_TRY(int64_t kv_bytes, parse_bytes(a.kv_cache_memory));
  LoadedModel& m = stack.model;
  const int64_t per_block = m.model->kv_bytes_per_block(a.block_size);
  int64_t num_blocks = kv_bytes / per_block;
  if (num_blocks < 1) return make_error("--kv-cache-memory {} is smaller than one KV block ({} bytes)", a.kv_cache_memory, per_block);
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
