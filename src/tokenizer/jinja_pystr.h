// Python str semantics used by the Jinja2 filters and by str methods called from templates
// (strip, split, replace, title, capitalize, format, ...). Strings are UTF-8; operations that
// Python defines per code point work per code point.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_value.h"

namespace strata::jinja {

class Interpreter;

// str.strip/lstrip/rstrip; chars == nullopt strips Unicode whitespace.
std::string py_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right);
// str.split/rsplit; sep == nullopt splits on whitespace runs.
Result<std::vector<std::string>> py_split(const std::string& s, const std::optional<std::string>& sep,
                                          int64_t maxsplit, bool from_right);
std::vector<std::string> py_splitlines(const std::string& s, bool keepends);
std::string py_replace(const std::string& s, const std::string& old_sub, const std::string& new_sub,
                       int64_t count);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_swapcase(const std::string& s);
std::string py_title(const std::string& s);       // str.title()
std::string py_capitalize(const std::string& s);  // str.capitalize()
std::string jinja_title(const std::string& s);    // the |title filter (word starts after -\s({[<)
// str.center/ljust/rjust with a one-character fill.
std::string py_pad(const std::string& s, int64_t width, const std::string& fill, char align);
// str.find/rfind in code points (-1 when absent); start/end are code point indices.
int64_t py_find(const std::string& s, const std::string& sub, bool from_right);
int64_t py_count(const std::string& s, const std::string& sub);
// Predicates over all code points (false for the empty string, as in Python).
bool py_is_all(const std::string& s, bool (*pred)(char32_t));
bool py_islower(const std::string& s);
bool py_isupper(const std::string& s);
bool py_istitle(const std::string& s);

// str.format(*args, **kwargs) with jinja2's sandboxed attribute lookup in fields.
Result<std::string> py_str_format(Interpreter& in, const std::string& format, const CallArgs& args);
// format(value, spec) for str, int, float, bool and None.
Result<std::string> py_format_value(const Value& v, const std::string& spec);

}  // namespace strata::jinja
