// Jinja2's builtin filters (jinja2.filters.FILTERS) plus transformers' `tojson` override.
#include <algorithm>
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

Value none() { return Value::none(); }
Value str(const char* s) { return Value::string(s); }
Value integer(int64_t i) { return Value::integer(i); }
Value boolean(bool b) { return Value::boolean(b); }

Value generator(const char* function, std::vector<Value> items) {
  return Value::iterator("generator", fmt::format("<generator object {} at 0x7f0000000000>", function), std::move(items));
}

// Python sorted(items, key=key_fn, reverse=reverse); stable, TypeError text on mixed types.
Status sort_by_keys(std::vector<Value>& items, std::vector<Value> keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Status status = ok_status();
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    auto lt = reverse ? less_than(keys[b], keys[a]) : less_than(keys[a], keys[b]);
    if (!lt.ok()) {
      if (status.ok()) status = lt.error();
      return false;
    }
    return *lt;
  });
  STRATA_RETURN_IF_ERROR(status);
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(items[i]);
  items = std::move(sorted);
  return ok_status();
}

// jinja2's make_multi_attrgetter: "a,b.c" -> [item.a, item.b.c] (ignore_case applied per part).
Result<Value> multi_key(Interpreter& in, const Value& item, const Value& attribute, bool case_sensitive) {
  std::vector<Value> attrs;
  if (attribute.is_string()) {
    STRATA_TRY(std::vector<std::string> names, py_split(attribute.as_string(), std::string(","), -1, false));
    for (auto& n : names) attrs.push_back(Value::string(n));
  } else {
    attrs.push_back(attribute);
  }
  std::vector<Value> key;
  for (const auto& a : attrs) {
    STRATA_TRY(Value v, get_attribute_path(in, item, a, Value()));
    key.push_back(case_sensitive ? v : ignore_case(v));
  }
  return Value::list(std::move(key));
}

Result<Value> f_abs(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_float()) return Value::number(std::fabs(v.as_double()));
  if (v.is_number()) return integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
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

Result<Value> f_batch(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("batch", args, {{"linecount", Value(), true}, {"fill_with", none()}}));
  if (!a[0].is_number() || a[0].as_int() <= 0) return Error("batch() linecount must be a positive integer");
  STRATA_TRY(auto items, iterate(v));
  size_t n = static_cast<size_t>(a[0].as_int());
  std::vector<Value> batches;
  for (size_t i = 0; i < items.size(); i += n) {
    std::vector<Value> batch(items.begin() + static_cast<std::ptrdiff_t>(i),
                             items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + n)));
    if (batch.size() < n && !a[1].is_none()) batch.resize(n, a[1]);
    batches.push_back(Value::list(std::move(batch)));
  }
  return generator("do_batch", std::move(batches));
}

Result<Value> f_capitalize(Interpreter&, const Value& v, CallArgs&) { return Value::string(py_capitalize(to_str(v))); }
Result<Value> f_lower(Interpreter&, const Value& v, CallArgs&) { return Value::string(py_lower(to_str(v))); }
Result<Value> f_upper(Interpreter&, const Value& v, CallArgs&) { return Value::string(py_upper(to_str(v))); }
Result<Value> f_title(Interpreter&, const Value& v, CallArgs&) { return Value::string(jinja_title(to_str(v))); }
Result<Value> f_string(Interpreter&, const Value& v, CallArgs&) { return Value::string(to_str(v)); }
Result<Value> f_safe(Interpreter&, const Value& v, CallArgs&) { return Value::string(to_str(v)); }
Result<Value> f_pprint(Interpreter&, const Value& v, CallArgs&) { return Value::string(repr(v)); }

Result<Value> f_center(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("center", args, {{"width", integer(80)}}));
  return Value::string(py_pad(to_str(v), a[0].as_int(), " ", '^'));
}

Result<Value> f_length(Interpreter&, const Value& v, CallArgs&) {
  switch (v.kind()) {
    case ValueKind::kUndefined: return integer(0);
    case ValueKind::kString: return integer(static_cast<int64_t>(utf8_length(v.as_string())));
    case ValueKind::kList:
    case ValueKind::kTuple: return integer(static_cast<int64_t>(v.as_list().size()));
    case ValueKind::kDict: return integer(static_cast<int64_t>(v.as_dict().size()));
    default: return make_error("object of type '{}' has no len()", type_name(v));
  }
}

Result<Value> f_default(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("default", args, {{"default_value", str("")}, {"boolean", boolean(false)}}));
  if (v.is_undefined() || (truthy(a[1]) && !truthy(v))) return a[0];
  return v;
}

