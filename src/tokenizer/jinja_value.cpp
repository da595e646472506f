#include "tokenizer/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tokenizer/jinja_unicode.h"

namespace strata::jinja {

// ---- Dict -------------------------------------------------------------------------------------

const Value* Dict::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : entries_) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : entries_) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

// ---- Object -----------------------------------------------------------------------------------

bool Object::set_attr(const std::string&, Value) {
  return false;
}

std::string Object::repr() const {
  std::string out = "<";
  out += type_name();
  out += " object>";
  return out;
}

// ---- Value ------------------------------------------------------------------------------------

Value Value::undefined(UndefinedInfo info) {
  Value v;
  v.ptr_ = std::make_shared<const UndefinedInfo>(std::move(info));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = ValueKind::kNone;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = ValueKind::kBool;
  v.b_ = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = ValueKind::kInt;
  v.i_ = i;
  return v;
}

Value Value::number(double f) {
  Value v;
  v.kind_ = ValueKind::kFloat;
  v.f_ = f;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = ValueKind::kString;
  v.ptr_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = ValueKind::kList;
  v.ptr_ = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = ValueKind::kTuple;
  return v;
}

Value Value::dict(Dict d) {
  Value v;
  v.kind_ = ValueKind::kDict;
  v.ptr_ = std::make_shared<const Dict>(std::move(d));
  return v;
}

Value Value::object(std::shared_ptr<Object> obj) {
  Value v;
  v.kind_ = ValueKind::kObject;
  v.ptr_ = std::move(obj);
  return v;
}

Value Value::function(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = ValueKind::kFunction;
  v.ptr_ = std::make_shared<const Function>(Function{std::move(name), std::move(fn)});
  return v;
}

Value Value::iterator(std::string type_name, std::string repr, std::vector<Value> items) {
  Value v;
  v.kind_ = ValueKind::kIterator;
  v.ptr_ = std::make_shared<IteratorState>(
      IteratorState{std::move(type_name), std::move(repr), std::move(items), 0});
  return v;
}

IteratorState* Value::as_iterator() const {
  return is_iterator() ? const_cast<IteratorState*>(static_cast<const IteratorState*>(ptr_.get())) : nullptr;
}

const std::string& Value::as_string() const {
  static const std::string kEmpty;
  return kind_ == ValueKind::kString ? *static_cast<const std::string*>(ptr_.get()) : kEmpty;
}

const std::vector<Value>& Value::as_list() const {
  static const std::vector<Value> kEmpty;
  return is_sequence() ? *static_cast<const std::vector<Value>*>(ptr_.get()) : kEmpty;
}

const Dict& Value::as_dict() const {
  static const Dict kEmpty;
  return is_dict() ? *static_cast<const Dict*>(ptr_.get()) : kEmpty;
}

Object* Value::as_object() const {
  return is_object() ? const_cast<Object*>(static_cast<const Object*>(ptr_.get())) : nullptr;
}

const Function& Value::as_function() const {
  return *static_cast<const Function*>(ptr_.get());
}

const UndefinedInfo* Value::undefined_info() const {
  return is_undefined() ? static_cast<const UndefinedInfo*>(ptr_.get()) : nullptr;
}

std::optional<int64_t> parse_digits(std::string_view digits) {
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

Value undefined_name(std::string name) {
  UndefinedInfo info;
  info.name = std::move(name);
  return Value::undefined(std::move(info));
}

Value undefined_attribute(const Value& owner, std::string name) {
  UndefinedInfo info;
  info.name = std::move(name);
  info.owner = object_type_repr(owner);
  return Value::undefined(std::move(info));
}

Value undefined_element(const Value& owner, const Value& key) {
  if (key.is_string()) return undefined_attribute(owner, key.as_string());
  UndefinedInfo info;
  info.name = repr(key);
  info.owner = object_type_repr(owner);
  info.name_is_str = false;
  return Value::undefined(std::move(info));
}

Value undefined_hint(std::string hint, std::string name) {
  UndefinedInfo info;
  info.name = std::move(name);
  info.hint = std::move(hint);
  return Value::undefined(std::move(info));
}

Value undefined_unsafe(const Value& owner, std::string name) {
  UndefinedInfo info;
  info.name = std::move(name);
  info.owner = type_name(owner);
  info.unsafe = true;
  return Value::undefined(std::move(info));
}

// ---- type names and undefined messages -------------------------------------------------------

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return "Undefined";
    case ValueKind::kNone:
      return "NoneType";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kFloat:
      return "float";
    case ValueKind::kString:
      return "str";
    case ValueKind::kList:
      return "list";
    case ValueKind::kTuple:
      return "tuple";
    case ValueKind::kDict:
      return "dict";
    case ValueKind::kObject:
      return v.as_object()->type_name();
    case ValueKind::kFunction:
      return "function";
    case ValueKind::kIterator:
      return v.as_iterator()->type_name;
  }
  return "object";
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

