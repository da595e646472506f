// Jinja2 tests (`is defined`, ...), global functions and shared helpers for the builtins.
#include "tokenizer/jinja_builtins.h"

#include <string>
#include <unordered_map>

#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_ops.h"
#include "tokenizer/jinja_pystr.h"

namespace strata::jinja {

Result<std::vector<Value>> bind_args(std::string_view function, const CallArgs& args,
                                     std::initializer_list<ParamSpec> params) {
  std::vector<Value> out;
  std::vector<bool> set(params.size(), false);
  for (const auto& p : params) out.push_back(p.default_value);
  if (args.positional.size() > params.size()) {
    return make_error("{}() takes at most {} argument(s) ({} given)", function, params.size(),
                      args.positional.size());
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    out[i] = args.positional[i];
    set[i] = true;
  }
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    for (const auto& p : params) {
      if (p.name == key) break;
      ++i;
    }
    if (i == params.size()) return make_error("{}() got an unexpected keyword argument '{}'", function, key);
    if (set[i]) return make_error("{}() got multiple values for argument '{}'", function, key);
    out[i] = value;
    set[i] = true;
  }
  size_t i = 0;
  for (const auto& p : params) {
    if (p.required && !set[i]) return make_error("{}() missing required argument: '{}'", function, p.name);
    ++i;
  }
  return out;
}

Value ignore_case(const Value& v) {
  return v.is_string() ? Value::string(py_lower(v.as_string())) : v;
}

Result<Value> get_attribute_path(Interpreter& in, const Value& item, const Value& attribute,
                                 const Value& fallback) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    STRATA_TRY(std::vector<std::string> names, py_split(attribute.as_string(), std::string("."), -1, false));
    for (const auto& name : names) {
      auto index = parse_digits(name);
      parts.push_back(index ? Value::integer(*index) : Value::string(name));
    }
  } else if (!attribute.is_none() && !attribute.is_undefined()) {
    parts.push_back(attribute);
  }
  Value current = item;
  for (const auto& part : parts) {
    STRATA_TRY(current, in.getitem(current, part));
    if (!fallback.is_undefined() && !fallback.is_none() && current.is_undefined()) current = fallback;
  }
  return current;
}

namespace {

// ---- tests ------------------------------------------------------------------------------------

const Value& arg0(const CallArgs& args) {
  static const Value kUndefined;
  return args.positional.empty() ? (args.keyword.empty() ? kUndefined : args.keyword.front().second)
                                 : args.positional.front();
}

Result<bool> test_defined(Interpreter&, const Value& v, CallArgs&) {
  return !v.is_undefined();
}
Result<bool> test_undefined(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined();
}
Result<bool> test_none(Interpreter&, const Value& v, CallArgs&) {
  return v.is_none();
}
Result<bool> test_boolean(Interpreter&, const Value& v, CallArgs&) {
  return v.is_bool();
}
Result<bool> test_true(Interpreter&, const Value& v, CallArgs&) {
  return v.is_bool() && v.as_bool();
}
Result<bool> test_false(Interpreter&, const Value& v, CallArgs&) {
  return v.is_bool() && !v.as_bool();
}
Result<bool> test_integer(Interpreter&, const Value& v, CallArgs&) {
  return v.is_int();
}
Result<bool> test_float(Interpreter&, const Value& v, CallArgs&) {
  return v.is_float();
}
Result<bool> test_number(Interpreter&, const Value& v, CallArgs&) {
  return v.is_number();
}
Result<bool> test_string(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string();
}
Result<bool> test_mapping(Interpreter&, const Value& v, CallArgs&) {
  return v.is_dict();
}
Result<bool> test_iterable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict() || v.is_iterator();
}
Result<bool> test_sequence(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
}
Result<bool> test_callable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_function();
}
Result<bool> test_escaped(Interpreter&, const Value&, CallArgs&) {
  return false;
}
Result<bool> test_lower(Interpreter&, const Value& v, CallArgs&) {
  return py_islower(to_str(v));
}
Result<bool> test_upper(Interpreter&, const Value& v, CallArgs&) {
  return py_isupper(to_str(v));
}

Result<bool> test_sameas(Interpreter&, const Value& v, CallArgs& args) {
  const Value& other = arg0(args);
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case ValueKind::kNone:
    case ValueKind::kUndefined:
      return v.is_none() || v.identity() == other.identity();
    case ValueKind::kBool:
      return v.as_bool() == other.as_bool();
    case ValueKind::kInt:
      return v.as_int() == other.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    default:
      return v.identity() == other.identity();
  }
}

