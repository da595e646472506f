// Element types of the CUDA kernels: f32 loads/stores for float, bf16 and half, and a dispatch from
// DType to a template argument. Private to src/backend/cuda.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "core/dtype.h"

namespace strata::cuda {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }

inline int blocks_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// Programmatic dependent launch (sm_90): a kernel launched by launch() may start while the kernel
// before it in the stream is finishing; it must call pdl_wait() before reading anything that kernel
// wrote, and calls pdl_trigger() once its own successor may start launching. Work that needs no
// input of the predecessor (streaming weights) goes before pdl_wait(). STRATA_PDL=0 turns it off.
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_trigger() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }

inline bool pdl_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("STRATA_PDL");
    return !(e && e[0] == '0');
  }();
  return on;
}

template <typename... KArgs, typename... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...);
}

[[noreturn]] inline void bad_dtype(const char* where, DType dt) {
  std::fprintf(stderr, "strata cuda: %s: unsupported dtype %d\n", where, static_cast<int>(dt));
  std::abort();
}

}  // namespace strata::cuda

// Runs BODY with `T` bound to the element type of DT (F32, BF16, F16).
#define STRATA_DISPATCH_FLOAT(DT, WHERE, ...)                 \
  switch (DT) {                                               \
    case ::strata::DType::kF32: {                             \
      using T = float;                                        \
      __VA_ARGS__;                                            \
      break;                                                  \
    }                                                         \
    case ::strata::DType::kBF16: {                            \
      using T = __nv_bfloat16;                                \
      __VA_ARGS__;                                            \
      break;                                                  \
    }                                                         \
    case ::strata::DType::kF16: {                             \
      using T = __half;                                       \
      __VA_ARGS__;                                            \
      break;                                                  \
    }                                                         \
    default:                                                  \
      ::strata::cuda::bad_dtype(WHERE, DT);                   \
  }
