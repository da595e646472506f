#include "backend/cpu/cpu_backend.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace strata {

std::unique_ptr<Backend> create_cpu_backend() { return std::make_unique<CpuBackend>(); }

namespace {
void check_f32(const TensorView& t, const char* what) {
  STRATA_CHECK(t.dtype == DType::kF32, "{}: expected F32, got {}", what, dtype_name(t.dtype));
}
int64_t rows_of(const TensorView& t) { return t.numel() / t.shape.back(); }

// y = x · wᵀ (+ bias) for few rows: each weight row is read once and dotted with every x row, so
// decode is bound by weight bandwidth (OpenBLAS sgemm packs w on every call, ~4x slower at m = 1).
// Compiled for AVX2/FMA with a generic fallback, chosen at load time.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void small_m_linear(
    const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n, int64_t k) {
  // Four weight rows at a time: each x element loaded feeds four FMAs.
#pragma omp parallel for schedule(static)
  for (int64_t j0 = 0; j0 < n; j0 += 4) {
    const int64_t nj = std::min<int64_t>(4, n - j0);
    const float* w0 = w + j0 * k;
    const float* w1 = w + (j0 + std::min<int64_t>(1, nj - 1)) * k;
    const float* w2 = w + (j0 + std::min<int64_t>(2, nj - 1)) * k;
    const float* w3 = w + (j0 + std::min<int64_t>(3, nj - 1)) * k;
    for (int64_t i = 0; i < m; ++i) {
      const float* xr = x + i * k;
      float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
      for (int64_t t = 0; t < k; ++t) {
        const float xv = xr[t];
        a0 += xv * w0[t];
        a1 += xv * w1[t];
        a2 += xv * w2[t];
        a3 += xv * w3[t];
      }
      const float acc[4] = {a0, a1, a2, a3};
      for (int64_t q = 0; q < nj; ++q) y[i * n + j0 + q] = bias ? acc[q] + bias[j0 + q] : acc[q];
    }
  }
}

constexpr int64_t kSmallM = 16;

float rms_scale(const float* x, int64_t h, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < h; ++i) ss += static_cast<double>(x[i]) * x[i];
  return 1.0f / std::sqrt(static_cast<float>(ss / h) + eps);
}
}  // namespace

void CpuBackend::copy_from_host(const void* src, const TensorView& dst) { std::memcpy(dst.data, src, dst.nbytes()); }
void CpuBackend::copy_to_host(const TensorView& src, void* dst) { std::memcpy(dst, src.data, src.nbytes()); }

void CpuBackend::embedding(const TensorView& ids, const TensorView& table, int64_t vocab_start,
                           const TensorView& out) {
  check_f32(table, "embedding table");
  const int64_t n = ids.numel(), h = table.dim(1), v = table.dim(0);
  const int32_t* id = ids.as<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t local = static_cast<int64_t>(id[i]) - vocab_start;
    float* o = out.as<float>() + i * h;
    if (local >= 0 && local < v) std::memcpy(o, table.as<float>() + local * h, h * sizeof(float));
    else std::memset(o, 0, h * sizeof(float));
  }
}

void CpuBackend::linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y) {
  check_f32(x, "linear x");
  check_f32(w, "linear w");
  // x and y are [rows, ...] with the trailing dims flattened to in / out features.
  const int64_t k = w.dim(1), n = w.dim(0), m = x.numel() / k;
  STRATA_CHECK(x.numel() == m * k && y.numel() == m * n, "linear shapes x{} w{} y{}", shape_str(x.shape),
               shape_str(w.shape), shape_str(y.shape));
  if (m == 0) return;
  float* out = y.as<float>();
  if (m <= kSmallM) {
    small_m_linear(x.as<float>(), w.as<float>(), bias.data ? bias.as<float>() : nullptr, out, m, n, k);
    return;
  }
  if (bias.data) {
    for (int64_t i = 0; i < m; ++i) std::memcpy(out + i * n, bias.as<float>(), n * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, x.as<float>(), static_cast<int>(k), w.as<float>(), static_cast<int>(k),
              bias.data ? 1.0f : 0.0f, out, static_cast<int>(n));
}

void CpuBackend::rms_norm(const TensorView& x, const TensorView& w, float eps, const TensorView& out) {
  const int64_t n = rows_of(x), h = x.shape.back();
#pragma omp parallel for if (n > 4)
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x.as<float>() + r * h;
    float* o = out.as<float>() + r * h;
    float s = rms_scale(xr, h, eps);
    for (int64_t i = 0; i < h; ++i) o[i] = xr[i] * s * w.as<float>()[i];
  }
}

