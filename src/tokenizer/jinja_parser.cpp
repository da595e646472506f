#include "tokenizer/jinja_parser.h"

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_parser_impl.h"

namespace strata::jinja {
namespace parser_detail {
namespace {

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

}  // namespace

Result<TemplateAst> Parser::parse() {
  TemplateAst ast;
  STRATA_TRY(ast.body, subparse({}));
  if (!at(TokenType::kEof)) return fail("unexpected tag after the end of the template");
  return ast;
}

bool Parser::at_end_tag(std::initializer_list<std::string_view> end_tokens) const {
  if (!at(TokenType::kBlockBegin)) return false;
  const Token& next = look();
  if (next.type != TokenType::kName) return false;
  for (auto t : end_tokens) {
    if (next.value == t) return true;
  }
  return false;
}

Result<StmtList> Parser::subparse(std::initializer_list<std::string_view> end_tokens) {
  DepthGuard guard(block_depth_);
  if (block_depth_ > kMaxNesting) return fail("blocks nested too deeply");
  return subparse_inner(end_tokens);
}

Result<StmtList> Parser::subparse_inner(std::initializer_list<std::string_view> end_tokens) {
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

Result<StmtList> Parser::parse_body(std::initializer_list<std::string_view> end_tokens, bool drop_needle) {
  skip_op(":");
  STRATA_RETURN_IF_ERROR(expect_type(TokenType::kBlockEnd));
  STRATA_TRY(StmtList body, subparse(end_tokens));
  if (drop_needle) advance();
  return body;
}

Result<StmtPtr> Parser::parse_statement() {
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

Result<StmtPtr> Parser::parse_if() {
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

Result<StmtPtr> Parser::parse_for() {
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

Result<StmtPtr> Parser::parse_set() {
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

Status Parser::parse_signature(Stmt& s) {
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

Result<StmtPtr> Parser::parse_macro() {
  auto s = make_stmt(StmtKind::kMacro, cur().line);
  advance();
  STRATA_TRY(s->text, expect_name());
  STRATA_RETURN_IF_ERROR(parse_signature(*s));
  STRATA_TRY(s->body, parse_callable_body({"endmacro"}));
  scan_names(s->body, *s);
  return s;
}

Result<StmtList> Parser::parse_callable_body(std::initializer_list<std::string_view> end_tokens) {
  bool saved_soft = soft_;
  int saved_depth = loop_depth_;
  soft_ = false;
  loop_depth_ = 0;
  auto body = parse_body(end_tokens, true);
  soft_ = saved_soft;
  loop_depth_ = saved_depth;
  return body;
}

Result<StmtPtr> Parser::parse_call_block() {
  auto s = make_stmt(StmtKind::kCallBlock, cur().line);
  advance();
  if (at_op("(")) STRATA_RETURN_IF_ERROR(parse_signature(*s));
  STRATA_TRY(s->expr, parse_expression(true));
  if (s->expr->kind != ExprKind::kCall) return fail("expected call", s->line);
  STRATA_TRY(s->body, parse_callable_body({"endcall"}));
  scan_names(s->body, *s);
  return s;
}

Result<StmtPtr> Parser::parse_filter_block() {
  auto s = make_stmt(StmtKind::kFilterBlock, cur().line);
  advance();
  STRATA_TRY(s->filter, parse_filter(nullptr, true));
  STRATA_TRY(s->body, parse_body({"endfilter"}, true));
  return s;
}

Result<StmtPtr> Parser::parse_with() {
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

bool Parser::can_assign(const Expr& e) {
  if (e.kind == ExprKind::kName || e.kind == ExprKind::kNsRef) return true;
  if (e.kind == ExprKind::kTuple) {
    for (const auto& item : e.items) {
      if (!can_assign(*item)) return false;
    }
    return true;
  }
  return false;
}

Result<ExprPtr> Parser::parse_assign_target(bool with_tuple, bool name_only,
                                            std::initializer_list<std::string_view> extra_end,
                                            bool with_namespace) {
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

}  // namespace parser_detail

Result<TemplateAst> parse_template(const std::string& source) {
  STRATA_TRY(std::vector<Token> tokens, tokenize(source));
  return parser_detail::Parser(std::move(tokens)).parse();
}

}  // namespace strata::jinja
