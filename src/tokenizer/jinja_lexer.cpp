#include "tokenizer/jinja_lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tokenizer/jinja_unicode.h"

namespace strata::jinja {
namespace {

Error syntax_error(int line, const std::string& message) {
  return make_error("syntax error on line {}: {}", line, message);
}

// Length of the UTF-8 sequence at s[pos] if it encodes a Python whitespace code point, else 0.
size_t space_at(const std::string& s, size_t pos) {
  unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) return is_py_space(c) ? 1 : 0;
  size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || pos + len > s.size()) return 0;
  std::u32string cp = utf8_decode(std::string_view(s).substr(pos, len));
  return cp.size() == 1 && is_py_space(cp[0]) ? len : 0;
}

size_t skip_spaces(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    size_t n = space_at(s, pos);
    if (n == 0) break;
    pos += n;
  }
  return pos;
}

// End of s[begin, end) after removing trailing Python whitespace.
size_t rstrip_end(const std::string& s, size_t begin, size_t end) {
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (space_at(s, start) != end - start) break;
    end = start;
  }
  return end;
}

bool is_name_start(unsigned char c) {
  return std::isalpha(c) || c == '_' || c >= 0x80;
}
bool is_name_char(unsigned char c) {
  return std::isalnum(c) || c == '_' || c >= 0x80;
}

int count_newlines(const std::string& s, size_t begin, size_t end) {
  int n = 0;
  for (size_t i = begin; i < end; ++i) n += s[i] == '\n';
  return n;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> decode_python_escapes(std::u32string_view cps, bool backslashreplace) {
  std::string out;
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t c = cps[i];
    if (c != '\\') {
      utf8_append(out, c);
      continue;
    }
    if (i + 1 >= cps.size()) return Error("\\ at end of string");
    char32_t e = cps[++i];
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        char32_t value = 0;
        for (size_t k = 0; k < digits; ++k) {
          int h = i + 1 + k < cps.size() && cps[i + 1 + k] < 0x80
                      ? hex_value(static_cast<char>(cps[i + 1 + k]))
                      : -1;
          if (h < 0) {
            return make_error("truncated \\{}{} escape", static_cast<char>(e), std::string(digits, 'X'));
          }
          value = value * 16 + static_cast<char32_t>(h);
        }
        if (value > 0x10FFFF) return Error("illegal Unicode character");
        i += digits;
        utf8_append(out, value);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          char32_t value = e - '0';
          for (int k = 0; k < 2 && i + 1 < cps.size() && cps[i + 1] >= '0' && cps[i + 1] <= '7'; ++k) {
            value = value * 8 + (cps[++i] - '0');
          }
          utf8_append(out, value);
        } else if (e >= 0x80 && backslashreplace) {
          // backslashreplace turned the code point into "\xNN"/"\uNNNN"/"\UNNNNNNNN"; the literal
          // backslash before it escapes that backslash.
          out += '\\';
          out += e <= 0xFF     ? fmt::format("x{:02x}", static_cast<unsigned>(e))
                 : e <= 0xFFFF ? fmt::format("u{:04x}", static_cast<unsigned>(e))
                               : fmt::format("U{:08x}", static_cast<unsigned>(e));
        } else {
          out += '\\';
          utf8_append(out, e);
        }
    }
  }
  return out;
}

namespace {

// A string literal body: Python's `.encode("ascii", "backslashreplace").decode("unicode-escape")`.
Result<std::string> unescape(const std::string& body, int line) {
  auto r = decode_python_escapes(utf8_decode(body), true);
  if (!r.ok()) return syntax_error(line, r.error().message());
  return r;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  Result<std::vector<Token>> run() {
    while (pos_ < src_.size()) {
      STRATA_RETURN_IF_ERROR(lex_root());
    }
    Token eof;
    eof.type = TokenType::kEof;
    eof.line = line_;
    tokens_.push_back(eof);
    return std::move(tokens_);
  }

 private:
  void push(TokenType type, std::string value, int line) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    t.line = line;
    tokens_.push_back(std::move(t));
  }

