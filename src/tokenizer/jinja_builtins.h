// Registries of the Jinja2 builtins a chat template can call: filters (`x | name`), tests
// (`x is name`), global functions (range, namespace, dict, cycler, joiner, plus transformers'
// raise_exception and strftime_now) and the Python methods of str/dict/list values.
#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_value.h"

namespace strata::jinja {

class Interpreter;

using FilterFn = Result<Value> (*)(Interpreter&, const Value& input, CallArgs& args);
using TestFn = Result<bool> (*)(Interpreter&, const Value& input, CallArgs& args);

// nullptr when unknown.
FilterFn find_filter(std::string_view name);
// Registers the sequence filters (jinja_filters_seq.cpp) into the filter table.
void add_sequence_filters(std::unordered_map<std::string_view, FilterFn>& table);
TestFn find_test(std::string_view name);

// Global functions available to every template (context variables shadow them).
Dict make_globals();

// A bound method of a str, dict, list or tuple (`s.strip`, `d.items`); nullopt when the type has
// no such attribute. Mutating methods (list.append, dict.update, ...) come back as the sandbox's
// unsafe undefined, as in jinja2's ImmutableSandboxedEnvironment.
std::optional<Value> find_method(const Value& self, std::string_view name);

// Binds call arguments to named parameters Python-style (positional first, then keywords; missing
// ones keep their defaults). `function` names the callee in error messages.
struct ParamSpec {
  std::string_view name;
  Value default_value;  // undefined: a required parameter
  bool required = false;
};
Result<std::vector<Value>> bind_args(std::string_view function, const CallArgs& args,
                                     std::initializer_list<ParamSpec> params);

// Helpers shared by the builtin files.
// jinja2's make_attrgetter: "a.b.0" looked up item by item (getitem semantics); `fallback`
// replaces an undefined result at any step when it is not undefined itself.
Result<Value> get_attribute_path(Interpreter& in, const Value& item, const Value& attribute,
                                 const Value& fallback);
// Lower-cases strings (jinja2's ignore_case) and leaves other values alone.
Value ignore_case(const Value& v);

}  // namespace strata::jinja
