// UTF-8 and code point helpers for the Jinja2 interpreter: Python strings are sequences of code
// points, so length, indexing, slicing, strip() and case mapping work on code points here too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata::jinja {

// Decodes UTF-8; an invalid byte decodes as itself (U+0080..U+00FF range), never fails.
std::u32string utf8_decode(std::string_view s);
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(std::u32string_view s);
// Number of code points.
size_t utf8_length(std::string_view s);
bool is_ascii(std::string_view s);

// Python str.isspace() for one code point.
bool is_py_space(char32_t cp);
// Python str.isprintable() for one code point (approximate outside the common planes).
bool is_py_printable(char32_t cp);
// Python's cased-letter predicates and simple case mapping.
bool is_py_upper(char32_t cp);
bool is_py_lower(char32_t cp);
bool is_py_alpha(char32_t cp);
bool is_py_digit(char32_t cp);
char32_t to_py_upper(char32_t cp);
char32_t to_py_lower(char32_t cp);
// Appends Python's str.upper()/lower() of one code point (full mapping for the few that expand).
void append_upper(std::u32string& out, char32_t cp);
void append_lower(std::u32string& out, char32_t cp);
// Python's title-case mapping (str.title/capitalize): ß -> "Ss", ǆ -> ǅ, else upper case.
void append_title(std::u32string& out, char32_t cp);

}  // namespace strata::jinja
