#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <memory>

#include "tokenizer/normalizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace strata {
namespace {

// Rust regex's Unicode \w, which tokenizers uses for single_word.
bool is_word_char(std::string_view ch) {
  static const std::unique_ptr<Regex> word = [] {
    auto re = Regex::compile(R"(^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])");
    STRATA_CHECK(re.ok(), "word-character pattern");
    return std::move(re).value();
  }();
  return word->search(ch);
}

// Start of the last character of s (non-empty, valid UTF-8).
size_t last_char_start(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

bool ends_with_word(std::string_view s) {
  return !s.empty() && is_word_char(s.substr(last_char_start(s)));
}

bool starts_with_word(std::string_view s) {
  return !s.empty() && is_word_char(s.substr(0, unicode::utf8_length(static_cast<uint8_t>(s[0]))));
}

// Where the trailing whitespace of s begins (s.size() when there is none).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = last_char_start(s.substr(0, end));
    size_t i = start;
    if (!unicode::is_white_space(unicode::next_code_point(s, i))) break;
    end = start;
  }
  return end;
}

// Length of the leading whitespace of s.
size_t leading_space_length(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t next = i;
    if (!unicode::is_white_space(unicode::next_code_point(s, next))) break;
    i = next;
  }
  return i;
}

}  // namespace

void AddedVocabulary::Matcher::insert(std::string_view pattern, int32_t id) {
  if (pattern.empty()) return;
  first_byte_[static_cast<uint8_t>(pattern[0])] = true;
  int32_t node = 0;
  for (char c : pattern) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
    auto it = transitions_.find(key);
    if (it == transitions_.end()) {
      const auto next = static_cast<int32_t>(node_token_.size());
      node_token_.push_back(-1);
      it = transitions_.emplace(key, next).first;
    }
    node = it->second;
  }
  node_token_[node] = id;
}

int32_t AddedVocabulary::Matcher::child(int32_t node, uint8_t byte) const {
  auto it = transitions_.find((static_cast<uint64_t>(node) << 8) | byte);
  return it == transitions_.end() ? -1 : it->second;
}

void AddedVocabulary::Matcher::find_all(std::string_view text,
                                        std::vector<std::tuple<size_t, size_t, int32_t>>& out) const {
  if (empty()) return;
  size_t start = 0;
  while (start < text.size()) {
    if (!first_byte_[static_cast<uint8_t>(text[start])]) {
      ++start;
      continue;
    }
    int32_t node = 0;
    size_t best_end = 0;
    int32_t best_id = -1;
    for (size_t k = start; k < text.size(); ++k) {
      node = child(node, static_cast<uint8_t>(text[k]));
      if (node < 0) break;
      if (node_token_[node] >= 0) {
        best_end = k + 1;
        best_id = node_token_[node];
      }
    }
    if (best_id >= 0) {
      out.emplace_back(start, best_end, best_id);
      start = best_end;
    } else {
      ++start;
    }
  }
}

void AddedVocabulary::add(const AddedToken& token) {
  if (token.content.empty()) return;
  auto [it, inserted] = by_content_.emplace(token.content, token.id);
  AddedToken t = token;
  t.id = it->second;
  by_id_[t.id] = t;
  max_id_ = std::max(max_id_, t.id);
}

void AddedVocabulary::build(const Normalizer* normalizer) {
  raw_matcher_ = Matcher();
  normalized_matcher_ = Matcher();
  std::vector<const AddedToken*> tokens;
  for (const auto& [id, t] : by_id_) tokens.push_back(&t);
  std::sort(tokens.begin(), tokens.end(),
            [](const AddedToken* a, const AddedToken* b) { return a->id < b->id; });
  for (const AddedToken* t : tokens) {
    if (!t->normalized) {
      raw_matcher_.insert(t->content, t->id);
    } else {
      normalized_matcher_.insert(normalizer ? normalizer->normalize(t->content) : t->content, t->id);
    }
  }
}

const AddedToken* AddedVocabulary::find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::optional<int32_t> AddedVocabulary::find(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

// tokenizers' AddedVocabulary::find_matches: the matches, adjusted for single_word, lstrip and rstrip,
// with the text between them.
void AddedVocabulary::find_matches(std::string_view text, const Matcher& matcher,
                                   std::vector<TextPiece>& out) const {
  if (text.empty()) return;
  std::vector<std::tuple<size_t, size_t, int32_t>> matches;
  matcher.find_all(text, matches);
  size_t start_offset = 0;
  for (auto [start, stop, id] : matches) {
    const AddedToken& token = by_id_.at(id);
    if (token.single_word) {
      const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_length(text.substr(stop));
    if (start_offset < start)
      out.push_back(TextPiece{std::string(text.substr(start_offset, start - start_offset))});
    out.push_back(TextPiece{std::string(), id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back(TextPiece{std::string(text.substr(start_offset))});
}

std::vector<TextPiece> AddedVocabulary::extract_and_normalize(std::string_view text,
                                                              const Normalizer* normalizer) const {
  std::vector<TextPiece> raw;
  if (raw_matcher_.empty()) {
    if (!text.empty()) raw.push_back(TextPiece{std::string(text)});
  } else {
    find_matches(text, raw_matcher_, raw);
  }
  if (!normalizer && normalized_matcher_.empty()) return raw;
  std::vector<TextPiece> out;
  out.reserve(raw.size());
  for (auto& piece : raw) {
    if (piece.id >= 0) {
      out.push_back(std::move(piece));
      continue;
    }
    std::string normalized = normalizer ? normalizer->normalize(piece.text) : std::move(piece.text);
    if (normalized_matcher_.empty()) {
      if (!normalized.empty()) out.push_back(TextPiece{std::move(normalized)});
    } else {
      find_matches(normalized, normalized_matcher_, out);
    }
  }
  return out;
}

}  // namespace strata
