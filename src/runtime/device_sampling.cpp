#include "runtime/device_sampling.h"

#include <algorithm>
#include <cstring>

#include "core/status.h"
#include "runtime/model_runner.h"

namespace strata {

namespace {

constexpr int64_t kLogprobWidth = 1 + kMaxSampleLogprobs;
constexpr size_t kAlign = 256;
size_t aligned(size_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

bool has_penalties(const DeviceSamplingParams& s) {
  return s.repetition_penalty != 1.0f || s.frequency_penalty != 0.0f || s.presence_penalty != 0.0f;
}

bool needs_filtered(const SamplingRowParams& p, const DeviceSamplingParams& s, int64_t vocab) {
  if (has_penalties(s) || p.num_logprobs >= 0) return true;
  if (!(p.temperature > 0.0f)) return false;
  return (p.top_k > 0 && p.top_k < vocab) || p.top_p < 1.0f || p.min_p > 0.0f;
}

}  // namespace

void DeviceSampling::ensure(Tensor& t, DType dtype, int64_t n) {
  if (!t.empty() && t.numel() >= n && t.dtype() == dtype) return;
  t = backend_.alloc(dtype, {std::max<int64_t>(n, t.empty() ? 0 : 2 * t.numel())});
}

void DeviceSampling::reserve(int64_t max_rows, int64_t max_entries) {
  ensure(in_, DType::kU8,
         static_cast<int64_t>(aligned(max_rows * sizeof(SamplingRowParams)) + aligned((max_rows + 1) * 4) +
                              max_entries * 8));
  ensure(out_, DType::kI32, max_rows * (1 + 2 * kLogprobWidth));
}

void DeviceSampling::add_entries(const SeqChunk& c, int32_t extra, int64_t vocab) {
  const DeviceSamplingParams& s = c.sampling;
  if (!has_penalties(s)) return;
  if (static_cast<int64_t>(counts_.size()) != vocab) {
    counts_.assign(static_cast<size_t>(vocab), 0);
    marks_.assign(static_cast<size_t>(vocab), 0);
  }
  auto check = [vocab](int32_t id) {
    STRATA_CHECK(id >= 0 && id < vocab, "token id {} outside the vocabulary of {}", id, vocab);
  };
  touched_.clear();
  if (s.repetition_penalty != 1.0f) {  // the prompt matters to the repetition penalty only
    for (int32_t id : c.prompt_ids) {
      check(id);
      if (!marks_[id]) touched_.push_back(id);
      marks_[id] |= 1;
    }
  }
  auto count_output = [&](int32_t id) {
    check(id);
    if (!marks_[id]) touched_.push_back(id);
    marks_[id] |= 2;
    ++counts_[id];
  };
  for (int32_t id : c.output_ids) count_output(id);
  if (extra >= 0) count_output(extra);
  for (int32_t id : touched_) {
    entries_.push_back(id);
    entries_.push_back(static_cast<int32_t>(counts_[id] | (marks_[id] & 1 ? sampling::kInPromptBit : 0u)));
    counts_[id] = 0;
    marks_[id] = 0;
  }
}

void DeviceSampling::sample(const TensorView& logits, std::span<const SeqChunk* const> chunks,
                            std::span<const int32_t> extra, std::vector<int32_t>& tokens,
                            std::vector<RowLogprobs>& logprobs) {
  const int64_t m = logits.shape.at(0), vocab = logits.shape.back();
  STRATA_CHECK(static_cast<int64_t>(chunks.size()) == m && (extra.empty() || static_cast<int64_t>(extra.size()) == m),
               "{} chunks and {} extra tokens for {} logits rows", chunks.size(), extra.size(), m);
  params_.assign(static_cast<size_t>(m), SamplingRowParams{});
  bool filtered = false, any_temperature = false, any_logprobs = false;
  for (int64_t r = 0; r < m; ++r) {
    const SeqChunk* c = chunks[r];
    if (!c || !c->device_sample) continue;
    SamplingRowParams& p = params_[r];
    const DeviceSamplingParams& s = c->sampling;
    p.temperature = c->temperature;
    p.seed = c->seed;
    p.top_k = s.top_k;
    p.top_p = s.top_p;
    p.min_p = s.min_p;
    p.repetition_penalty = s.repetition_penalty;
    p.frequency_penalty = s.frequency_penalty;
    p.presence_penalty = s.presence_penalty;
    p.num_logprobs = std::min(s.num_logprobs, kMaxSampleLogprobs);
    filtered |= needs_filtered(p, s, vocab);
    any_temperature |= p.temperature > 0.0f;
    any_logprobs |= p.num_logprobs >= 0;
  }
  tokens.resize(static_cast<size_t>(m));
  logprobs.clear();
  ensure(out_, DType::kI32, m * (1 + 2 * kLogprobWidth));
  const TensorView ids{out_.data<int32_t>(), DType::kI32, {m}};

  if (!filtered) {  // greedy and plain temperature rows only: the simple kernels
    if (any_temperature) {
      staging_.resize(static_cast<size_t>(m) * 12);
      for (int64_t r = 0; r < m; ++r) {
        const int64_t seed = static_cast<int64_t>(params_[r].seed);
        std::memcpy(staging_.data() + r * 8, &seed, 8);
        std::memcpy(staging_.data() + m * 8 + r * 4, &params_[r].temperature, 4);
      }
      ensure(in_, DType::kU8, m * 12);
      char* base = in_.data<char>();
      backend_.copy_from_host(staging_.data(), TensorView{base, DType::kU8, {m * 12}});
      backend_.sample_rows(logits, TensorView{base + m * 8, DType::kF32, {m}},
                           TensorView{base, DType::kI64, {m}}, ids);
    } else {
      backend_.argmax_rows(logits, ids);
    }
    backend_.copy_to_host(ids, tokens.data());
    return;
  }

  // The penalty entries (host work overlapping the device's forward pass), then one upload.
  offsets_.assign(1, 0);
  entries_.clear();
  for (int64_t r = 0; r < m; ++r) {
    if (chunks[r] && chunks[r]->device_sample) add_entries(*chunks[r], extra.empty() ? -1 : extra[r], vocab);
    offsets_.push_back(static_cast<int32_t>(entries_.size() / 2));
  }
  const size_t params_bytes = aligned(static_cast<size_t>(m) * sizeof(SamplingRowParams));
  const size_t offsets_bytes = aligned(static_cast<size_t>(m + 1) * 4);
  const size_t total = params_bytes + offsets_bytes + entries_.size() * 4;
  staging_.resize(total);
  std::memcpy(staging_.data(), params_.data(), static_cast<size_t>(m) * sizeof(SamplingRowParams));
  std::memcpy(staging_.data() + params_bytes, offsets_.data(), offsets_.size() * 4);
  if (!entries_.empty())
    std::memcpy(staging_.data() + params_bytes + offsets_bytes, entries_.data(), entries_.size() * 4);
  ensure(in_, DType::kU8, static_cast<int64_t>(total));
  char* base = in_.data<char>();
  backend_.copy_from_host(staging_.data(), TensorView{base, DType::kU8, {static_cast<int64_t>(total)}});
  const int64_t num_entries = static_cast<int64_t>(entries_.size() / 2);
  int32_t* out = out_.data<int32_t>();
  const TensorView lp_ids{out + m, DType::kI32, {m, kLogprobWidth}};
  const TensorView lp{out + m + m * kLogprobWidth, DType::kF32, {m, kLogprobWidth}};
  backend_.sample_filtered(
      logits, TensorView{base, DType::kU8, {m, static_cast<int64_t>(sizeof(SamplingRowParams))}},
      TensorView{base + params_bytes, DType::kI32, {m + 1}},
      TensorView{
          num_entries > 0 ? base + params_bytes + offsets_bytes : nullptr, DType::kI32, {num_entries, 2}},
      ids, lp_ids, lp);
  const int64_t back = any_logprobs ? m * (1 + 2 * kLogprobWidth) : m;
  host_out_.resize(static_cast<size_t>(back));
  backend_.copy_to_host(TensorView{out, DType::kI32, {back}}, host_out_.data());
  std::copy(host_out_.begin(), host_out_.begin() + m, tokens.begin());
  if (!any_logprobs) return;
  logprobs.resize(static_cast<size_t>(m));
  for (int64_t r = 0; r < m; ++r) {
    const int32_t n = params_[r].num_logprobs;
    if (n < 0) continue;
    const int32_t* lid = host_out_.data() + m + r * kLogprobWidth;
    const int32_t* lv = host_out_.data() + m + m * kLogprobWidth + r * kLogprobWidth;
    auto as_float = [](int32_t bits) {
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    };
    RowLogprobs& o = logprobs[r];
    o.token = tokens[r];
    o.rank = lid[0];
    o.logprob = as_float(lv[0]);
    const int64_t top = std::min<int64_t>(n, vocab);
    for (int64_t j = 0; j < top; ++j) {
      o.top_ids.push_back(lid[1 + j]);
      o.top_logprobs.push_back(as_float(lv[1 + j]));
    }
  }
}

}  // namespace strata
