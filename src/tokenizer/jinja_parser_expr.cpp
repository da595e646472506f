// Expression parsing of the Jinja2 parser (precedence as in jinja2.parser: condexpr, or, and, not,
// compare, + -, ~, * / // %, **, unary, then postfix, filters and tests).
#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_parser_impl.h"

namespace strata::jinja::parser_detail {

bool Parser::is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
  if (at(TokenType::kVariableEnd) || at(TokenType::kBlockEnd) || at_op(")")) return true;
  for (auto name : extra_end) {
    if (at_name(name)) return true;
  }
  return false;
}

Result<ExprPtr> Parser::parse_expression(bool with_condexpr) {
  DepthGuard guard(expr_depth_);
  if (expr_depth_ > kMaxNesting) return fail("expression nested too deeply");
  if (!with_condexpr) return parse_or();
  int line = cur().line;
  STRATA_TRY(ExprPtr expr, parse_or());
  while (skip_name("if")) {
    bool saved_soft = soft_;
    soft_ = true;
    auto cond = make_expr(ExprKind::kCondExpr, line);
    STRATA_TRY(cond->a, parse_or());
    cond->b = std::move(expr);
    if (skip_name("else")) {
      STRATA_TRY(cond->c, parse_expression(true));
    }
    soft_ = saved_soft;
    expr = std::move(cond);
    line = cur().line;
  }
  return expr;
}

Result<ExprPtr> Parser::parse_or() {
  STRATA_TRY(ExprPtr left, parse_and());
  while (at_name("or")) {
    int line = cur().line;
    advance();
    auto e = make_expr(ExprKind::kOr, line);
    e->a = std::move(left);
    STRATA_TRY(e->b, parse_and());
    left = std::move(e);
  }
  return left;
}

Result<ExprPtr> Parser::parse_and() {
  STRATA_TRY(ExprPtr left, parse_not());
  while (at_name("and")) {
    int line = cur().line;
    advance();
    auto e = make_expr(ExprKind::kAnd, line);
    e->a = std::move(left);
    STRATA_TRY(e->b, parse_not());
    left = std::move(e);
  }
  return left;
}

Result<ExprPtr> Parser::parse_not() {
  DepthGuard guard(expr_depth_);
  if (expr_depth_ > kMaxNesting) return fail("expression nested too deeply");
  if (at_name("not")) {
    auto e = make_expr(ExprKind::kNot, cur().line);
    advance();
    STRATA_TRY(e->a, parse_not());
    return e;
  }
  return parse_compare();
}

Result<ExprPtr> Parser::parse_compare() {
  int line = cur().line;
  STRATA_TRY(ExprPtr expr, parse_math1());
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (cur().type == TokenType::kOperator &&
        (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == "<=" ||
         cur().value == ">" || cur().value == ">=")) {
      op = cur().value;
      advance();
    } else if (at_name("in")) {
      op = "in";
      advance();
    } else if (at_name("not") && look().type == TokenType::kName && look().value == "in") {
      op = "notin";
      advance();
      advance();
    } else {
      break;
    }
    if (!cmp) {
      cmp = make_expr(ExprKind::kCompare, line);
      cmp->a = std::move(expr);
    }
    cmp->ops.push_back(op);
    STRATA_TRY(ExprPtr operand, parse_math1());
    cmp->items.push_back(std::move(operand));
  }
  return cmp ? std::move(cmp) : std::move(expr);
}

ExprPtr Parser::binary(std::string op, ExprPtr left, ExprPtr right, int line) {
  auto e = make_expr(ExprKind::kBinary, line);
  e->name = std::move(op);
  e->a = std::move(left);
  e->b = std::move(right);
  return e;
}

Result<ExprPtr> Parser::parse_math1() {
  STRATA_TRY(ExprPtr left, parse_concat());
  while (at_op("+") || at_op("-")) {
    std::string op = cur().value;
    int line = cur().line;
    advance();
    STRATA_TRY(ExprPtr right, parse_concat());
    left = binary(op, std::move(left), std::move(right), line);
  }
  return left;
}