std::string undefined_message(const Value& v) {
  const UndefinedInfo* info = v.undefined_info();
  if (info == nullptr) return "undefined value";
  if (!info->hint.empty()) return info->hint;
  if (info->unsafe) {
    return "access to attribute '" + info->name + "' of '" + info->owner + "' object is unsafe.";
  }
  std::string name_repr;
  if (info->name_is_str) {
    append_string_repr(name_repr, info->name);
  } else {
    name_repr = info->name;
  }
  if (info->owner.empty()) return name_repr + " is undefined";
  if (!info->name_is_str) return info->owner + " has no element " + name_repr;
  std::string owner_repr;
  append_string_repr(owner_repr, info->owner);
  return owner_repr + " has no attribute " + name_repr;
}

Error undefined_error(const Value& v) {
  return Error(undefined_message(v));
}

// ---- truthiness, equality, ordering ------------------------------------------------------------

bool truthy(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return false;
    case ValueKind::kBool:
      return v.as_bool();
    case ValueKind::kInt:
      return v.as_int() != 0;
    case ValueKind::kFloat:
      return v.as_double() != 0.0;
    case ValueKind::kString:
      return !v.as_string().empty();
    case ValueKind::kList:
    case ValueKind::kTuple:
      return !v.as_list().empty();
    case ValueKind::kDict:
      return v.as_dict().size() != 0;
    case ValueKind::kObject:
    case ValueKind::kFunction:
    case ValueKind::kIterator:
      return true;
  }
  return false;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return true;
    case ValueKind::kString:
      return a.as_string() == b.as_string();
    case ValueKind::kList:
    case ValueKind::kTuple: {
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case ValueKind::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, val] : x.entries()) {
        const Value* other = y.find(k);
        if (other == nullptr || !equals(val, *other)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

Result<bool> less_than(const Value& a, const Value& b, std::string_view op) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const auto& x = a.as_list();
    const auto& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return less_than(x[i], y[i], op);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  return make_error("'{}' not supported between instances of '{}' and '{}'", op, type_name(a), type_name(b));
}

Result<bool> compare_values(std::string_view op, const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  bool orderable = (a.is_number() && b.is_number()) || (a.is_string() && b.is_string()) ||
                   (a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple());
  if (!orderable) {
    return make_error("'{}' not supported between instances of '{}' and '{}'", op, type_name(a),
                      type_name(b));
  }
  if (op == "<") return less_than(a, b, op);
  if (op == ">") return less_than(b, a, op);
  if (op == "<=") {
    STRATA_TRY(bool gt, less_than(b, a, op));
    return !gt;
  }
  STRATA_TRY(bool lt, less_than(a, b, op));
  return !lt;
}

// ---- str() and repr() ------------------------------------------------------------------------

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci = [-]D[.DDD]e[+-]XX
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  int exponent = std::atoi(sci.c_str() + e + 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  std::string out = negative ? "-" : "";
  int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (n > 1) {
      out += '.';
      out += digits.substr(1);
    }
    int x = decpt - 1;
    out += 'e';
    out += x < 0 ? '-' : '+';
    int ax = x < 0 ? -x : x;
    if (ax < 10) out += '0';
    out += std::to_string(ax);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-decpt), '0');
    out += digits;
  } else if (decpt < n) {
    out += digits.substr(0, static_cast<size_t>(decpt));
    out += '.';
    out += digits.substr(static_cast<size_t>(decpt));
  } else {
    out += digits;
    out.append(static_cast<size_t>(decpt - n), '0');
    out += ".0";
  }
  return out;
}

void append_string_repr(std::string& out, std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  out.push_back(quote);
  char buf[16];
  for (char32_t cp : utf8_decode(s)) {
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else if (cp < 0x7F || is_py_printable(cp)) {
      utf8_append(out, cp);
    } else if (cp <= 0xFF) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else if (cp <= 0xFFFF) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
    } else {
      std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(cp));
      out += buf;
    }
  }
  out.push_back(quote);
}

void append_repr(std::string& out, const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      out += "Undefined";
      return;
    case ValueKind::kNone:
      out += "None";
      return;
    case ValueKind::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case ValueKind::kInt:
      out += std::to_string(v.as_int());
      return;
    case ValueKind::kFloat:
      out += float_repr(v.as_double());
      return;
    case ValueKind::kString:
      append_string_repr(out, v.as_string());
      return;
    case ValueKind::kList:
    case ValueKind::kTuple: {
      const auto& items = v.as_list();
      out += v.is_list() ? '[' : '(';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        append_repr(out, items[i]);
      }
      if (v.is_tuple() && items.size() == 1) out += ',';
      out += v.is_list() ? ']' : ')';
      return;
    }
    case ValueKind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& [k, val] : v.as_dict().entries()) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, k);
        out += ": ";
        append_repr(out, val);
      }
      out += '}';
      return;
    }
    case ValueKind::kObject:
      out += v.as_object()->repr();
      return;
    case ValueKind::kFunction:
      out += "<function " + v.as_function().name + ">";
      return;
    case ValueKind::kIterator:
      out += v.as_iterator()->repr;
      return;
  }
}

std::string repr(const Value& v) {
  std::string out;
  append_repr(out, v);
  return out;
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return "";
    case ValueKind::kString:
      return v.as_string();
    default:
      return repr(v);
  }
}

}  // namespace strata::jinja
