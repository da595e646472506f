#include "tokenizer/jinja_ops.h"

#include <cmath>
#include <cstdio>

#include "tokenizer/jinja_unicode.h"

namespace strata::jinja {
namespace {

// Results of `*` repetition and `%` padding are capped (Python would raise MemoryError later).
constexpr uint64_t kMaxResultBytes = uint64_t{1} << 28;

Error unsupported(std::string_view op, const Value& a, const Value& b) {
  return make_error("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(a), type_name(b));
}

Result<Value> repeat(const Value& seq, int64_t n) {
  size_t unit = seq.is_string() ? seq.as_string().size() : seq.as_list().size();
  if (n > 0 && unit > 0 && static_cast<uint64_t>(n) > kMaxResultBytes / unit)
    return Error("repeated sequence too large");
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return Value::string(std::move(out));
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.as_list().begin(), seq.as_list().end());
  return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

double py_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((b < 0) != (m < 0))) m += b;
  if (m == 0) m = std::copysign(0.0, b);
  return m;
}

Result<Value> arith(std::string_view op, const Value& a, const Value& b) {
  bool ints = !a.is_float() && !b.is_float();
  if (op == "+" || op == "-" || op == "*") {
    if (ints) {
      int64_t r = 0;
      bool overflow = op == "+"   ? __builtin_add_overflow(a.as_int(), b.as_int(), &r)
                      : op == "-" ? __builtin_sub_overflow(a.as_int(), b.as_int(), &r)
                                  : __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
      if (overflow) return make_error("integer overflow in '{}'", op);
      return Value::integer(r);
    }
    double x = a.as_double();
    double y = b.as_double();
    return Value::number(op == "+" ? x + y : op == "-" ? x - y : x * y);
  }
  if (op == "/") {
    if (b.as_double() == 0) return Error(ints ? "division by zero" : "float division by zero");
    return Value::number(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (ints) {
      int64_t x = a.as_int();
      int64_t y = b.as_int();
      if (y == 0) return Error(op == "//" ? "integer division or modulo by zero" : "integer modulo by zero");
      int64_t q = x / y;
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return Value::integer(op == "//" ? q : m);
    }
    double x = a.as_double();
    double y = b.as_double();
    if (y == 0) return Error(op == "//" ? "float floor division by zero" : "float modulo");
    if (op == "%") return Value::number(py_fmod(x, y));
    // CPython's float_floor_div.
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
    double floordiv = 0;
    if (div != 0) {
      floordiv = std::floor(div);
      if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
      floordiv = std::copysign(0.0, x / y);
    }
    return Value::number(floordiv);
  }
  // **
  if (ints && b.as_int() >= 0) {
    int64_t result = 1;
    int64_t base = a.as_int();
    for (int64_t e = b.as_int(); e > 0; e >>= 1) {
      if ((e & 1) != 0 && __builtin_mul_overflow(result, base, &result))
        return Error("integer overflow in '**'");
      if (e > 1 && __builtin_mul_overflow(base, base, &base)) {
        if (result == 0) return Value::integer(0);
        return Error("integer overflow in '**'");
      }
    }
    return Value::integer(result);
  }
  if (a.as_double() == 0 && b.as_double() < 0) return Error("0.0 cannot be raised to a negative power");
  return Value::number(std::pow(a.as_double(), b.as_double()));
}

int64_t clamp_index(int64_t i, int64_t len, bool negative_step) {
  if (i < 0) {
    i += len;
    if (i < 0) i = negative_step ? -1 : 0;
  } else if (i >= len) {
    i = negative_step ? len - 1 : len;
  }
  return i;
}

}  // namespace

Result<Value> binary_op(std::string_view op, const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  if (a.is_number() && b.is_number()) return arith(op, a, b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value::string(a.as_string() + b.as_string());
    if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
      std::vector<Value> out = a.as_list();
      out.insert(out.end(), b.as_list().begin(), b.as_list().end());
      return a.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
    }
    if (a.is_string() || a.is_list() || a.is_tuple()) {
      return make_error("can only concatenate {} (not \"{}\") to {}", type_name(a), type_name(b),
                        type_name(a));
    }
    return unsupported("+", a, b);
  }
  if (op == "*") {
    if ((a.is_string() || a.is_sequence()) && b.is_number() && !b.is_float()) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_sequence()) && a.is_number() && !a.is_float()) return repeat(b, a.as_int());
    if (a.is_string() || a.is_sequence() || b.is_string() || b.is_sequence()) {
      return make_error("can't multiply sequence by non-int of type '{}'",
                        type_name(a.is_string() || a.is_sequence() ? b : a));
    }
    return unsupported("*", a, b);
  }
  if (op == "%" && a.is_string()) {
    STRATA_TRY(std::string s, percent_format(a.as_string(), b));
    return Value::string(std::move(s));
  }
  return unsupported(op == "**" ? "** or pow()" : op, a, b);
}

