// Jinja2 lexer: template source -> tokens, with the whitespace rules of the environment Hugging
// Face transformers uses (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False).
//
// It follows jinja2.lexer.Lexer rule by rule: newlines are normalized to "\n" and one trailing
// newline is dropped; `{%-`/`{{-`/`{#-` strip all whitespace before the tag; `-%}`/`-}}`/`-#}`
// strip all whitespace after it; a block or comment end eats one following "\n" (trim_blocks);
// a block or comment start that is alone on its line after spaces/tabs drops those spaces
// (lstrip_blocks) unless written `{%+`; end delimiters inside (), [] or {} do not close the tag.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::jinja {

enum class TokenType : uint8_t {
  kData,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string value;  // data text, name, unescaped string, operator text
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

// Tokenizes a whole template; the last token is kEof. Errors carry the line number.
Result<std::vector<Token>> tokenize(const std::string& source);

// Python's unicode-escape decoding over code points (\n, \xNN, \uNNNN, \UNNNNNNNN, octal, ...),
// to UTF-8. With `backslashreplace`, a backslash before a non-ASCII code point escapes the
// \xNN / \uNNNN form Python's backslashreplace would have written for it (string literals);
// without, it stays a literal backslash (codecs.decode of Latin-1 bytes).
Result<std::string> decode_python_escapes(std::u32string_view cps, bool backslashreplace);

// Human-readable token description used in syntax errors ("end of statement block", "'x'").
std::string describe_token(const Token& token);

}  // namespace strata::jinja
