#include "backend/cuda/cuda_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/kernels.cuh"
#include "backend/cuda/ops.cuh"
#include "core/logging.h"

namespace strata {

namespace {

#define CUDA_OK(expr)                                                                              \
  do {                                                                                             \
    cudaError_t e_ = (expr);                                                                       \
    STRATA_CHECK(e_ == cudaSuccess, "CUDA error in {}: {}", #expr, cudaGetErrorString(e_));        \
  } while (0)
#define LT_OK(expr)                                                                                \
  do {                                                                                             \
    cublasStatus_t s_ = (expr);                                                                    \
    STRATA_CHECK(s_ == CUBLAS_STATUS_SUCCESS, "cuBLASLt error {} in {}", static_cast<int>(s_), #expr); \
  } while (0)

constexpr size_t kAlign = 256;
constexpr size_t kInitialArena = 256 << 20;

size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
int64_t rows_of(const TensorView& t) { return t.numel() / t.shape.back(); }
bool is_float(DType t) { return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16; }

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

char* device_malloc(size_t bytes, const char* what) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
  if (e != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    STRATA_CHECK(false, "out of GPU memory allocating {} bytes for {} ({} of {} bytes free); lower "
                 "--gpu-memory-utilization, --max-model-len or --max-num-batched-tokens",
                 bytes, what, free_b, total_b);
  }
  return static_cast<char*>(p);
}

}  // namespace

bool cuda_available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

Result<std::unique_ptr<Backend>> create_cuda_backend(int device) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    cudaGetLastError();
    return make_error("--device cuda: no CUDA GPU is usable ({})",
                      e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
  }
  if (device < 0 || device >= n) return make_error("--device cuda: GPU {} requested, {} present", device, n);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  if (prop.major < 9)
    return make_error("--device cuda: GPU {} ({}) has compute capability {}.{}; this build targets sm_90a (Hopper)",
                      device, prop.name, prop.major, prop.minor);
  LOG_INFO("CUDA device {}: {} ({} SMs, {:.1f} GiB)", device, prop.name, prop.multiProcessorCount,
           static_cast<double>(prop.totalGlobalMem) / (1ull << 30));
  return std::unique_ptr<Backend>(new CudaBackend(device));
}

CudaBackend::CudaBackend(int device) : device_(device) {
  CUDA_OK(cudaSetDevice(device_));
  CUDA_OK(cudaFree(nullptr));  // creates the context, so what follows counts as this backend's memory
  free_at_start_ = memory_info().first;
  CUDA_OK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  LT_OK(cublasLtCreate(&lt_));
  lt_workspace_bytes_ = 32 << 20;
  lt_workspace_ = device_malloc(lt_workspace_bytes_, "the cuBLASLt workspace");
  chunks_.push_back({device_malloc(kInitialArena, "the step workspace"), kInitialArena});
  if (const char* t = std::getenv("STRATA_CUDA_TIMING"); t && t[0] == '1') {
    timing_ = true;
    for (auto& e : timing_ev_) CUDA_OK(cudaEventCreate(&e));
  }
  CUDA_OK(cudaMallocHost(&ring_, kRingBytes));
  CUDA_OK(cudaEventCreateWithFlags(&ring_done_, cudaEventDisableTiming));
  for (int i = 0; i < 2; ++i) {
    CUDA_OK(cudaMallocHost(&stage_[i], kStageBytes));
    stage_dev_[i] = device_malloc(kStageBytes, "upload staging");
    CUDA_OK(cudaEventCreateWithFlags(&stage_done_[i], cudaEventDisableTiming));
  }
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(stream_);
  if (timing_ && replays_timed_ > 0)
    LOG_INFO("CUDA graph replays: {} timed, {:.3f} ms GPU time each on average", replays_timed_,
             replay_ms_ / replays_timed_);
  for (auto g : graphs_) cudaGraphExecDestroy(g);
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
  }
  cudaFreeHost(ring_);
  cudaEventDestroy(ring_done_);
  for (int i = 0; i < 2; ++i) {
    cudaFreeHost(stage_[i]);
    cudaFree(stage_dev_[i]);
    cudaEventDestroy(stage_done_[i]);
  }
  for (auto& c : chunks_) cudaFree(c.first);
  for (auto& c : spare_) cudaFree(c.first);
  for (char* p : retired_) cudaFree(p);
  cudaFree(lt_workspace_);
  cublasLtDestroy(lt_);
  cudaStreamDestroy(stream_);
}

