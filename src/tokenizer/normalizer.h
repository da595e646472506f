// Normalizers of tokenizer.json ("normalizer"): NFC, NFD, Sequence, Prepend, Replace, Strip. Each
// maps one piece of input text (the text between added tokens) to its normalized form.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace strata {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string_view text) const = 0;

  // Builds the normalizer described by j; `where` names the field for errors ("normalizer").
  static Result<std::unique_ptr<Normalizer>> from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace strata
