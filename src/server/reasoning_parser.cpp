#include "server/reasoning_parser.h"

#include <algorithm>

namespace strata {

namespace {
constexpr const char* kOpen = "<think>";
constexpr const char* kClose = "</think>";

// Length of the longest suffix of s that is a proper prefix of tag.
size_t partial_tag(const std::string& s, const std::string& tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
    if (s.compare(s.size() - n, n, tag, 0, n) == 0) return n;
  return 0;
}
}  // namespace

ReasoningParser::Delta ReasoningParser::push(const std::string& text) {
  Delta d;
  buf_ += text;
  if (!started_) {
    const std::string open = kOpen;
    if (buf_.size() < open.size() && open.compare(0, buf_.size(), buf_) == 0) return d;  // maybe "<think>"
    if (buf_.compare(0, open.size(), open) == 0) buf_.erase(0, open.size());
    started_ = true;
  }
  if (in_reasoning_) {
    const size_t at = buf_.find(kClose);
    if (at == std::string::npos) {
      const size_t hold = partial_tag(buf_, kClose);
      d.reasoning = buf_.substr(0, buf_.size() - hold);
      buf_.erase(0, buf_.size() - hold);
      return d;
    }
    d.reasoning = buf_.substr(0, at);
    buf_.erase(0, at + std::string(kClose).size());
    in_reasoning_ = false;
  }
  d.content = std::move(buf_);
  buf_.clear();
  return d;
}

ReasoningParser::Delta ReasoningParser::finish() {
  Delta d;
  if (in_reasoning_) d.reasoning = std::move(buf_);
  else d.content = std::move(buf_);
  buf_.clear();
  return d;
}

}  // namespace strata
