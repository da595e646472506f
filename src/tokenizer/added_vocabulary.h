// Added tokens (tokenizer.json "added_tokens", tokenizer_config.json "added_tokens_decoder"): tokens
// matched in the raw text before the model sees it, as tokenizers' AddedVocabulary. Non-normalized
// tokens are found in the original text, the pieces between them are normalized, then normalized
// tokens are found in those pieces. Matching is leftmost-longest and non-overlapping; single_word
// rejects a match inside a word, lstrip/rstrip make the token swallow adjacent whitespace.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "tokenizer/bpe_model.h"

namespace strata {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// One piece of the input: an added token (id >= 0) or normalized text for the pre-tokenizer.
struct TextPiece {
  std::string text;
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  // Adds a token; a token whose content is already present keeps its first id (its flags are
  // updated, as tokenizers does).
  void add(const AddedToken& token);
  // Builds the matchers; call after the last add() and whenever the normalizer changes.
  void build(const Normalizer* normalizer);

  // Splits text (valid UTF-8) into added tokens and normalized text pieces; empty pieces are dropped.
  std::vector<TextPiece> extract_and_normalize(std::string_view text, const Normalizer* normalizer) const;

  const AddedToken* find(int32_t id) const;
  std::optional<int32_t> find(std::string_view content) const;
  bool empty() const { return by_id_.empty(); }
  // Largest added id (-1 when none).
  int32_t max_id() const { return max_id_; }

 private:
  // A byte trie of token contents for leftmost-longest search.
  class Matcher {
   public:
    void insert(std::string_view pattern, int32_t id);
    bool empty() const { return node_token_.size() <= 1; }
    // Appends (start, end, id) of the non-overlapping leftmost-longest matches.
    void find_all(std::string_view text, std::vector<std::tuple<size_t, size_t, int32_t>>& out) const;

   private:
    int32_t child(int32_t node, uint8_t byte) const;
    std::vector<int32_t> node_token_{-1};                // per node (root = 0): id ending there, or -1
    std::unordered_map<uint64_t, int32_t> transitions_;  // (node << 8 | byte) -> child node
    std::array<bool, 256> first_byte_{};
  };

  void find_matches(std::string_view text, const Matcher& matcher, std::vector<TextPiece>& out) const;

  std::unordered_map<int32_t, AddedToken> by_id_;
  StringIdMap by_content_;
  int32_t max_id_ = -1;
  Matcher raw_matcher_;
  Matcher normalized_matcher_;
};

}  // namespace strata
