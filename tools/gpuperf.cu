// The two ceilings the GPU benchmarks are measured against, on this machine, now:
//   copy_bandwidth_GBps  device-to-device cudaMemcpy of 2 GiB, bytes read + written per second
//   bf16_gemm_TFLOPs     cuBLAS bf16 GEMM (f32 accumulation) M=N=K=size on random data
// Median of `reps` timed runs after warm-up (CUDA events).
//   strata_gpuperf [size=8192] [reps=20]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                                    \
  do {                                                                              \
    auto e_ = (x);                                                                  \
    if (e_ != 0) {                                                                  \
      std::fprintf(stderr, "%s failed (%d) at %s:%d\n", #x, static_cast<int>(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

__global__ void fill_random(__nv_bfloat16* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    unsigned x = static_cast<unsigned>(i) * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    p[i] = __float2bfloat16((x & 0xffff) / 65536.0f - 0.5f);
  }
}

template <typename F>
double median_ms(int reps, F&& run) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) run();
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    CHECK(cudaEventRecord(a));
    run();
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  const int size = argc > 1 ? std::atoi(argv[1]) : 8192;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device %s\n", prop.name);

  const size_t bytes = size_t{2} << 30;
  void *src = nullptr, *dst = nullptr;
  CHECK(cudaMalloc(&src, bytes));
  CHECK(cudaMalloc(&dst, bytes));
  fill_random<<<4096, 256>>>(static_cast<__nv_bfloat16*>(src), bytes / 2, 1);
  CHECK(cudaGetLastError());
  const double copy_ms = median_ms(reps, [&] { CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice)); });
  std::printf("copy_bandwidth_GBps %.1f\n", 2.0 * bytes / (copy_ms * 1e-3) / 1e9);
  CHECK(cudaFree(src));
  CHECK(cudaFree(dst));

  const size_t n = static_cast<size_t>(size) * size;
  __nv_bfloat16 *a = nullptr, *b = nullptr, *c = nullptr;
  CHECK(cudaMalloc(&a, n * 2));
  CHECK(cudaMalloc(&b, n * 2));
  CHECK(cudaMalloc(&c, n * 2));
  fill_random<<<4096, 256>>>(a, n, 2);
  fill_random<<<4096, 256>>>(b, n, 3);
  CHECK(cudaGetLastError());
  cublasHandle_t h;
  CHECK(cublasCreate(&h));
  const float alpha = 1.0f, beta = 0.0f;
  const double gemm_ms = median_ms(reps, [&] {
    CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, size, size, size, &alpha, a, CUDA_R_16BF, size, b, CUDA_R_16BF,
                       size, &beta, c, CUDA_R_16BF, size, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  std::printf("bf16_gemm_TFLOPs %.1f\n", 2.0 * size * size * static_cast<double>(size) / (gemm_ms * 1e-3) / 1e12);
  CHECK(cublasDestroy(h));
  return 0;
}
