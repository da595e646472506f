// Jinja2's builtin filters (jinja2.filters.FILTERS) plus transformers' `tojson` override: the
// string and scalar filters and the registry; the sequence filters are in jinja_filters_seq.cpp.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_json.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_pystr.h"
#include "tokenizer/jinja_unicode.h"

namespace strata::jinja {
namespace {

Value none() {
  return Value::none();
}

Value str(const char* s) {
  return Value::string(s);
}

Value integer(int64_t i) {
  return Value::integer(i);
}

Value boolean(bool b) {
  return Value::boolean(b);
}

Result<Value> f_abs(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_float()) return Value::number(std::fabs(v.as_double()));
  if (v.is_number()) {
    if (v.as_int() == INT64_MIN) return Error("integer overflow in abs()");
    return integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (v.is_undefined()) return undefined_error(v);
  return make_error("bad operand type for abs(): '{}'", type_name(v));
}

Result<Value> f_attr(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("attr", args, {{"name", Value(), true}}));
  std::string name = to_str(a[0]);
  if (v.is_object()) {
    if (auto r = v.as_object()->get_attr(name)) return *r;
  } else if (v.is_undefined()) {
    return undefined_error(v);
  } else if (auto m = find_method(v, name)) {
    return *m;
  }
  return undefined_attribute(v, name);
}

Result<Value> f_capitalize(Interpreter&, const Value& v, CallArgs&) {
  return Value::string(py_capitalize(to_str(v)));
}

Result<Value> f_lower(Interpreter&, const Value& v, CallArgs&) {
  return Value::string(py_lower(to_str(v)));
}

Result<Value> f_upper(Interpreter&, const Value& v, CallArgs&) {
  return Value::string(py_upper(to_str(v)));
}

Result<Value> f_title(Interpreter&, const Value& v, CallArgs&) {
  return Value::string(jinja_title(to_str(v)));
}

Result<Value> f_string(Interpreter&, const Value& v, CallArgs&) {
  return Value::string(to_str(v));
}

Result<Value> f_safe(Interpreter&, const Value& v, CallArgs&) {
  return Value::string(to_str(v));
}

Result<Value> f_pprint(Interpreter&, const Value& v, CallArgs&) {
  return Value::string(repr(v));
}

Result<Value> f_center(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("center", args, {{"width", integer(80)}}));
  return Value::string(py_pad(to_str(v), a[0].as_int(), " ", '^'));
}

Result<Value> f_length(Interpreter&, const Value& v, CallArgs&) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return integer(0);
    case ValueKind::kString:
      return integer(static_cast<int64_t>(utf8_length(v.as_string())));
    case ValueKind::kList:
    case ValueKind::kTuple:
      return integer(static_cast<int64_t>(v.as_list().size()));
    case ValueKind::kDict:
      return integer(static_cast<int64_t>(v.as_dict().size()));
    default:
      return make_error("object of type '{}' has no len()", type_name(v));
  }
}

Result<Value> f_default(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("default", args, {{"default_value", str("")}, {"boolean", boolean(false)}}));
  if (v.is_undefined() || (truthy(a[1]) && !truthy(v))) return a[0];
  return v;
}

Result<Value> f_escape(Interpreter&, const Value& v, CallArgs&) {
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return Value::string(std::move(out));
}

// Python int(str, base): whitespace, sign and `_` between digits allowed.
std::optional<int64_t> parse_py_int(const std::string& text, int base) {
  std::string s = py_strip(text, std::nullopt, true, true);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (base == 16 && s.compare(i, 2, "0x") == 0) i += 2;
  if (base == 8 && s.compare(i, 2, "0o") == 0) i += 2;
  if (base == 2 && s.compare(i, 2, "0b") == 0) i += 2;
  std::string digits;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && !digits.empty() && i + 1 < s.size() && s[i + 1] != '_') continue;
    digits += s[i];
  }
  if (digits.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(digits.c_str(), &end, base);
  if (*end != '\0' || errno == ERANGE || digits[0] == '-' || digits[0] == '+') return std::nullopt;
  return negative ? -v : v;
}

std::optional<double> parse_py_float(const std::string& text) {
  std::string s = py_strip(text, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && std::isdigit(static_cast<unsigned char>(s[i - 1])) && i + 1 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      continue;
    }
    clean += s[i];
  }
  if (clean.empty() || clean.find_first_of("xXpP") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(clean.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

Result<Value> f_int(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("int", args, {{"default", integer(0)}, {"base", integer(10)}}));
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_float()) {
    if (!std::isfinite(v.as_double())) return Error("cannot convert float infinity to integer");
    return integer(static_cast<int64_t>(std::trunc(v.as_double())));
  }
  if (v.is_number()) return integer(v.as_int());
  if (v.is_string()) {
    if (auto i = parse_py_int(v.as_string(), static_cast<int>(a[1].as_int()))) return integer(*i);
    if (auto d = parse_py_float(v.as_string())) {
      if (std::isfinite(*d)) return integer(static_cast<int64_t>(std::trunc(*d)));
    }
  }
  return a[0];
}

Result<Value> f_float(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("float", args, {{"default", Value::number(0.0)}}));
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    if (auto d = parse_py_float(v.as_string())) return Value::number(*d);
  }
  return a[0];
}

Result<Value> f_format(Interpreter&, const Value& v, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    return Error("can't handle positional and keyword arguments at the same time");
  }
  Value fmt_args;
  if (!args.keyword.empty()) {
    Dict d;
    for (const auto& [k, val] : args.keyword) d.set(Value::string(k), val);
    fmt_args = Value::dict(std::move(d));
  } else {
    fmt_args = Value::tuple(args.positional);
  }
  STRATA_TRY(std::string s, percent_format(to_str(v), fmt_args));
  return Value::string(std::move(s));
}

