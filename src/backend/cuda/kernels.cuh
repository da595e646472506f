// Launchers of the CUDA kernels (src/backend/cuda/*.cu), called by CudaBackend on its stream.
// Raw pointers + sizes; dtype says the element type of the floating-point tensors (F32, BF16, F16);
// all math is f32 inside. Every launcher is graph-capturable: no allocation, no synchronisation, and
// launch shapes that depend only on host arguments named "graph-stable" below.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace strata::cuda {

// ---- attention (attention.cu) ----
// Causal attention of this step's queries over each sequence's paged K/V (GQA: query head h reads
// KV head h / (num_heads / num_kv_heads)). Sequence s owns query rows
// [query_start_loc[s], query_start_loc[s+1]); its query row i sits at position
// seq_lens[s] - q_len + i and attends to keys 0..that position. Key t of sequence s lives in cache
// block block_tables[s * max_blocks_per_seq + t / block_size], offset t % block_size.
struct PagedAttentionArgs {
  const void* q = nullptr;        // [num_tokens, num_heads, head_dim]
  const void* k_cache = nullptr;  // [num_blocks, block_size, num_kv_heads, head_dim]
  const void* v_cache = nullptr;
  void* out = nullptr;            // [num_tokens, num_heads, head_dim]
  const int32_t* query_start_loc = nullptr;  // [num_seqs + 1], device
  const int32_t* seq_lens = nullptr;         // [num_seqs], device
  const int32_t* block_tables = nullptr;     // [num_seqs, max_blocks_per_seq], device
  int32_t num_tokens = 0, num_seqs = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int32_t block_size = 0, max_blocks_per_seq = 0;
  // Host-known bounds: max_query_len == 1 selects the decode path, whose launch shape depends only on
  // num_seqs, num_heads, num_kv_heads, head_dim (graph-stable; seq_lens are read on the device).
  int32_t max_query_len = 0, max_seq_len = 0;
  float scale = 1.0f;
  DType dtype = DType::kBF16;
  void* workspace = nullptr;  // at least paged_attention_workspace_bytes(...) bytes
};
size_t paged_attention_workspace_bytes(int32_t num_tokens, int32_t num_seqs, int32_t num_heads, int32_t head_dim,
                                       int32_t max_query_len);
void paged_attention(const PagedAttentionArgs& a, cudaStream_t stream);

}  // namespace strata::cuda
