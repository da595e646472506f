// Jinja2's sequence filters: sorting, selection, mapping, grouping, aggregation. map/select/
// reject/selectattr/rejectattr/unique/items/batch return one-shot generators and reverse an
// iterator, as in Python (so `tools | map(...) | tojson` fails exactly as it does there).
#include <algorithm>
#include <unordered_map>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_pystr.h"

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

Value generator(const char* function, std::vector<Value> items) {
  return Value::iterator("generator", fmt::format("<generator object {} at 0x7f0000000000>", function),
                         std::move(items));
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

Result<Value> f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  STRATA_TRY(
      auto a,
      bind_args("dictsort", args,
                {{"case_sensitive", boolean(false)}, {"by", str("key")}, {"reverse", boolean(false)}}));
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

Result<Value> f_groupby(Interpreter& in, const Value& v, CallArgs& args) {
  STRATA_TRY(
      auto a,
      bind_args("groupby", args,
                {{"attribute", Value(), true}, {"default", none()}, {"case_sensitive", boolean(false)}}));
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
    while (j < order_items.size() && equals(sorted_keys[j], sorted_keys[i]))
      members.push_back(order_items[j++]);
    Value grouper = sorted_keys[i];
    if (!cs) {
      STRATA_TRY(grouper, get_attribute_path(in, members.front(), a[0], a[1]));
    }
    groups.push_back(Value::tuple({grouper, Value::list(std::move(members))}));
    i = j;
  }
  return Value::list(std::move(groups));
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
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(off) + 1,
                                args.positional.end());
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

Result<Value> f_select(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, true, false, "select_or_reject");
}

Result<Value> f_reject(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, false, false, "select_or_reject");
}

Result<Value> f_selectattr(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, true, true, "select_or_reject");
}

Result<Value> f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) {
  return select_or_reject(in, v, a, false, true, "select_or_reject");
}

Result<Value> min_or_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  STRATA_TRY(auto a, bind_args(want_max ? "max" : "min", args,
                               {{"case_sensitive", boolean(false)}, {"attribute", none()}}));
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

Result<Value> f_min(Interpreter& in, const Value& v, CallArgs& a) {
  return min_or_max(in, v, a, false);
}

Result<Value> f_max(Interpreter& in, const Value& v, CallArgs& a) {
  return min_or_max(in, v, a, true);
}

Result<Value> f_reverse(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_string()) return string_slice(v.as_string(), std::nullopt, std::nullopt, -1);
  if (v.is_sequence() || v.is_dict() || v.is_undefined()) {
    STRATA_TRY(auto items, iterate(v));
    std::reverse(items.begin(), items.end());
    std::string type = v.is_list()   ? "list_reverseiterator"
                       : v.is_dict() ? "dict_reversekeyiterator"
                                     : "reversed";
    return Value::iterator(type, "<" + type + " object at 0x7f0000000000>", std::move(items));
  }
  STRATA_TRY(auto items, iterate(v));
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Result<Value> f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  STRATA_TRY(
      auto a,
      bind_args("sort", args,
                {{"reverse", boolean(false)}, {"case_sensitive", boolean(false)}, {"attribute", none()}}));
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

}  // namespace

void add_sequence_filters(std::unordered_map<std::string_view, FilterFn>& table) {
  const std::pair<std::string_view, FilterFn> entries[] = {
      {"batch", f_batch},
      {"dictsort", f_dictsort},
      {"first", f_first},
      {"groupby", f_groupby},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"list", f_list},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"reverse", f_reverse},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"sort", f_sort},
      {"sum", f_sum},
      {"unique", f_unique},
  };
  for (const auto& [name, fn] : entries) table[name] = fn;
}

}  // namespace strata::jinja