Result<bool> divisible(const Value& v, const Value& n) {
  STRATA_TRY(Value m, binary_op("%", v, n));
  return equals(m, Value::integer(0));
}
Result<bool> test_divisibleby(Interpreter&, const Value& v, CallArgs& args) {
  return divisible(v, arg0(args));
}
Result<bool> test_even(Interpreter&, const Value& v, CallArgs&) {
  return divisible(v, Value::integer(2));
}
Result<bool> test_odd(Interpreter&, const Value& v, CallArgs&) {
  STRATA_TRY(bool even, divisible(v, Value::integer(2)));
  return !even;
}

Result<bool> test_eq(Interpreter&, const Value& v, CallArgs& args) {
  return equals(v, arg0(args));
}
Result<bool> test_ne(Interpreter&, const Value& v, CallArgs& args) {
  return !equals(v, arg0(args));
}
Result<bool> test_lt(Interpreter&, const Value& v, CallArgs& args) {
  return compare_values("<", v, arg0(args));
}
Result<bool> test_gt(Interpreter&, const Value& v, CallArgs& args) {
  return compare_values(">", v, arg0(args));
}
Result<bool> test_le(Interpreter&, const Value& v, CallArgs& args) {
  return compare_values("<=", v, arg0(args));
}
Result<bool> test_ge(Interpreter&, const Value& v, CallArgs& args) {
  return compare_values(">=", v, arg0(args));
}
Result<bool> test_in(Interpreter&, const Value& v, CallArgs& args) {
  return contains(arg0(args), v);
}
Result<bool> test_filter(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}
Result<bool> test_test(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

const std::unordered_map<std::string_view, TestFn>& test_table() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"defined", test_defined},
      {"undefined", test_undefined},
      {"none", test_none},
      {"boolean", test_boolean},
      {"true", test_true},
      {"false", test_false},
      {"integer", test_integer},
      {"float", test_float},
      {"number", test_number},
      {"string", test_string},
      {"mapping", test_mapping},
      {"iterable", test_iterable},
      {"sequence", test_sequence},
      {"callable", test_callable},
      {"escaped", test_escaped},
      {"lower", test_lower},
      {"upper", test_upper},
      {"sameas", test_sameas},
      {"divisibleby", test_divisibleby},
      {"even", test_even},
      {"odd", test_odd},
      {"eq", test_eq},
      {"equalto", test_eq},
      {"==", test_eq},
      {"ne", test_ne},
      {"!=", test_ne},
      {"lt", test_lt},
      {"lessthan", test_lt},
      {"<", test_lt},
      {"gt", test_gt},
      {"greaterthan", test_gt},
      {">", test_gt},
      {"le", test_le},
      {"<=", test_le},
      {"ge", test_ge},
      {">=", test_ge},
      {"in", test_in},
      {"filter", test_filter},
      {"test", test_test},
  };
  return table;
}

// ---- globals ----------------------------------------------------------------------------------

class Namespace : public Object {
 public:
  explicit Namespace(Dict attrs) : attrs_(std::move(attrs)) {}
  std::string type_name() const override { return "Namespace"; }
  std::optional<Value> get_attr(std::string_view name) const override {
    if (const Value* v = attrs_.find(name)) return *v;
    return std::nullopt;
  }
  bool set_attr(const std::string& name, Value value) override {
    attrs_.set(Value::string(name), std::move(value));
    return true;
  }
  std::string repr() const override { return "<Namespace " + jinja::repr(Value::dict(attrs_)) + ">"; }

 private:
  Dict attrs_;
};

class Cycler : public Object {
 public:
  explicit Cycler(std::vector<Value> items) : state_(std::make_shared<State>(State{std::move(items), 0})) {}
  std::string type_name() const override { return "Cycler"; }
  std::optional<Value> get_attr(std::string_view name) const override {
    auto state = state_;
    if (name == "items") return Value::list(state->items);
    if (name == "current") return state->items[state->pos];
    if (name == "next") {
      return Value::function("next", [state](Interpreter&, CallArgs&) -> Result<Value> {
        Value v = state->items[state->pos];
        state->pos = (state->pos + 1) % state->items.size();
        return v;
      });
    }
    if (name == "reset") {
      return Value::function("reset", [state](Interpreter&, CallArgs&) -> Result<Value> {
        state->pos = 0;
        return Value::none();
      });
    }
    return std::nullopt;
  }

