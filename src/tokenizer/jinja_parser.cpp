#include "tokenizer/jinja_parser.h"

#include <initializer_list>
#include <set>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_lexer.h"

namespace strata::jinja {
namespace {

ExprPtr make_expr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

StmtPtr make_stmt(StmtKind kind, int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = line;
  return s;
}

// Marks which of caller/varargs/kwargs a macro body mentions (jinja2's find_undeclared).
void scan_names(const Expr* e, Stmt& macro);
void scan_names(const StmtList& body, Stmt& macro);

void scan_names(const Expr* e, Stmt& macro) {
  if (e == nullptr) return;
  if (e->kind == ExprKind::kName) {
    if (e->name == "caller") macro.uses_caller = true;
    if (e->name == "varargs") macro.uses_varargs = true;
    if (e->name == "kwargs") macro.uses_kwargs = true;
  }
  scan_names(e->a.get(), macro);
  scan_names(e->b.get(), macro);
  scan_names(e->c.get(), macro);
  scan_names(e->dyn_args.get(), macro);
  scan_names(e->dyn_kwargs.get(), macro);
  for (const auto& item : e->items) scan_names(item.get(), macro);
  for (const auto& kw : e->kwargs) scan_names(kw.second.get(), macro);
}

void scan_names(const StmtList& body, Stmt& macro) {
  for (const auto& s : body) {
    scan_names(s->expr.get(), macro);
    scan_names(s->filter.get(), macro);
    for (const auto& br : s->branches) {
      scan_names(br.test.get(), macro);
      scan_names(br.body, macro);
    }
    for (const auto& d : s->defaults) scan_names(d.get(), macro);
    for (const auto& v : s->values) scan_names(v.get(), macro);
    scan_names(s->body, macro);
    scan_names(s->else_body, macro);
  }
}

struct DepthGuard {
  explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
  ~DepthGuard() { --depth_; }
  int& depth_;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<TemplateAst> parse() {
    TemplateAst ast;
    STRATA_TRY(ast.body, subparse({}));
    if (!at(TokenType::kEof)) return fail("unexpected tag after the end of the template");
    return ast;
  }

 private:
  // ---- token stream ----
  const Token& cur() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  void advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool at(TokenType type) const { return cur().type == type; }
  bool at_op(std::string_view op) const { return cur().type == TokenType::kOperator && cur().value == op; }
  bool at_name(std::string_view name) const { return cur().type == TokenType::kName && cur().value == name; }
  bool skip_op(std::string_view op) {
    if (!at_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!at_name(name)) return false;
    advance();
    return true;
  }

  Error fail(const std::string& message, int line = 0) const {
    return make_error("syntax error on line {}: {}", line != 0 ? line : cur().line, message);
  }
  Error unexpected(const std::string& expected) const {
    return fail(fmt::format("expected token '{}', got '{}'", expected, describe_token(cur())));
  }

  Status expect_op(std::string_view op) {
    if (!skip_op(op)) return unexpected(std::string(op));
    return ok_status();
  }
  Status expect_type(TokenType type) {
    if (!at(type)) {
      Token t;
      t.type = type;
      return unexpected(describe_token(t));
    }
    advance();
    return ok_status();
  }
  Result<std::string> expect_name() {
    if (!at(TokenType::kName)) return unexpected("name");
    std::string name = cur().value;
    advance();
    return name;
  }

  // ---- statements ----
  bool at_end_tag(std::initializer_list<std::string_view> end_tokens) const {
    if (!at(TokenType::kBlockBegin)) return false;
    const Token& next = look();
    if (next.type != TokenType::kName) return false;
    for (auto t : end_tokens) {
      if (next.value == t) return true;
    }
    return false;
  }

  Result<StmtList> subparse(std::initializer_list<std::string_view> end_tokens) {
    DepthGuard guard(block_depth_);
    if (block_depth_ > kMaxNesting) return fail("blocks nested too deeply");
    return subparse_inner(end_tokens);
  }

