// Post-processors of tokenizer.json ("post_processor"): TemplateProcessing (the single-sequence
// template: special tokens around $A), ByteLevel (offsets only: no change to ids), BertProcessing,
// RobertaProcessing and Sequence. They run only when encode() is asked to add special tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens around the ids of one sequence.
  virtual void process(std::vector<int32_t>& ids) const = 0;

  static Result<std::unique_ptr<PostProcessor>> from_json(const nlohmann::json& j, const std::string& where);
  // The template transformers' LlamaTokenizerFast builds from add_bos_token / add_eos_token.
  static std::unique_ptr<PostProcessor> bos_eos(std::vector<int32_t> prefix, std::vector<int32_t> suffix);
};

}  // namespace strata
