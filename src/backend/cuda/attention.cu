// Paged attention: argument checks, workspace size and dispatch (kernels.cuh). The kernels are in
// attention_decode.cu / attention_decode_mma.cu (one-query sequences, split-KV) and attention_prefill.cu (multi-query
// sequences, flash-attention tiles).
//
// Every launch runs the decode kernel for the sequences with exactly one query row; when
// max_query_len > 1 the prefill kernel follows for the sequences with two or more (so the one-token
// sequences of a mixed batch take the split-KV path instead of a 64-row tile with one live row).
// The two write disjoint output rows. Nothing here allocates or synchronises.
#include "backend/cuda/attention_common.cuh"

namespace strata::cuda {

size_t paged_attention_workspace_bytes(int32_t /*num_tokens*/, int32_t num_seqs, int32_t num_heads,
                                       int32_t head_dim, int32_t /*max_query_len*/) {
  if (num_seqs <= 0 || num_heads <= 0 || head_dim <= 0) return 0;
  // Split partials of the decode kernel (used by every launch, see above): for each partial,
  // head_dim accumulators plus (m, l). The bound holds for any launch with at most num_seqs
  // sequences and any num_kv_heads.
  const int64_t partials = attn::decode_max_partials_per_head(num_seqs) * num_heads;
  return static_cast<size_t>(partials) * static_cast<size_t>(head_dim + 2) * sizeof(float);
}

void paged_attention(const PagedAttentionArgs& a, cudaStream_t stream) {
  if (a.num_seqs <= 0 || a.num_tokens <= 0 || a.max_query_len <= 0) return;
  STRATA_ATTN_REQUIRE(a.num_heads > 0 && a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0,
                      "num_kv_heads must divide num_heads");
  STRATA_ATTN_REQUIRE(a.head_dim >= 4 && a.head_dim <= 256 && a.head_dim % 4 == 0,
                      "head_dim must be a multiple of 4 in [4, 256]");
  STRATA_ATTN_REQUIRE(a.block_size >= 1 && a.max_blocks_per_seq >= 1, "bad block_size / block table");
  STRATA_ATTN_REQUIRE(a.q && a.k_cache && a.v_cache && a.out && a.query_start_loc && a.seq_lens && a.block_tables,
                      "null tensor");
  switch (a.dtype) {
    case DType::kF32:
      attn::launch_decode<float>(a, stream);
      if (a.max_query_len > 1) attn::launch_prefill<float>(a, 2, stream);
      break;
    case DType::kBF16:
      attn::launch_decode<__nv_bfloat16>(a, stream);
      if (a.max_query_len > 1) attn::launch_prefill<__nv_bfloat16>(a, 2, stream);
      break;
    case DType::kF16:
      attn::launch_decode<__half>(a, stream);
      if (a.max_query_len > 1) attn::launch_prefill<__half>(a, 2, stream);
      break;
    default:
      attn::fail(__FILE__, __LINE__, "dtype must be F32, BF16 or F16");
  }
}

}  // namespace strata::cuda
