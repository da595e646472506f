// The built-in byte-level tokenizer of the built-in default model: ids 0..255 are the raw bytes,
// 256 = "<s>" (BOS, prepended when encoding with special tokens), 257 = "</s>" (EOS). Decoding joins
// the bytes and replaces invalid UTF-8 by U+FFFD, so the incremental detokenizer works unchanged.
#pragma once

#include "tokenizer/tokenizer.h"

namespace strata {

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kBosId = 256;
  static constexpr int32_t kEosId = 257;

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const override;
  int32_t vocab_size() const override { return 258; }
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  // A byte's token is that single byte; the specials are "<s>" and "</s>".
  std::string id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override { return id == kBosId || id == kEosId; }
  std::optional<int32_t> bos_id() const override { return kBosId; }
  std::optional<int32_t> eos_id() const override { return kEosId; }
};

}  // namespace strata
