// Python operator semantics for the Jinja2 interpreter: arithmetic, `in`, slicing, indexing and
// printf-style `%` formatting, with Python's TypeError texts on misuse.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/jinja_value.h"

namespace strata::jinja {

// op is one of + - * / // % **.
Result<Value> binary_op(std::string_view op, const Value& a, const Value& b);
Result<Value> unary_minus(const Value& v);
Result<Value> unary_plus(const Value& v);
// Python `item in container`.
Result<bool> contains(const Value& container, const Value& item);
// obj[start:stop:step] for str, list and tuple; nullopt for other types (jinja2 then yields
// undefined).
Result<std::optional<Value>> slice_value(const Value& obj, const Value& start, const Value& stop,
                                         const Value& step);
// obj[index] for str, list and tuple with Python's negative indexing; nullopt when out of range or
// when obj is not indexable by an int.
std::optional<Value> index_value(const Value& obj, int64_t index);
// Python's `format % args`.
Result<std::string> percent_format(const std::string& format, const Value& args);

// Code-point level helpers shared by filters and str methods.
Value string_slice(const std::string& s, std::optional<int64_t> start, std::optional<int64_t> stop,
                   int64_t step);

}  // namespace strata::jinja
