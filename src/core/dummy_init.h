// Deterministic dummy weights (--load-format dummy): element `index` of the tensor named `name` is
// center + scale * (2u - 1), u in [0, 1) from splitmix64(splitmix64(seed ^ fnv1a(name)) + index) >> 40.
// A pure function of (seed, name, index), so every tensor-parallel rank's slice agrees with the
// whole tensor, and the CUDA backend generates the same values on the GPU (elementwise.cu, which
// repeats dummy_value's arithmetic with explicit rounding so nvcc cannot fuse it into an FMA).
#pragma once

#include <cstdint>
#include <string_view>

// Functions the CUDA kernels share with the host (compiled for both by nvcc).
#ifdef __CUDACC__
#define STRATA_HOST_DEVICE __host__ __device__
#else
#define STRATA_HOST_DEVICE
#endif

namespace strata {

STRATA_HOST_DEVICE inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

inline uint64_t dummy_key(uint64_t seed, std::string_view name) { return splitmix64(seed ^ fnv1a(name)); }

inline float dummy_value(uint64_t key, uint64_t index, float center, float scale) {
  const uint64_t bits = splitmix64(key + index);
  const float u = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // [0, 1)
  return center + scale * (2.0f * u - 1.0f);
}

}  // namespace strata