  // Emits the data before a tag, applying `-` stripping or lstrip_blocks.
  void emit_text(size_t begin, size_t end, char sign, bool is_variable) {
    int newlines_stripped = 0;
    size_t keep = end;
    if (sign == '-') {
      keep = rstrip_end(src_, begin, end);
      newlines_stripped = count_newlines(src_, keep, end);
    } else if (sign != '+' && !is_variable) {
      size_t nl = src_.rfind('\n', end == 0 ? 0 : end - 1);
      size_t l_pos = (nl == std::string::npos || nl < begin) ? begin : nl + 1;
      if ((l_pos > begin || line_starting_) && l_pos < end && skip_spaces(src_, l_pos) >= end) {
        keep = l_pos;
      }
    }
    if (keep > begin) push(TokenType::kData, src_.substr(begin, keep - begin), line_);
    line_ += count_newlines(src_, begin, keep) + newlines_stripped;
  }

  // Matches a block end (`+%}`, `-%}\s*`, `%}\n?`) at pos_; returns its length or 0.
  size_t match_block_end(size_t p) const {
    if (src_.compare(p, 3, "+%}") == 0) return 3;
    if (src_.compare(p, 3, "-%}") == 0) return skip_spaces(src_, p + 3) - p;
    if (src_.compare(p, 2, "%}") == 0) return (p + 2 < src_.size() && src_[p + 2] == '\n') ? 3 : 2;
    return 0;
  }