Result<ExprPtr> Parser::parse_concat() {
  int line = cur().line;
  STRATA_TRY(ExprPtr first, parse_math2());
  if (!at_op("~")) return first;
  auto e = make_expr(ExprKind::kConcat, line);
  e->items.push_back(std::move(first));
  while (skip_op("~")) {
    STRATA_TRY(ExprPtr next, parse_math2());
    e->items.push_back(std::move(next));
  }
  return e;
}

Result<ExprPtr> Parser::parse_math2() {
  STRATA_TRY(ExprPtr left, parse_pow());
  while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
    std::string op = cur().value;
    int line = cur().line;
    advance();
    STRATA_TRY(ExprPtr right, parse_pow());
    left = binary(op, std::move(left), std::move(right), line);
  }
  return left;
}

Result<ExprPtr> Parser::parse_pow() {
  STRATA_TRY(ExprPtr left, parse_unary(true));
  while (at_op("**")) {
    int line = cur().line;
    advance();
    STRATA_TRY(ExprPtr right, parse_unary(true));
    left = binary("**", std::move(left), std::move(right), line);
  }
  return left;
}

Result<ExprPtr> Parser::parse_unary(bool with_filter) {
  DepthGuard guard(expr_depth_);
  if (expr_depth_ > kMaxNesting) return fail("expression nested too deeply");
  return parse_unary_inner(with_filter);
}

Result<ExprPtr> Parser::parse_unary_inner(bool with_filter) {
  ExprPtr node;
  if (at_op("-") || at_op("+")) {
    node = make_expr(at_op("-") ? ExprKind::kNeg : ExprKind::kPos, cur().line);
    advance();
    STRATA_TRY(node->a, parse_unary(false));
  } else {
    STRATA_TRY(node, parse_primary(false));
  }
  STRATA_TRY(node, parse_postfix(std::move(node)));
  if (with_filter) {
    STRATA_TRY(node, parse_filter_expr(std::move(node)));
  }
  return node;
}

Result<ExprPtr> Parser::parse_primary(bool with_namespace) {
  const Token& tok = cur();
  int line = tok.line;
  if (tok.type == TokenType::kName) {
    std::string name = tok.value;
    advance();
    auto e = make_expr(ExprKind::kConst, line);
    if (name == "true" || name == "True" || name == "false" || name == "False") {
      e->constant = Value::boolean(name == "true" || name == "True");
    } else if (name == "none" || name == "None") {
      e->constant = Value::none();
    } else if (with_namespace && at_op(".")) {
      advance();
      STRATA_TRY(std::string attr, expect_name());
      e->kind = ExprKind::kNsRef;
      e->name = name;
      e->constant = Value::string(std::move(attr));
    } else {
      e->kind = ExprKind::kName;
      e->name = name;
    }
    return e;
  }
  if (tok.type == TokenType::kString) {
    std::string text;
    while (at(TokenType::kString)) {
      text += cur().value;
      advance();
    }
    auto e = make_expr(ExprKind::kConst, line);
    e->constant = Value::string(std::move(text));
    return e;
  }
  if (tok.type == TokenType::kInteger || tok.type == TokenType::kFloat) {
    auto e = make_expr(ExprKind::kConst, line);
    e->constant =
        tok.type == TokenType::kInteger ? Value::integer(tok.int_value) : Value::number(tok.float_value);
    advance();
    return e;
  }
  if (at_op("(")) {
    advance();
    STRATA_TRY(ExprPtr e, parse_tuple(false, true, {}, true));
    STRATA_RETURN_IF_ERROR(expect_op(")"));
    return e;
  }
  if (at_op("[")) {
    advance();
    auto e = make_expr(ExprKind::kList, line);
    while (!at_op("]")) {
      if (!e->items.empty()) STRATA_RETURN_IF_ERROR(expect_op(","));
      if (at_op("]")) break;
      STRATA_TRY(ExprPtr item, parse_expression(true));
      e->items.push_back(std::move(item));
    }
    STRATA_RETURN_IF_ERROR(expect_op("]"));
    return e;
  }
  if (at_op("{")) {
    advance();
    auto e = make_expr(ExprKind::kDict, line);
    while (!at_op("}")) {
      if (!e->items.empty()) STRATA_RETURN_IF_ERROR(expect_op(","));
      if (at_op("}")) break;
      STRATA_TRY(ExprPtr key, parse_expression(true));
      STRATA_RETURN_IF_ERROR(expect_op(":"));
      STRATA_TRY(ExprPtr value, parse_expression(true));
      e->items.push_back(std::move(key));
      e->items.push_back(std::move(value));
    }
    STRATA_RETURN_IF_ERROR(expect_op("}"));
    return e;
  }
  return fail("unexpected '" + describe_token(tok) + "'");
}

