// How many KV-cache blocks a rank can hold: on the CPU, what --kv-cache-memory allows; on a GPU, what
// --gpu-memory-utilization leaves after the weights and the largest step's workspace, measured by a
// profiling step (ModelRunner::profile) with a one-block cache. Every rank of a group computes its own
// and the group takes the smallest.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "core/status.h"
#include "model/model.h"

namespace strata {

struct KvSizing {
  int block_size = 16;
  int64_t cpu_bytes = 0;                 // --kv-cache-memory
  double gpu_memory_utilization = 0.9;
  int64_t max_num_batched_tokens = 2048;
  int32_t max_num_seqs = 256;
};

Result<int64_t> max_kv_blocks(Model& model, Backend& backend, const KvSizing& sizing);

// --max-num-batched-tokens 0 → 8192 on GPUs of at least 70 GiB, else 2048 (spec/cli.md).
int64_t default_batched_tokens(const Backend& backend);

}  // namespace strata
