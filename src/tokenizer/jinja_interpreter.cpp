#include "tokenizer/jinja_interpreter.h"

#include <ctime>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_ops.h"

namespace strata::jinja {
namespace {

// Python jinja2 stops near a few hundred levels (recursion limit); stay well inside small thread stacks.
constexpr int kMaxCallDepth = 100;

// The `loop` variable of a for-loop iteration (jinja2.runtime.LoopContext).
class LoopObject : public Object {
 public:
  LoopObject(std::shared_ptr<const std::vector<Value>> items, size_t index,
             std::shared_ptr<Value> last_changed)
      : items_(std::move(items)), index_(index), last_changed_(std::move(last_changed)) {}

  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override { return fmt::format("<LoopContext {}/{}>", index_ + 1, items_->size()); }

  std::optional<Value> get_attr(std::string_view name) const override {
    int64_t length = static_cast<int64_t>(items_->size());
    int64_t i = static_cast<int64_t>(index_);
    if (name == "index") return Value::integer(i + 1);
    if (name == "index0") return Value::integer(i);
    if (name == "revindex") return Value::integer(length - i);
    if (name == "revindex0") return Value::integer(length - i - 1);
    if (name == "first") return Value::boolean(i == 0);
    if (name == "last") return Value::boolean(i == length - 1);
    if (name == "length") return Value::integer(length);
    if (name == "depth") return Value::integer(1);
    if (name == "depth0") return Value::integer(0);
    if (name == "previtem") {
      if (i == 0) return undefined_hint("there is no previous item");
      return (*items_)[index_ - 1];
    }
    if (name == "nextitem") {
      if (i + 1 >= length) return undefined_hint("there is no next item");
      return (*items_)[index_ + 1];
    }
    if (name == "cycle") {
      size_t index = index_;
      return Value::function("cycle", [index](Interpreter&, CallArgs& args) -> Result<Value> {
        if (args.positional.empty()) return Error("no items for cycling given");
        return args.positional[index % args.positional.size()];
      });
    }
    if (name == "changed") {
      auto last = last_changed_;
      return Value::function("changed", [last](Interpreter&, CallArgs& args) -> Result<Value> {
        Value current = Value::tuple(args.positional);
        if (!last->is_undefined() && equals(*last, current)) return Value::boolean(false);
        *last = current;
        return Value::boolean(true);
      });
    }
    return std::nullopt;
  }

 private:
  std::shared_ptr<const std::vector<Value>> items_;
  size_t index_;
  std::shared_ptr<Value> last_changed_;
};

Error unpack_error(size_t expected, size_t got) {
  if (got > expected) return make_error("too many values to unpack (expected {})", expected);
  return make_error("not enough values to unpack (expected {}, got {})", expected, got);
}

}  // namespace

// ---- Scope ------------------------------------------------------------------------------------

const Value* Scope::lookup(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent_.get()) {
    for (const auto& [k, v] : s->vars_) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Scope::set(std::string_view name, Value value) {
  for (auto& [k, v] : vars_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars_.emplace_back(std::string(name), std::move(value));
}

// ---- iteration --------------------------------------------------------------------------------

Result<std::vector<Value>> iterate(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined:
      return std::vector<Value>{};
    case ValueKind::kList:
    case ValueKind::kTuple:
      return v.as_list();
    case ValueKind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.as_dict().size());
      for (const auto& entry : v.as_dict().entries()) keys.push_back(entry.first);
      return keys;
    }
    case ValueKind::kString: {
      std::vector<Value> chars;
      const std::string& s = v.as_string();
      for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
        if (i + len > s.size()) len = 1;
        chars.push_back(Value::string(s.substr(i, len)));
        i += len;
      }
      return chars;
    }
    case ValueKind::kIterator: {
      IteratorState* it = v.as_iterator();
      std::vector<Value> rest(it->items.begin() + static_cast<std::ptrdiff_t>(it->pos), it->items.end());
      it->pos = it->items.size();
      return rest;
    }
    default:
      return make_error("'{}' object is not iterable", type_name(v));
  }
}

// ---- rendering --------------------------------------------------------------------------------

