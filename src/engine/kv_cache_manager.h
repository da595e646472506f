// KvCacheManager: which KV blocks each request holds, on top of the BlockPool.
//
// Admission: get_computed_blocks() finds the longest cached prefix of the prompt (full blocks,
// never the whole prompt: its last token is always recomputed for logits). allocate_slots() then
// reserves blocks for the tokens the scheduler wants to compute this step (taking the prefix hits
// the first time), all or nothing, and registers blocks that become full in the prefix cache.
// free() returns a request's blocks in reverse order, so its tail is evicted first.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/block_pool.h"

namespace strata {

using RequestKey = uint64_t;

struct PrefixHit {
  std::vector<KvBlock*> blocks;
  int64_t num_tokens = 0;
};

class KvCacheManager {
 public:
  KvCacheManager(int32_t num_blocks, int32_t block_size, bool enable_caching);

  int32_t block_size() const { return block_size_; }
  const BlockPool& pool() const { return pool_; }
  BlockPool& pool() { return pool_; }
  double usage() const { return pool_.usage(); }
  // Prompt tokens looked up at admissions, and of those the ones found in the cache.
  int64_t prefix_queries() const { return queries_; }
  int64_t prefix_hits() const { return hits_; }

  PrefixHit get_computed_blocks(RequestKey req, std::span<const int32_t> tokens, std::string_view extra_keys);
  // Reserves blocks so the request covers tokens [0, num_computed + num_new). `hit` (from
  // get_computed_blocks, first allocation only) is counted in num_computed. Returns false and changes
  // nothing when the free blocks do not suffice.
  bool allocate_slots(RequestKey req, std::span<const int32_t> tokens, int64_t num_computed, int64_t num_new,
                      const PrefixHit* hit, std::string_view extra_keys);
  void free(RequestKey req);
  std::vector<int32_t> block_ids(RequestKey req) const;
  int64_t num_blocks_of(RequestKey req) const;
  bool has(RequestKey req) const { return requests_.count(req) > 0; }

 private:
  struct State {
    std::vector<KvBlock*> blocks;
    std::vector<BlockHash> hashes;  // of the request's full blocks, in order
    size_t num_cached = 0;          // blocks[0, num_cached) are registered in the prefix cache
  };
  // Extends st.hashes to cover the full blocks among tokens[0, upto).
  void hash_full_blocks(State& st, std::span<const int32_t> tokens, int64_t upto, std::string_view extra);

  int32_t block_size_;
  BlockPool pool_;
  std::unordered_map<RequestKey, State> requests_;
  int64_t queries_ = 0, hits_ = 0;
};

}  // namespace strata
