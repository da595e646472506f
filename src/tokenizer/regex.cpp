#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>

#include "core/logging.h"
#include "tokenizer/unicode.h"

namespace strata {
namespace {

// Oniguruma's \w inside a character class: Alphabetic, marks, decimal digits, connector punctuation.
// Outside a class Oniguruma also counts the Latin-1 superscripts and fractions as word characters.
// (Both checked code point by code point against Oniguruma 6.9.8.)
constexpr const char* kWordClass = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc})";
constexpr const char* kLatin1WordExtras = R"(\x{B2}\x{B3}\x{B9}\x{BC}-\x{BE})";

// Rewrites the escapes whose meaning differs between Oniguruma (Unicode) and PCRE2 with UCP: \s/\S
// are White_Space in Oniguruma (PCRE2 adds U+180E), \w/\W are the word classes above (PCRE2: L|N|_),
// and \h/\H are hex digits (PCRE2: horizontal space).
std::string onig_to_pcre2(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  size_t class_start = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      ++i;
      switch (e) {
        case 's':
          out += "\\p{White_Space}";
          break;
        case 'S':
          out += "\\P{White_Space}";
          break;
        case 'w':
          out += in_class ? std::string(kWordClass) : fmt::format("[{}{}]", kWordClass, kLatin1WordExtras);
          break;
        case 'W':
          out += in_class ? std::string("\\W") : fmt::format("[^{}{}]", kWordClass, kLatin1WordExtras);
          break;
        case 'h':
          out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
          break;
        case 'H':
          out += in_class ? "\\H" : "[^0-9a-fA-F]";
          break;
        default:
          out += c;
          out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      class_start = i;
    } else if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      size_t close = p.find(":]", i + 2);
      if (close != std::string_view::npos) {
        out.append(p.substr(i, close + 2 - i));
        i = close + 1;
        continue;
      }
    } else if (in_class && c == ']') {
      // A ']' right after '[' or '[^' is a literal.
      const bool literal = i == class_start + 1 || (i == class_start + 2 && p[class_start + 1] == '^');
      if (!literal) in_class = false;
    }
    out += c;
  }
  return out;
}

// Per-thread PCRE2 scratch: match data for the whole-match offsets and a JIT stack.
struct MatchScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);

  MatchScratch() {
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

}  // namespace

Result<std::unique_ptr<Regex>> Regex::compile(std::string_view pattern) {
  std::string translated = onig_to_pcre2(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return make_error("cannot compile regex '{}': {} at offset {}", pattern, reinterpret_cast<char*>(message),
                      error_offset);
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when unavailable
  return std::unique_ptr<Regex>(new Regex(std::string(pattern), code));
}

std::string Regex::escape(std::string_view literal) {
  std::string out;
  out.reserve(literal.size() * 2);
  for (char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u) && c != '_' && c != ' ') {
      if (u < 0x20 || u == 0x7F) {
        out += fmt::format("\\x{{{:x}}}", u);
        continue;
      }
      out += '\\';
    }
    out += c;
  }
  return out;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

bool Regex::match_at(std::string_view text, size_t offset, RegexMatch* m) const {
  MatchScratch& s = scratch();
  auto* code = static_cast<pcre2_code*>(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = pcre2_match(code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, s.data, s.context);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    rc =
        pcre2_match(code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s.data, s.context);
  }
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof(message));
    LOG_WARN("regex '{}' failed on a {}-byte text: {}; treating the rest as unmatched", pattern_, text.size(),
             reinterpret_cast<char*>(message));
    return false;
  }
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
  m->start = ovector[0];
  m->end = ovector[1];
  return true;
}

void Regex::find_all(std::string_view text, std::vector<RegexMatch>& out) const {
  size_t pos = 0;
  size_t last_end = std::string_view::npos;
  RegexMatch m{};
  while (pos <= text.size() && match_at(text, pos, &m)) {
    if (m.start == m.end && m.end == last_end) {
      if (m.end >= text.size()) break;
      pos = m.end + unicode::utf8_length(static_cast<uint8_t>(text[m.end]));
      continue;
    }
    out.push_back(m);
    last_end = m.end;
    pos = m.end;
  }
}

bool Regex::search(std::string_view text) const {
  RegexMatch m{};
  return match_at(text, 0, &m);
}

}  // namespace strata
