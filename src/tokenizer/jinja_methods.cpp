// Python methods of str, dict, list and tuple values as templates call them (`s.strip()`,
// `d.items()`, `content.split('</think>')`), with jinja2's immutable sandbox refusing the
// mutating ones.
#include <algorithm>
#include <unordered_map>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_pystr.h"
#include "tokenizer/jinja_unicode.h"

namespace strata::jinja {
namespace {

using Method = Result<Value> (*)(Interpreter&, const Value& self, CallArgs& args);

Value none() {
  return Value::none();
}

Result<std::optional<std::string>> opt_str(const Value& v, std::string_view what) {
  if (v.is_none() || v.is_undefined()) return std::optional<std::string>();
  if (!v.is_string()) return make_error("{} arg must be None or str", what);
  return std::optional<std::string>(v.as_string());
}

Result<std::string> need_str(const Value& v, std::string_view what) {
  if (!v.is_string()) return make_error("{} must be str, not {}", what, type_name(v));
  return v.as_string();
}

Value string_list(const std::vector<std::string>& parts) {
  std::vector<Value> out;
  out.reserve(parts.size());
  for (const auto& p : parts) out.push_back(Value::string(p));
  return Value::list(std::move(out));
}

// ---- str ----

Result<Value> strip_impl(const Value& self, CallArgs& args, const char* name, bool left, bool right) {
  STRATA_TRY(auto a, bind_args(name, args, {{"chars", none()}}));
  STRATA_TRY(auto chars, opt_str(a[0], "strip"));
  return Value::string(py_strip(self.as_string(), chars, left, right));
}
Result<Value> s_strip(Interpreter&, const Value& s, CallArgs& a) {
  return strip_impl(s, a, "strip", true, true);
}
Result<Value> s_lstrip(Interpreter&, const Value& s, CallArgs& a) {
  return strip_impl(s, a, "lstrip", true, false);
}
Result<Value> s_rstrip(Interpreter&, const Value& s, CallArgs& a) {
  return strip_impl(s, a, "rstrip", false, true);
}

Result<Value> split_impl(const Value& self, CallArgs& args, bool from_right) {
  STRATA_TRY(auto a, bind_args(from_right ? "rsplit" : "split", args,
                               {{"sep", none()}, {"maxsplit", Value::integer(-1)}}));
  STRATA_TRY(auto sep, opt_str(a[0], "split"));
  STRATA_TRY(auto parts, py_split(self.as_string(), sep, a[1].as_int(), from_right));
  return string_list(parts);
}
Result<Value> s_split(Interpreter&, const Value& s, CallArgs& a) {
  return split_impl(s, a, false);
}
Result<Value> s_rsplit(Interpreter&, const Value& s, CallArgs& a) {
  return split_impl(s, a, true);
}

Result<Value> s_splitlines(Interpreter&, const Value& s, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("splitlines", args, {{"keepends", Value::boolean(false)}}));
  return string_list(py_splitlines(s.as_string(), truthy(a[0])));
}

Result<Value> affix_impl(const Value& self, CallArgs& args, bool prefix) {
  STRATA_TRY(auto a, bind_args(prefix ? "startswith" : "endswith", args, {{"prefix", Value(), true}}));
  std::vector<Value> options = a[0].is_tuple() ? a[0].as_list() : std::vector<Value>{a[0]};
  const std::string& s = self.as_string();
  for (const auto& o : options) {
    if (!o.is_string()) {
      return make_error("{} first arg must be str or a tuple of str, not {}",
                        prefix ? "startswith" : "endswith", type_name(o));
    }
    const std::string& x = o.as_string();
    if (x.size() <= s.size() &&
        (prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0)) {
      return Value::boolean(true);
    }
  }
  return Value::boolean(false);
}
Result<Value> s_startswith(Interpreter&, const Value& s, CallArgs& a) {
  return affix_impl(s, a, true);
}
Result<Value> s_endswith(Interpreter&, const Value& s, CallArgs& a) {
  return affix_impl(s, a, false);
}

Result<Value> s_replace(Interpreter&, const Value& s, CallArgs& args) {
  STRATA_TRY(auto a,
             bind_args("replace", args,
                       {{"old", Value(), true}, {"new", Value(), true}, {"count", Value::integer(-1)}}));
  STRATA_TRY(std::string old_sub, need_str(a[0], "replace() argument 1"));
  STRATA_TRY(std::string new_sub, need_str(a[1], "replace() argument 2"));
  return Value::string(py_replace(s.as_string(), old_sub, new_sub, a[2].as_int()));
}

Result<Value> s_upper(Interpreter&, const Value& s, CallArgs&) {
  return Value::string(py_upper(s.as_string()));
}
Result<Value> s_lower(Interpreter&, const Value& s, CallArgs&) {
  return Value::string(py_lower(s.as_string()));
}
Result<Value> s_title(Interpreter&, const Value& s, CallArgs&) {
  return Value::string(py_title(s.as_string()));
}
Result<Value> s_capitalize(Interpreter&, const Value& s, CallArgs&) {
  return Value::string(py_capitalize(s.as_string()));
}
Result<Value> s_swapcase(Interpreter&, const Value& s, CallArgs&) {
  return Value::string(py_swapcase(s.as_string()));
}
Result<Value> s_casefold(Interpreter&, const Value& s, CallArgs&) {
  return Value::string(py_lower(s.as_string()));
}

Result<Value> s_format(Interpreter& in, const Value& s, CallArgs& args) {
  STRATA_TRY(std::string out, py_str_format(in, s.as_string(), args));
  return Value::string(std::move(out));
}

Result<Value> s_join(Interpreter&, const Value& s, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("join", args, {{"iterable", Value(), true}}));
  STRATA_TRY(auto items, iterate(a[0]));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      return make_error("sequence item {}: expected str instance, {} found", i, type_name(items[i]));
    }
    if (i > 0) out += s.as_string();
    out += items[i].as_string();
  }
  return Value::string(std::move(out));
}

