#include "tokenizer/byte_tokenizer.h"

#include "tokenizer/unicode.h"

namespace strata {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 1);
  if (add_special_tokens) ids.push_back(kBosId);
  for (char c : text) ids.push_back(static_cast<uint8_t>(c));
  return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  std::string text;
  for (int32_t id : ids) {
    if (id >= 0 && id < 256) {
      bytes.push_back(static_cast<char>(id));
      continue;
    }
    if (!is_special(id) || skip_special_tokens) continue;
    unicode::append_valid_utf8(text, bytes);
    bytes.clear();
    text += id == kBosId ? "<s>" : "</s>";
  }
  unicode::append_valid_utf8(text, bytes);
  return text;
}

std::optional<int32_t> ByteTokenizer::token_to_id(std::string_view token) const {
  if (token == "<s>") return kBosId;
  if (token == "</s>") return kEosId;
  if (token.size() == 1) return static_cast<uint8_t>(token[0]);
  return std::nullopt;
}

std::string ByteTokenizer::id_to_token(int32_t id) const {
  if (id == kBosId) return "<s>";
  if (id == kEosId) return "</s>";
  if (id >= 0 && id < 256) return std::string(1, static_cast<char>(id));
  return std::string();
}

}  // namespace strata
