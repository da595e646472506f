// Flags shared by every command that runs the engine (generate, bench throughput, serve) and the
// code that turns them into a loaded model, a KV cache sized from --kv-cache-memory, and an Engine.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "dist/topology.h"
#include "engine/engine.h"
#include "runtime/group.h"
#include "runtime/model_loader.h"

namespace strata::cli {

struct EngineArgs {
  LoadOptions load;
  int block_size = 16;
  std::string kv_cache_memory = "4GiB";  // CPU backend
  double gpu_memory_utilization = 0.9;   // GPU backends: share of device memory for weights + work + KV
  bool enforce_eager = false;            // no CUDA graphs
  int32_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 0;  // 0: 2048, or 8192 on GPUs of at least 70 GiB (spec/cli.md)
  bool no_prefix_caching = false;
  bool no_chunked_prefill = false;
  bool priority_policy = false;
  int64_t num_gpu_blocks_override = 0;  // > 0: exactly this many KV blocks (tests)
  uint64_t seed = 0;
  bool seed_set = false;
  DistOptions dist;  // --tensor/pipeline-parallel-size, --nnodes, --node-rank, --master-addr/port
};

// The model, its KV cache, runner and engine, torn down in the right order. With more than one rank
// (or STRATA_DISTRIBUTED=1) the ranks live in a GroupExecutor instead: `model` then has the config,
// tokenizer and name but no backend or weights, and on a worker node nothing is loaded here at all:
// the command runs run_worker_node(group_options).
struct EngineStack {
  LoadedModel model;
  KvCache cache;
  std::unique_ptr<ModelRunner> runner;
  bool distributed = false;
  bool worker_node = false;
  GroupOptions group_options;
  std::shared_ptr<const ModelSource> source;
  std::unique_ptr<GroupExecutor> group;
  std::unique_ptr<AsyncExecutor> overlap;  // runner on its own thread (STRATA_OVERLAP=0: none)
  std::unique_ptr<Engine> engine;
  ~EngineStack() { engine.reset(); }
};

// A lost rank or node (comm_failure) logs, runs `before_exit` (e.g. /health → 503 for a moment) and
// exits the process with status 1, so the group is recreated.
void exit_on_comm_failure(std::function<void()> before_exit = nullptr);

void add_engine_flags(CLI::App& cmd, EngineArgs& a);
// Loads the model (stack->engine stays empty).
Result<std::unique_ptr<EngineStack>> load_stack(const EngineArgs& a);
// Sizes the KV cache (CPU: at most --kv-cache-memory; GPU: what --gpu-memory-utilization leaves after
// the weights and the largest step's workspace, measured by a profiling step; when `tokens_hint` > 0, as offline runs that know
// their work pass, no more than those tokens' blocks) and starts the engine.
Status start_engine(EngineStack& stack, const EngineArgs& a, int64_t tokens_hint = 0,
                    std::function<void(int64_t)> on_step = nullptr);

}  // namespace strata::cli
