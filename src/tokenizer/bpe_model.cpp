#include "tokenizer/bpe_model.h"

#include <algorithm>

#include "core/logging.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/unicode.h"

namespace strata {
namespace {

using json_fields::json;

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// A symbol of the word being merged: a doubly linked list over a vector, as tokenizers' Word.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  size_t len;  // bytes; 0 once merged into its left neighbour
};

struct QueuedMerge {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  // Min-heap on (rank, pos) under std::push_heap's max-heap convention.
  bool operator<(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const json& j, const std::string& where) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  if (!j.is_object()) return make_error("{} must be an object", where);
  if (j.contains("dropout") && !j["dropout"].is_null()) {
    if (!j["dropout"].is_number()) return make_error("{}.dropout must be a number", where);
    if (j["dropout"].get<double>() != 0.0)
      return make_error("{}.dropout (BPE dropout) is not supported", where);
  }
  STRATA_TRY(m->fuse_unk_, json_fields::bool_field(j, "fuse_unk", where, false));
  STRATA_TRY(m->byte_fallback_, json_fields::bool_field(j, "byte_fallback", where, false));
  STRATA_TRY(m->ignore_merges_, json_fields::bool_field(j, "ignore_merges", where, false));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (j.contains(key) && !j[key].is_null()) {
      if (!j[key].is_string()) return make_error("{}.{} must be a string", where, key);
      (std::string_view(key) == "end_of_word_suffix" ? m->end_of_word_suffix_
                                                     : m->continuing_subword_prefix_) =
          j[key].get<std::string>();
    }
  }

  if (!j.contains("vocab") || !j["vocab"].is_object()) return make_error("{}.vocab must be an object", where);
  const json& vocab = j["vocab"];
  m->vocab_.reserve(vocab.size());
  int32_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > INT32_MAX / 2) {
      return make_error("{}.vocab['{}'] must be a non-negative integer id", where, it.key());
    }
    const auto id = static_cast<int32_t>(it.value().get<int64_t>());
    m->vocab_.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  m->id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  m->id_used_.assign(static_cast<size_t>(max_id + 1), 0);
  for (const auto& [token, id] : m->vocab_) {
    m->id_to_token_[id] = token;
    m->id_used_[id] = 1;
  }

  if (j.contains("unk_token") && !j["unk_token"].is_null()) {
    if (!j["unk_token"].is_string()) return make_error("{}.unk_token must be a string", where);
    const std::string unk = j["unk_token"].get<std::string>();
    m->unk_id_ = m->token_to_id(unk);
    if (!m->unk_id_)
      LOG_WARN("{}.unk_token '{}' is not in the vocabulary; unknown characters are dropped", where, unk);
  }
  for (int b = 0; b < 256; ++b) {
    auto id = m->token_to_id(fmt::format("<0x{:02X}>", b));
    m->byte_fallback_ids_[b] = id ? *id : -1;
  }

  if (!j.contains("merges") || !j["merges"].is_array()) return make_error("{}.merges must be a list", where);
  STRATA_RETURN_IF_ERROR(m->load_merges(j["merges"], where + ".merges"));
  return m;
}

