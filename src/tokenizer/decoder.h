// Decoders of tokenizer.json ("decoder"): ByteLevel (GPT-2 alphabet back to bytes, invalid UTF-8
// replaced by U+FFFD like String::from_utf8_lossy), ByteFallback, Fuse, Strip, Replace, Metaspace and
// Sequence. As in tokenizers, each maps the list of token strings to a new list; the text is the
// concatenation of the final list.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;

  static Result<std::unique_ptr<Decoder>> from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace strata