void CudaBackend::check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  STRATA_CHECK(e == cudaSuccess, "CUDA kernel {} failed to launch: {}", what, cudaGetErrorString(e));
}

bool CudaBackend::supports_dtype(DType dtype) const { return is_float(dtype); }

Tensor CudaBackend::alloc(DType dtype, Shape shape) {
  TensorView v{nullptr, dtype, std::move(shape)};
  const size_t bytes = v.nbytes();
  char* p = device_malloc(bytes, "a tensor");
  CUDA_OK(cudaMemsetAsync(p, 0, bytes, stream_));
  v.data = p;
  return Tensor(std::move(v), std::shared_ptr<void>(p, [](void* q) { cudaFree(q); }));
}

// The arena is a stack of chunks: normally one; a step that outgrows it pushes more (reusing spare
// chunks a release popped), and the next reset replaces them all by one chunk of the step's peak
// live bytes. Offsets only grow between a mark and its release, so a single chunk of the peak fits.
Tensor CudaBackend::workspace(DType dtype, Shape shape) {
  TensorView v{nullptr, dtype, std::move(shape)};
  const size_t bytes = round_up(v.nbytes());
  if (arena_used_ + bytes > chunks_.back().second) {
    STRATA_CHECK(!capturing_, "step workspace overflow while capturing a CUDA graph ({} bytes more)", bytes);
    auto fit = std::find_if(spare_.begin(), spare_.end(), [&](const auto& c) { return c.second >= bytes; });
    if (fit != spare_.end()) {
      chunks_.push_back(*fit);
      spare_.erase(fit);
    } else {
      const size_t size = std::max<size_t>(bytes, kInitialArena);
      chunks_.push_back({device_malloc(size, "the step workspace"), size});
    }
    arena_used_ = 0;
  }
  v.data = chunks_.back().first + arena_used_;
  arena_used_ += bytes;
  arena_step_bytes_ += bytes;
  arena_high_water_ = std::max<int64_t>(arena_high_water_, static_cast<int64_t>(arena_step_bytes_));
  return Tensor(std::move(v), nullptr);
}

void CudaBackend::reset_workspace() {
  STRATA_CHECK(!capturing_, "reset_workspace during capture");
  marks_.clear();
  if (chunks_.size() > 1 || !spare_.empty()) {
    // The last step outgrew the arena. Before any graph exists: one arena of that step's peak from now
    // on. Once graphs exist, their arena stays the arena and the overflow is given back (a rare step,
    // e.g. prompt logprobs over a long prompt, borrows memory for itself only).
    CUDA_OK(cudaStreamSynchronize(stream_));
    std::pair<char*, size_t> keep{nullptr, 0};
    for (auto* list : {&chunks_, &spare_})
      for (auto& c : *list) {
        if (captured_.count(c.first) && !keep.first) keep = c;
        else if (captured_.count(c.first)) retired_.push_back(c.first);
        else CUDA_OK(cudaFree(c.first));
      }
    chunks_.clear();
    spare_.clear();
    if (keep.first) {
      chunks_.push_back(keep);
    } else {
      const size_t size = round_up(static_cast<size_t>(arena_high_water_) * 9 / 8);
      chunks_.push_back({device_malloc(size, "the step workspace"), size});
    }
  }
  arena_used_ = 0;
  arena_step_bytes_ = 0;
}

size_t CudaBackend::workspace_mark() {
  marks_.push_back({chunks_.size(), arena_used_, arena_step_bytes_});
  return marks_.size() - 1;
}

void CudaBackend::workspace_release(size_t mark) {
  if (mark >= marks_.size()) return;
  const Mark m = marks_[mark];
  marks_.resize(mark);
  while (chunks_.size() > m.chunks) {
    spare_.push_back(chunks_.back());
    chunks_.pop_back();
  }
  arena_used_ = m.used;
  arena_step_bytes_ = m.step_bytes;
}