Status BpeModel::load_merges(const json& merges, const std::string& where) {
  merges_.reserve(merges.size());
  std::string merged;
  int32_t rank = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& e = merges[i];
    std::string_view a, b;
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      if (s.rfind("#version", 0) == 0) continue;  // a header line of merges.txt
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return make_error("{}[{}] '{}' must be two tokens separated by one space", where, i, s);
      }
      a = std::string_view(s).substr(0, space);
      b = std::string_view(s).substr(space + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get_ref<const std::string&>();
      b = e[1].get_ref<const std::string&>();
    } else {
      return make_error("{}[{}] must be \"a b\" or [\"a\", \"b\"], got {}", where, i, e.dump());
    }
    auto a_id = token_to_id(a);
    auto b_id = token_to_id(b);
    if (!a_id || !b_id)
      return make_error("{}[{}]: token '{}' is not in the vocabulary", where, i, a_id ? b : a);
    std::string_view b_rest = b;
    if (!continuing_subword_prefix_.empty() && b_rest.size() >= continuing_subword_prefix_.size()) {
      b_rest.remove_prefix(continuing_subword_prefix_.size());
    }
    merged.assign(a);
    merged.append(b_rest);
    auto new_id = token_to_id(merged);
    if (!new_id) return make_error("{}[{}]: merged token '{}' is not in the vocabulary", where, i, merged);
    merges_[pair_key(*a_id, *b_id)] = Merge{rank++, *new_id};
  }
  return ok_status();
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !id_used_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kMaxCachedWordBytes;
  CacheShard& shard = cache_[StringHash{}(word) % kNumCacheShards];
  if (cacheable) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (auto it = shard.words.find(word); it != shard.words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.words.size() >= kCacheEntriesPerShard) shard.words.clear();
    shard.words.emplace(std::string(word), std::move(ids));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&symbols](int32_t id, size_t len) {
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, n - 1, n + 1, len});
  };
  int32_t pending_unk_id = -1;  // an unknown run not yet added, and its length in bytes
  size_t pending_unk_len = 0;
  std::string with_affixes;
  size_t i = 0;
  while (i < word.size()) {
    const size_t len = unicode::utf8_length(static_cast<uint8_t>(word[i]));
    std::string_view ch = word.substr(i, len);
    const bool is_first = i == 0;
    i += len;
    const bool is_last = i >= word.size();
    std::string_view key = ch;
    if ((!is_first && !continuing_subword_prefix_.empty()) || (is_last && !end_of_word_suffix_.empty())) {
      with_affixes.clear();
      if (!is_first) with_affixes += continuing_subword_prefix_;
      with_affixes.append(ch);
      if (is_last) with_affixes += end_of_word_suffix_;
      key = with_affixes;
    }
    if (auto it = vocab_.find(key); it != vocab_.end()) {
      if (pending_unk_id >= 0) add(pending_unk_id, pending_unk_len), pending_unk_id = -1;
      add(it->second, len);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : key) all = all && byte_fallback_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        for (char c : key) add(byte_fallback_ids_[static_cast<uint8_t>(c)], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk_id >= 0 && fuse_unk_) {
        pending_unk_len += len;
      } else {
        if (pending_unk_id >= 0) add(pending_unk_id, pending_unk_len);
        pending_unk_id = *unk_id_;
        pending_unk_len = len;
      }
    }
  }
  if (pending_unk_id >= 0) add(pending_unk_id, pending_unk_len);
  if (symbols.empty()) return;
  symbols.back().next = -1;

  std::vector<QueuedMerge> queue;
  queue.reserve(symbols.size());
  auto push = [&](int32_t pos, int32_t left, int32_t right) {
    auto it = merges_.find(pair_key(left, right));
    if (it == merges_.end()) return;
    queue.push_back(QueuedMerge{it->second.rank, pos, it->second.new_id});
    std::push_heap(queue.begin(), queue.end());
  };
  for (size_t k = 0; k + 1 < symbols.size(); ++k) {
    push(static_cast<int32_t>(k), symbols[k].id, symbols[k + 1].id);
  }
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end());
    const QueuedMerge top = queue.back();
    queue.pop_back();
    Symbol& left = symbols[top.pos];
    if (left.len == 0 || left.next < 0) continue;
    const int32_t next_pos = left.next;
    const Symbol right = symbols[next_pos];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    left.len += right.len;
    left.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev, symbols[left.prev].id, left.id);
    if (left.next >= 0) push(top.pos, left.id, symbols[left.next].id);
  }
  for (const auto& s : symbols) {
    if (s.len != 0) out.push_back(s.id);
  }
}

}  // namespace strata
