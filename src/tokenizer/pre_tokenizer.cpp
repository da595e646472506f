#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "tokenizer/json_fields.h"
#include "tokenizer/unicode.h"

namespace strata {
namespace {

using json_fields::json;

// The GPT-2 pattern ByteLevel splits with when use_regex is set.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Span {
  size_t start;
  size_t end;
  bool is_match;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    out.reserve(pieces.size() * 2);
    for (const auto& p : pieces) split_by_pattern(p, *pattern_, invert_, behavior_, out);
    pieces = std::move(out);
  }

 private:
  std::unique_ptr<Regex> pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<Regex> pattern)
      : add_prefix_space_(add_prefix_space), pattern_(std::move(pattern)) {}

  void pre_tokenize(std::vector<std::string>& pieces) const override {
    std::vector<std::string> split;
    split.reserve(pieces.size());
    for (auto& p : pieces) {
      if (add_prefix_space_ && (p.empty() || p[0] != ' ')) p.insert(p.begin(), ' ');
      if (pattern_) {
        split_by_pattern(p, *pattern_, false, SplitBehavior::kIsolated, split);
      } else if (!p.empty()) {
        split.push_back(std::move(p));
      }
    }
    const auto& table = unicode::byte_to_unicode();
    pieces.clear();
    for (const auto& s : split) {
      std::string mapped;
      mapped.reserve(s.size() * 2);
      for (char c : s) mapped += table[static_cast<uint8_t>(c)];
      pieces.push_back(std::move(mapped));
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> pattern_;  // null when use_regex is false
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<std::string>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

Result<SplitBehavior> parse_behavior(const json& j, const std::string& where) {
  STRATA_TRY(std::string b, json_fields::string_field(j, "behavior", where));
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return make_error(
      "{}.behavior '{}' is not supported (Removed, Isolated, MergedWithPrevious, MergedWithNext, "
      "Contiguous)",
      where, b);
}

std::unique_ptr<PreTokenizer> regex_splitter(const char* pattern, SplitBehavior behavior, bool invert) {
  auto re = Regex::compile(pattern);
  STRATA_CHECK(re.ok(), "built-in pattern {}", pattern);
  return std::make_unique<SplitPreTokenizer>(std::move(re).value(), behavior, invert);
}

}  // namespace

void split_by_pattern(std::string_view text, const Regex& pattern, bool invert, SplitBehavior behavior,
                      std::vector<std::string>& out) {
  if (text.empty()) return;
  // 1. Cover the text with (span, is_match), as tokenizers' Pattern::find_matches.
  std::vector<RegexMatch> matches;
  pattern.find_all(text, matches);
  std::vector<Span> spans;
  spans.reserve(matches.size() * 2 + 1);
  size_t prev = 0;
  for (const auto& m : matches) {
    if (prev != m.start) spans.push_back({prev, m.start, false});
    spans.push_back({m.start, m.end, true});
    prev = m.end;
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), false});
  if (invert) {
    for (auto& s : spans) s.is_match = !s.is_match;
  }

  // 2. Apply the delimiter behavior: (span, removed).
  std::vector<std::pair<Span, bool>> parts;
  parts.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& s : spans) parts.push_back({s, false});
      break;
    case SplitBehavior::kRemoved:
      for (const auto& s : spans) parts.push_back({s, s.is_match});
      break;
    case SplitBehavior::kContiguous:
      for (const auto& s : spans) {
        if (s.is_match == previous_match && !parts.empty()) {
          parts.back().first.end = s.end;
        } else {
          parts.push_back({s, false});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !parts.empty()) {
          parts.back().first.end = s.end;
        } else {
          parts.push_back({s, false});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !parts.empty()) {
          parts.back().first.start = it->start;
        } else {
          parts.push_back({*it, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
  }

  // 3. Keep the non-removed, non-empty pieces.
  for (const auto& [span, removed] : parts) {
    if (!removed && span.end > span.start) out.emplace_back(text.substr(span.start, span.end - span.start));
  }
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::from_json(const json& j, const std::string& where) {
  STRATA_TRY(std::string type, json_fields::type_field(j, where));
  if (type == "Split") {
    STRATA_TRY(auto pattern, json_fields::pattern_field(j, "pattern", where));
    STRATA_TRY(SplitBehavior behavior, parse_behavior(j, where));
    STRATA_TRY(bool invert, json_fields::bool_field(j, "invert", where, false));
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(pattern), behavior, invert));
  }
  if (type == "ByteLevel") {
    STRATA_TRY(bool add_prefix_space, json_fields::bool_field(j, "add_prefix_space", where, true));
    STRATA_TRY(bool use_regex, json_fields::bool_field(j, "use_regex", where, true));
    std::unique_ptr<Regex> pattern;
    if (use_regex) {
      auto re = Regex::compile(kGpt2Pattern);
      STRATA_CHECK(re.ok(), "GPT-2 pattern: {}", re.ok() ? "" : re.error().message());
      pattern = std::move(re).value();
    }
    return std::unique_ptr<PreTokenizer>(new ByteLevelPreTokenizer(add_prefix_space, std::move(pattern)));
  }
  if (type == "Digits") {
    STRATA_TRY(bool individual, json_fields::bool_field(j, "individual_digits", where, false));
    // char::is_numeric is \p{N}; Contiguous over single-char matches equals Isolated over runs.
    return regex_splitter(individual ? R"(\p{N})" : R"(\p{N}+)", SplitBehavior::kIsolated, false);
  }
  if (type == "Whitespace") return regex_splitter(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, true);
  if (type == "WhitespaceSplit") return regex_splitter(R"(\s)", SplitBehavior::kRemoved, false);
  if (type == "Sequence") {
    const std::string field = where + ".pretokenizers";
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) {
      return make_error("{} must be a list", field);
    }
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < j["pretokenizers"].size(); ++i) {
      STRATA_TRY(auto part, from_json(j["pretokenizers"][i], fmt::format("{}[{}]", field, i)));
      parts.push_back(std::move(part));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(parts)));
  }
  return json_fields::unsupported(where, type,
                                  "Split, ByteLevel, Digits, Whitespace, WhitespaceSplit, Sequence");
}

}  // namespace strata
