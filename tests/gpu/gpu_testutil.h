// Helpers of the GPU kernel parity tests (kernel_parity_test.cpp, attention_parity_test.cpp): the
// CUDA backend shared by the process, seeded random inputs, host <-> backend transfers in any
// floating-point dtype, and the comparison metrics. The tests talk to the GPU only through the
// Backend interface and compare it with the fp32 CPU backend on the same (dtype-rounded) inputs.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/backend.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace strata::gputest {

// The CUDA backend of GPU 0, made on first use and shared by every test of the process (never
// destroyed: its destructor would run after the CUDA runtime has shut down). Null, with *error set,
// when it cannot be made.
inline Backend* shared_gpu(std::string* error) {
  static std::string err;
  static Backend* gpu = []() -> Backend* {
    auto r = create_cuda_backend(0);
    if (!r.ok()) {
      err = r.error().message();
      return nullptr;
    }
    return r.value().release();
  }();
  if (!gpu && error) *error = err;
  return gpu;
}

// $STRATA_TEST_SEED (to replay a failure), else a fresh seed.
inline uint32_t test_seed() {
  if (const char* s = std::getenv("STRATA_TEST_SEED"); s && *s)
    return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

// One test's backends and random stream.
struct Env {
  Env() : seed(test_seed()), rng(seed), cpu(create_cpu_backend()), gpu(shared_gpu(&error)) {}
  uint32_t seed;
  std::mt19937 rng;
  std::unique_ptr<Backend> cpu;
  std::string error;
  Backend* gpu;
};

}  // namespace strata::gputest

// Opens a parity test: skips without a GPU, makes `env` (env.cpu, env.gpu, env.rng) and traces the
// seed into every failure message.
#define STRATA_PARITY_SETUP(env)                                                                  \
  if (!::strata::cuda_available()) GTEST_SKIP() << "no CUDA GPU";                                \
  ::strata::gputest::Env env;                                                                    \
  ASSERT_NE(env.gpu, nullptr) << "create_cuda_backend(0): " << env.error;                        \
  SCOPED_TRACE(::testing::Message() << "seed " << env.seed << " (replay: STRATA_TEST_SEED=" << env.seed << ")")

namespace strata::gputest {

// Value a backend output is pre-filled with, so that elements an op fails to write stand out.
constexpr float kPoison = 1e4f;

inline uint64_t seed64(std::mt19937& rng) { return (static_cast<uint64_t>(rng()) << 32) | rng(); }

// n floats uniform in [lo, hi), never exactly 0 (a splitmix64 stream seeded from rng: fast enough for
// the 10^7-element KV caches).
inline std::vector<float> uniform(std::mt19937& rng, size_t n, float lo, float hi) {
  std::vector<float> v(n);
  uint64_t state = seed64(rng);
  const float span = hi - lo;
  for (size_t i = 0; i < n; ++i) {
    state += 0x9e3779b97f4a7c15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    float x = lo + span * (static_cast<float>(z >> 40) * (1.0f / 16777216.0f));
    v[i] = x == 0.0f ? span * 0x1p-10f : x;
  }
  return v;
}

inline int rand_int(std::mt19937& rng, int lo, int hi) {  // [lo, hi]
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

// x as the dtype stores it (f32 values of a BF16 / F16 tensor are exact).
inline float round_to(DType dt, float x) {
  switch (dt) {
    case DType::kBF16: return bf16_to_f32(f32_to_bf16(x));
    case DType::kF16: return f16_to_f32(f32_to_f16(x));
    default: return x;
  }
}
inline std::vector<float> rounded(DType dt, std::vector<float> v) {
  if (dt != DType::kF32)
    for (float& x : v) x = round_to(dt, x);
  return v;
}

// A tensor of backend b in dtype dt holding the f32 values v (converted by Backend::upload).
inline Tensor to_backend(Backend& b, DType dt, const Shape& shape, const std::vector<float>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), shape_numel(shape)) << "test bug: values for " << shape_str(shape);
  Tensor t = b.alloc(dt, shape);
  b.upload(TensorView{const_cast<float*>(v.data()), DType::kF32, shape}, t.view());
  return t;
}
// An integer tensor (int32 / int64 by T) of backend b holding v.
template <typename T>
Tensor ints_to_backend(Backend& b, const Shape& shape, const std::vector<T>& v) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  Tensor t = b.alloc(sizeof(T) == 4 ? DType::kI32 : DType::kI64, shape);
  b.copy_from_host(v.data(), t.view());
  return t;
}
inline Tensor poisoned(Backend& b, DType dt, const Shape& shape, float value = kPoison) {
  return to_backend(b, dt, shape, std::vector<float>(static_cast<size_t>(shape_numel(shape)), value));
}

