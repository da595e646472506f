#include "runtime/kv_sizing.h"

#include <algorithm>

#include "core/logging.h"
#include "runtime/model_runner.h"

namespace strata {

int64_t default_batched_tokens(const Backend& backend) {
  return backend.memory_info().second >= (70ll << 30) ? 8192 : 2048;
}

Result<int64_t> max_kv_blocks(Model& model, Backend& backend, const KvSizing& z) {
  const int64_t per_block = model.kv_bytes_per_block(z.block_size);
  if (backend.memory_info().second <= 0) {
    const int64_t blocks = z.cpu_bytes / per_block;
    if (blocks < 1) return make_error("--kv-cache-memory {} bytes is smaller than one KV block ({} bytes)", z.cpu_bytes, per_block);
    return blocks;
  }
  // Profile the largest step with a one-block cache, then give the KV cache what the budget leaves.
  {
    KvCache probe_cache = model.allocate_kv_cache(1, z.block_size);
    ModelRunner probe(model, backend, probe_cache);
    probe.profile(std::max<int64_t>(z.max_num_batched_tokens, 1), z.max_num_seqs);
  }
  // The budget is this process's share of the device (so several servers can share one GPU), never
  // more than is free now.
  auto [free_b, total_b] = backend.memory_info();
  const int64_t used = backend.memory_in_use();
  const int64_t reserve = 256ll << 20;  // CUDA graphs, cuBLASLt plans, fragmentation
  const int64_t budget =
      std::min(static_cast<int64_t>(z.gpu_memory_utilization * static_cast<double>(total_b)) - used, free_b) - reserve;
  LOG_INFO("GPU memory: {:.2f} GiB total, {:.2f} GiB in use after profiling (weights + step workspace {:.2f} GiB); "
           "KV cache budget {:.2f} GiB at --gpu-memory-utilization {}",
           total_b / 1073741824.0, used / 1073741824.0, backend.workspace_high_water() / 1073741824.0,
           std::max<int64_t>(budget, 0) / 1073741824.0, z.gpu_memory_utilization);
  const int64_t blocks = budget / per_block;
  if (blocks < 1)
    return make_error("no GPU memory left for the KV cache ({:.2f} GiB in use of {:.2f} GiB); raise "
                      "--gpu-memory-utilization or lower --max-num-batched-tokens", used / 1073741824.0,
                      total_b / 1073741824.0);
  return blocks;
}

}  // namespace strata
