// The BPE model of tokenizer.json ("model": {"type": "BPE"}): vocabulary, ranked merges (both the
// "a b" and ["a", "b"] formats), ignore_merges, byte_fallback, unk_token/fuse_unk,
// continuing_subword_prefix and end_of_word_suffix. tokenize() turns one pre-tokenized word into ids
// by repeatedly applying the lowest-ranked merge (leftmost first), as tokenizers' Word::merge_all;
// results are cached per word in a sharded, mutex-guarded map, so tokenize() is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace strata {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // Builds the model from tokenizer.json's "model" object; `where` names it for errors ("model").
  static Result<std::unique_ptr<BpeModel>> from_json(const nlohmann::json& j, const std::string& where);

  // Appends the ids of one pre-tokenized word (characters missing from the vocabulary with neither
  // byte_fallback nor unk_token are dropped, as in tokenizers).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // nullptr for an id outside the vocabulary.
  const std::string* id_to_token(int32_t id) const;
  // Largest id in the vocabulary (-1 when empty).
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static constexpr size_t kNumCacheShards = 32;
  static constexpr size_t kCacheEntriesPerShard = 4096;
  static constexpr size_t kMaxCachedWordBytes = 256;
  struct CacheShard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
  };

  BpeModel() = default;
  Status load_merges(const nlohmann::json& merges, const std::string& where);
  // Splits the word into initial symbols and applies the merges.
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  StringIdMap vocab_;
  std::vector<std::string> id_to_token_;  // "" where an id is unused
  std::vector<uint8_t> id_used_;
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::array<int32_t, 256> byte_fallback_ids_{};  // id of "<0xXX>", -1 when missing

  mutable std::array<CacheShard, kNumCacheShards> cache_;
};

}  // namespace strata
