#include "engine/output_processor.h"

#include <algorithm>

namespace strata {

SequenceText::SequenceText(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids,
                           const SamplingParams& params)
    : detok_(tokenizer, prompt_ids, params.skip_special_tokens), params_(params) {
  for (const auto& s : params.stop) max_stop_ = std::max(max_stop_, s.size());
}

std::string SequenceText::take(size_t upto) {
  // Never split a UTF-8 character: back off to the start of the character at `upto`.
  while (upto > emitted_ && upto < text_.size() && (static_cast<unsigned char>(text_[upto]) & 0xC0) == 0x80) --upto;
  if (upto <= emitted_) return {};
  std::string out = text_.substr(emitted_, upto - emitted_);
  emitted_ = upto;
  return out;
}

SequenceText::Delta SequenceText::append(int32_t token, bool last, bool check_stops) {
  Delta d;
  const size_t before = text_.size();
  text_ += detok_.push(token);
  if (check_stops && max_stop_ > 0 && text_.size() > before) {
    // A stop string ending in the new text may start up to max_stop - 1 bytes earlier.
    const size_t from = before >= max_stop_ - 1 ? before - (max_stop_ - 1) : 0;
    size_t best = std::string::npos;
    const std::string* which = nullptr;
    for (const auto& s : params_.stop) {
      if (s.empty()) continue;
      size_t at = text_.find(s, from);
      if (at != std::string::npos && at < best) best = at, which = &s;
    }
    if (which) {
      text_.resize(params_.include_stop_str_in_output ? best + which->size() : best);
      if (emitted_ > text_.size()) emitted_ = text_.size();
      d.stop_string = *which;
      d.text = take(text_.size());
      return d;
    }
  }
  size_t upto = text_.size();
  if (!last && max_stop_ > 1 && !params_.include_stop_str_in_output)
    upto = text_.size() > max_stop_ - 1 ? text_.size() - (max_stop_ - 1) : 0;
  d.text = take(upto);
  return d;
}

}  // namespace strata