Result<Value> find_impl(const Value& s, CallArgs& args, bool from_right, bool raise) {
  STRATA_TRY(auto a, bind_args("find", args, {{"sub", Value(), true}}));
  STRATA_TRY(std::string sub, need_str(a[0], "must be str"));
  int64_t i = py_find(s.as_string(), sub, from_right);
  if (i < 0 && raise) return Error("substring not found");
  return Value::integer(i);
}
Result<Value> s_find(Interpreter&, const Value& s, CallArgs& a) {
  return find_impl(s, a, false, false);
}
Result<Value> s_rfind(Interpreter&, const Value& s, CallArgs& a) {
  return find_impl(s, a, true, false);
}
Result<Value> s_index(Interpreter&, const Value& s, CallArgs& a) {
  return find_impl(s, a, false, true);
}
Result<Value> s_rindex(Interpreter&, const Value& s, CallArgs& a) {
  return find_impl(s, a, true, true);
}

Result<Value> s_count(Interpreter&, const Value& s, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("count", args, {{"sub", Value(), true}}));
  STRATA_TRY(std::string sub, need_str(a[0], "must be str"));
  return Value::integer(py_count(s.as_string(), sub));
}

Result<Value> pad_impl(const Value& s, CallArgs& args, char align, const char* name) {
  STRATA_TRY(auto a, bind_args(name, args, {{"width", Value(), true}, {"fillchar", Value::string(" ")}}));
  return Value::string(py_pad(s.as_string(), a[0].as_int(), to_str(a[1]), align));
}
Result<Value> s_center(Interpreter&, const Value& s, CallArgs& a) {
  return pad_impl(s, a, '^', "center");
}
Result<Value> s_ljust(Interpreter&, const Value& s, CallArgs& a) {
  return pad_impl(s, a, '<', "ljust");
}
Result<Value> s_rjust(Interpreter&, const Value& s, CallArgs& a) {
  return pad_impl(s, a, '>', "rjust");
}

