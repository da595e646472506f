// Jinja2 interpreter: walks a TemplateAst over a context of Values and writes the output.
//
// Scoping follows jinja2's compiled templates: the template body is one scope; every for-loop
// iteration, macro call, call block, `with` block and loop `else` gets a fresh child scope (so a
// `{% set %}` inside a loop is gone after the iteration); `if` adds none. Macros see their defining
// scope as it is when they are called. namespace() objects are the only state shared across
// scopes. Runtime failures (undefined used, TypeError-like misuse, raise_exception) come back as
// Error values with jinja2's / Python's message text.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace strata::jinja {

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  // Walks up the chain; nullptr when unbound.
  const Value* lookup(std::string_view name) const;
  void set(std::string_view name, Value value);

 private:
  std::shared_ptr<Scope> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};
using ScopePtr = std::shared_ptr<Scope>;

// Local wall-clock time for strftime_now (transformers: datetime.now().strftime(fmt)).
struct LocalTime {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int microsecond = 0;
};
using ClockFn = std::function<LocalTime()>;
LocalTime system_local_time();
// Python's datetime.strftime for a naive local time (C-locale names; %f is microseconds).
std::string py_strftime(const std::string& format, const LocalTime& t);

enum class Flow : uint8_t { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  explicit Interpreter(ClockFn clock) : clock_(std::move(clock)) {}

  // Renders `ast` with the context's keys as top-level variables.
  Result<std::string> render(const TemplateAst& ast, const Dict& context);

  // Services for filters, tests, methods and globals.
  Result<Value> call(const Value& callee, CallArgs& args);
  Result<Value> getattr(const Value& obj, std::string_view name);
  Result<Value> getitem(const Value& obj, const Value& key);
  Result<Value> apply_filter(std::string_view name, const Value& input, CallArgs& args);
  Result<bool> apply_test(std::string_view name, const Value& input, CallArgs& args);
  const ClockFn& clock() const { return clock_; }

 private:
  Result<Flow> exec_body(const StmtList& body, const ScopePtr& scope, std::string& out);
  Result<Flow> exec(const Stmt& s, const ScopePtr& scope, std::string& out);
  Result<Flow> exec_if(const Stmt& s, const ScopePtr& scope, std::string& out);
  Result<Flow> exec_for(const Stmt& s, const ScopePtr& scope, std::string& out);
  Status exec_macro_def(const Stmt& s, const ScopePtr& scope);
  Result<Flow> exec_call_block(const Stmt& s, const ScopePtr& scope, std::string& out);
  Status assign(const Expr& target, const Value& value, const ScopePtr& scope);
  Value make_macro(const Stmt& s, const ScopePtr& scope, std::string name);
  Result<Value> invoke_macro(const Stmt& s, const ScopePtr& defining, const std::string& name,
                             CallArgs& args);

  // Expressions (jinja_expr.cpp).
  Result<Value> eval(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_call(const Expr& e, const ScopePtr& scope);
  Result<Value> eval_filter(const Expr& e, const ScopePtr& scope, const Value* block_input);
  Result<Value> eval_compare(const Expr& e, const ScopePtr& scope);
  Status eval_args(const Expr& e, const ScopePtr& scope, CallArgs& args);
  Result<Value> lookup_name(const std::string& name, const ScopePtr& scope);

  ClockFn clock_;
  ScopePtr globals_;
  int depth_ = 0;
};

// Iterates a value as Python's iter() would (dict -> keys, str -> characters, undefined ->
// nothing); an Error for values that are not iterable.
Result<std::vector<Value>> iterate(const Value& v);

}  // namespace strata::jinja