Result<Value> f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("dictsort", args, {{"case_sensitive", boolean(false)}, {"by", str("key")},
                                                  {"reverse", boolean(false)}}));
  if (!v.is_dict()) return make_error("'{}' object has no attribute 'items'", type_name(v));
  std::string by = to_str(a[1]);
  if (by != "key" && by != "value") return Error("You can only sort by either \"key\" or \"value\"");
  std::vector<Value> items;
  std::vector<Value> keys;
  for (const auto& [k, val] : v.as_dict().entries()) {
    items.push_back(Value::tuple({k, val}));
    const Value& key = by == "key" ? k : val;
    keys.push_back(truthy(a[0]) ? key : ignore_case(key));
  }
  STRATA_RETURN_IF_ERROR(sort_by_keys(items, std::move(keys), truthy(a[2])));
  return Value::list(std::move(items));
}

Result<Value> f_escape(Interpreter&, const Value& v, CallArgs&) {
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(std::move(out));
}

Result<Value> f_first(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_iterator()) {
    IteratorState* it = v.as_iterator();
    if (it->pos < it->items.size()) return it->items[it->pos++];
  } else {
    STRATA_TRY(auto items, iterate(v));
    if (!items.empty()) return items.front();
  }
  return undefined_hint("No first item, sequence was empty.");
}

Result<Value> f_last(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_iterator() || v.is_none() || v.is_number() || v.is_object() || v.is_function()) {
    return make_error("'{}' object is not reversible", type_name(v));
  }
  STRATA_TRY(auto items, iterate(v));
  if (!items.empty()) return items.back();
  return undefined_hint("No last item, sequence was empty.");
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

Result<Value> f_groupby(Interpreter& in, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("groupby", args, {{"attribute", Value(), true}, {"default", none()},
                                                 {"case_sensitive", boolean(false)}}));
  STRATA_TRY(auto items, iterate(v));
  bool cs = truthy(a[2]);
  std::vector<Value> keys;
  for (const auto& item : items) {
    STRATA_TRY(Value k, get_attribute_path(in, item, a[0], a[1]));
    keys.push_back(cs ? k : ignore_case(k));
  }
  std::vector<Value> sorted_keys = keys;
  std::vector<Value> order_items = items;
  {
    std::vector<Value> paired;
    for (size_t i = 0; i < items.size(); ++i) paired.push_back(Value::tuple({keys[i], items[i]}));
    STRATA_RETURN_IF_ERROR(sort_by_keys(paired, keys, false));
    for (size_t i = 0; i < paired.size(); ++i) {
      sorted_keys[i] = paired[i].as_list()[0];
      order_items[i] = paired[i].as_list()[1];
    }
  }
  std::vector<Value> groups;
  for (size_t i = 0; i < order_items.size();) {
    size_t j = i;
    std::vector<Value> members;
    while (j < order_items.size() && equals(sorted_keys[j], sorted_keys[i])) members.push_back(order_items[j++]);
    Value grouper = sorted_keys[i];
    if (!cs) {
      STRATA_TRY(grouper, get_attribute_path(in, members.front(), a[0], a[1]));
    }
    groups.push_back(Value::tuple({grouper, Value::list(std::move(members))}));
    i = j;
  }
  return Value::list(std::move(groups));
}

Result<Value> f_indent(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("indent", args, {{"width", integer(4)}, {"first", boolean(false)},
                                                {"blank", boolean(false)}}));
  std::string indention = a[0].is_string() ? a[0].as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, a[0].as_int())), ' ');
  std::string s = to_str(v) + "\n";
  std::vector<std::string> lines = py_splitlines(s, false);
  std::string rv;
  if (truthy(a[2])) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i > 0 ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? lines[i] : indention + lines[i]);
  }
  if (truthy(a[1])) rv = indention + rv;
  return Value::string(std::move(rv));
}

Result<Value> f_items(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_undefined()) return generator("do_items", {});
  if (!v.is_dict()) return Error("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [k, val] : v.as_dict().entries()) pairs.push_back(Value::tuple({k, val}));
  return generator("do_items", std::move(pairs));
}

Result<Value> f_join(Interpreter& in, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("join", args, {{"d", str("")}, {"attribute", none()}}));
  STRATA_TRY(auto items, iterate(v));
  std::string sep = to_str(a[0]);
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    if (!a[1].is_none()) {
      STRATA_TRY(Value x, get_attribute_path(in, items[i], a[1], Value()));
      out += to_str(x);
    } else {
      out += to_str(items[i]);
    }
  }
  return Value::string(std::move(out));
}

Result<Value> f_list(Interpreter&, const Value& v, CallArgs&) {
  STRATA_TRY(auto items, iterate(v));
  return Value::list(std::move(items));
}

