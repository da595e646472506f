// CUDA backend: one GPU, one stream. Weights, KV cache and persistent buffers come from cudaMalloc;
// per-step temporaries from a bump arena (same addresses when a step repeats, which CUDA graphs need);
// GEMMs through cuBLASLt (algorithm chosen once per shape) or, for decode-sized batches, a
// weight-streaming GEMV; uploads go through pinned staging buffers, host copy overlapping the DMA.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "backend/backend.h"

namespace strata {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  bool supports_dtype(DType dtype) const override;
  Tensor alloc(DType dtype, Shape shape) override;
  Tensor workspace(DType dtype, Shape shape) override;
  void reset_workspace() override;
  size_t workspace_mark() override;
  void workspace_release(size_t mark) override;
  void synchronize() override;
  std::pair<int64_t, int64_t> memory_info() const override;
  int64_t memory_in_use() const override { return free_at_start_ - memory_info().first; }
  int64_t workspace_high_water() const override { return arena_high_water_; }
  void copy_from_host(const void* src, const TensorView& dst) override;
  void copy_to_host(const TensorView& src, void* dst) override;
  void copy_from_host_2d(const void* src, size_t src_pitch, void* dst, size_t dst_pitch, size_t row_bytes,
                         size_t rows) override;
  void upload(const TensorView& host_src, const TensorView& dst) override;
  void fill_dummy(const TensorView& dst, uint64_t key, int64_t row0, int64_t col0, int64_t full_cols, float center,
                  float scale) override;

  void embedding(const TensorView& ids, const TensorView& table, int64_t vocab_start,
                 const TensorView& out) override;
  void linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y) override;
  void rms_norm(const TensorView& x, const TensorView& w, float eps, const TensorView& out) override;
  void add_rms_norm(const TensorView& residual, const TensorView& x, const TensorView& w, float eps,
                    const TensorView& out) override;
  void rope(const TensorView& q, const TensorView& k, const TensorView& positions,
            const TensorView& cos_sin) override;
  void qkv_rope_cache(const TensorView& qkv, const TensorView& positions, const TensorView& cos_sin,
                      const TensorView& q_out, const TensorView& k_cache, const TensorView& v_cache,
                      const TensorView& slot_mapping) override;
  void silu_mul(const TensorView& x, const TensorView& out) override;
  void write_kv(const TensorView& k, const TensorView& v, const TensorView& k_cache, const TensorView& v_cache,
                const TensorView& slot_mapping) override;
  void paged_attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                       const AttentionMetadata& meta, float scale, const TensorView& out) override;
  void gather_rows(const TensorView& x, const TensorView& rows, const TensorView& out) override;
  void add_inplace(const TensorView& a, const TensorView& b) override;
  void copy_into_cols(const TensorView& src, const TensorView& dst, int64_t col0) override;
  void argmax_rows(const TensorView& logits, const TensorView& ids) override;
  void sample_rows(const TensorView& logits, const TensorView& temperatures, const TensorView& seeds,
                   const TensorView& ids) override;
  // In sampling_filtered.cu.
  void sample_filtered(const TensorView& logits, const TensorView& params, const TensorView& penalty_offsets,
                       const TensorView& penalty_entries, const TensorView& ids, const TensorView& logprob_ids,
                       const TensorView& logprobs) override;

  bool supports_graphs() const override { return true; }
  void begin_capture() override;
  int end_capture() override;
  void replay(int graph) override;

  std::pair<double, double> upload_stats() const override { return {upload_bytes_, upload_seconds_}; }

  // The GPU and the stream every op of this backend is queued on (NCCL collectives join that stream).
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }

 private:
  struct GemmPlan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  using GemmKey = std::tuple<int64_t, int64_t, int64_t, int, int>;  // m, n, k, dtype, out dtype
  GemmPlan& gemm_plan(int64_t m, int64_t n, int64_t k, DType dt, DType y_dt);
  void check_launch(const char* what);

  int device_ = 0;
  int64_t free_at_start_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  void* lt_workspace_ = nullptr;
  size_t lt_workspace_bytes_ = 0;
  std::map<GemmKey, GemmPlan> plans_;

  // Step arena: chunks_[0] is the arena proper; more chunks appear only when a step overflows it,
  // and the next reset replaces them all by one chunk of the high-water size.
  std::vector<std::pair<char*, size_t>> chunks_;
  std::vector<std::pair<char*, size_t>> spare_;  // popped by a release, reused by the next overflow
  struct Mark {
    size_t chunks, used, step_bytes;
  };
  std::vector<Mark> marks_;
  std::set<char*> captured_;    // arenas captured graphs point into (never freed while they live)
  std::vector<char*> retired_;  // captured arenas no longer the active one
  size_t arena_used_ = 0;       // in the last chunk
  size_t arena_step_bytes_ = 0;  // this step, all chunks
  int64_t arena_high_water_ = 0;
  bool capturing_ = false;

  std::vector<cudaGraphExec_t> graphs_;
  bool timing_ = false, timing_pending_ = false;  // STRATA_CUDA_TIMING=1
  cudaEvent_t timing_ev_[2] = {nullptr, nullptr};
  double replay_ms_ = 0;
  int64_t replays_timed_ = 0;

  void* ring_stage(const void* src, size_t bytes);
  static constexpr size_t kRingBytes = 16 << 20;
  void* ring_ = nullptr;  // pinned ring for small input copies
  size_t ring_off_ = 0;
  cudaEvent_t ring_done_ = nullptr;
  // Pinned staging for uploads.
  static constexpr size_t kStageBytes = 32 << 20;
  void* stage_[2] = {nullptr, nullptr};
  void* stage_dev_[2] = {nullptr, nullptr};  // raw bytes before a dtype conversion
  cudaEvent_t stage_done_[2] = {nullptr, nullptr};
  double upload_bytes_ = 0, upload_seconds_ = 0;
};

}  // namespace strata