// The elements of t widened to f32 (raw bytes through copy_to_host, then convert_to_f32).
inline std::vector<float> download(Backend& b, const TensorView& t) {
  std::vector<unsigned char> raw(t.nbytes());
  b.copy_to_host(t, raw.data());
  std::vector<float> out(static_cast<size_t>(t.numel()));
  convert_to_f32(t.dtype, raw.data(), out.data(), out.size());
  return out;
}
template <typename T>
std::vector<T> download_raw(Backend& b, const TensorView& t) {
  std::vector<T> out(t.nbytes() / sizeof(T));
  b.copy_to_host(t, out.data());
  return out;
}

// Relative L2 tolerance of a dtype's outputs: f32_tol for F32 (op-dependent), else the rounding of
// 16-bit outputs dominates.
inline double tolerance(DType dt, double f32_tol) {
  switch (dt) {
    case DType::kBF16: return 1.5e-2;
    case DType::kF16: return 5e-3;
    default: return f32_tol;
  }
}

// ‖got − want‖₂ / ‖want‖₂ <= tol (double accumulation) and every element of got finite.
inline ::testing::AssertionResult rel_close(const std::vector<float>& got, const std::vector<float>& want,
                                            double tol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != expected " << want.size();
  double num = 0, den = 0, worst_abs = -1;
  int64_t nonfinite = 0, first_nonfinite = -1, ref_nonfinite = 0, worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(want[i])) ++ref_nonfinite;
    if (!std::isfinite(got[i])) {
      if (nonfinite++ == 0) first_nonfinite = static_cast<int64_t>(i);
      continue;
    }
    const double d = static_cast<double>(got[i]) - static_cast<double>(want[i]);
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
    if (std::fabs(d) > worst_abs) worst_abs = std::fabs(d), worst = static_cast<int64_t>(i);
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  if (nonfinite == 0 && ref_nonfinite == 0 && rel <= tol) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure();
  f << "relative L2 error " << rel << " (tolerance " << tol << ") over " << got.size() << " elements";
  if (!got.empty()) f << "; largest |diff| at [" << worst << "]: got " << got[worst] << ", want " << want[worst];
  if (nonfinite) f << "; " << nonfinite << " non-finite outputs, first at [" << first_nonfinite << "]";
  if (ref_nonfinite) f << "; " << ref_nonfinite << " non-finite reference values (test bug)";
  return f;
}

// Bit-for-bit equality (f32 bit patterns, or integers).
template <typename T>
::testing::AssertionResult all_equal(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != expected " << want.size();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    bool same;
    if constexpr (std::is_same_v<T, float>) same = std::bit_cast<uint32_t>(got[i]) == std::bit_cast<uint32_t>(want[i]);
    else same = got[i] == want[i];
    if (!same && bad++ == 0) first = static_cast<int64_t>(i);
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ; first at [" << first
                                       << "]: got " << +got[first] << ", want " << +want[first];
}

inline std::string dt_str(DType dt) { return std::string(dtype_name(dt)); }

}  // namespace strata::gputest
