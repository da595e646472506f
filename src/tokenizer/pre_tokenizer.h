// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): Split (regex or string pattern, five delimiter
// behaviors, invert), ByteLevel (prefix space, GPT-2 regex, byte -> unicode alphabet), Digits,
// Whitespace, WhitespaceSplit and Sequence. A pre-tokenizer refines a list of pieces into smaller
// pieces ("words"); the BPE model then runs on each word separately.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/regex.h"

namespace strata {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `text` around the matches of `pattern` as Hugging Face's NormalizedString::split does,
// appending the non-empty pieces to out.
void split_by_pattern(std::string_view text, const Regex& pattern, bool invert, SplitBehavior behavior,
                      std::vector<std::string>& out);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces each piece of `pieces` by its sub-pieces (empty pieces are dropped).
  virtual void pre_tokenize(std::vector<std::string>& pieces) const = 0;

  // Builds the pre-tokenizer described by j; `where` names the field for errors ("pre_tokenizer").
  static Result<std::unique_ptr<PreTokenizer>> from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace strata
