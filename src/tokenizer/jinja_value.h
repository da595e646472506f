// The value model of the Jinja2 interpreter: a Python-like dynamic value.
//
// Kinds mirror the Python objects a chat template sees when Hugging Face transformers renders it:
// jinja2's Undefined, None, bool, int, float, str, list, tuple, dict (insertion ordered), plus
// objects (namespace(), the loop variable, cycler, joiner) and callables (macros, globals, bound
// methods). Strings, lists and dicts are immutable once built and shared by pointer, so copying a
// Value is cheap; namespace objects are the only mutable state a template can reach (the sandbox
// forbids list.append and friends). Python semantics that several files need (truthiness,
// equality, ordering, str()/repr()) live here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata::jinja {

class Interpreter;
class Value;

enum class ValueKind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kDict,
  kObject,
  kFunction,
  kIterator,  // one-shot iterator: generators from map/select/..., reversed(), dict.items()
};

// Why a value is undefined; used for jinja2's error messages when an undefined value is used in
// a way that fails ("'foo' is undefined", "'dict object' has no attribute 'x'").
struct UndefinedInfo {
  std::string name;         // the missing name or attribute (repr'd in messages)
  std::string owner;        // object_type_repr of the object it was looked up on; empty = none
  bool name_is_str = true;  // false for missing integer indices ("has no element 3")
  std::string hint;         // overrides the message when set
  bool unsafe = false;      // sandbox: access to an unsafe attribute (SecurityError)
};

// Parses a run of decimal digits; nullopt when empty, not all digits, or beyond int64.
std::optional<int64_t> parse_digits(std::string_view digits);

// Undefined values as jinja2 makes them.
Value undefined_name(std::string name);                           // "'x' is undefined"
Value undefined_attribute(const Value& owner, std::string name);  // "'dict object' has no attribute 'x'"
Value undefined_element(const Value& owner, const Value& key);    // "list object has no element 3"
Value undefined_hint(std::string hint, std::string name = "");    // message = hint
Value undefined_unsafe(const Value& owner, std::string name);     // sandbox SecurityError text

class Dict {
 public:
  using Entry = std::pair<Value, Value>;
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or replaces (keeping the original position, as Python dicts do).
  void set(Value key, Value value);
  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;
};

// State of a one-shot iterator (Python generator or reverse iterator). Items are computed when
// the iterator is made; consuming them (for, list, join, first, `in`) advances `pos`, so a second
// pass sees what is left, as in Python.
struct IteratorState {
  std::string type_name;  // "generator", "list_reverseiterator", ...
  std::string repr;       // "<generator object sync_do_map at 0x...>"
  std::vector<Value> items;
  size_t pos = 0;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFn = std::function<Result<Value>(Interpreter&, CallArgs&)>;

struct Function {
  std::string name;
  NativeFn fn;
};

// Objects with attributes: namespace, loop, cycler, joiner, macros' metadata.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;
  // nullopt when the attribute does not exist.
  virtual std::optional<Value> get_attr(std::string_view name) const = 0;
  // Only namespace() objects accept attribute assignment.
  virtual bool set_attr(const std::string& name, Value value);
  virtual std::string repr() const;
};

class Value {
 public:
  Value() = default;  // undefined
  static Value undefined(UndefinedInfo info);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value dict(Dict d);
  static Value object(std::shared_ptr<Object> obj);
  static Value function(std::string name, NativeFn fn);
  static Value iterator(std::string type_name, std::string repr, std::vector<Value> items);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  // int, float or bool (Python's numbers.Number; bool is an int subclass).
  bool is_number() const { return kind_ == ValueKind::kInt || kind_ == ValueKind::kFloat || is_bool(); }
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_list() const { return kind_ == ValueKind::kList; }
  bool is_tuple() const { return kind_ == ValueKind::kTuple; }
  bool is_sequence() const { return is_list() || is_tuple(); }
  bool is_dict() const { return kind_ == ValueKind::kDict; }
  bool is_object() const { return kind_ == ValueKind::kObject; }
  bool is_function() const { return kind_ == ValueKind::kFunction; }
  bool is_iterator() const { return kind_ == ValueKind::kIterator; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == ValueKind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_double() const { return kind_ == ValueKind::kFloat ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const;
  const std::vector<Value>& as_list() const;  // list or tuple
  const Dict& as_dict() const;
  Object* as_object() const;
  const Function& as_function() const;
  IteratorState* as_iterator() const;
  const UndefinedInfo* undefined_info() const;

  // Identity for `is sameas` and namespace checks.
  const void* identity() const { return ptr_.get(); }

 private:
  ValueKind kind_ = ValueKind::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const void> ptr_;
};

// Python type name ("str", "int", "dict", "NoneType", ...) for error messages.
std::string type_name(const Value& v);
// jinja2's object_type_repr ("dict object", "None").
std::string object_type_repr(const Value& v);
// The message jinja2 raises when an undefined value is used.
std::string undefined_message(const Value& v);
Error undefined_error(const Value& v);

bool truthy(const Value& v);
// Python ==.
bool equals(const Value& a, const Value& b);
// Python <; an Error for unorderable types (TypeError text).
Result<bool> less_than(const Value& a, const Value& b, std::string_view op = "<");
// Python `a op b` for op in < <= > >=, with the TypeError text naming a and b in that order.
Result<bool> compare_values(std::string_view op, const Value& a, const Value& b);

// Python str() as jinja2 prints a value ({{ x }}; undefined prints as "").
std::string to_str(const Value& v);
// Python repr().
std::string repr(const Value& v);
void append_repr(std::string& out, const Value& v);
// repr() of a Python float (shortest round-trip, Python's fixed/exponent switch).
std::string float_repr(double d);
// repr() of a Python str (quote choice and escapes as CPython does).
void append_string_repr(std::string& out, std::string_view s);

}  // namespace strata::jinja
