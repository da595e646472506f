// Expression evaluation of the Jinja2 interpreter (jinja2's compiled visit_* for expressions).
#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_ops.h"

namespace strata::jinja {

Result<Value> Interpreter::lookup_name(const std::string& name, const ScopePtr& scope) {
  if (const Value* v = scope->lookup(name)) return *v;
  return undefined_name(name);
}

Status Interpreter::eval_args(const Expr& e, const ScopePtr& scope, CallArgs& args) {
  for (const auto& item : e.items) {
    STRATA_TRY(Value v, eval(*item, scope));
    args.positional.push_back(std::move(v));
  }
  for (const auto& [key, expr] : e.kwargs) {
    STRATA_TRY(Value v, eval(*expr, scope));
    args.keyword.emplace_back(key, std::move(v));
  }
  if (e.dyn_args) {
    STRATA_TRY(Value extra, eval(*e.dyn_args, scope));
    STRATA_TRY(std::vector<Value> items, iterate(extra));
    for (auto& v : items) args.positional.push_back(std::move(v));
  }
  if (e.dyn_kwargs) {
    STRATA_TRY(Value extra, eval(*e.dyn_kwargs, scope));
    if (!extra.is_dict()) return make_error("argument after ** must be a mapping, not {}", type_name(extra));
    for (const auto& [k, v] : extra.as_dict().entries()) {
      if (!k.is_string()) return Error("keywords must be strings");
      args.keyword.emplace_back(k.as_string(), v);
    }
  }
  return ok_status();
}

Result<Value> Interpreter::eval_call(const Expr& e, const ScopePtr& scope) {
  STRATA_TRY(Value callee, eval(*e.a, scope));
  CallArgs args;
  STRATA_RETURN_IF_ERROR(eval_args(e, scope, args));
  return call(callee, args);
}

Result<Value> Interpreter::eval_filter(const Expr& e, const ScopePtr& scope, const Value* block_input) {
  Value input;
  if (e.a == nullptr) {
    if (block_input != nullptr) input = *block_input;
  } else if (e.a->kind == ExprKind::kFilter) {
    STRATA_TRY(input, eval_filter(*e.a, scope, block_input));
  } else {
    STRATA_TRY(input, eval(*e.a, scope));
  }
  CallArgs args;
  STRATA_RETURN_IF_ERROR(eval_args(e, scope, args));
  return apply_filter(e.name, input, args);
}

Result<Value> Interpreter::eval_compare(const Expr& e, const ScopePtr& scope) {
  STRATA_TRY(Value left, eval(*e.a, scope));
  for (size_t i = 0; i < e.ops.size(); ++i) {
    STRATA_TRY(Value right, eval(*e.items[i], scope));
    const std::string& op = e.ops[i];
    bool result = false;
    if (op == "==") {
      result = equals(left, right);
    } else if (op == "!=") {
      result = !equals(left, right);
    } else if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      STRATA_TRY(result, compare_values(op, left, right));
    } else if (op == "in") {
      STRATA_TRY(result, contains(right, left));
    } else {  // notin
      STRATA_TRY(bool in, contains(right, left));
      result = !in;
    }
    if (!result) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Result<Value> Interpreter::eval(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::kConst:
      return e.constant;
    case ExprKind::kName:
      return lookup_name(e.name, scope);
    case ExprKind::kGetattr: {
      STRATA_TRY(Value obj, eval(*e.a, scope));
      return getattr(obj, e.name);
    }
    case ExprKind::kGetitem: {
      STRATA_TRY(Value obj, eval(*e.a, scope));
      if (e.b->kind == ExprKind::kSlice) {
        if (obj.is_undefined()) return undefined_error(obj);
        const Expr& sl = *e.b;
        Value start, stop, step;
        if (sl.a) {
          STRATA_TRY(start, eval(*sl.a, scope));
        }
        if (sl.b) {
          STRATA_TRY(stop, eval(*sl.b, scope));
        }
        if (sl.c) {
          STRATA_TRY(step, eval(*sl.c, scope));
        }
        if (obj.is_dict()) return Error("unhashable type: 'slice'");
        if (!obj.is_string() && !obj.is_sequence()) {
          return make_error("'{}' object is not subscriptable", type_name(obj));
        }
        STRATA_TRY(std::optional<Value> sliced, slice_value(obj, start, stop, step));
        if (sliced) return *sliced;
        return Error("slice indices must be integers or None or have an __index__ method");
      }
      STRATA_TRY(Value key, eval(*e.b, scope));
      return getitem(obj, key);
    }
    case ExprKind::kSlice:
      return Error("slice outside of a subscript");
    case ExprKind::kCall:
      return eval_call(e, scope);
    case ExprKind::kFilter:
      return eval_filter(e, scope, nullptr);
    case ExprKind::kTest: {
      STRATA_TRY(Value input, eval(*e.a, scope));
      CallArgs args;
      STRATA_RETURN_IF_ERROR(eval_args(e, scope, args));
      STRATA_TRY(bool result, apply_test(e.name, input, args));
      return Value::boolean(result);
    }
    case ExprKind::kNeg: {
      STRATA_TRY(Value v, eval(*e.a, scope));
      return unary_minus(v);
    }
    case ExprKind::kPos: {
      STRATA_TRY(Value v, eval(*e.a, scope));
      return unary_plus(v);
    }
    case ExprKind::kNot: {
      STRATA_TRY(Value v, eval(*e.a, scope));
      return Value::boolean(!truthy(v));
    }
    case ExprKind::kAnd: {
      STRATA_TRY(Value left, eval(*e.a, scope));
      if (!truthy(left)) return left;
      return eval(*e.b, scope);
    }
    case ExprKind::kOr: {
      STRATA_TRY(Value left, eval(*e.a, scope));
      if (truthy(left)) return left;
      return eval(*e.b, scope);
    }
    case ExprKind::kBinary: {
      STRATA_TRY(Value left, eval(*e.a, scope));
      STRATA_TRY(Value right, eval(*e.b, scope));
      return binary_op(e.name, left, right);
    }
    case ExprKind::kConcat: {
      std::string out;
      for (const auto& item : e.items) {
        STRATA_TRY(Value v, eval(*item, scope));
        out += to_str(v);
      }
      return Value::string(std::move(out));
    }
    case ExprKind::kCompare:
      return eval_compare(e, scope);
    case ExprKind::kCondExpr: {
      STRATA_TRY(Value test, eval(*e.a, scope));
      if (truthy(test)) return eval(*e.b, scope);
      if (e.c) return eval(*e.c, scope);
      return undefined_hint(fmt::format(
          "the inline if-expression on line {} evaluated to false and no else section was defined.", e.line));
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const auto& item : e.items) {
        STRATA_TRY(Value v, eval(*item, scope));
        items.push_back(std::move(v));
      }
      return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        STRATA_TRY(Value key, eval(*e.items[i], scope));
        STRATA_TRY(Value value, eval(*e.items[i + 1], scope));
        if (key.is_list() || key.is_dict()) return make_error("unhashable type: '{}'", type_name(key));
        d.set(std::move(key), std::move(value));
      }
      return Value::dict(std::move(d));
    }
    case ExprKind::kNsRef:
      return Error("namespace reference outside of an assignment");
  }
  return Error("unknown expression");
}

}  // namespace strata::jinja
