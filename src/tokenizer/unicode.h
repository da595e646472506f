// UTF-8 helpers shared by the tokenizer: decoding and encoding code points, lossy repair of invalid
// UTF-8 (as Rust's String::from_utf8_lossy), the White_Space property, and GPT-2's byte <-> unicode
// alphabet used by the ByteLevel pre-tokenizer and decoder.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata::unicode {

constexpr char32_t kReplacementChar = 0xFFFD;

// Decodes the code point starting at s[i] and advances i past it. s must be valid UTF-8.
inline char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    i += 1;
    return b0;
  }
  if (b0 < 0xE0) {
    char32_t c = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
    i += 2;
    return c;
  }
  if (b0 < 0xF0) {
    char32_t c = ((b0 & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 6) |
                 (static_cast<uint8_t>(s[i + 2]) & 0x3Fu);
    i += 3;
    return c;
  }
  char32_t c = ((b0 & 0x07u) << 18) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 12) |
               ((static_cast<uint8_t>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<uint8_t>(s[i + 3]) & 0x3Fu);
  i += 4;
  return c;
}

// Length in bytes of the UTF-8 sequence led by byte b (1 for ASCII and for stray bytes).
inline size_t utf8_length(uint8_t b) {
  return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

void append_utf8(std::string& out, char32_t cp);
std::string to_utf8(char32_t cp);

bool is_valid_utf8(std::string_view s);
// Replaces each maximal invalid subsequence by U+FFFD, exactly as Rust's String::from_utf8_lossy.
std::string to_valid_utf8(std::string_view s);
// Appends s to out with the same repair.
void append_valid_utf8(std::string& out, std::string_view s);

// The Unicode White_Space property (Rust's char::is_whitespace).
bool is_white_space(char32_t c);

// GPT-2 byte-level alphabet: each byte maps to one printable code point (UTF-8 encoded here).
const std::array<std::string, 256>& byte_to_unicode();
// The byte a code point of that alphabet stands for, or -1 if it is not part of it.
int unicode_to_byte(char32_t c);

}  // namespace strata::unicode