Result<std::string> Interpreter::render(const TemplateAst& ast, const Dict& context) {
  globals_ = std::make_shared<Scope>(nullptr);
  Dict globals = make_globals();
  for (const auto& [k, v] : globals.entries()) globals_->set(k.as_string(), v);
  auto root = std::make_shared<Scope>(globals_);
  for (const auto& [k, v] : context.entries()) {
    if (k.is_string()) root->set(k.as_string(), v);
  }
  std::string out;
  STRATA_TRY(Flow flow, exec_body(ast.body, root, out));
  (void)flow;
  return out;
}

Result<Flow> Interpreter::exec_body(const StmtList& body, const ScopePtr& scope, std::string& out) {
  for (const auto& s : body) {
    STRATA_TRY(Flow flow, exec(*s, scope, out));
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Result<Flow> Interpreter::exec(const Stmt& s, const ScopePtr& scope, std::string& out) {
  switch (s.kind) {
    case StmtKind::kText:
      out += s.text;
      return Flow::kNormal;
    case StmtKind::kPrint: {
      STRATA_TRY(Value v, eval(*s.expr, scope));
      if (v.is_string()) {
        out += v.as_string();
      } else {
        out += to_str(v);
      }
      return Flow::kNormal;
    }
    case StmtKind::kIf:
      return exec_if(s, scope, out);
    case StmtKind::kFor:
      return exec_for(s, scope, out);
    case StmtKind::kSet: {
      STRATA_TRY(Value v, eval(*s.expr, scope));
      STRATA_RETURN_IF_ERROR(assign(*s.target, v, scope));
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock:
    case StmtKind::kFilterBlock: {
      std::string text;
      auto inner = s.kind == StmtKind::kFilterBlock ? std::make_shared<Scope>(scope) : scope;
      STRATA_TRY(Flow flow, exec_body(s.body, inner, text));
      (void)flow;
      Value v = Value::string(std::move(text));
      if (s.filter) {
        STRATA_TRY(v, eval_filter(*s.filter, scope, &v));
      }
      if (s.kind == StmtKind::kFilterBlock) {
        out += to_str(v);
      } else {
        STRATA_RETURN_IF_ERROR(assign(*s.target, v, scope));
      }
      return Flow::kNormal;
    }
    case StmtKind::kMacro:
      STRATA_RETURN_IF_ERROR(exec_macro_def(s, scope));
      return Flow::kNormal;
    case StmtKind::kCallBlock:
      return exec_call_block(s, scope, out);
    case StmtKind::kWith: {
      auto inner = std::make_shared<Scope>(scope);
      for (size_t i = 0; i < s.targets.size(); ++i) {
        STRATA_TRY(Value v, eval(*s.values[i], scope));
        STRATA_RETURN_IF_ERROR(assign(*s.targets[i], v, inner));
      }
      return exec_body(s.body, inner, out);
    }
    case StmtKind::kScope:
      return exec_body(s.body, std::make_shared<Scope>(scope), out);
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
  }
  return Flow::kNormal;
}

Result<Flow> Interpreter::exec_if(const Stmt& s, const ScopePtr& scope, std::string& out) {
  for (const auto& branch : s.branches) {
    STRATA_TRY(Value test, eval(*branch.test, scope));
    if (truthy(test)) return exec_body(branch.body, scope, out);
  }
  return exec_body(s.else_body, scope, out);
}

Result<Flow> Interpreter::exec_for(const Stmt& s, const ScopePtr& scope, std::string& out) {
  STRATA_TRY(Value iterable, eval(*s.expr, scope));
  STRATA_TRY(std::vector<Value> all, iterate(iterable));
  auto items = std::make_shared<std::vector<Value>>();
  if (s.filter) {
    for (Value& item : all) {
      auto probe = std::make_shared<Scope>(scope);
      STRATA_RETURN_IF_ERROR(assign(*s.target, item, probe));
      STRATA_TRY(Value keep, eval(*s.filter, probe));
      if (truthy(keep)) items->push_back(std::move(item));
    }
  } else {
    *items = std::move(all);
  }
  if (items->empty()) {
    STRATA_TRY(Flow flow, exec_body(s.else_body, std::make_shared<Scope>(scope), out));
    (void)flow;
    return Flow::kNormal;
  }
  std::shared_ptr<const std::vector<Value>> shared_items = items;
  auto last_changed = std::make_shared<Value>();
  for (size_t i = 0; i < shared_items->size(); ++i) {
    auto inner = std::make_shared<Scope>(scope);
    inner->set("loop", Value::object(std::make_shared<LoopObject>(shared_items, i, last_changed)));
    STRATA_RETURN_IF_ERROR(assign(*s.target, (*shared_items)[i], inner));
    STRATA_TRY(Flow flow, exec_body(s.body, inner, out));
    if (flow == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Status Interpreter::assign(const Expr& target, const Value& value, const ScopePtr& scope) {
  if (target.kind == ExprKind::kName) {
    scope->set(target.name, value);
    return ok_status();
  }
  if (target.kind == ExprKind::kNsRef) {
    const Value* ns = scope->lookup(target.name);
    Object* obj = ns != nullptr ? ns->as_object() : nullptr;
    if (obj == nullptr || !obj->set_attr(target.constant.as_string(), value)) {
      return Error("cannot assign attribute on non-namespace object");
    }
    return ok_status();
  }
  // Tuple unpacking.
  if (!value.is_sequence() && !value.is_string() && !value.is_dict()) {
    if (value.is_undefined()) return undefined_error(value);
    return make_error("cannot unpack non-iterable {} object", type_name(value));
  }
  STRATA_TRY(std::vector<Value> parts, iterate(value));
  if (parts.size() != target.items.size()) return unpack_error(target.items.size(), parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    STRATA_RETURN_IF_ERROR(assign(*target.items[i], parts[i], scope));
  }
  return ok_status();
}

// ---- macros -----------------------------------------------------------------------------------

Value Interpreter::make_macro(const Stmt& s, const ScopePtr& scope, std::string name) {
  const Stmt* stmt = &s;
  ScopePtr defining = scope;
  std::string macro_name = name;
  return Value::function(std::move(name), [stmt, defining, macro_name](Interpreter& in, CallArgs& args) {
    return in.invoke_macro(*stmt, defining, macro_name, args);
  });
}

Status Interpreter::exec_macro_def(const Stmt& s, const ScopePtr& scope) {
  scope->set(s.text, make_macro(s, scope, s.text));
  return ok_status();
}

Result<Value> Interpreter::invoke_macro(const Stmt& s, const ScopePtr& defining, const std::string& name,
                                        CallArgs& args) {
  if (depth_ >= kMaxCallDepth) return Error("maximum recursion depth exceeded");
  auto scope = std::make_shared<Scope>(defining);
  std::vector<std::pair<std::string, Value>> kwargs = args.keyword;
  size_t num_params = s.params.size();
  size_t first_default = num_params - s.defaults.size();
  bool found_caller = false;
  for (size_t i = 0; i < num_params; ++i) {
    const std::string& param = s.params[i];
    if (param == "caller") found_caller = true;
    std::optional<Value> value;
    if (i < args.positional.size()) {
      value = args.positional[i];
    } else {
      for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
        if (it->first == param) {
          value = std::move(it->second);
          kwargs.erase(it);
          break;
        }
      }
    }
    if (!value) {
      if (i >= first_default) {
        ++depth_;
        auto v = eval(*s.defaults[i - first_default], scope);
        --depth_;
        if (!v.ok()) return v.error();
        value = std::move(v).value();
      } else {
        value = undefined_hint("parameter '" + param + "' was not provided", param);
      }
    }
    scope->set(param, std::move(*value));
  }
  if (s.uses_caller && !found_caller) {
    Value caller = undefined_hint("No caller defined", "caller");
    for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
      if (it->first == "caller") {
        caller = std::move(it->second);
        kwargs.erase(it);
        break;
      }
    }
    scope->set("caller", caller);
  }
  if (s.uses_kwargs) {
    Dict d;
    for (auto& [k, v] : kwargs) d.set(Value::string(k), v);
    scope->set("kwargs", Value::dict(std::move(d)));
  } else if (!kwargs.empty()) {
    if (kwargs.front().first == "caller") {
      return make_error(
          "macro '{}' was invoked with two values for the special caller argument. This is most likely a "
          "bug.",
          name);
    }
    return make_error("macro '{}' takes no keyword argument '{}'", name, kwargs.front().first);
  }
  if (s.uses_varargs) {
    std::vector<Value> extra;
    for (size_t i = num_params; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    scope->set("varargs", Value::tuple(std::move(extra)));
  } else if (args.positional.size() > num_params) {
    return make_error("macro '{}' takes not more than {} argument(s)", name, num_params);
  }
  std::string out;
  ++depth_;
  auto flow = exec_body(s.body, scope, out);
  --depth_;
  if (!flow.ok()) return flow.error();
  return Value::string(std::move(out));
}

Result<Flow> Interpreter::exec_call_block(const Stmt& s, const ScopePtr& scope, std::string& out) {
  const Expr& call = *s.expr;
  STRATA_TRY(Value callee, eval(*call.a, scope));
  CallArgs args;
  STRATA_RETURN_IF_ERROR(eval_args(call, scope, args));
  args.keyword.emplace_back("caller", make_macro(s, scope, "caller"));
  STRATA_TRY(Value result, this->call(callee, args));
  out += to_str(result);
  return Flow::kNormal;
}

// ---- services ---------------------------------------------------------------------------------

Result<Value> Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_function()) return callee.as_function().fn(*this, args);
  if (callee.is_undefined()) return undefined_error(callee);
  return make_error("'{}' object is not callable", type_name(callee));
}

Result<Value> Interpreter::getattr(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case ValueKind::kUndefined:
      return undefined_error(obj);
    case ValueKind::kDict: {
      if (auto m = find_method(obj, name)) return *m;
      if (const Value* v = obj.as_dict().find(name)) return *v;
      break;
    }
    case ValueKind::kString:
    case ValueKind::kList:
    case ValueKind::kTuple:
      if (auto m = find_method(obj, name)) return *m;
      break;
    case ValueKind::kObject:
      if (auto v = obj.as_object()->get_attr(name)) return *v;
      break;
    default:
      break;
  }
  return undefined_attribute(obj, std::string(name));
}

Result<Value> Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(key)) return *v;
  } else if ((obj.is_sequence() || obj.is_string()) && key.is_number() && !key.is_float()) {
    if (auto v = index_value(obj, key.as_int())) return *v;
  }
  if (key.is_string()) {
    const std::string& name = key.as_string();
    if (obj.is_dict() || obj.is_string() || obj.is_sequence()) {
      if (auto m = find_method(obj, name)) return *m;
    } else if (obj.is_object()) {
      if (auto v = obj.as_object()->get_attr(name)) return *v;
    }
    return undefined_attribute(obj, name);
  }
  return undefined_element(obj, key);
}

