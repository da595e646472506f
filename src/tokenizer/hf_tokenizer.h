// The Hugging Face tokenizer: tokenizer.json's components wired as tokenizers' TokenizerImpl, plus the
// parts of tokenizer_config.json that transformers applies (bos/eos tokens, added_tokens_decoder,
// LlamaTokenizerFast's add_bos_token/add_eos_token template). Loading lives in
// hf_tokenizer_loader.cpp, encode/decode in hf_tokenizer.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace strata {

class HfTokenizer final : public Tokenizer {
 public:
  // Loads <dir>/tokenizer.json and, when present, <dir>/tokenizer_config.json.
  static Result<std::unique_ptr<HfTokenizer>> load(const std::string& dir);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const override;
  int32_t vocab_size() const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;
  std::optional<int32_t> bos_id() const override { return bos_id_; }
  std::optional<int32_t> eos_id() const override { return eos_id_; }

 private:
  HfTokenizer() = default;
  // Parses tokenizer.json's content; errors name fields, the caller adds the path.
  Status load_tokenizer_json(const std::string& text);
  Status load_tokenizer_config(const std::string& text);

  std::unique_ptr<BpeModel> model_;
  AddedVocabulary added_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;
};

}  // namespace strata