Result<Value> f_map(Interpreter& in, const Value& v, CallArgs& args) {
  if (!truthy(v)) return generator("sync_do_map", {});
  STRATA_TRY(auto items, iterate(v));
  std::vector<Value> out;
  if (args.positional.empty()) {
    Value attribute;
    Value fallback = none();
    for (const auto& [k, val] : args.keyword) {
      if (k == "attribute") {
        attribute = val;
      } else if (k == "default") {
        fallback = val;
      } else {
        return make_error("Unexpected keyword argument '{}'", k);
      }
    }
    if (attribute.is_undefined()) return Error("map requires a filter argument");
    for (const auto& item : items) {
      STRATA_TRY(Value x, get_attribute_path(in, item, attribute, fallback));
      out.push_back(std::move(x));
    }
  } else {
    std::string name = to_str(args.positional[0]);
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const auto& item : items) {
      CallArgs call = rest;
      STRATA_TRY(Value x, in.apply_filter(name, item, call));
      out.push_back(std::move(x));
    }
  }
  return generator("sync_do_map", std::move(out));
}

Result<Value> select_or_reject(Interpreter& in, const Value& v, CallArgs& args, bool select, bool by_attr,
                               const char* function) {
  if (!truthy(v)) return generator(function, {});
  STRATA_TRY(auto items, iterate(v));
  size_t off = 0;
  Value attribute;
  if (by_attr) {
    if (args.positional.empty()) return Error("Missing parameter for attribute name");
    attribute = args.positional[0];
    off = 1;
  }
  std::optional<std::string> test;
  CallArgs test_args;
  if (args.positional.size() > off) {
    test = to_str(args.positional[off]);
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off) + 1, args.positional.end());
    test_args.keyword = args.keyword;
  }
  std::vector<Value> out;
  for (const auto& item : items) {
    Value probe = item;
    if (by_attr) {
      STRATA_TRY(probe, get_attribute_path(in, item, attribute, Value()));
    }
    bool ok = false;
    if (test) {
      CallArgs call = test_args;
      STRATA_TRY(ok, in.apply_test(*test, probe, call));
    } else {
      ok = truthy(probe);
    }
    if (ok == select) out.push_back(item);
  }
  return generator(function, std::move(out));
}

Result<Value> f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, false, "select_or_reject"); }
Result<Value> f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, false, "select_or_reject"); }
Result<Value> f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, true, "select_or_reject"); }
Result<Value> f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, true, "select_or_reject"); }

Result<Value> min_or_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  STRATA_TRY(auto a, bind_args(want_max ? "max" : "min", args, {{"case_sensitive", boolean(false)}, {"attribute", none()}}));
  STRATA_TRY(auto items, iterate(v));
  if (items.empty()) return undefined_hint("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    STRATA_TRY(Value k, get_attribute_path(in, items[i], a[1], Value()));
    if (!truthy(a[0])) k = ignore_case(k);
    if (i == 0) {
      best_key = k;
      continue;
    }
    STRATA_TRY(bool better, compare_values(want_max ? ">" : "<", k, best_key));
    if (better) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

Result<Value> f_min(Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, false); }
Result<Value> f_max(Interpreter& in, const Value& v, CallArgs& a) { return min_or_max(in, v, a, true); }

Result<Value> f_replace(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("replace", args, {{"old", Value(), true}, {"new", Value(), true}, {"count", none()}}));
  int64_t count = a[2].is_none() ? -1 : a[2].as_int();
  return Value::string(py_replace(to_str(v), to_str(a[0]), to_str(a[1]), count));
}

Result<Value> f_reverse(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_string()) return string_slice(v.as_string(), std::nullopt, std::nullopt, -1);
  if (v.is_sequence() || v.is_dict() || v.is_undefined()) {
    STRATA_TRY(auto items, iterate(v));
    std::reverse(items.begin(), items.end());
    std::string type = v.is_list() ? "list_reverseiterator" : v.is_dict() ? "dict_reversekeyiterator" : "reversed";
    return Value::iterator(type, "<" + type + " object at 0x7f0000000000>", std::move(items));
  }
  STRATA_TRY(auto items, iterate(v));
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Result<Value> f_round(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("round", args, {{"precision", integer(0)}, {"method", str("common")}}));
  std::string method = to_str(a[1]);
  if (method != "common" && method != "ceil" && method != "floor") return Error("method must be common, ceil or floor");
  if (!v.is_number()) return make_error("type {} doesn't define __round__ method", type_name(v));
  int64_t precision = a[0].as_int();
  if (method == "common") {
    if (!v.is_float()) return integer(v.as_int());
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::clamp<int64_t>(precision, 0, 300)), v.as_double());
    return Value::number(std::strtod(buf, nullptr));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Result<Value> f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("sort", args, {{"reverse", boolean(false)}, {"case_sensitive", boolean(false)},
                                              {"attribute", none()}}));
  STRATA_TRY(auto items, iterate(v));
  std::vector<Value> keys;
  for (const auto& item : items) {
    STRATA_TRY(Value k, multi_key(in, item, a[2], truthy(a[1])));
    keys.push_back(std::move(k));
  }
  STRATA_RETURN_IF_ERROR(sort_by_keys(items, std::move(keys), truthy(a[0])));
  return Value::list(std::move(items));
}