Result<Value> Interpreter::apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  FilterFn fn = find_filter(name);
  if (fn == nullptr) return make_error("No filter named '{}' found.", name);
  return fn(*this, input, args);
}

Result<bool> Interpreter::apply_test(std::string_view name, const Value& input, CallArgs& args) {
  TestFn fn = find_test(name);
  if (fn == nullptr) return make_error("No test named '{}' found.", name);
  return fn(*this, input, args);
}

// ---- time -------------------------------------------------------------------------------------

LocalTime system_local_time() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  return LocalTime{tm.tm_year + 1900, tm.tm_mon + 1,           tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec,         static_cast<int>(micros)};
}

std::string py_strftime(const std::string& format, const LocalTime& t) {
  std::tm tm{};
  tm.tm_year = t.year - 1900;
  tm.tm_mon = t.month - 1;
  tm.tm_mday = t.day;
  tm.tm_hour = t.hour;
  tm.tm_min = t.minute;
  tm.tm_sec = t.second;
  std::tm normalized = tm;
  std::time_t secs = timegm(&normalized);  // fills weekday and day of year
  gmtime_r(&secs, &normalized);
  tm.tm_wday = normalized.tm_wday;
  tm.tm_yday = normalized.tm_yday;
  tm.tm_isdst = -1;
  // Python replaces %f (and %z/%Z, empty for a naive datetime) before calling the C strftime.
  std::string expanded;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      char c = format[i + 1];
      if (c == 'f') {
        expanded += fmt::format("{:06d}", t.microsecond);
      } else if (c != 'z' && c != 'Z') {
        expanded += format.substr(i, 2);
      }
      ++i;
    } else {
      expanded += format[i];
    }
  }
  if (expanded.empty()) return "";
  std::string buf(expanded.size() * 4 + 64, '\0');
  while (true) {
    size_t n = std::strftime(buf.data(), buf.size(), expanded.c_str(), &tm);
    if (n > 0 || buf.size() > 65536) {
      buf.resize(n);
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

}  // namespace strata::jinja
