// CPU backend: fp32 compute, OpenBLAS for GEMMs, OpenMP across rows/heads. The reference
// implementation of the Backend op table.
#pragma once

#include "backend/backend.h"

namespace strata {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  Tensor alloc(DType dtype, Shape shape) override { return Tensor::host(dtype, std::move(shape)); }
  void copy_from_host(const void* src, const TensorView& dst) override;
  void copy_to_host(const TensorView& src, void* dst) override;
  void copy_from_host_2d(const void* src, size_t src_pitch, void* dst, size_t dst_pitch, size_t row_bytes,
                         size_t rows) override;
  void upload(const TensorView& host_src, const TensorView& dst) override;
  void fill_dummy(const TensorView& dst, uint64_t key, int64_t row0, int64_t col0, int64_t full_cols, float center,
                  float scale) override;
  void qkv_rope_cache(const TensorView& qkv, const TensorView& positions, const TensorView& cos_sin,
                      const TensorView& q_out, const TensorView& k_cache, const TensorView& v_cache,
                      const TensorView& slot_mapping) override;
  void argmax_rows(const TensorView& logits, const TensorView& ids) override;
  void sample_rows(const TensorView& logits, const TensorView& temperatures, const TensorView& seeds,
                   const TensorView& ids) override;
  void sample_filtered(const TensorView& logits, const TensorView& params, const TensorView& penalty_offsets,
                       const TensorView& penalty_entries, const TensorView& ids, const TensorView& logprob_ids,
                       const TensorView& logprobs) override;
  void embedding(const TensorView& ids, const TensorView& table, int64_t vocab_start,
                 const TensorView& out) override;
  void linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y) override;
  void rms_norm(const TensorView& x, const TensorView& w, float eps, const TensorView& out) override;
  void add_rms_norm(const TensorView& residual, const TensorView& x, const TensorView& w, float eps,
                    const TensorView& out) override;
  void rope(const TensorView& q, const TensorView& k, const TensorView& positions,
            const TensorView& cos_sin) override;
  void silu_mul(const TensorView& x, const TensorView& out) override;
  void write_kv(const TensorView& k, const TensorView& v, const TensorView& k_cache, const TensorView& v_cache,
                const TensorView& slot_mapping) override;
  void paged_attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                       const AttentionMetadata& meta, float scale, const TensorView& out) override;
  void gather_rows(const TensorView& x, const TensorView& rows, const TensorView& out) override;
  void add_inplace(const TensorView& a, const TensorView& b) override;
  void copy_into_cols(const TensorView& src, const TensorView& dst, int64_t col0) override;
};

}  // namespace strata
