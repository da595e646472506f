#include "bench/serve_sse.h"

namespace strata::bench {

namespace {

// Position and length of the first blank-line terminator at or after `from`, or npos.
std::pair<size_t, size_t> find_terminator(const std::string& s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\n' && c != '\r') continue;
    // A line break is "\r\n", "\n" or "\r"; two in a row end the event.
    size_t j = i + ((c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1);
    if (c == '\r' && i + 1 == s.size()) return {std::string::npos, 0};  // "\r" may be half of "\r\n"
    if (j >= s.size()) return {std::string::npos, 0};
    const char d = s[j];
    if (d == '\n') return {i, j + 1 - i};
    if (d == '\r') {
      if (j + 1 < s.size()) return {i, j + (s[j + 1] == '\n' ? 2 : 1) - i};
      return {std::string::npos, 0};  // wait for a possible '\n'
    }
    i = j - 1;
  }
  return {std::string::npos, 0};
}

}  // namespace

void SseParser::parse_event(std::string_view block, std::vector<std::string>& out) {
  std::string data;
  bool has_data = false;
  size_t pos = 0;
  while (pos <= block.size()) {
    size_t end = block.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = block.size();
    std::string_view line = block.substr(pos, end - pos);
    if (!line.empty() && line[0] != ':') {
      const size_t colon = line.find(':');
      std::string_view field = line.substr(0, colon);
      std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
      if (field == "data") {
        if (has_data) data.push_back('\n');
        data.append(value);
        has_data = true;
      }
    }
    if (end >= block.size()) break;
    pos = end + ((block[end] == '\r' && end + 1 < block.size() && block[end + 1] == '\n') ? 2 : 1);
  }
  if (has_data) out.push_back(std::move(data));
}

std::vector<std::string> SseParser::feed(std::string_view bytes) {
  std::vector<std::string> out;
  buffer_.append(bytes);
  size_t start = 0;
  while (true) {
    auto [at, len] = find_terminator(buffer_, std::max(start, scan_from_));
    if (at == std::string::npos) break;
    parse_event(std::string_view(buffer_).substr(start, at - start), out);
    start = at + len;
    scan_from_ = start;
  }
  buffer_.erase(0, start);
  // Resume a little before the end: a terminator may straddle this feed and the next.
  scan_from_ = buffer_.size() >= 3 ? buffer_.size() - 3 : 0;
  return out;
}

std::vector<std::string> SseParser::finish() {
  std::vector<std::string> out;
  size_t first = buffer_.find_first_not_of("\r\n");
  if (first != std::string::npos) parse_event(std::string_view(buffer_).substr(first), out);
  buffer_.clear();
  scan_from_ = 0;
  return out;
}

}  // namespace strata::bench
