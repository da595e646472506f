#include "tokenizer/jinja_analysis.h"

#include <deque>
#include <set>
#include <vector>

namespace strata::jinja {
namespace {

void collect(const StmtList& body, std::vector<const Stmt*>& sets, std::vector<const Stmt*>& loops) {
  for (const auto& s : body) {
    if (s->kind == StmtKind::kSet) sets.push_back(s.get());
    if (s->kind == StmtKind::kFor) loops.push_back(s.get());
    for (const auto& branch : s->branches) collect(branch.body, sets, loops);
    collect(s->body, sets, loops);
    collect(s->else_body, sets, loops);
  }
}

bool is_var(const Expr& e, const std::string& name) {
  return e.kind == ExprKind::kName && e.name == name;
}

bool is_attr(const Expr& e, const std::string& name, const std::string& key) {
  if (e.kind == ExprKind::kGetitem) {
    return is_var(*e.a, name) && e.b->kind == ExprKind::kConst && e.b->constant.is_string() &&
           e.b->constant.as_string() == key;
  }
  if (e.kind == ExprKind::kGetattr) return is_var(*e.a, name) && e.name == key;
  return false;
}

// vLLM's _is_var_or_elems_access: the variable (or its `key` item), possibly filtered, tested or
// sliced.
bool is_var_or_elems(const Expr& e, const std::string& name, const std::string* key) {
  if (e.kind == ExprKind::kFilter) return e.a != nullptr && is_var_or_elems(*e.a, name, key);
  if (e.kind == ExprKind::kTest) return is_var_or_elems(*e.a, name, key);
  if (e.kind == ExprKind::kGetitem && e.b->kind == ExprKind::kSlice) return is_var_or_elems(*e.a, name, key);
  return key != nullptr ? is_attr(e, name, *key) : is_var(e, name);
}

}  // namespace

std::string detect_content_format(const TemplateAst& ast) {
  std::vector<const Stmt*> sets;
  std::vector<const Stmt*> loops;
  collect(ast.body, sets, loops);

  // Names that alias `messages` through `{% set x = messages... %}` (breadth first).
  std::vector<std::string> messages_names = {"messages"};
  std::deque<std::string> pending = {"messages"};
  std::set<std::string> seen = {"messages"};
  while (!pending.empty()) {
    std::string name = pending.front();
    pending.pop_front();
    for (const Stmt* s : sets) {
      if (!is_var_or_elems(*s->expr, name, nullptr) || s->target->kind != ExprKind::kName) continue;
      const std::string& alias = s->target->name;
      messages_names.push_back(alias);
      if (seen.insert(alias).second) pending.push_back(alias);
    }
  }
  // Loop variables over those: `{% for message in messages %}`.
  std::vector<std::string> message_names;
  for (const Stmt* loop : loops) {
    for (const auto& name : messages_names) {
      if (is_var_or_elems(*loop->expr, name, nullptr)) {
        if (loop->target->kind == ExprKind::kName) message_names.push_back(loop->target->name);
        break;
      }
    }
  }
  // A loop over a message's content.
  const std::string content = "content";
  for (const Stmt* loop : loops) {
    for (const auto& name : message_names) {
      if (is_var_or_elems(*loop->expr, name, &content)) return "openai";
    }
  }
  return "string";
}

}  // namespace strata::jinja