Result<Value> f_indent(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a,
             bind_args("indent", args,
                       {{"width", integer(4)}, {"first", boolean(false)}, {"blank", boolean(false)}}));
  std::string indention =
      a[0].is_string()
          ? a[0].as_string()
          : std::string(static_cast<size_t>(std::clamp<int64_t>(a[0].as_int(), 0, 1 << 20)), ' ');
  std::string s = to_str(v) + "\n";
  std::vector<std::string> lines = py_splitlines(s, false);
  std::string rv;
  if (truthy(a[2])) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) {
        rv += '\n';
        rv += indention;
      }
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += '\n';
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
    }
  }
  if (truthy(a[1])) rv = indention + rv;
  return Value::string(std::move(rv));
}

Result<Value> f_replace(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a,
             bind_args("replace", args, {{"old", Value(), true}, {"new", Value(), true}, {"count", none()}}));
  int64_t count = a[2].is_none() ? -1 : a[2].as_int();
  return Value::string(py_replace(to_str(v), to_str(a[0]), to_str(a[1]), count));
}

Result<Value> f_round(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("round", args, {{"precision", integer(0)}, {"method", str("common")}}));
  std::string method = to_str(a[1]);
  if (method != "common" && method != "ceil" && method != "floor")
    return Error("method must be common, ceil or floor");
  if (!v.is_number()) return make_error("type {} doesn't define __round__ method", type_name(v));
  int64_t precision = a[0].as_int();
  if (method == "common") {
    if (!v.is_float()) return integer(v.as_int());
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::clamp<int64_t>(precision, 0, 300)),
                  v.as_double());
    return Value::number(std::strtod(buf, nullptr));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Result<Value> f_tojson(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("tojson", args,
                               {{"ensure_ascii", boolean(false)},
                                {"indent", none()},
                                {"separators", none()},
                                {"sort_keys", boolean(false)}}));
  JsonDumpOptions options;
  options.ensure_ascii = truthy(a[0]);
  if (a[1].is_string()) {
    options.indent = a[1].as_string();
  } else if (a[1].is_number() && !a[1].is_float()) {
    options.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(a[1].as_int(), 0, 1 << 20)), ' ');
  } else if (!a[1].is_none()) {
    return make_error("can't multiply sequence by non-int of type '{}'", type_name(a[1]));
  }
  if (!a[2].is_none()) {
    STRATA_TRY(auto seps, iterate(a[2]));
    if (seps.size() != 2) return make_error("not enough values to unpack (expected 2, got {})", seps.size());
    options.item_separator = to_str(seps[0]);
    options.key_separator = to_str(seps[1]);
  }
  options.sort_keys = truthy(a[3]);
  STRATA_TRY(std::string out, json_dumps(v, options));
  return Value::string(std::move(out));
}

Result<Value> f_trim(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("trim", args, {{"chars", none()}}));
  std::optional<std::string> chars;
  if (a[0].is_string()) chars = a[0].as_string();
  return Value::string(py_strip(to_str(v), chars, true, true));
}

Result<Value> f_truncate(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("truncate", args,
                               {{"length", integer(255)},
                                {"killwords", boolean(false)},
                                {"end", str("...")},
                                {"leeway", none()}}));
  std::string s = to_str(v);
  std::string end = to_str(a[2]);
  int64_t length = a[0].as_int();
  int64_t leeway = a[3].is_none() ? 5 : a[3].as_int();
  int64_t end_len = static_cast<int64_t>(utf8_length(end));
  if (length < end_len)
    return Error("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (leeway < 0) return Error("expected leeway >= 0, got " + std::to_string(leeway));
  if (static_cast<int64_t>(utf8_length(s)) <= length + leeway) return Value::string(s);
  std::string head = string_slice(s, 0, length - end_len, 1).as_string();
  if (truthy(a[1])) return Value::string(head + end);
  STRATA_TRY(auto parts, py_split(head, std::string(" "), 1, true));
  return Value::string(parts[0] + end);
}

Result<Value> f_wordcount(Interpreter&, const Value& v, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (char32_t cp : utf8_decode(to_str(v))) {
    bool w = cp == '_' || is_py_alpha(cp) || is_py_digit(cp);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return integer(n);
}

Result<Value> f_unsupported(Interpreter&, const Value&, CallArgs&) {
  return Error("this filter is not supported by the chat template engine");
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  static const std::unordered_map<std::string_view, FilterFn> table = [] {
    std::unordered_map<std::string_view, FilterFn> t = {
        {"abs", f_abs},
        {"attr", f_attr},
        {"capitalize", f_capitalize},
        {"center", f_center},
        {"count", f_length},
        {"d", f_default},
        {"default", f_default},
        {"e", f_escape},
        {"escape", f_escape},
        {"filesizeformat", f_unsupported},
        {"float", f_float},
        {"forceescape", f_escape},
        {"format", f_format},
        {"indent", f_indent},
        {"int", f_int},
        {"length", f_length},
        {"lower", f_lower},
        {"pprint", f_pprint},
        {"random", f_unsupported},
        {"replace", f_replace},
        {"round", f_round},
        {"safe", f_safe},
        {"slice", f_unsupported},
        {"string", f_string},
        {"striptags", f_unsupported},
        {"title", f_title},
        {"tojson", f_tojson},
        {"trim", f_trim},
        {"truncate", f_truncate},
        {"upper", f_upper},
        {"urlencode", f_unsupported},
        {"urlize", f_unsupported},
        {"wordcount", f_wordcount},
        {"wordwrap", f_unsupported},
        {"xmlattr", f_unsupported},
    };
    add_sequence_filters(t);
    return t;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace strata::jinja
