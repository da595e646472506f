// Measures host memory copy bandwidth (bytes read + written per second) with all threads, the
// physical limit CPU decode is compared against in docs/perf.md.
//   build/cpu/strata_membw [GiB=1]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  const double gib = argc > 1 ? std::atof(argv[1]) : 1.0;
  const size_t n = static_cast<size_t>(gib * (1ull << 30));
  std::vector<char> a(n, 1), b(n, 2);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const size_t chunk = n / nt, begin = chunk * t, len = t == nt - 1 ? n - begin : chunk;
      std::memcpy(b.data() + begin, a.data() + begin, len);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * n / s);
  }
  std::printf("copy_bandwidth_GBps %.2f\n", best / 1e9);
  return b[n / 2] == 1 ? 0 : 1;
}