  Result<StmtList> subparse_inner(std::initializer_list<std::string_view> end_tokens) {
    StmtList body;
    while (!at(TokenType::kEof)) {
      const Token& tok = cur();
      if (tok.type == TokenType::kData) {
        auto s = make_stmt(StmtKind::kText, tok.line);
        s->text = tok.value;
        body.push_back(std::move(s));
        advance();
      } else if (tok.type == TokenType::kVariableBegin) {
        int line = tok.line;
        advance();
        auto s = make_stmt(StmtKind::kPrint, line);
        STRATA_TRY(s->expr, parse_tuple(false, true, {}, false));
        STRATA_RETURN_IF_ERROR(expect_type(TokenType::kVariableEnd));
        body.push_back(std::move(s));
      } else if (tok.type == TokenType::kBlockBegin) {
        if (end_tokens.size() != 0 && at_end_tag(end_tokens)) {
          advance();  // the needle (end tag name) stays current
          return body;
        }
        advance();
        STRATA_TRY(StmtPtr s, parse_statement());
        if (s) body.push_back(std::move(s));
        STRATA_RETURN_IF_ERROR(expect_type(TokenType::kBlockEnd));
      } else {
        return fail("internal parsing error");
      }
    }
    if (end_tokens.size() != 0) {
      std::string wanted;
      for (auto t : end_tokens) wanted += (wanted.empty() ? "'" : " or '") + std::string(t) + "'";
      return fail("Unexpected end of template. Jinja was looking for the following tags: " + wanted + ".");
    }
    return body;
  }

  // parse_statements: optional colon, block end, body up to an end tag (left current).
  Result<StmtList> parse_body(std::initializer_list<std::string_view> end_tokens, bool drop_needle) {
    skip_op(":");
    STRATA_RETURN_IF_ERROR(expect_type(TokenType::kBlockEnd));
    STRATA_TRY(StmtList body, subparse(end_tokens));
    if (drop_needle) advance();
    return body;
  }