void CpuBackend::add_rms_norm(const TensorView& residual, const TensorView& x, const TensorView& w, float eps,
                              const TensorView& out) {
  const int64_t n = rows_of(x), h = x.shape.back();
#pragma omp parallel for if (n > 4)
  for (int64_t r = 0; r < n; ++r) {
    float* res = residual.as<float>() + r * h;
    const float* xr = x.as<float>() + r * h;
    for (int64_t i = 0; i < h; ++i) res[i] += xr[i];
    float s = rms_scale(res, h, eps);
    float* o = out.as<float>() + r * h;
    for (int64_t i = 0; i < h; ++i) o[i] = res[i] * s * w.as<float>()[i];
  }
}

void CpuBackend::rope(const TensorView& q, const TensorView& k, const TensorView& positions,
                      const TensorView& cos_sin) {
  const int64_t n = q.dim(0), d = q.dim(2), half = d / 2, max_pos = cos_sin.dim(0);
  const int32_t* pos = positions.as<int32_t>();
  auto rotate = [&](float* v, const float* cs) {
    for (int64_t i = 0; i < half; ++i) {
      float c = cs[i], s = cs[half + i];
      float x1 = v[i], x2 = v[half + i];
      v[i] = x1 * c - x2 * s;
      v[half + i] = x2 * c + x1 * s;
    }
  };
#pragma omp parallel for if (n > 4)
  for (int64_t t = 0; t < n; ++t) {
    STRATA_CHECK(pos[t] >= 0 && pos[t] < max_pos, "rope position {} outside [0, {})", pos[t], max_pos);
    const float* cs = cos_sin.as<float>() + static_cast<int64_t>(pos[t]) * d;
    for (int64_t h = 0; h < q.dim(1); ++h) rotate(q.as<float>() + (t * q.dim(1) + h) * d, cs);
    for (int64_t h = 0; h < k.dim(1); ++h) rotate(k.as<float>() + (t * k.dim(1) + h) * d, cs);
  }
}

void CpuBackend::silu_mul(const TensorView& x, const TensorView& out) {
  const int64_t n = rows_of(x), d = out.shape.back();
#pragma omp parallel for if (n > 4)
  for (int64_t r = 0; r < n; ++r) {
    const float* g = x.as<float>() + r * 2 * d;
    const float* u = g + d;
    float* o = out.as<float>() + r * d;
    for (int64_t i = 0; i < d; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

void CpuBackend::gather_rows(const TensorView& x, const TensorView& rows, const TensorView& out) {
  const int64_t d = x.shape.back(), m = rows.numel(), n = rows_of(x);
  for (int64_t i = 0; i < m; ++i) {
    int32_t r = rows.as<int32_t>()[i];
    STRATA_CHECK(r >= 0 && r < n, "gather_rows: row {} of {}", r, n);
    std::memcpy(out.as<float>() + i * d, x.as<float>() + r * d, d * sizeof(float));
  }
}

void CpuBackend::add_inplace(const TensorView& a, const TensorView& b) {
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) a.as<float>()[i] += b.as<float>()[i];
}

void CpuBackend::copy_into_cols(const TensorView& src, const TensorView& dst, int64_t col0) {
  const int64_t rows = rows_of(src), cols = src.shape.back(), dst_cols = dst.shape.back();
  const size_t es = dtype_size(src.dtype);
  STRATA_CHECK(src.dtype == dst.dtype && rows == rows_of(dst) && col0 + cols <= dst_cols, "copy_into_cols shapes");
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(static_cast<char*>(dst.data) + (i * dst_cols + col0) * es, static_cast<const char*>(src.data) + i * cols * es,
                cols * es);
}

}  // namespace strata