Result<ExprPtr> Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (at_op(".") || at_op("[")) {
      STRATA_TRY(node, parse_subscript(std::move(node)));
    } else if (at_op("(")) {
      STRATA_TRY(node, parse_call(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (at_op("|")) {
      STRATA_TRY(node, parse_filter(std::move(node), false));
    } else if (at_name("is")) {
      STRATA_TRY(node, parse_test(std::move(node)));
    } else if (at_op("(")) {
      STRATA_TRY(node, parse_call(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::parse_subscript(ExprPtr node) {
  int line = cur().line;
  if (skip_op(".")) {
    const Token& attr = cur();
    if (attr.type == TokenType::kName) {
      auto e = make_expr(ExprKind::kGetattr, line);
      e->a = std::move(node);
      e->name = attr.value;
      advance();
      return e;
    }
    if (attr.type != TokenType::kInteger) return fail("expected name or number");
    auto e = make_expr(ExprKind::kGetitem, line);
    e->a = std::move(node);
    e->b = make_expr(ExprKind::kConst, attr.line);
    e->b->constant = Value::integer(attr.int_value);
    advance();
    return e;
  }
  advance();  // [
  std::vector<ExprPtr> args;
  while (!at_op("]")) {
    if (!args.empty()) STRATA_RETURN_IF_ERROR(expect_op(","));
    STRATA_TRY(ExprPtr arg, parse_subscribed());
    args.push_back(std::move(arg));
  }
  STRATA_RETURN_IF_ERROR(expect_op("]"));
  auto e = make_expr(ExprKind::kGetitem, line);
  e->a = std::move(node);
  if (args.size() == 1) {
    e->b = std::move(args[0]);
  } else {
    e->b = make_expr(ExprKind::kTuple, line);
    e->b->items = std::move(args);
  }
  return e;
}

Result<ExprPtr> Parser::parse_subscribed() {
  int line = cur().line;
  ExprPtr start;
  if (!skip_op(":")) {
    STRATA_TRY(ExprPtr node, parse_expression(true));
    if (!at_op(":")) return node;
    advance();
    start = std::move(node);
  }
  auto slice = make_expr(ExprKind::kSlice, line);
  slice->a = std::move(start);
  if (!at_op(":") && !at_op("]") && !at_op(",")) {
    STRATA_TRY(slice->b, parse_expression(true));
  }
  if (skip_op(":")) {
    if (!at_op("]") && !at_op(",")) {
      STRATA_TRY(slice->c, parse_expression(true));
    }
  }
  return slice;
}

Status Parser::parse_call_args(Expr& e) {
  int line = cur().line;
  STRATA_RETURN_IF_ERROR(expect_op("("));
  bool require_comma = false;
  auto invalid = [&] { return fail("invalid syntax for function call expression", line); };
  while (!at_op(")")) {
    if (require_comma) {
      STRATA_RETURN_IF_ERROR(expect_op(","));
      if (at_op(")")) break;
    }
    if (skip_op("*")) {
      if (e.dyn_args || e.dyn_kwargs) return invalid();
      STRATA_TRY(e.dyn_args, parse_expression(true));
    } else if (skip_op("**")) {
      if (e.dyn_kwargs) return invalid();
      STRATA_TRY(e.dyn_kwargs, parse_expression(true));
    } else if (at(TokenType::kName) && look().type == TokenType::kOperator && look().value == "=") {
      if (e.dyn_kwargs) return invalid();
      std::string key = cur().value;
      advance();
      advance();
      STRATA_TRY(ExprPtr value, parse_expression(true));
      e.kwargs.emplace_back(std::move(key), std::move(value));
    } else {
      if (e.dyn_args || e.dyn_kwargs || !e.kwargs.empty()) return invalid();
      STRATA_TRY(ExprPtr arg, parse_expression(true));
      e.items.push_back(std::move(arg));
    }
    require_comma = true;
  }
  return expect_op(")");
}

Result<ExprPtr> Parser::parse_call(ExprPtr node) {
  auto e = make_expr(ExprKind::kCall, cur().line);
  e->a = std::move(node);
  STRATA_RETURN_IF_ERROR(parse_call_args(*e));
  return e;
}

Result<std::string> Parser::parse_dotted_name() {
  STRATA_TRY(std::string name, expect_name());
  while (skip_op(".")) {
    STRATA_TRY(std::string part, expect_name());
    name += "." + part;
  }
  return name;
}

Result<ExprPtr> Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (at_op("|") || start_inline) {
    if (!start_inline) advance();
    int line = cur().line;
    STRATA_TRY(std::string name, parse_dotted_name());
    if (!soft_ && find_filter(name) == nullptr) return fail("No filter named '" + name + "'.", line);
    auto e = make_expr(ExprKind::kFilter, line);
    e->a = std::move(node);
    e->name = std::move(name);
    if (at_op("(")) STRATA_RETURN_IF_ERROR(parse_call_args(*e));
    node = std::move(e);
    start_inline = false;
  }
  return node;
}

Result<ExprPtr> Parser::parse_test(ExprPtr node) {
  int line = cur().line;
  advance();  // is
  bool negated = skip_name("not");
  STRATA_TRY(std::string name, parse_dotted_name());
  if (!soft_ && find_test(name) == nullptr) return fail("No test named '" + name + "'.", line);
  auto e = make_expr(ExprKind::kTest, line);
  e->a = std::move(node);
  e->name = std::move(name);
  if (at_op("(")) {
    STRATA_RETURN_IF_ERROR(parse_call_args(*e));
  } else if ((at(TokenType::kName) || at(TokenType::kString) || at(TokenType::kInteger) ||
              at(TokenType::kFloat) || at_op("[") || at_op("{")) &&
             !at_name("else") && !at_name("or") && !at_name("and")) {
    if (at_name("is")) return fail("You cannot chain multiple tests with is");
    STRATA_TRY(ExprPtr arg, parse_primary(false));
    STRATA_TRY(arg, parse_postfix(std::move(arg)));
    e->items.push_back(std::move(arg));
  }
  if (!negated) return e;
  auto n = make_expr(ExprKind::kNot, line);
  n->a = std::move(e);
  return n;
}

Result<ExprPtr> Parser::parse_tuple(bool simplified, bool with_condexpr,
                                    std::initializer_list<std::string_view> extra_end, bool explicit_parens,
                                    bool with_namespace) {
  int line = cur().line;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) STRATA_RETURN_IF_ERROR(expect_op(","));
    if (is_tuple_end(extra_end)) break;
    if (simplified) {
      STRATA_TRY(ExprPtr e, parse_primary(with_namespace));
      args.push_back(std::move(e));
    } else {
      STRATA_TRY(ExprPtr e, parse_expression(with_condexpr));
      args.push_back(std::move(e));
    }
    if (at_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) return fail("Expected an expression, got '" + describe_token(cur()) + "'");
  }
  auto t = make_expr(ExprKind::kTuple, line);
  t->items = std::move(args);
  return t;
}

}  // namespace strata::jinja::parser_detail
