#include "cli/engine_setup.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
  cmd.add_option("--tensor-parallel-size", a.dist.tensor_parallel_size, "ranks (GPUs) per pipeline stage")
      ->capture_default_str();
  cmd.add_option("--pipeline-parallel-size", a.dist.pipeline_parallel_size, "pipeline stages (usually nodes)")
      ->capture_default_str();
  cmd.add_option("--nnodes", a.dist.nnodes, "nodes of the group (default: LWS_GROUP_SIZE, else 1)");
  cmd.add_option("--node-rank", a.dist.node_rank, "this node's index, 0 = leader (default: LWS_WORKER_INDEX, else 0)");
  cmd.add_option("--master-addr", a.dist.master_addr, "the leader's address (default: LWS_LEADER_ADDRESS)");
  cmd.add_option("--master-port", a.dist.master_port, "the leader's rendezvous port")->capture_default_str();
  cmd.add_option("--rendezvous-timeout", a.dist.join_timeout_s,
                 "seconds the leader waits for every rank, and workers for the leader")->capture_default_str();
  cmd.add_option_function<std::string>(
         "--scheduling-policy", [&a](const std::string& v) { a.priority_policy = v == "priority"; },
         "fcfs | priority")
      ->check(CLI::IsMember({"fcfs", "priority"}));
}

void exit_on_comm_failure(std::function<void()> before_exit) {
  set_comm_failure_handler([before_exit](const std::string& reason) {
    LOG_ERROR("the parallel group is broken: {}; exiting", reason);
    if (before_exit) before_exit();
    std::fflush(nullptr);
    std::_Exit(1);
  });
}

namespace {
// What every node of a group must agree on (the same command runs on each), one setting per line.
std::string group_summary(const EngineArgs& a, const Topology& t) {
  return fmt::format("model={}\ntokenizer={}\nload_format={}\ndtype={}\ndevice={}\nseed={}\nmax_model_len={}\n"
                     "tensor_parallel_size={}\npipeline_parallel_size={}\nnnodes={}\nblock_size={}\n"
                     "kv_cache_memory={}\ngpu_memory_utilization={}\nmax_num_batched_tokens={}\nmax_num_seqs={}\n"
                     "enforce_eager={}\nnum_gpu_blocks_override={}",
                     a.load.model, a.load.tokenizer, a.load.load_format, a.load.dtype, a.load.device, a.seed,
                     a.load.max_model_len, t.tp(), t.pp(), t.nnodes, a.block_size, a.kv_cache_memory,
                     a.gpu_memory_utilization, a.max_num_batched_tokens, a.max_num_seqs, a.enforce_eager,
                     a.num_gpu_blocks_override);
}
}  // namespace

Result<std::unique_ptr<EngineStack>> load_stack(const EngineArgs& a) {
  STRATA_TRY(int64_t kv_bytes, parse_bytes(a.kv_cache_memory));
  LoadOptions lo = a.load;
  lo.seed = a.seed;
  auto stack = std::make_unique<EngineStack>();
  STRATA_TRY(Topology topo, resolve_topology(a.dist));
  const char* force = std::getenv("STRATA_DISTRIBUTED");
  if (topo.distributed() || (force && force[0] == '1')) {
    stack->distributed = true;
    GroupOptions& g = stack->group_options;
    g.topology = topo;
    g.load = lo;
    g.kv.block_size = a.block_size;
    g.kv.cpu_bytes = kv_bytes;
    g.kv.gpu_memory_utilization = a.gpu_memory_utilization;
    g.kv.max_num_batched_tokens = a.max_num_batched_tokens;
    g.kv.max_num_seqs = a.max_num_seqs;
    g.enforce_eager = a.enforce_eager;
    g.num_blocks_override = a.num_gpu_blocks_override;
    g.summary = group_summary(a, topo);
    if (!topo.is_leader()) {
      stack->worker_node = true;
      return stack;
    }
    STRATA_TRY(ModelSource src, open_model(lo));
    LoadedModel& m = stack->model;
    m.name = src.name;
    m.builtin = src.builtin;
    m.config = src.config;
    m.max_model_len = src.max_model_len;
    m.tokenizer = std::move(src.tokenizer);
    stack->source = std::make_shared<const ModelSource>(std::move(src));
    return stack;
  }
  const auto t0 = std::chrono::steady_clock::now();
  STRATA_TRY(stack->model, load_model(lo));
  LoadedModel& m = stack->model;
  LOG_INFO("loaded {} ({} layers, hidden {}, vocab {}) in {:.2f} s; max_model_len {}", m.name,
           m.config.num_hidden_layers, m.config.hidden_size, m.config.vocab_size,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), m.max_model_len);
  return stack;
}

