#include "tokenizer/hf_tokenizer.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace strata {

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  // tokenizers only ever sees valid UTF-8 (a Rust &str); invalid bytes become U+FFFD here.
  std::string repaired;
  if (!unicode::is_valid_utf8(text)) {
    repaired = unicode::to_valid_utf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<std::string> words;
  for (auto& piece : added_.extract_and_normalize(text, normalizer_.get())) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    words.clear();
    words.push_back(std::move(piece.text));
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(words);
    for (const auto& w : words) model_->tokenize(w, ids);
  }
  if (add_special_tokens && post_processor_) post_processor_->process(ids);
  return ids;
}

std::string HfTokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* t = added_.find(id)) {
      if (!(skip_special_tokens && t->special)) tokens.push_back(t->content);
    } else if (const std::string* s = model_->id_to_token(id)) {
      tokens.push_back(*s);
    }  // unknown ids are dropped, as in tokenizers
  }
  std::string text;
  if (decoder_) {
    for (const auto& s : decoder_->decode_chain(std::move(tokens))) text += s;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) text += ' ';
      text += tokens[i];
    }
  }
  return text;
}

int32_t HfTokenizer::vocab_size() const {
  return std::max(model_->max_id(), added_.max_id()) + 1;
}

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  if (auto id = added_.find(token)) return id;
  return model_->token_to_id(token);
}

std::string HfTokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* t = added_.find(id)) return t->content;
  if (const std::string* s = model_->id_to_token(id)) return *s;
  return std::string();
}

bool HfTokenizer::is_special(int32_t id) const {
  const AddedToken* t = added_.find(id);
  return t != nullptr && t->special;
}

}  // namespace strata
