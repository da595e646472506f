// Backend: memory and the op table the models are written against. The CPU backend (cpu/) is the
// fp32 reference every accelerator kernel is tested against; a CUDA backend (cuda/) implements the
// same table. Ops take views of tensors allocated by the same backend; shapes are in the comments.
//
// Attention works on a paged KV cache: each layer's cache is [num_blocks, block_size, num_kv_heads,
// head_dim] for K and for V; a sequence's tokens live in the blocks its block table lists, and
// slot_mapping[i] = block * block_size + offset says where token i of this step is written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "backend/sampling_math.h"  // SamplingRowParams
#include "core/tensor.h"

namespace strata {

// Per-step attention metadata (int32 unless noted), all on the backend's memory.
struct AttentionMetadata {
  TensorView query_start_loc;  // [num_seqs + 1] prefix sums of this step's tokens per sequence
  TensorView seq_lens;         // [num_seqs] tokens in the cache after this step (context + new)
  TensorView block_tables;     // [num_seqs, max_blocks_per_seq]
  TensorView slot_mapping;     // int64 [num_tokens]
  int32_t num_seqs = 0;
  int32_t max_query_len = 0;
  int32_t max_seq_len = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // Whether activations/weights/KV cache may use this floating-point dtype.
  virtual bool supports_dtype(DType dtype) const { return dtype == DType::kF32; }

  // Zero-initialised memory of this backend (weights, KV cache, persistent buffers).
  virtual Tensor alloc(DType dtype, Shape shape) = 0;
  // Scratch memory for one step, uninitialised, valid until the next reset_workspace(). Addresses
  // repeat when a step repeats the same sequence of requests (CUDA graphs rely on it).
  virtual Tensor workspace(DType dtype, Shape shape) { return alloc(dtype, shape); }
  virtual void reset_workspace() {}
  // Scoped reuse inside a step: workspace taken after workspace_mark() is given back by
  // workspace_release(mark) (the model does this around each layer, whose temporaries die with it).
  virtual size_t workspace_mark() { return 0; }
  virtual void workspace_release(size_t mark) {}
  // Waits for all queued work (the CPU backend runs synchronously).
  virtual void synchronize() {}
  // Device memory (free, total) in bytes; {0, 0} for host memory.
  virtual std::pair<int64_t, int64_t> memory_info() const { return {0, 0}; }
  // Device bytes this backend took since it was created (other processes' use left out).
  virtual int64_t memory_in_use() const { return 0; }
  // Weight bytes upload() moved and the seconds it took.
  virtual std::pair<double, double> upload_stats() const { return {0, 0}; }
  // Bytes of workspace the largest step so far needed (sizes the arena before graphs are captured).
  virtual int64_t workspace_high_water() const { return 0; }

  // Graphs (CUDA graphs): the ops issued between begin_capture() and end_capture() are recorded,
  // not run, and replay(id) runs them again on the same buffers. Inputs change by copying into those
  // buffers before replay. Backends without graphs return false from supports_graphs().
  virtual bool supports_graphs() const { return false; }
  virtual void begin_capture() {}
  virtual int end_capture() { return -1; }
  virtual void replay(int graph) {}
  // ids int32 [m] = per-row argmax of f32 logits [m, vocab] (ties: lowest index).
  virtual void argmax_rows(const TensorView& logits, const TensorView& ids) = 0;
  // ids int32 [m]: a draw from softmax(logits[i] / t[i]) per row by the Gumbel-max rule, argmax_j of
  // logits[i][j] / t[i] + g(seeds[i], j) with g from core/gumbel.h, or the plain argmax where t[i] = 0.
  // temperatures f32 [m]; seeds I64 [m] (u64 bits).
  virtual void sample_rows(const TensorView& logits, const TensorView& temperatures, const TensorView& seeds,
                           const TensorView& ids) = 0;
  // The full device sampler, per row i of f32 logits [m, vocab] (vLLM V1's order; engine/sampler.h has
  // the host version): the raw row (NaN read as -inf) gets the penalties of its entries, then with
  // t = temperature > 0 the kept set is: top_k (logit >= the k-th largest, ties in), then min_p
  // (w >= min_p where w = e(v / t - max / t), e = sampling_exp of backend/sampling_math.h), then top_p
  // over what is left in (logit desc, id asc) order with fixed-point masses W = trunc(w * 2^40): the
  // prefix through the first token whose running mass reaches trunc(top_p * total) (at least one).
  // ids[i] = argmax over the kept set of v / t + gumbel_noise(seed, j), lowest id on ties (so a row
  // with no filters and no penalties draws exactly sample_rows' token); t <= 0: the argmax of the
  // penalized row, lowest id on ties. With num_logprobs >= 0, logprobs of the RAW row (log_softmax
  // before penalties, as vLLM V1): logprobs[i][0] = the sampled token's, logprob_ids[i][0] = its rank
  // (tokens whose raw logit >= its), then [1 + j] the j-th most likely token's logprob / id for
  // j < min(num_logprobs, vocab) (ties: lower id first); other entries are left as they are.
  // params: U8 [m, sizeof(SamplingRowParams)] holding SamplingRowParams; penalty_offsets I32 [m + 1];
  // penalty_entries I32 [n, 2]: (token, count in the output | 1 << 31 when in the prompt), rows'
  // entries at [offsets[i], offsets[i + 1]), each token at most once per row; ids I32 [m];
  // logprob_ids I32 and logprobs F32 [m, 1 + kMaxSampleLogprobs]. vocab <= kMaxSampleVocab. No
  // allocation, no host synchronization (graph-capturable).
  virtual void sample_filtered(const TensorView& logits, const TensorView& params, const TensorView& penalty_offsets,
                               const TensorView& penalty_entries, const TensorView& ids,
                               const TensorView& logprob_ids, const TensorView& logprobs) = 0;
  // The argument checks every sample_filtered implementation starts with (aborts on a misuse).
  static void check_sample_filtered_args(const TensorView& logits, const TensorView& params,
                                         const TensorView& penalty_offsets, const TensorView& ids);
  // Host tensor of any floating-point dtype → dst (same element count), converted to dst's dtype.
  virtual void upload(const TensorView& host_src, const TensorView& dst) = 0;
  // Dummy weights in place, equal to WeightLoader::dummy's values: element (r, c) of dst is element
  // (row0 + r, col0 + c) of a tensor with full_cols columns, center + scale * (2u - 1) with u in
  // [0, 1) from splitmix64(key + full index) >> 40 (see weight_loader.cpp).
  virtual void fill_dummy(const TensorView& dst, uint64_t key, int64_t row0, int64_t col0, int64_t full_cols,
                          float center, float scale) = 0;
  // Host <-> backend copies of whole tensors (same dtype and size).
  virtual void copy_from_host(const void* src, const TensorView& dst) = 0;
  virtual void copy_to_host(const TensorView& src, void* dst) = 0;
  // `rows` rows of `row_bytes` from host memory (src_pitch bytes apart) to dst + i * dst_pitch bytes.
  virtual void copy_from_host_2d(const void* src, size_t src_pitch, void* dst, size_t dst_pitch, size_t row_bytes,
                                 size_t rows) = 0;