Result<Value> f_sum(Interpreter& in, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("sum", args, {{"attribute", none()}, {"start", integer(0)}}));
  STRATA_TRY(auto items, iterate(v));
  Value total = a[1];
  for (const auto& item : items) {
    STRATA_TRY(Value x, get_attribute_path(in, item, a[0], Value()));
    STRATA_TRY(total, binary_op("+", total, x));
  }
  return total;
}

Result<Value> f_tojson(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("tojson", args, {{"ensure_ascii", boolean(false)}, {"indent", none()},
                                                {"separators", none()}, {"sort_keys", boolean(false)}}));
  JsonDumpOptions options;
  options.ensure_ascii = truthy(a[0]);
  if (a[1].is_string()) {
    options.indent = a[1].as_string();
  } else if (a[1].is_number() && !a[1].is_float()) {
    options.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, a[1].as_int())), ' ');
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
  STRATA_TRY(auto a, bind_args("truncate", args, {{"length", integer(255)}, {"killwords", boolean(false)},
                                                  {"end", str("...")}, {"leeway", none()}}));
  std::string s = to_str(v);
  std::string end = to_str(a[2]);
  int64_t length = a[0].as_int();
  int64_t leeway = a[3].is_none() ? 5 : a[3].as_int();
  int64_t end_len = static_cast<int64_t>(utf8_length(end));
  if (length < end_len) return Error("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (leeway < 0) return Error("expected leeway >= 0, got " + std::to_string(leeway));
  if (static_cast<int64_t>(utf8_length(s)) <= length + leeway) return Value::string(s);
  std::string head = string_slice(s, 0, length - end_len, 1).as_string();
  if (truthy(a[1])) return Value::string(head + end);
  STRATA_TRY(auto parts, py_split(head, std::string(" "), 1, true));
  return Value::string(parts[0] + end);
}

Result<Value> f_unique(Interpreter& in, const Value& v, CallArgs& args) {
  STRATA_TRY(auto a, bind_args("unique", args, {{"case_sensitive", boolean(false)}, {"attribute", none()}}));
  STRATA_TRY(auto items, iterate(v));
  std::vector<Value> seen;
  std::vector<Value> out;
  for (const auto& item : items) {
    STRATA_TRY(Value k, get_attribute_path(in, item, a[1], Value()));
    if (!truthy(a[0])) k = ignore_case(k);
    if (k.is_list() || k.is_dict()) return make_error("unhashable type: '{}'", type_name(k));
    bool dup = false;
    for (const auto& s : seen) dup = dup || equals(s, k);
    if (!dup) {
      seen.push_back(k);
      out.push_back(item);
    }
  }
  return generator("sync_do_unique", std::move(out));
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

const std::unordered_map<std::string_view, FilterFn>& filter_table() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", f_abs},           {"attr", f_attr},         {"batch", f_batch},       {"capitalize", f_capitalize},
      {"center", f_center},     {"count", f_length},      {"d", f_default},         {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},          {"escape", f_escape},     {"filesizeformat", f_unsupported},
      {"first", f_first},       {"float", f_float},       {"forceescape", f_escape}, {"format", f_format},
      {"groupby", f_groupby},   {"indent", f_indent},     {"int", f_int},           {"items", f_items},
      {"join", f_join},         {"last", f_last},         {"length", f_length},     {"list", f_list},
      {"lower", f_lower},       {"map", f_map},           {"max", f_max},           {"min", f_min},
      {"pprint", f_pprint},     {"random", f_unsupported}, {"reject", f_reject},    {"rejectattr", f_rejectattr},
      {"replace", f_replace},   {"reverse", f_reverse},   {"round", f_round},       {"safe", f_safe},
      {"select", f_select},     {"selectattr", f_selectattr}, {"slice", f_unsupported}, {"sort", f_sort},
      {"string", f_string},     {"striptags", f_unsupported}, {"sum", f_sum},       {"title", f_title},
      {"tojson", f_tojson},     {"trim", f_trim},         {"truncate", f_truncate}, {"unique", f_unique},
      {"upper", f_upper},       {"urlencode", f_unsupported}, {"urlize", f_unsupported}, {"wordcount", f_wordcount},
      {"wordwrap", f_unsupported}, {"xmlattr", f_unsupported},
  };
  return table;
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  const auto& table = filter_table();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace strata::jinja
