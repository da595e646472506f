// Internals of the Jinja2 parser (jinja_parser.cpp: statements, jinja_parser_expr.cpp:
// expressions): a recursive-descent parser over the token vector that mirrors jinja2.parser.Parser.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"

namespace strata::jinja::parser_detail {

inline ExprPtr make_expr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

inline StmtPtr make_stmt(StmtKind kind, int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = line;
  return s;
}

struct DepthGuard {
  explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
  ~DepthGuard() { --depth_; }
  int& depth_;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}
  Result<TemplateAst> parse();

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
  bool at_end_tag(std::initializer_list<std::string_view> end_tokens) const;
  Result<StmtList> subparse(std::initializer_list<std::string_view> end_tokens);
  Result<StmtList> subparse_inner(std::initializer_list<std::string_view> end_tokens);
  // parse_statements: optional colon, block end, body up to an end tag (left current).
  Result<StmtList> parse_body(std::initializer_list<std::string_view> end_tokens, bool drop_needle);
  Result<StmtPtr> parse_statement();
  Result<StmtPtr> parse_if();
  Result<StmtPtr> parse_for();
  Result<StmtPtr> parse_set();
  Status parse_signature(Stmt& s);
  Result<StmtPtr> parse_macro();
  Result<StmtList> parse_callable_body(std::initializer_list<std::string_view> end_tokens);
  Result<StmtPtr> parse_call_block();
  Result<StmtPtr> parse_filter_block();
  Result<StmtPtr> parse_with();
  // ---- assignment targets ----
  static bool can_assign(const Expr& e);
  Result<ExprPtr> parse_assign_target(bool with_tuple, bool name_only,
                                      std::initializer_list<std::string_view> extra_end, bool with_namespace);
  // ---- expressions ----
  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const;
  Result<ExprPtr> parse_tuple(bool simplified, bool with_condexpr,
                              std::initializer_list<std::string_view> extra_end, bool explicit_parens,
                              bool with_namespace = false);
  Result<ExprPtr> parse_expression(bool with_condexpr);
  Result<ExprPtr> parse_or();
  Result<ExprPtr> parse_and();
  Result<ExprPtr> parse_not();
  Result<ExprPtr> parse_compare();
  ExprPtr binary(std::string op, ExprPtr left, ExprPtr right, int line);
  Result<ExprPtr> parse_math1();
  Result<ExprPtr> parse_concat();
  Result<ExprPtr> parse_math2();
  Result<ExprPtr> parse_pow();
  Result<ExprPtr> parse_unary(bool with_filter);
  Result<ExprPtr> parse_unary_inner(bool with_filter);
  Result<ExprPtr> parse_primary(bool with_namespace);
  Result<ExprPtr> parse_postfix(ExprPtr node);
  Result<ExprPtr> parse_filter_expr(ExprPtr node);
  Result<ExprPtr> parse_subscript(ExprPtr node);
  Result<ExprPtr> parse_subscribed();
  Status parse_call_args(Expr& e);
  Result<ExprPtr> parse_call(ExprPtr node);
  Result<std::string> parse_dotted_name();
  Result<ExprPtr> parse_filter(ExprPtr node, bool start_inline);
  Result<ExprPtr> parse_test(ExprPtr node);

  static constexpr int kMaxNesting = 200;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int expr_depth_ = 0;
  int block_depth_ = 0;
  bool soft_ = false;
  int loop_depth_ = 0;
};

}  // namespace strata::jinja::parser_detail