Result<Value> s_zfill(Interpreter&, const Value& s, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("zfill", args, {{"width", Value(), true}}));
  std::string str = s.as_string();
  int64_t len = static_cast<int64_t>(utf8_length(str));
  if (a[0].as_int() <= len) return Value::string(str);
  std::string zeros(static_cast<size_t>(std::min<int64_t>(a[0].as_int() - len, 1 << 26)), '0');
  if (!str.empty() && (str[0] == '+' || str[0] == '-'))
    return Value::string(str.substr(0, 1) + zeros + str.substr(1));
  return Value::string(zeros + str);
}

Result<Value> affix_remove(const Value& s, CallArgs& args, bool prefix) {
  STRATA_TRY(auto a, bind_args(prefix ? "removeprefix" : "removesuffix", args, {{"affix", Value(), true}}));
  STRATA_TRY(std::string x, need_str(a[0], "argument"));
  const std::string& str = s.as_string();
  if (prefix && str.compare(0, x.size(), x) == 0) return Value::string(str.substr(x.size()));
  if (!prefix && x.size() <= str.size() && str.compare(str.size() - x.size(), x.size(), x) == 0) {
    return Value::string(str.substr(0, str.size() - x.size()));
  }
  return s;
}
Result<Value> s_removeprefix(Interpreter&, const Value& s, CallArgs& a) {
  return affix_remove(s, a, true);
}
Result<Value> s_removesuffix(Interpreter&, const Value& s, CallArgs& a) {
  return affix_remove(s, a, false);
}

Result<Value> partition_impl(const Value& s, CallArgs& args, bool from_right) {
  STRATA_TRY(auto a, bind_args("partition", args, {{"sep", Value(), true}}));
  STRATA_TRY(std::string sep, need_str(a[0], "must be str"));
  if (sep.empty()) return Error("empty separator");
  const std::string& str = s.as_string();
  size_t hit = from_right ? str.rfind(sep) : str.find(sep);
  if (hit == std::string::npos) {
    return from_right ? Value::tuple({Value::string(""), Value::string(""), s})
                      : Value::tuple({s, Value::string(""), Value::string("")});
  }
  return Value::tuple(
      {Value::string(str.substr(0, hit)), Value::string(sep), Value::string(str.substr(hit + sep.size()))});
}
Result<Value> s_partition(Interpreter&, const Value& s, CallArgs& a) {
  return partition_impl(s, a, false);
}
Result<Value> s_rpartition(Interpreter&, const Value& s, CallArgs& a) {
  return partition_impl(s, a, true);
}

Result<Value> s_isspace(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(py_is_all(s.as_string(), is_py_space));
}
Result<Value> s_isalpha(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(py_is_all(s.as_string(), is_py_alpha));
}
Result<Value> s_isdigit(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(py_is_all(s.as_string(), is_py_digit));
}
Result<Value> s_isalnum(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(
      py_is_all(s.as_string(), [](char32_t c) { return is_py_alpha(c) || is_py_digit(c); }));
}
Result<Value> s_isascii(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(is_ascii(s.as_string()));
}
Result<Value> s_islower(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(py_islower(s.as_string()));
}
Result<Value> s_isupper(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(py_isupper(s.as_string()));
}
Result<Value> s_istitle(Interpreter&, const Value& s, CallArgs&) {
  return Value::boolean(py_istitle(s.as_string()));
}

// ---- dict ----

Result<Value> d_get(Interpreter&, const Value& d, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("get", args, {{"key", Value(), true}, {"default", none()}}));
  if (const Value* v = d.as_dict().find(a[0])) return *v;
  return a[1];
}

Result<Value> d_items(Interpreter&, const Value& d, CallArgs&) {
  std::vector<Value> out;
  for (const auto& [k, v] : d.as_dict().entries()) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out));
}

Result<Value> d_keys(Interpreter&, const Value& d, CallArgs&) {
  std::vector<Value> out;
  for (const auto& entry : d.as_dict().entries()) out.push_back(entry.first);
  return Value::list(std::move(out));
}

Result<Value> d_values(Interpreter&, const Value& d, CallArgs&) {
  std::vector<Value> out;
  for (const auto& entry : d.as_dict().entries()) out.push_back(entry.second);
  return Value::list(std::move(out));
}

Result<Value> copy(Interpreter&, const Value& self, CallArgs&) {
  return self;
}

