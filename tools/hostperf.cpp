// Host limits the CPU figures in docs/perf.md are divided by, measured with all threads:
// copy bandwidth (bytes read + written per second) and fp32 GEMM rate (OpenBLAS sgemm, 2048^3).
//   build/cpu/strata_hostperf [GiB=1]
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  const double gib = argc > 1 ? std::atof(argv[1]) : 1.0;
  const size_t n = static_cast<size_t>(gib * (1ull << 30));
  std::vector<char> a(n, 1), b(n, 2);
  double best_bw = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const size_t chunk = n / nt, begin = chunk * t, len = t == nt - 1 ? n - begin : chunk;
      std::memcpy(b.data() + begin, a.data() + begin, len);
    }
    best_bw = std::max(best_bw, 2.0 * n / seconds_since(t0));
  }
  const int d = 2048;
  std::vector<float> x(static_cast<size_t>(d) * d, 0.5f), w(x.size(), 0.25f), y(x.size());
  double best_flops = 0;
  for (int rep = 0; rep < 4; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, d, d, 1.0f, x.data(), d, w.data(), d, 0.0f, y.data(), d);
    best_flops = std::max(best_flops, 2.0 * d * d * d / seconds_since(t0));
  }
  std::printf("copy_bandwidth_GBps %.2f\nsgemm_GFLOPs %.1f\n", best_bw / 1e9, best_flops / 1e9);
  return b[n / 2] == 1 && y[0] > 0 ? 0 : 1;
}