Result<Value> unary_minus(const Value& v) {
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_float()) return Value::number(-v.as_double());
  if (v.is_number()) {
    if (v.as_int() == INT64_MIN) return Error("integer overflow in unary '-'");
    return Value::integer(-v.as_int());
  }
  return make_error("bad operand type for unary -: '{}'", type_name(v));
}

Result<Value> unary_plus(const Value& v) {
  if (v.is_undefined()) return undefined_error(v);
  if (v.is_float()) return v;
  if (v.is_number()) return Value::integer(v.as_int());
  return make_error("bad operand type for unary +: '{}'", type_name(v));
}

Result<bool> contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::kUndefined:
      return false;
    case ValueKind::kString:
      if (!item.is_string()) {
        return make_error("'in <string>' requires string as left operand, not {}", type_name(item));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case ValueKind::kList:
    case ValueKind::kTuple:
      for (const Value& v : container.as_list()) {
        if (equals(v, item)) return true;
      }
      return false;
    case ValueKind::kDict:
      return container.as_dict().find(item) != nullptr;
    case ValueKind::kIterator: {
      IteratorState* it = container.as_iterator();
      while (it->pos < it->items.size()) {
        if (equals(it->items[it->pos++], item)) return true;
      }
      return false;
    }
    default:
      return make_error("argument of type '{}' is not iterable", type_name(container));
  }
}

Value string_slice(const std::string& s, std::optional<int64_t> start, std::optional<int64_t> stop,
                   int64_t step) {
  std::u32string cps = utf8_decode(s);
  int64_t len = static_cast<int64_t>(cps.size());
  int64_t lo = start ? clamp_index(*start, len, step < 0) : (step < 0 ? len - 1 : 0);
  int64_t hi = stop ? clamp_index(*stop, len, step < 0) : (step < 0 ? -1 : len);
  std::u32string out;
  for (__int128 i = lo; step > 0 ? i < hi : i > hi; i += step) out.push_back(cps[static_cast<size_t>(i)]);
  return Value::string(utf8_encode(out));
}

Result<std::optional<Value>> slice_value(const Value& obj, const Value& start, const Value& stop,
                                         const Value& step) {
  auto as_index = [](const Value& v, std::optional<int64_t>& out) {
    if (v.is_none() || v.is_undefined()) return true;
    if (!v.is_number() || v.is_float()) return false;
    out = v.as_int();
    return true;
  };
  std::optional<int64_t> lo, hi, st;
  if (!as_index(start, lo) || !as_index(stop, hi) || !as_index(step, st)) return std::optional<Value>();
  int64_t s = st.value_or(1);
  if (s == 0) return Error("slice step cannot be zero");
  if (obj.is_string()) return std::optional<Value>(string_slice(obj.as_string(), lo, hi, s));
  if (!obj.is_sequence()) return std::optional<Value>();
  const auto& items = obj.as_list();
  int64_t len = static_cast<int64_t>(items.size());
  int64_t a = lo ? clamp_index(*lo, len, s < 0) : (s < 0 ? len - 1 : 0);
  int64_t b = hi ? clamp_index(*hi, len, s < 0) : (s < 0 ? -1 : len);
  std::vector<Value> out;
  for (__int128 i = a; s > 0 ? i < b : i > b; i += s) out.push_back(items[static_cast<size_t>(i)]);
  return std::optional<Value>(obj.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out)));
}

std::optional<Value> index_value(const Value& obj, int64_t index) {
  if (obj.is_sequence()) {
    const auto& items = obj.as_list();
    int64_t len = static_cast<int64_t>(items.size());
    if (index < 0) index += len;
    if (index < 0 || index >= len) return std::nullopt;
    return items[static_cast<size_t>(index)];
  }
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    if (is_ascii(s)) {
      int64_t len = static_cast<int64_t>(s.size());
      if (index < 0) index += len;
      if (index < 0 || index >= len) return std::nullopt;
      return Value::string(std::string(1, s[static_cast<size_t>(index)]));
    }
    std::u32string cps = utf8_decode(s);
    int64_t len = static_cast<int64_t>(cps.size());
    if (index < 0) index += len;
    if (index < 0 || index >= len) return std::nullopt;
    std::string out;
    utf8_append(out, cps[static_cast<size_t>(index)]);
    return Value::string(std::move(out));
  }
  return std::nullopt;
}