// ---- list / tuple ----

Result<Value> l_index(Interpreter&, const Value& l, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("index", args, {{"value", Value(), true}}));
  const auto& items = l.as_list();
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], a[0])) return Value::integer(static_cast<int64_t>(i));
  }
  return make_error("{} is not in list", repr(a[0]));
}

Result<Value> l_count(Interpreter&, const Value& l, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("count", args, {{"value", Value(), true}}));
  int64_t n = 0;
  for (const auto& item : l.as_list()) n += equals(item, a[0]) ? 1 : 0;
  return Value::integer(n);
}

const std::unordered_map<std::string_view, Method>& str_methods() {
  static const std::unordered_map<std::string_view, Method> table = {
      {"strip", s_strip},
      {"lstrip", s_lstrip},
      {"rstrip", s_rstrip},
      {"split", s_split},
      {"rsplit", s_rsplit},
      {"splitlines", s_splitlines},
      {"startswith", s_startswith},
      {"endswith", s_endswith},
      {"replace", s_replace},
      {"upper", s_upper},
      {"lower", s_lower},
      {"title", s_title},
      {"capitalize", s_capitalize},
      {"swapcase", s_swapcase},
      {"casefold", s_casefold},
      {"format", s_format},
      {"join", s_join},
      {"find", s_find},
      {"rfind", s_rfind},
      {"index", s_index},
      {"rindex", s_rindex},
      {"count", s_count},
      {"center", s_center},
      {"ljust", s_ljust},
      {"rjust", s_rjust},
      {"zfill", s_zfill},
      {"removeprefix", s_removeprefix},
      {"removesuffix", s_removesuffix},
      {"partition", s_partition},
      {"rpartition", s_rpartition},
      {"isspace", s_isspace},
      {"isalpha", s_isalpha},
      {"isdigit", s_isdigit},
      {"isdecimal", s_isdigit},
      {"isnumeric", s_isdigit},
      {"isalnum", s_isalnum},
      {"isascii", s_isascii},
      {"islower", s_islower},
      {"isupper", s_isupper},
      {"istitle", s_istitle},
  };
  return table;
}

const std::unordered_map<std::string_view, Method>& dict_methods() {
  static const std::unordered_map<std::string_view, Method> table = {
      {"get", d_get}, {"items", d_items}, {"keys", d_keys}, {"values", d_values}, {"copy", copy},
  };
  return table;
}

const std::unordered_map<std::string_view, Method>& list_methods() {
  static const std::unordered_map<std::string_view, Method> table = {
      {"index", l_index},
      {"count", l_count},
      {"copy", copy},
  };
  return table;
}

bool is_unsafe(const Value& self, std::string_view name) {
  static const std::string_view kDict[] = {"clear", "pop", "popitem", "setdefault", "update"};
  static const std::string_view kList[] = {"append", "clear", "pop",    "reverse",
                                           "insert", "sort",  "extend", "remove"};
  if (self.is_dict()) {
    for (auto n : kDict) {
      if (n == name) return true;
    }
  } else if (self.is_list()) {
    for (auto n : kList) {
      if (n == name) return true;
    }
  }
  return name.size() >= 2 && name[0] == '_' && name[1] == '_';
}

}  // namespace

std::optional<Value> find_method(const Value& self, std::string_view name) {
  const std::unordered_map<std::string_view, Method>* table = nullptr;
  if (self.is_string()) {
    table = &str_methods();
  } else if (self.is_dict()) {
    table = &dict_methods();
  } else if (self.is_list() || self.is_tuple()) {
    if (self.is_tuple() && name == "copy") return std::nullopt;
    table = &list_methods();
  } else {
    return std::nullopt;
  }
  auto it = table->find(name);
  if (it == table->end()) {
    if (is_unsafe(self, name)) {
      return undefined_unsafe(self, std::string(name));
    }
    return std::nullopt;
  }
  Method method = it->second;
  Value bound_self = self;
  return Value::function(std::string(name), [method, bound_self](Interpreter& in, CallArgs& args) {
    return method(in, bound_self, args);
  });
}

}  // namespace strata::jinja
