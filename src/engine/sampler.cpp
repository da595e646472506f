#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace strata {

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  return best;
}

int32_t sample_token(std::span<const float> logits, const SamplingParams& p, std::mt19937_64& rng) {
  if (p.temperature <= 0.0f) return argmax(logits);
  const size_t v = logits.size();
  std::vector<int32_t> idx(v);
  std::iota(idx.begin(), idx.end(), 0);
  size_t keep = v;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < v) keep = static_cast<size_t>(p.top_k);
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (keep < v || p.top_p < 1.0f || p.min_p > 0.0f) {
    // Sort only as much as needed: the top-k, or everything for top-p / min-p.
    if (keep < v && p.top_p >= 1.0f && p.min_p <= 0.0f) {
      std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(), by_logit);
    } else {
      std::sort(idx.begin(), idx.end(), by_logit);
    }
  }
  const float inv_t = 1.0f / p.temperature;
  const float mx = *std::max_element(logits.begin(), logits.end()) * inv_t;
  std::vector<double> probs(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(static_cast<double>(logits[idx[i]] * inv_t - mx));
    sum += probs[i];
  }
  if (p.top_p < 1.0f) {
    double acc = 0;
    size_t n = 0;
    while (n < keep) {
      acc += probs[n] / sum;
      ++n;
      if (acc >= p.top_p) break;
    }
    keep = std::max<size_t>(n, 1);
    sum = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  }
  if (p.min_p > 0.0f) {
    const double floor = probs[0] * p.min_p;  // probs are sorted, [0] is the largest
    size_t n = 1;
    while (n < keep && probs[n] >= floor) ++n;
    keep = n;
    sum = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  }
  std::uniform_real_distribution<double> uni(0.0, sum);
  double r = uni(rng), acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += probs[i];
    if (r < acc) return idx[i];
  }
  return idx[keep - 1];
}

}  // namespace strata
