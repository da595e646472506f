#include "bench/serve_arrivals.h"

#include <cmath>
#include <random>

namespace strata::bench {

std::vector<double> arrival_intervals(int64_t num_requests, double request_rate, double burstiness,
                                      uint64_t seed) {
  std::vector<double> gaps;
  if (num_requests <= 0) return gaps;
  gaps.reserve(static_cast<size_t>(num_requests));
  if (std::isinf(request_rate)) {
    gaps.assign(static_cast<size_t>(num_requests), 0.0);
  } else if (std::isinf(burstiness)) {
    gaps.assign(static_cast<size_t>(num_requests), 1.0 / request_rate);
  } else {
    std::mt19937_64 rng(seed);
    const double theta = 1.0 / (request_rate * burstiness);
    std::gamma_distribution<double> gamma(burstiness, theta);
    for (int64_t i = 0; i < num_requests; ++i) gaps.push_back(gamma(rng));
  }
  return gaps;
}

std::vector<double> arrival_times(int64_t num_requests, double request_rate, double burstiness,
                                  uint64_t seed) {
  std::vector<double> t = arrival_intervals(num_requests, request_rate, burstiness, seed);
  for (size_t i = 1; i < t.size(); ++i) t[i] += t[i - 1];
  if (!t.empty() && t.back() != 0.0 && std::isfinite(request_rate)) {
    const double scale = (static_cast<double>(num_requests) / request_rate) / t.back();
    for (double& x : t) x *= scale;
  }
  return t;
}

}  // namespace strata::bench