  Result<StmtPtr> parse_statement() {
    if (!at(TokenType::kName)) return fail("tag name expected");
    const std::string tag = cur().value;
    int line = cur().line;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) return fail("'" + tag + "' outside loop");
      advance();
      return make_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, line);
    }
    if (tag == "print") {
      advance();
      auto s = make_stmt(StmtKind::kPrint, line);
      auto tuple = make_expr(ExprKind::kTuple, line);
      while (!at(TokenType::kBlockEnd)) {
        if (!tuple->items.empty()) STRATA_RETURN_IF_ERROR(expect_op(","));
        STRATA_TRY(ExprPtr e, parse_expression(true));
        tuple->items.push_back(std::move(e));
      }
      // print emits each expression in turn: a concat with no separator matches that output.
      tuple->kind = ExprKind::kConcat;
      s->expr = std::move(tuple);
      return s;
    }
    if (tag == "block") {
      advance();
      STRATA_TRY(std::string name, expect_name());
      skip_name("scoped");
      skip_name("required");
      auto s = make_stmt(StmtKind::kScope, line);
      STRATA_TRY(s->body, parse_body({"endblock"}, true));
      if (at(TokenType::kName)) advance();  // {% endblock name %}
      return s;
    }
    if (tag == "generation") {
      advance();
      auto s = make_stmt(StmtKind::kScope, line);
      STRATA_TRY(s->body, parse_body({"endgeneration"}, true));
      return s;
    }
    if (tag == "autoescape") {
      advance();
      STRATA_TRY(ExprPtr ignored, parse_expression(true));
      auto s = make_stmt(StmtKind::kScope, line);
      STRATA_TRY(s->body, parse_body({"endautoescape"}, true));
      return s;
    }
    if (tag == "extends" || tag == "include" || tag == "import" || tag == "from") {
      return fail("'" + tag + "' is not supported in chat templates (no template loader)");
    }
    return fail("Encountered unknown tag '" + tag + "'.");
  }

  Result<StmtPtr> parse_if() {
    auto s = make_stmt(StmtKind::kIf, cur().line);
    advance();
    bool saved_soft = soft_;
    soft_ = true;
    while (true) {
      IfBranch branch;
      STRATA_TRY(branch.test, parse_tuple(false, false, {}, false));
      STRATA_TRY(branch.body, parse_body({"elif", "else", "endif"}, false));
      s->branches.push_back(std::move(branch));
      std::string needle = cur().value;
      advance();
      if (needle == "elif") continue;
      if (needle == "else") {
        STRATA_TRY(s->else_body, parse_body({"endif"}, true));
      }
      break;
    }
    soft_ = saved_soft;
    return s;
  }

  Result<StmtPtr> parse_for() {
    auto s = make_stmt(StmtKind::kFor, cur().line);
    advance();
    STRATA_TRY(s->target, parse_assign_target(true, false, {"in"}, false));
    if (!skip_name("in")) return unexpected("in");
    STRATA_TRY(s->expr, parse_tuple(false, false, {"recursive"}, false));
    if (skip_name("if")) {
      STRATA_TRY(s->filter, parse_expression(true));
    }
    s->recursive = skip_name("recursive");
    bool saved_soft = soft_;
    soft_ = false;
    ++loop_depth_;
    auto body = parse_body({"endfor", "else"}, false);
    --loop_depth_;
    if (!body.ok()) return body.error();
    s->body = std::move(body).value();
    std::string needle = cur().value;
    advance();
    if (needle == "else") {
      STRATA_TRY(s->else_body, parse_body({"endfor"}, true));
    }
    soft_ = saved_soft;
    return s;
  }

  Result<StmtPtr> parse_set() {
    int line = cur().line;
    advance();
    STRATA_TRY(ExprPtr target, parse_assign_target(true, false, {}, true));
    if (skip_op("=")) {
      auto s = make_stmt(StmtKind::kSet, line);
      s->target = std::move(target);
      STRATA_TRY(s->expr, parse_tuple(false, true, {}, false));
      return s;
    }
    auto s = make_stmt(StmtKind::kSetBlock, line);
    s->target = std::move(target);
    STRATA_TRY(s->filter, parse_filter(nullptr, false));
    STRATA_TRY(s->body, parse_body({"endset"}, true));
    return s;
  }

  Status parse_signature(Stmt& s) {
    STRATA_RETURN_IF_ERROR(expect_op("("));
    while (!at_op(")")) {
      if (!s.params.empty()) STRATA_RETURN_IF_ERROR(expect_op(","));
      STRATA_TRY(std::string name, expect_name());
      if (skip_op("=")) {
        STRATA_TRY(ExprPtr d, parse_expression(true));
        s.defaults.push_back(std::move(d));
      } else if (!s.defaults.empty()) {
        return fail("non-default argument follows default argument");
      }
      s.params.push_back(std::move(name));
    }
    return expect_op(")");
  }

  Result<StmtPtr> parse_macro() {
    auto s = make_stmt(StmtKind::kMacro, cur().line);
    advance();
    STRATA_TRY(s->text, expect_name());
    STRATA_RETURN_IF_ERROR(parse_signature(*s));
    STRATA_TRY(s->body, parse_callable_body({"endmacro"}));
    scan_names(s->body, *s);
    return s;
  }

  Result<StmtList> parse_callable_body(std::initializer_list<std::string_view> end_tokens) {
    bool saved_soft = soft_;
    int saved_depth = loop_depth_;
    soft_ = false;
    loop_depth_ = 0;
    auto body = parse_body(end_tokens, true);
    soft_ = saved_soft;
    loop_depth_ = saved_depth;
    return body;
  }

  Result<StmtPtr> parse_call_block() {
    auto s = make_stmt(StmtKind::kCallBlock, cur().line);
    advance();
    if (at_op("(")) STRATA_RETURN_IF_ERROR(parse_signature(*s));
    STRATA_TRY(s->expr, parse_expression(true));
    if (s->expr->kind != ExprKind::kCall) return fail("expected call", s->line);
    STRATA_TRY(s->body, parse_callable_body({"endcall"}));
    scan_names(s->body, *s);
    return s;
  }

  Result<StmtPtr> parse_filter_block() {
    auto s = make_stmt(StmtKind::kFilterBlock, cur().line);
    advance();
    STRATA_TRY(s->filter, parse_filter(nullptr, true));
    STRATA_TRY(s->body, parse_body({"endfilter"}, true));
    return s;
  }

  Result<StmtPtr> parse_with() {
    auto s = make_stmt(StmtKind::kWith, cur().line);
    advance();
    while (!at(TokenType::kBlockEnd)) {
      if (!s->targets.empty()) STRATA_RETURN_IF_ERROR(expect_op(","));
      STRATA_TRY(ExprPtr target, parse_assign_target(true, false, {}, false));
      STRATA_RETURN_IF_ERROR(expect_op("="));
      STRATA_TRY(ExprPtr value, parse_expression(true));
      s->targets.push_back(std::move(target));
      s->values.push_back(std::move(value));
    }
    STRATA_TRY(s->body, parse_body({"endwith"}, true));
    return s;
  }

  // ---- assignment targets ----
  static bool can_assign(const Expr& e) {
    if (e.kind == ExprKind::kName || e.kind == ExprKind::kNsRef) return true;
    if (e.kind == ExprKind::kTuple) {
      for (const auto& item : e.items) {
        if (!can_assign(*item)) return false;
      }
      return true;
    }
    return false;
  }

  Result<ExprPtr> parse_assign_target(bool with_tuple, bool name_only,
                                      std::initializer_list<std::string_view> extra_end, bool with_namespace) {
    ExprPtr target;
    if (name_only) {
      int line = cur().line;
      STRATA_TRY(std::string name, expect_name());
      target = make_expr(ExprKind::kName, line);
      target->name = std::move(name);
    } else if (with_tuple) {
      STRATA_TRY(target, parse_tuple(true, true, extra_end, false, with_namespace));
    } else {
      STRATA_TRY(target, parse_primary(with_namespace));
    }
    if (!can_assign(*target)) return fail("can't assign to this expression", target->line);
    return target;
  }

  // ---- expressions ----
  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
    if (at(TokenType::kVariableEnd) || at(TokenType::kBlockEnd) || at_op(")")) return true;
    for (auto name : extra_end) {
      if (at_name(name)) return true;
    }
    return false;
  }

  Result<ExprPtr> parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                              bool explicit_parens, bool with_namespace = false) {
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

  Result<ExprPtr> parse_expression(bool with_condexpr) {
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

  Result<ExprPtr> parse_or() {
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

  Result<ExprPtr> parse_and() {
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

  Result<ExprPtr> parse_not() {
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

  Result<ExprPtr> parse_compare() {
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

  ExprPtr binary(std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = make_expr(ExprKind::kBinary, line);
    e->name = std::move(op);
    e->a = std::move(left);
    e->b = std::move(right);
    return e;
  }

  Result<ExprPtr> parse_math1() {
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

  Result<ExprPtr> parse_concat() {
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

  Result<ExprPtr> parse_math2() {
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

  Result<ExprPtr> parse_pow() {
    STRATA_TRY(ExprPtr left, parse_unary(true));
    while (at_op("**")) {
      int line = cur().line;
      advance();
      STRATA_TRY(ExprPtr right, parse_unary(true));
      left = binary("**", std::move(left), std::move(right), line);
    }
    return left;
  }

  Result<ExprPtr> parse_unary(bool with_filter) {
    DepthGuard guard(expr_depth_);
    if (expr_depth_ > kMaxNesting) return fail("expression nested too deeply");
    return parse_unary_inner(with_filter);
  }

  Result<ExprPtr> parse_unary_inner(bool with_filter) {
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

  Result<ExprPtr> parse_primary(bool with_namespace) {
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
      e->constant = tok.type == TokenType::kInteger ? Value::integer(tok.int_value) : Value::number(tok.float_value);
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

  Result<ExprPtr> parse_postfix(ExprPtr node) {
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

  Result<ExprPtr> parse_filter_expr(ExprPtr node) {
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

  Result<ExprPtr> parse_subscript(ExprPtr node) {
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

  Result<ExprPtr> parse_subscribed() {
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

  Status parse_call_args(Expr& e) {
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

  Result<ExprPtr> parse_call(ExprPtr node) {
    auto e = make_expr(ExprKind::kCall, cur().line);
    e->a = std::move(node);
    STRATA_RETURN_IF_ERROR(parse_call_args(*e));
    return e;
  }

  Result<std::string> parse_dotted_name() {
    STRATA_TRY(std::string name, expect_name());
    while (skip_op(".")) {
      STRATA_TRY(std::string part, expect_name());
      name += "." + part;
    }
    return name;
  }

  Result<ExprPtr> parse_filter(ExprPtr node, bool start_inline) {
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

  Result<ExprPtr> parse_test(ExprPtr node) {
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

  static constexpr int kMaxNesting = 200;

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int expr_depth_ = 0;
  int block_depth_ = 0;
  bool soft_ = false;
  int loop_depth_ = 0;
};

}  // namespace

Result<TemplateAst> parse_template(const std::string& source) {
  STRATA_TRY(std::vector<Token> tokens, tokenize(source));
  return Parser(std::move(tokens)).parse();
}

}  // namespace strata::jinja
