#include <algorithm>

#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

// As vLLM: the last few prompt ids are decoded as context so that the first generated token gets the
// same spacing it would have in the full text.
constexpr size_t kInitialContext = 5;
// Ids before prefix_offset_ are no longer needed; they are dropped once this many accumulate.
constexpr size_t kTrimThreshold = 256;

bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

// new_text minus its prefix that was already emitted as prefix_text.
std::string text_after(const std::string& new_text, const std::string& prefix_text) {
  if (new_text.compare(0, prefix_text.size(), prefix_text) == 0) return new_text.substr(prefix_text.size());
  // The decoder changed earlier text (not the case for byte-level BPE): emit from the first difference,
  // on a character boundary.
  size_t common = 0;
  while (common < prefix_text.size() && common < new_text.size() && prefix_text[common] == new_text[common]) {
    ++common;
  }
  while (common > 0 && (static_cast<uint8_t>(new_text[common]) & 0xC0) == 0x80) --common;
  return new_text.substr(common);
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer,
                                               std::span<const int32_t> prompt_ids, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {
  const size_t keep = std::min(prompt_ids.size(), kInitialContext + 1);
  ids_.assign(prompt_ids.end() - keep, prompt_ids.end());
  read_offset_ = ids_.size();
  prefix_offset_ = read_offset_ > kInitialContext ? read_offset_ - kInitialContext : 0;
}

std::string IncrementalDetokenizer::push(int32_t id) {
  ids_.push_back(id);
  std::span<const int32_t> all(ids_);
  const std::string prefix_text =
      tokenizer_.decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_), skip_special_);
  const std::string new_text = tokenizer_.decode(all.subspan(prefix_offset_), skip_special_);
  if (new_text.size() <= prefix_text.size() || ends_with_replacement(new_text)) return std::string();
  std::string delta = text_after(new_text, prefix_text);
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  if (prefix_offset_ >= kTrimThreshold) {
    ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_offset_));
    read_offset_ -= prefix_offset_;
    prefix_offset_ = 0;
  }
  text_ += delta;
  return delta;
}

std::string IncrementalDetokenizer::flush() {
  if (read_offset_ == ids_.size()) return std::string();
  std::span<const int32_t> all(ids_);
  const std::string prefix_text =
      tokenizer_.decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_), skip_special_);
  const std::string new_text = tokenizer_.decode(all.subspan(prefix_offset_), skip_special_);
  std::string delta =
      new_text.size() > prefix_text.size() ? text_after(new_text, prefix_text) : std::string();
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  text_ += delta;
  return delta;
}

}  // namespace strata