void CudaBackend::synchronize() { CUDA_OK(cudaStreamSynchronize(stream_)); }

std::pair<int64_t, int64_t> CudaBackend::memory_info() const {
  size_t free_b = 0, total_b = 0;
  CUDA_OK(cudaMemGetInfo(&free_b, &total_b));
  return {static_cast<int64_t>(free_b), static_cast<int64_t>(total_b)};
}

// Small host → device copies (step inputs) go through a pinned ring, so they are asynchronous and the
// host does not wait for the driver to stage pageable memory; the ring wraps only after the last copy
// issued from it has completed.
void* CudaBackend::ring_stage(const void* src, size_t bytes) {
  const size_t need = (bytes + 255) / 256 * 256;
  if (ring_off_ + need > kRingBytes) {
    CUDA_OK(cudaEventSynchronize(ring_done_));
    ring_off_ = 0;
  }
  char* p = static_cast<char*>(ring_) + ring_off_;
  std::memcpy(p, src, bytes);
  ring_off_ += need;
  return p;
}

void CudaBackend::copy_from_host(const void* src, const TensorView& dst) {
  const size_t bytes = dst.nbytes();
  if (bytes == 0) return;
  if (bytes <= kRingBytes / 8) {
    CUDA_OK(cudaMemcpyAsync(dst.data, ring_stage(src, bytes), bytes, cudaMemcpyHostToDevice, stream_));
    CUDA_OK(cudaEventRecord(ring_done_, stream_));
    return;
  }
  CUDA_OK(cudaMemcpyAsync(dst.data, src, bytes, cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::copy_from_host_2d(const void* src, size_t src_pitch, void* dst, size_t dst_pitch, size_t row_bytes,
                                    size_t rows) {
  if (rows == 0 || row_bytes == 0) return;
  if (row_bytes * rows <= kRingBytes / 8) {
    // Pack the rows densely into the ring, then one strided copy.
    std::vector<char> packed(row_bytes * rows);
    for (size_t i = 0; i < rows; ++i)
      std::memcpy(packed.data() + i * row_bytes, static_cast<const char*>(src) + i * src_pitch, row_bytes);
    void* staged = ring_stage(packed.data(), packed.size());
    CUDA_OK(cudaMemcpy2DAsync(dst, dst_pitch, staged, row_bytes, row_bytes, rows, cudaMemcpyHostToDevice, stream_));
    CUDA_OK(cudaEventRecord(ring_done_, stream_));
    return;
  }
  CUDA_OK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows, cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::copy_to_host(const TensorView& src, void* dst) {
  CUDA_OK(cudaMemcpyAsync(dst, src.data, src.nbytes(), cudaMemcpyDeviceToHost, stream_));
  CUDA_OK(cudaStreamSynchronize(stream_));
}

// Host → pinned stage i (CPU memcpy) while the GPU copies stage i-1 and converts it; two stages
// alternate, each reused only after its event says the GPU is done with it.
void CudaBackend::upload(const TensorView& src, const TensorView& dst) {
  STRATA_CHECK(is_float(src.dtype) && is_float(dst.dtype) && src.numel() == dst.numel(),
               "upload {} {} → {} {}", dtype_name(src.dtype), shape_str(src.shape), dtype_name(dst.dtype),
               shape_str(dst.shape));
  const auto t0 = std::chrono::steady_clock::now();
  const size_t es = dtype_size(src.dtype), ds = dtype_size(dst.dtype);
  const int64_t per_chunk = static_cast<int64_t>(kStageBytes / es);
  const int64_t n = src.numel();
  int i = 0;
  for (int64_t off = 0; off < n; off += per_chunk, i ^= 1) {
    const int64_t cnt = std::min(per_chunk, n - off);
    CUDA_OK(cudaEventSynchronize(stage_done_[i]));
    std::memcpy(stage_[i], static_cast<const char*>(src.data) + off * es, cnt * es);
    char* out = static_cast<char*>(dst.data) + off * ds;
    if (src.dtype == dst.dtype) {
      CUDA_OK(cudaMemcpyAsync(out, stage_[i], cnt * es, cudaMemcpyHostToDevice, stream_));
    } else {
      CUDA_OK(cudaMemcpyAsync(stage_dev_[i], stage_[i], cnt * es, cudaMemcpyHostToDevice, stream_));
      cuda::convert(stage_dev_[i], src.dtype, out, dst.dtype, cnt, stream_);
      check_launch("convert");
    }
    CUDA_OK(cudaEventRecord(stage_done_[i], stream_));
  }
  upload_bytes_ += static_cast<double>(n * es);
  upload_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void CudaBackend::fill_dummy(const TensorView& dst, uint64_t key, int64_t row0, int64_t col0, int64_t full_cols,
                             float center, float scale) {
  const int64_t cols = dst.shape.size() >= 2 ? dst.shape.back() : 1;
  cuda::fill_dummy(dst.data, dst.dtype, dst.numel() / std::max<int64_t>(cols, 1), cols, key, row0, col0, full_cols,
                   center, scale, stream_);
  check_launch("fill_dummy");
}

void CudaBackend::embedding(const TensorView& ids, const TensorView& table, int64_t vocab_start,
                            const TensorView& out) {
  cuda::embedding(ids.as<int32_t>(), ids.numel(), table.data, table.dim(0), table.dim(1), vocab_start, out.data,
                  table.dtype, stream_);
  check_launch("embedding");
}

CudaBackend::GemmPlan& CudaBackend::gemm_plan(int64_t m, int64_t n, int64_t k, DType dt, DType y_dt) {
  GemmKey key{m, n, k, static_cast<int>(dt), static_cast<int>(y_dt)};
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  GemmPlan p;
  LT_OK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  LT_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  LT_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  // Row-major y[m, n] = x[m, k] · w[n, k]ᵀ is column-major yᵀ[n, m] = op(w)[n, k] · xᵀ[k, m].
  LT_OK(cublasLtMatrixLayoutCreate(&p.a, cuda_type(dt), k, n, k));
  LT_OK(cublasLtMatrixLayoutCreate(&p.b, cuda_type(dt), k, m, k));
  LT_OK(cublasLtMatrixLayoutCreate(&p.c, cuda_type(y_dt), n, m, n));
  cublasLtMatmulPreference_t pref = nullptr;
  LT_OK(cublasLtMatmulPreferenceCreate(&pref));
  LT_OK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &lt_workspace_bytes_,
                                             sizeof(lt_workspace_bytes_)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  LT_OK(cublasLtMatmulAlgoGetHeuristic(lt_, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  STRATA_CHECK(found > 0, "cuBLASLt has no algorithm for m={} n={} k={} {}→{}", m, n, k, dtype_name(dt),
               dtype_name(y_dt));
  p.algo = result.algo;
  return plans_.emplace(key, p).first->second;
}

void CudaBackend::linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y) {
  const int64_t k = w.dim(1), n = w.dim(0), m = x.numel() / k;
  STRATA_CHECK(x.numel() == m * k && y.numel() == m * n && x.dtype == w.dtype, "linear x{} {} w{} {} y{}",
               shape_str(x.shape), dtype_name(x.dtype), shape_str(w.shape), dtype_name(w.dtype), shape_str(y.shape));
  STRATA_CHECK(y.dtype == w.dtype || y.dtype == DType::kF32, "linear output {} for {} weights", dtype_name(y.dtype),
               dtype_name(w.dtype));
  if (m == 0) return;
  const bool aligned16 = (reinterpret_cast<uintptr_t>(x.data) | reinterpret_cast<uintptr_t>(w.data)) % 16 == 0;
  if (w.dtype != DType::kF32 && m <= cuda::kGemvMaxRows && k % 8 == 0 && aligned16 &&
      (!bias.data || bias.dtype == w.dtype)) {
    cuda::gemv(x.data, w.data, bias.data, y.data, w.dtype, y.dtype, m, n, k, stream_);
    check_launch("gemv");
    return;
  }
  GemmPlan& p = gemm_plan(m, n, k, w.dtype, y.dtype);
  const float alpha = 1.0f, beta = 0.0f;
  LT_OK(cublasLtMatmul(lt_, p.desc, &alpha, w.data, p.a, x.data, p.b, &beta, y.data, p.c, y.data, p.c, &p.algo,
                       lt_workspace_, lt_workspace_bytes_, stream_));
  if (bias.data) {
    cuda::add_bias(y.data, y.dtype, bias.data, bias.dtype, m, n, stream_);
    check_launch("add_bias");
  }
}

void CudaBackend::rms_norm(const TensorView& x, const TensorView& w, float eps, const TensorView& out) {
  cuda::rms_norm(nullptr, x.data, w.data, eps, out.data, rows_of(x), x.shape.back(), x.dtype, stream_);
  check_launch("rms_norm");
}

void CudaBackend::add_rms_norm(const TensorView& residual, const TensorView& x, const TensorView& w, float eps,
                               const TensorView& out) {
  cuda::rms_norm(residual.data, x.data, w.data, eps, out.data, rows_of(x), x.shape.back(), x.dtype, stream_);
  check_launch("add_rms_norm");
}

void CudaBackend::rope(const TensorView& q, const TensorView& k, const TensorView& positions,
                       const TensorView& cos_sin) {
  cuda::rope(q.data, k.data, positions.as<int32_t>(), cos_sin.as<float>(), q.dim(0), static_cast<int>(q.dim(1)),
             static_cast<int>(k.dim(1)), static_cast<int>(q.dim(2)), q.dtype, stream_);
  check_launch("rope");
}

void CudaBackend::qkv_rope_cache(const TensorView& qkv, const TensorView& positions, const TensorView& cos_sin,
                                 const TensorView& q_out, const TensorView& k_cache, const TensorView& v_cache,
                                 const TensorView& slot_mapping) {
  STRATA_CHECK(cos_sin.dtype == DType::kF32, "cos_sin table must be F32");
  const int heads = static_cast<int>(q_out.dim(1)), hd = static_cast<int>(q_out.dim(2));
  const int kv_heads = static_cast<int>(k_cache.dim(2));
  cuda::qkv_rope_cache(qkv.data, positions.as<int32_t>(), cos_sin.as<float>(), q_out.data, k_cache.data,
                       v_cache.data, slot_mapping.as<int64_t>(), q_out.dim(0), heads, kv_heads, hd, qkv.dtype,
                       stream_);
  check_launch("qkv_rope_cache");
}

void CudaBackend::silu_mul(const TensorView& x, const TensorView& out) {
  cuda::silu_mul(x.data, out.data, rows_of(out), out.shape.back(), x.dtype, stream_);
  check_launch("silu_mul");
}

void CudaBackend::write_kv(const TensorView& k, const TensorView& v, const TensorView& k_cache,
                           const TensorView& v_cache, const TensorView& slot_mapping) {
  cuda::write_kv(k.data, v.data, k_cache.data, v_cache.data, slot_mapping.as<int64_t>(), k.dim(0),
                 k.numel() / std::max<int64_t>(k.dim(0), 1), k.dtype, stream_);
  check_launch("write_kv");
}

void CudaBackend::paged_attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                                  const AttentionMetadata& meta, float scale, const TensorView& out) {
  cuda::PagedAttentionArgs a;
  a.q = q.data;
  a.k_cache = k_cache.data;
  a.v_cache = v_cache.data;
  a.out = out.data;
  a.query_start_loc = meta.query_start_loc.as<int32_t>();
  a.seq_lens = meta.seq_lens.as<int32_t>();
  a.block_tables = meta.block_tables.as<int32_t>();
  a.num_tokens = static_cast<int32_t>(q.dim(0));
  a.num_seqs = meta.num_seqs;
  a.num_heads = static_cast<int32_t>(q.dim(1));
  a.head_dim = static_cast<int32_t>(q.dim(2));
  a.num_kv_heads = static_cast<int32_t>(k_cache.dim(2));
  a.block_size = static_cast<int32_t>(k_cache.dim(1));
  a.max_blocks_per_seq = static_cast<int32_t>(meta.block_tables.dim(1));
  a.max_query_len = meta.max_query_len;
  a.max_seq_len = meta.max_seq_len;
  a.scale = scale;
  a.dtype = q.dtype;
  const size_t ws = cuda::paged_attention_workspace_bytes(a.num_tokens, a.num_seqs, a.num_heads, a.head_dim,
                                                           a.max_query_len);
  Tensor w;
  if (ws > 0) {
    w = workspace(DType::kU8, {static_cast<int64_t>(ws)});
    a.workspace = w.data<void>();
  }
  cuda::paged_attention(a, stream_);
  check_launch("paged_attention");
}

void CudaBackend::gather_rows(const TensorView& x, const TensorView& rows, const TensorView& out) {
  cuda::gather_rows(x.data, rows.as<int32_t>(), out.data, rows.numel(), x.shape.back(), x.dtype, stream_);
  check_launch("gather_rows");
}

void CudaBackend::add_inplace(const TensorView& a, const TensorView& b) {
  cuda::add_inplace(a.data, b.data, a.numel(), a.dtype, stream_);
  check_launch("add_inplace");
}

void CudaBackend::copy_into_cols(const TensorView& src, const TensorView& dst, int64_t col0) {
  const int64_t cols = src.shape.back(), rows = src.numel() / std::max<int64_t>(cols, 1);
  const size_t es = dtype_size(src.dtype);
  STRATA_CHECK(src.dtype == dst.dtype && col0 + cols <= dst.shape.back(), "copy_into_cols shapes");
  CUDA_OK(cudaMemcpy2DAsync(static_cast<char*>(dst.data) + col0 * es, dst.shape.back() * es, src.data, cols * es,
                            cols * es, rows, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::argmax_rows(const TensorView& logits, const TensorView& ids) {
  STRATA_CHECK(logits.dtype == DType::kF32, "argmax_rows takes F32 logits");
  cuda::argmax_rows(logits.as<float>(), ids.numel(), logits.shape.back(), ids.as<int32_t>(), stream_);
  check_launch("argmax_rows");
}

void CudaBackend::sample_rows(const TensorView& logits, const TensorView& temperatures, const TensorView& seeds,
                              const TensorView& ids) {
  STRATA_CHECK(logits.dtype == DType::kF32, "sample_rows takes F32 logits");
  cuda::sample_rows(logits.as<float>(), temperatures.as<float>(), seeds.as<int64_t>(), ids.numel(),
                    logits.shape.back(), ids.as<int32_t>(), stream_);
  check_launch("sample_rows");
}

void CudaBackend::begin_capture() {
  STRATA_CHECK(!capturing_, "nested capture");
  capturing_ = true;
  CUDA_OK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
}

int CudaBackend::end_capture() {
  STRATA_CHECK(capturing_, "end_capture without begin_capture");
  capturing_ = false;
  cudaGraph_t g = nullptr;
  CUDA_OK(cudaStreamEndCapture(stream_, &g));
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaGraphInstantiate(&exec, g, 0));
  CUDA_OK(cudaGraphDestroy(g));
  graphs_.push_back(exec);
  for (auto& c : chunks_) captured_.insert(c.first);  // the graph's temporaries live here
  return static_cast<int>(graphs_.size()) - 1;
}

void CudaBackend::replay(int graph) {
  STRATA_CHECK(graph >= 0 && graph < static_cast<int>(graphs_.size()), "no graph {}", graph);
  if (timing_) {
    // STRATA_CUDA_TIMING=1: GPU time of each replay (the previous one is read here, off the hot path).
    if (timing_pending_) {
      float ms = 0;
      CUDA_OK(cudaEventElapsedTime(&ms, timing_ev_[0], timing_ev_[1]));
      replay_ms_ += ms;
      ++replays_timed_;
    }
    CUDA_OK(cudaEventRecord(timing_ev_[0], stream_));
  }
  CUDA_OK(cudaGraphLaunch(graphs_[graph], stream_));
  if (timing_) {
    CUDA_OK(cudaEventRecord(timing_ev_[1], stream_));
    timing_pending_ = true;
  }
}

}  // namespace strata
