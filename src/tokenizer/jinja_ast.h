// Syntax tree of a parsed Jinja2 template (the parser builds it once; the interpreter walks it
// for every render). Node kinds follow jinja2.nodes; each node keeps its source line for errors.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace strata::jinja {

enum class ExprKind : uint8_t {
  kConst,     // constant
  kName,      // name
  kGetattr,   // a.name
  kGetitem,   // a[b]
  kSlice,     // a:b:c inside [] (null parts omitted)
  kCall,      // a(args, kwargs, *dyn_args, **dyn_kwargs)
  kFilter,    // a | name(args...); a is null inside {% filter %} / {% set x | f %}
  kTest,      // a is name(args...)
  kNeg,       // -a
  kPos,       // +a
  kNot,       // not a
  kAnd,       // a and b
  kOr,        // a or b
  kBinary,    // a op b: + - * / // % **
  kConcat,    // items joined with ~
  kCompare,   // a ops[0] items[0] ops[1] items[1] ...
  kCondExpr,  // b if a else c (c may be null)
  kList,      // [items]
  kTuple,     // (items)
  kDict,      // {items[0]: items[1], ...}
  kNsRef,     // name.attr as an assignment target
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::kConst;
  int line = 0;
  Value constant;
  std::string name;  // name, attribute, filter/test name, binary operator
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;    // args, elements, compare operands
  std::vector<std::string> ops;  // compare operators
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args, dyn_kwargs;
};

enum class StmtKind : uint8_t {
  kText,         // template data
  kPrint,        // {{ expr }}
  kIf,           // branches (test + body), else_body
  kFor,          // for target in expr [if filter] body [else else_body]
  kSet,          // set target = expr
  kSetBlock,     // set target [| filter] body endset
  kMacro,        // macro name(params=defaults) body
  kCallBlock,    // call(params) expr body  (body becomes `caller`)
  kFilterBlock,  // filter f body
  kWith,         // with targets = values body
  kBreak,
  kContinue,
  kScope,  // body rendered in place (block, generation)
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

struct IfBranch {
  ExprPtr test;
  StmtList body;
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 0;
  std::string text;  // kText data; kMacro name
  ExprPtr expr;      // print/set value, for iterable, call-block call
  ExprPtr target;    // for/set target
  ExprPtr filter;    // for-loop condition; kSetBlock/kFilterBlock filter chain
  std::vector<IfBranch> branches;
  StmtList body;
  StmtList else_body;
  // Macros and call blocks.
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  bool uses_caller = false;
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool recursive = false;  // for ... recursive
  // with
  std::vector<ExprPtr> targets;
  std::vector<ExprPtr> values;
};

struct TemplateAst {
  StmtList body;
};

}  // namespace strata::jinja