  // out[i] = table[ids[i] - vocab_start] if ids[i] is in this rank's vocab slice, else zeros.
  // ids int32 [n]; table [vocab_local, hidden]; out [n, hidden].
  virtual void embedding(const TensorView& ids, const TensorView& table, int64_t vocab_start,
                         const TensorView& out) = 0;
  // y = x · wᵀ (+ bias). x [n, in]; w [out, in]; bias [out] or empty; y [n, out].
  virtual void linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y) = 0;
  // out = x / rms(x) * w, per row. x, out [n, hidden]; w [hidden].
  virtual void rms_norm(const TensorView& x, const TensorView& w, float eps, const TensorView& out) = 0;
  // residual += x; out = rms_norm(residual). Fused residual add + norm.
  virtual void add_rms_norm(const TensorView& residual, const TensorView& x, const TensorView& w, float eps,
                            const TensorView& out) = 0;
  // Rotates q [n, heads, head_dim] and k [n, kv_heads, head_dim] in place (NeoX halves), with
  // cos_sin [max_positions, head_dim] (cos in the first half, sin in the second) at positions int32 [n].
  virtual void rope(const TensorView& q, const TensorView& k, const TensorView& positions,
                    const TensorView& cos_sin) = 0;
  // The fused attention prologue: qkv [n, (heads + 2 * kv_heads) * head_dim] holds q, k, v per row;
  // q is rotated into q_out [n, heads, head_dim]; k is rotated and k, v are written into the caches at
  // slot_mapping (a negative slot skips the token: padding rows).
  virtual void qkv_rope_cache(const TensorView& qkv, const TensorView& positions, const TensorView& cos_sin,
                              const TensorView& q_out, const TensorView& k_cache, const TensorView& v_cache,
                              const TensorView& slot_mapping) = 0;
  // out = silu(x[:, :d]) * x[:, d:]. x [n, 2d]; out [n, d].
  virtual void silu_mul(const TensorView& x, const TensorView& out) = 0;
  // Writes k, v [n, kv_heads, head_dim] into the caches at slot_mapping.
  virtual void write_kv(const TensorView& k, const TensorView& v, const TensorView& k_cache,
                        const TensorView& v_cache, const TensorView& slot_mapping) = 0;
  // Causal attention of this step's queries over each sequence's cached keys/values (GQA).
  // q, out [n, heads, head_dim].
  virtual void paged_attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                               const AttentionMetadata& meta, float scale, const TensorView& out) = 0;
  // out[i] = x[rows[i]]. x [n, d]; rows int32 [m]; out [m, d].
  virtual void gather_rows(const TensorView& x, const TensorView& rows, const TensorView& out) = 0;
  // a += b, elementwise (same shape).
  virtual void add_inplace(const TensorView& a, const TensorView& b) = 0;
  // dst[:, col0 : col0 + cols] = src (same dtype). src [rows, cols]; dst [rows, >= col0 + cols].
  virtual void copy_into_cols(const TensorView& src, const TensorView& dst, int64_t col0) = 0;
};

std::unique_ptr<Backend> create_cpu_backend();

// Whether this build has the CUDA backend and a usable GPU is present.
bool cuda_available();
// The CUDA backend on GPU `device` (error when the build has none or no GPU answers).
Result<std::unique_ptr<Backend>> create_cuda_backend(int device = 0);

}  // namespace strata