Result<std::string> percent_format(const std::string& format, const Value& args) {
  std::vector<Value> positional;
  const Dict* mapping = args.is_dict() ? &args.as_dict() : nullptr;
  if (args.is_tuple()) {
    positional = args.as_list();
  } else {
    positional.push_back(args);
  }
  size_t next_arg = 0;
  bool used_mapping = false;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (++i >= format.size()) return Error("incomplete format");
    const Value* arg = nullptr;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string::npos) return Error("incomplete format key");
      if (mapping == nullptr) return Error("format requires a mapping");
      const Value* v = mapping->find(std::string_view(format).substr(i + 1, close - i - 1));
      if (v == nullptr) return Error("KeyError: " + format.substr(i + 1, close - i - 1));
      arg = v;
      used_mapping = true;
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos)
      flags += format[i++];
    std::string width;
    while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) width += format[i++];
    std::string precision;
    if (i < format.size() && format[i] == '.') {
      ++i;
      precision = ".";
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i])))
        precision += format[i++];
    }
    while (i < format.size() && (format[i] == 'l' || format[i] == 'h' || format[i] == 'L')) ++i;
    if (i >= format.size()) return Error("incomplete format");
    char type = format[i];
    if (type == '%') {
      out += '%';
      continue;
    }
    if (arg == nullptr) {
      if (next_arg >= positional.size()) return Error("not enough arguments for format string");
      arg = &positional[next_arg++];
    }
    if (parse_digits(width).value_or(0) > 4096 ||
        parse_digits(precision.size() > 1 ? precision.substr(1) : "0").value_or(0) > 4096) {
      if (type != 's' && type != 'r' && type != 'a') return Error("format width or precision too large");
    }
    std::string spec = "%" + flags + width + precision;
    char buf[512];
    if (type == 's' || type == 'r' || type == 'a') {
      std::string text = type == 's' ? to_str(*arg) : repr(*arg);
      if (precision.size() > 1) {
        std::u32string cps = utf8_decode(text);
        size_t p = static_cast<size_t>(parse_digits(precision.substr(1)).value_or(0));
        if (cps.size() > p) text = utf8_encode(cps.substr(0, p));
      }
      size_t w = static_cast<size_t>(parse_digits(width).value_or(0));
      if (w > kMaxResultBytes) return Error("formatted string too large");
      size_t len = utf8_length(text);
      std::string pad = len < w ? std::string(w - len, ' ') : "";
      out += flags.find('-') != std::string::npos ? text + pad : pad + text;
    } else if (type == 'd' || type == 'i' || type == 'u' || type == 'x' || type == 'X' || type == 'o') {
      if (!arg->is_number()) {
        return make_error("%{} format: {} is required, not {}", type,
                          type == 'd' || type == 'i' || type == 'u' ? "a real number" : "an integer",
                          type_name(*arg));
      }
      if (arg->is_float() && type != 'd' && type != 'i' && type != 'u') {
        return make_error("%{} format: an integer is required, not float", type);
      }
      int64_t n = arg->is_float() ? static_cast<int64_t>(std::trunc(arg->as_double())) : arg->as_int();
      char conv = type == 'u' || type == 'i' ? 'd' : type;
      std::snprintf(buf, sizeof(buf), (spec + "ll" + conv).c_str(), static_cast<long long>(n));
      out += buf;
    } else if (std::string_view("eEfFgG").find(type) != std::string_view::npos) {
      if (!arg->is_number()) return make_error("must be real number, not {}", type_name(*arg));
      std::snprintf(buf, sizeof(buf), (spec + type).c_str(), arg->as_double());
      out += buf;
    } else if (type == 'c') {
      if (arg->is_string()) {
        out += arg->as_string();
      } else {
        if (!arg->is_number() || arg->is_float()) return Error("%c requires an int or a unicode character");
        if (arg->as_int() < 0 || arg->as_int() > 0x10FFFF) return Error("%c arg not in range(0x110000)");
        utf8_append(out, static_cast<char32_t>(arg->as_int()));
      }
    } else {
      return make_error("unsupported format character '{}' (0x{:x}) at index {}", type,
                        static_cast<int>(type), i);
    }
  }
  if (!used_mapping && mapping == nullptr && next_arg < positional.size()) {
    return Error("not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace strata::jinja