  Status lex_root() {
    size_t start = pos_;
    size_t tag = std::string::npos;
    for (size_t p = src_.find('{', pos_); p != std::string::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) {
        tag = p;
        break;
      }
    }
    if (tag == std::string::npos) {
      push(TokenType::kData, src_.substr(start), line_);
      line_ += count_newlines(src_, start, src_.size());
      pos_ = src_.size();
      return ok_status();
    }
    char kind = src_[tag + 1];
    size_t after = tag + 2;
    char sign = 0;
    if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
    if (kind == '%') {
      size_t raw_end = match_raw_begin(after);
      if (raw_end != 0) {
        emit_text(start, tag, sign, false);
        line_ += count_newlines(src_, tag, raw_end);
        pos_ = raw_end;
        line_starting_ = false;
        return lex_raw();
      }
    }
    emit_text(start, tag, sign, kind == '{');
    pos_ = after;
    line_starting_ = false;
    if (kind == '#') return lex_comment();
    push(kind == '{' ? TokenType::kVariableBegin : TokenType::kBlockBegin, "", line_);
    return lex_tag(kind == '{');
  }

  // `{%(-|+|)\s*raw\s*(-%}\s*|%})` without the `{%` and sign; returns the end or 0.
  size_t match_raw_begin(size_t p) const {
    p = skip_spaces(src_, p);
    if (src_.compare(p, 3, "raw") != 0) return 0;
    p = skip_spaces(src_, p + 3);
    if (src_.compare(p, 3, "-%}") == 0) return skip_spaces(src_, p + 3);
    if (src_.compare(p, 2, "%}") == 0) return p + 2;
    return 0;
  }

  Status lex_raw() {
    for (size_t p = src_.find("{%", pos_); p != std::string::npos; p = src_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      q = skip_spaces(src_, q);
      if (src_.compare(q, 6, "endraw") != 0) continue;
      q = skip_spaces(src_, q + 6);
      size_t end_len = match_block_end(q);
      if (end_len == 0) continue;
      emit_text(pos_, p, sign, false);
      line_ += count_newlines(src_, p, q + end_len);
      pos_ = q + end_len;
      line_starting_ = src_[pos_ - 1] == '\n';
      return ok_status();
    }
    return syntax_error(line_, "Missing end of raw directive");
  }

  Status lex_comment() {
    for (size_t p = pos_; p < src_.size(); ++p) {
      size_t end = 0;
      if (src_.compare(p, 3, "+#}") == 0) {
        end = p + 3;
      } else if (src_.compare(p, 3, "-#}") == 0) {
        end = skip_spaces(src_, p + 3);
      } else if (src_.compare(p, 2, "#}") == 0) {
        end = p + 2 + ((p + 2 < src_.size() && src_[p + 2] == '\n') ? 1 : 0);
      }
      if (end != 0) {
        line_ += count_newlines(src_, pos_, end);
        pos_ = end;
        line_starting_ = src_[end - 1] == '\n';
        return ok_status();
      }
    }
    return syntax_error(line_, "Missing end of comment tag");
  }

  Status lex_tag(bool is_variable) {
    std::vector<char> balance;
    while (true) {
      if (pos_ >= src_.size()) {
        return syntax_error(line_, is_variable
                                       ? "unexpected end of template, expected 'end of print statement'"
                                       : "unexpected end of template, expected 'end of statement block'");
      }
      if (balance.empty()) {
        size_t end_len = 0;
        if (is_variable) {
          if (src_.compare(pos_, 3, "-}}") == 0) {
            end_len = skip_spaces(src_, pos_ + 3) - pos_;
          } else if (src_.compare(pos_, 2, "}}") == 0) {
            end_len = 2;
          }
        } else {
          end_len = match_block_end(pos_);
        }
        if (end_len != 0) {
          push(is_variable ? TokenType::kVariableEnd : TokenType::kBlockEnd, "", line_);
          line_ += count_newlines(src_, pos_, pos_ + end_len);
          pos_ += end_len;
          line_starting_ = src_[pos_ - 1] == '\n';
          return ok_status();
        }
      }
      size_t ws = skip_spaces(src_, pos_);
      if (ws > pos_) {
        line_ += count_newlines(src_, pos_, ws);
        pos_ = ws;
        continue;
      }
      STRATA_RETURN_IF_ERROR(lex_tag_token(balance));
    }
  }

  // One float, integer, name, string or operator token.
  Status lex_tag_token(std::vector<char>& balance) {
    unsigned char c = static_cast<unsigned char>(src_[pos_]);
    if (std::isdigit(c)) return lex_number();
    if (is_name_start(c)) {
      size_t end = pos_ + 1;
      while (end < src_.size() && is_name_char(static_cast<unsigned char>(src_[end]))) ++end;
      push(TokenType::kName, src_.substr(pos_, end - pos_), line_);
      pos_ = end;
      return ok_status();
    }
    if (c == '\'' || c == '"') {
      size_t p = pos_ + 1;
      while (p < src_.size() && src_[p] != static_cast<char>(c)) p += src_[p] == '\\' ? 2 : 1;
      if (p >= src_.size())
        return syntax_error(line_,
                            fmt::format("unexpected char {} at {}", c == '\'' ? "\"'\"" : "'\"'", pos_));
      STRATA_TRY(std::string value, unescape(src_.substr(pos_ + 1, p - pos_ - 1), line_));
      push(TokenType::kString, std::move(value), line_);
      line_ += count_newlines(src_, pos_, p);
      pos_ = p + 1;
      return ok_status();
    }
    static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                       "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
    for (const char* op : kOps) {
      size_t n = std::strlen(op);
      if (src_.compare(pos_, n, op) != 0) continue;
      char ch = op[0];
      if (n == 1 && (ch == '(' || ch == '[' || ch == '{')) {
        balance.push_back(ch == '(' ? ')' : ch == '[' ? ']' : '}');
      } else if (n == 1 && (ch == ')' || ch == ']' || ch == '}')) {
        if (balance.empty()) return syntax_error(line_, fmt::format("unexpected '{}'", ch));
        char expected = balance.back();
        balance.pop_back();
        if (expected != ch)
          return syntax_error(line_, fmt::format("unexpected '{}', expected '{}'", ch, expected));
      }
      push(TokenType::kOperator, op, line_);
      pos_ += n;
      return ok_status();
    }
    std::string shown;
    append_char_repr(shown, pos_);
    return syntax_error(line_, fmt::format("unexpected char {} at {}", shown, pos_));
  }

  void append_char_repr(std::string& out, size_t p) const {
    unsigned char c = static_cast<unsigned char>(src_[p]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
    std::string ch = src_.substr(p, len);
    out += ch == "'" ? "\"'\"" : "'" + ch + "'";
  }

  Status lex_number() {
    // float_re: digits with `_`, then (fraction? exponent | fraction); else integer_re.
    auto digits = [&](size_t p) {
      size_t q = p;
      while (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        ++q;
        if (q + 1 < src_.size() && src_[q] == '_' && std::isdigit(static_cast<unsigned char>(src_[q + 1])))
          ++q;
      }
      return q;
    };
    size_t p = pos_;
    size_t int_end = digits(p);
    size_t end = int_end;
    bool is_float = false;
    // float_re's (?<!\.): `x.1.2` is x[1][2], not x[1.2].
    if (p > 0 && src_[p - 1] == '.') return lex_integer();
    if (end + 1 < src_.size() && src_[end] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[end + 1]))) {
      end = digits(end + 1);
      is_float = true;
    }
    if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t q = end + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        end = digits(q);
        is_float = true;
      }
    }
    if (is_float) {
      std::string text;
      for (size_t i = p; i < end; ++i) {
        if (src_[i] != '_') text += src_[i];
      }
      Token t;
      t.type = TokenType::kFloat;
      t.value = text;
      t.float_value = std::strtod(text.c_str(), nullptr);
      t.line = line_;
      tokens_.push_back(std::move(t));
      pos_ = end;
      return ok_status();
    }
    return lex_integer();
  }

  Status lex_integer() {
    size_t p = pos_;
    size_t n = src_.size();
    // (_?D)+ starting at q; returns q when nothing matched.
    auto run = [&](size_t q, int base, bool zeros_only) {
      size_t r = q;
      while (true) {
        size_t s = r;
        if (s < n && src_[s] == '_') ++s;
        int d = s < n ? hex_value(src_[s]) : -1;
        if (d < 0 || d >= base || (zeros_only && d != 0)) break;
        r = s + 1;
      }
      return r;
    };
    int base = 10;
    size_t digits_begin = p;
    size_t end = 0;
    if (src_[p] == '0' && p + 1 < n) {
      char x = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[p + 1])));
      int prefixed = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 0;
      if (prefixed != 0 && run(p + 2, prefixed, false) > p + 2) {
        base = prefixed;
        digits_begin = p + 2;
        end = run(p + 2, prefixed, false);
      }
    }
    if (end == 0) end = src_[p] == '0' ? run(p + 1, 10, true) : run(p + 1, 10, false);
    std::string text;
    for (size_t i = digits_begin; i < end; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    Token t;
    t.type = TokenType::kInteger;
    t.value = src_.substr(p, end - p);
    errno = 0;
    t.int_value = static_cast<int64_t>(std::strtoull(text.c_str(), nullptr, base));
    if (errno == ERANGE || t.int_value < 0) return syntax_error(line_, "integer literal too large");
    t.line = line_;
    tokens_.push_back(std::move(t));
    pos_ = end;
    return ok_status();
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

Result<std::vector<Token>> tokenize(const std::string& source) {
  return Lexer(normalize_newlines(source)).run();
}

std::string describe_token(const Token& token) {
  switch (token.type) {
    case TokenType::kData:
      return "template data / text";
    case TokenType::kVariableBegin:
      return "begin of print statement";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kEof:
      return "end of template";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    default:
      return token.value;
  }
}

}  // namespace strata::jinja
