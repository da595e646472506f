// Logprobs of a row of raw logits: the chosen token's value and rank, and the top alternatives.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/status.h"
#include "engine/sampler.h"

namespace strata {
namespace {

// Up to this many top entries are kept in a heap while scanning the row; more sort an index array.
constexpr size_t kMaxHeapTop = 1024;

struct Entry {
  float logit;
  int32_t token;
};

// Higher logit first, lower id first on ties.
bool better(const Entry& a, const Entry& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

std::vector<Entry> top_entries(std::span<const float> logits, size_t k) {
  std::vector<Entry> top;
  if (k == 0) return top;
  const size_t vocab = logits.size();
  if (k <= kMaxHeapTop) {
    // Heap ordered by `better`: its front is the worst of the best k seen so far.
    top.reserve(k + 1);
    for (size_t i = 0; i < vocab; ++i) {
      const Entry e{logits[i], static_cast<int32_t>(i)};
      if (top.size() < k) {
        top.push_back(e);
        std::push_heap(top.begin(), top.end(), better);
      } else if (better(e, top.front())) {
        std::pop_heap(top.begin(), top.end(), better);
        top.back() = e;
        std::push_heap(top.begin(), top.end(), better);
      }
    }
    std::sort_heap(top.begin(), top.end(), better);
    return top;
  }
  std::vector<int32_t> ids(vocab);
  std::iota(ids.begin(), ids.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return better({logits[a], a}, {logits[b], b}); };
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), by_logit);
  top.reserve(k);
  for (size_t i = 0; i < k; ++i) top.push_back({logits[ids[i]], ids[i]});
  return top;
}

}  // namespace

SampleLogprobs logprobs_for(std::span<const float> logits, int32_t token, int num_top) {
  const size_t vocab = logits.size();
  STRATA_CHECK(token >= 0 && static_cast<size_t>(token) < vocab, "token {} outside the vocabulary of {}",
               token, vocab);
  const size_t k = num_top < 0 ? vocab : std::min(static_cast<size_t>(num_top), vocab);
  const std::vector<Entry> top = top_entries(logits, k);
  const float max_logit = top.empty() ? max_of(logits) : top.front().logit;
  // log_softmax in f32 as vLLM computes it (the sum accumulated in f64).
  const float value = logits[token];
  constexpr size_t kLanes = 8;  // independent partial sums: no single chain of dependent additions
  double lane[kLanes] = {};
  int64_t rank = 0;
  size_t i = 0;
  for (; i + kLanes <= vocab; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) {
      lane[j] += std::exp(logits[i + j] - max_logit);
      rank += logits[i + j] >= value ? 1 : 0;
    }
  }
  for (; i < vocab; ++i) {
    lane[0] += std::exp(logits[i] - max_logit);
    rank += logits[i] >= value ? 1 : 0;
  }
  double sum = 0.0;
  for (double x : lane) sum += x;
  const float log_sum = static_cast<float>(std::log(sum));
  auto logprob = [&](float v) { return (v - max_logit) - log_sum; };

  SampleLogprobs out;
  out.sampled = {token, logprob(value), static_cast<int32_t>(rank)};
  out.top.reserve(top.size());
  for (size_t i = 0; i < top.size(); ++i)
    out.top.push_back({top[i].token, logprob(top[i].logit), static_cast<int32_t>(i + 1)});
  return out;
}

std::vector<SampleLogprobs> prompt_logprobs_for(std::span<const float> logits, int64_t vocab_size,
                                                std::span<const int32_t> next_ids, int num_top) {
  STRATA_CHECK(vocab_size > 0 && logits.size() >= next_ids.size() * static_cast<size_t>(vocab_size),
               "{} logits for {} rows of {}", logits.size(), next_ids.size(), vocab_size);
  std::vector<SampleLogprobs> out;
  out.reserve(next_ids.size());
  const size_t v = static_cast<size_t>(vocab_size);
  for (size_t r = 0; r < next_ids.size(); ++r)
    out.push_back(logprobs_for(logits.subspan(r * v, v), next_ids[r], num_top));
  return out;
}

}  // namespace strata
