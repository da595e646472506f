// Request arrival schedule of `strata bench serve` (vLLM's get_request()): with an infinite rate
// every request is sent at t = 0; otherwise the gaps between arrivals are drawn from a gamma
// distribution with shape = burstiness and mean 1/rate (burstiness 1 is a Poisson process, < 1
// burstier, > 1 more uniform, infinite a constant 1/rate), accumulated, and rescaled so that the last
// arrival lands exactly at num_requests / rate. Seeded, so a run is reproducible.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::bench {

// The raw gaps (seconds) before rescaling; empty if num_requests <= 0.
std::vector<double> arrival_intervals(int64_t num_requests, double request_rate, double burstiness,
                                      uint64_t seed);

// Send times (seconds after the start) of each request, non-decreasing.
std::vector<double> arrival_times(int64_t num_requests, double request_rate, double burstiness,
                                  uint64_t seed);

}  // namespace strata::bench
