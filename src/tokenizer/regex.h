// A compiled PCRE2 regular expression (UTF + UCP, JIT when available) used by the pre-tokenizers,
// normalizers and decoders. Hugging Face `tokenizers` compiles these patterns with Oniguruma; the
// few classes whose meaning differs in PCRE2 (\s, \S, \w, \h outside classes) are rewritten to their
// Oniguruma meaning at compile time, so `\s` is the Unicode White_Space property in both.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata {

struct RegexMatch {
  size_t start;
  size_t end;
};

class Regex {
 public:
  // Compiles an Oniguruma-style pattern; the error names the pattern and PCRE2's message.
  static Result<std::unique_ptr<Regex>> compile(std::string_view pattern);
  // A pattern matching `literal` exactly.
  static std::string escape(std::string_view literal);

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // All non-overlapping leftmost matches in `text` (valid UTF-8), as byte offsets, in order. As in
  // Rust's and Oniguruma's find_iter, an empty match right after the previous match is skipped.
  // Thread-safe.
  void find_all(std::string_view text, std::vector<RegexMatch>& out) const;
  // Whether the pattern matches anywhere in text.
  bool search(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex(std::string pattern, void* code) : pattern_(std::move(pattern)), code_(code) {}
  // One pcre2_match from `offset`; returns false when there is no further match.
  bool match_at(std::string_view text, size_t offset, RegexMatch* m) const;

  std::string pattern_;
  void* code_;  // pcre2_code*
};

}  // namespace strata