namespace {
Status make_engine(EngineStack& stack, const EngineArgs& a, int64_t num_blocks, Executor& executor,
                   std::function<void(int64_t)> on_step) {
  const LoadedModel& m = stack.model;
  if (a.no_chunked_prefill && a.max_num_batched_tokens < m.max_model_len)
    return make_error("--max-num-batched-tokens ({}) must be at least max_model_len ({}) when chunked prefill is "
                      "disabled", a.max_num_batched_tokens, m.max_model_len);
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
  // STRATA_ASYNC_SCHEDULING=0: no step is launched before the previous one is back (for comparisons).
  const char* async = std::getenv("STRATA_ASYNC_SCHEDULING");
  ec.async_scheduling = !(async && async[0] == '0');
  stack.engine = std::make_unique<Engine>(executor, *m.tokenizer, m.config, ec);
  return ok_status();
}
}  // namespace

Status start_engine(EngineStack& stack, const EngineArgs& args, int64_t tokens_hint,
                    std::function<void(int64_t)> on_step) {
  STRATA_TRY(int64_t kv_bytes, parse_bytes(args.kv_cache_memory));
  LoadedModel& m = stack.model;
  EngineArgs a = args;
  if (stack.distributed) {
    stack.group_options.tokens_hint = tokens_hint;
    STRATA_TRY(stack.group, GroupExecutor::start(stack.group_options, stack.source));
    a.max_num_batched_tokens = stack.group->max_num_batched_tokens();
    return make_engine(stack, a, stack.group->num_blocks(), *stack.group, std::move(on_step));
  }
  if (a.max_num_batched_tokens <= 0) a.max_num_batched_tokens = default_batched_tokens(*m.backend);
  const int64_t per_block = m.model->kv_bytes_per_block(a.block_size);
  int64_t num_blocks = a.num_gpu_blocks_override;
  if (num_blocks <= 0) {
    KvSizing z;
    z.block_size = a.block_size;
    z.cpu_bytes = kv_bytes;
    z.gpu_memory_utilization = a.gpu_memory_utilization;
    z.max_num_batched_tokens = a.max_num_batched_tokens;
    z.max_num_seqs = a.max_num_seqs;
    STRATA_TRY(num_blocks, max_kv_blocks(*m.model, *m.backend, z));
  }
  if (tokens_hint > 0) num_blocks = std::min(num_blocks, (tokens_hint + a.block_size - 1) / a.block_size);
  if (a.num_gpu_blocks_override > 0) num_blocks = a.num_gpu_blocks_override;
  num_blocks = std::min<int64_t>(num_blocks, std::numeric_limits<int32_t>::max());
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
  // The runner on its own thread, so the engine prepares step N+1 (and detokenizes step N) while the
  // device runs N; STRATA_OVERLAP=0 keeps everything on the engine thread (for comparisons).
  const char* overlap = std::getenv("STRATA_OVERLAP");
  if (overlap && overlap[0] == '0') return make_engine(stack, a, num_blocks, *stack.runner, std::move(on_step));
  stack.overlap = std::make_unique<AsyncExecutor>(*stack.runner);
  return make_engine(stack, a, num_blocks, *stack.overlap, std::move(on_step));
}

}  // namespace strata::cli