 private:
  struct State {
    std::vector<Value> items;
    size_t pos;
  };
  std::shared_ptr<State> state_;
};

Result<Dict> dict_from_args(std::string_view function, const CallArgs& args) {
  Dict d;
  if (args.positional.size() > 1)
    return make_error("{} expected at most 1 argument, got {}", function, args.positional.size());
  if (!args.positional.empty()) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      d = src.as_dict();
    } else {
      STRATA_TRY(std::vector<Value> items, iterate(src));
      for (const Value& item : items) {
        STRATA_TRY(std::vector<Value> pair, iterate(item));
        if (pair.size() != 2) {
          return make_error("dictionary update sequence element has length {}; 2 is required", pair.size());
        }
        d.set(pair[0], pair[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) d.set(Value::string(k), v);
  return d;
}

Result<Value> global_range(Interpreter&, CallArgs& args) {
  if (!args.keyword.empty()) return Error("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    return make_error("range expected at most 3 arguments, got {}", args.positional.size());
  }
  int64_t v[3] = {0, 0, 1};
  for (size_t i = 0; i < args.positional.size(); ++i) {
    const Value& a = args.positional[i];
    if (!a.is_number() || a.is_float()) {
      return make_error("'{}' object cannot be interpreted as an integer", type_name(a));
    }
    v[i] = a.as_int();
  }
  int64_t start = args.positional.size() == 1 ? 0 : v[0];
  int64_t stop = args.positional.size() == 1 ? v[0] : v[1];
  int64_t step = args.positional.size() == 3 ? v[2] : 1;
  if (step == 0) return Error("range() arg 3 must not be zero");
  __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  __int128 abs_step = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
  __int128 count = span > 0 ? (span + abs_step - 1) / abs_step : 0;
  if (count > 100000)
    return Error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) items.push_back(Value::integer(start + i * step));
  return Value::list(std::move(items));
}

Result<Value> global_namespace(Interpreter&, CallArgs& args) {
  STRATA_TRY(Dict d, dict_from_args("Namespace", args));
  return Value::object(std::make_shared<Namespace>(std::move(d)));
}

Result<Value> global_dict(Interpreter&, CallArgs& args) {
  STRATA_TRY(Dict d, dict_from_args("dict", args));
  return Value::dict(std::move(d));
}

Result<Value> global_cycler(Interpreter&, CallArgs& args) {
  if (args.positional.empty()) return Error("at least one item has to be provided");
  return Value::object(std::make_shared<Cycler>(args.positional));
}

Result<Value> global_joiner(Interpreter&, CallArgs& args) {
  STRATA_TRY(std::vector<Value> a, bind_args("joiner", args, {{"sep", Value::string(", ")}}));
  std::string sep = to_str(a[0]);
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [sep, used](Interpreter&, CallArgs&) -> Result<Value> {
    if (!*used) {
      *used = true;
      return Value::string("");
    }
    return Value::string(sep);
  });
}

Result<Value> global_raise_exception(Interpreter&, CallArgs& args) {
  STRATA_TRY(std::vector<Value> a, bind_args("raise_exception", args, {{"message", Value(), true}}));
  return Error(to_str(a[0]));
}

Result<Value> global_strftime_now(Interpreter& in, CallArgs& args) {
  STRATA_TRY(std::vector<Value> a, bind_args("strftime_now", args, {{"format", Value(), true}}));
  if (!a[0].is_string()) return make_error("strftime() argument 1 must be str, not {}", type_name(a[0]));
  LocalTime now = in.clock() ? in.clock()() : system_local_time();
  return Value::string(py_strftime(a[0].as_string(), now));
}

}  // namespace

TestFn find_test(std::string_view name) {
  const auto& table = test_table();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

Dict make_globals() {
  Dict d;
  d.set(Value::string("range"), Value::function("range", global_range));
  d.set(Value::string("namespace"), Value::function("namespace", global_namespace));
  d.set(Value::string("dict"), Value::function("dict", global_dict));
  d.set(Value::string("cycler"), Value::function("cycler", global_cycler));
  d.set(Value::string("joiner"), Value::function("joiner", global_joiner));
  d.set(Value::string("raise_exception"), Value::function("raise_exception", global_raise_exception));
  d.set(Value::string("strftime_now"), Value::function("strftime_now", global_strftime_now));
  return d;
}

}  // namespace strata::jinja
