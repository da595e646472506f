// BlockPool: the KV-cache blocks of one cache, ref-counted, with automatic prefix caching.
//
// A block is either in use (ref_cnt > 0) or free. Free blocks sit in a doubly linked queue in
// eviction order (LRU: head is evicted first); a free block may still hold a cached prefix (its hash
// is in the hash map) until it is handed out again. Full blocks are keyed by a SHA-256 over
// (parent block's hash, the block's token ids, extra keys such as a cache salt), so equal prefixes
// map to equal chains of hashes and a request can reuse another's blocks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/sha256.h"

namespace strata {

using BlockHash = Digest256;

struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const {
    size_t v;
    static_assert(sizeof(v) <= sizeof(BlockHash));
    __builtin_memcpy(&v, h.data(), sizeof(v));
    return v;
  }
};

// hash(parent, tokens, extra): the parent is absent for a sequence's first block.
BlockHash hash_block(const std::optional<BlockHash>& parent, std::span<const int32_t> tokens,
                     std::string_view extra_keys);

struct KvBlock {
  int32_t id = 0;
  int32_t ref_cnt = 0;
  std::optional<BlockHash> hash;  // set while the block holds a cached full prefix block
  KvBlock* prev_free = nullptr;
  KvBlock* next_free = nullptr;
  bool in_free_queue = false;
};

class BlockPool {
 public:
  BlockPool(int32_t num_blocks, bool enable_caching);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t num_free() const { return num_free_; }
  bool caching_enabled() const { return enable_caching_; }
  // Fraction of blocks in use (0..1), as vllm:kv_cache_usage_perc reports it.
  double usage() const { return 1.0 - static_cast<double>(num_free_) / static_cast<double>(blocks_.size()); }

  // n blocks from the head of the free queue (evicting their cached hashes), ref_cnt 1 each.
  // Checks that n <= num_free().
  std::vector<KvBlock*> get_new_blocks(int32_t n);
  // A cached block holding `hash`, if any (in use or free).
  KvBlock* cached_block(const BlockHash& hash) const;
  // Takes a reference on each block (removing it from the free queue when it was free).
  void touch(std::span<KvBlock* const> blocks);
  // Drops one reference from each block, in the given order; blocks reaching 0 go to the queue's tail.
  void free_blocks(std::span<KvBlock* const> blocks);
  // Records `hash` for a full block (no-op if caching is off or the hash is already cached).
  void cache_block(KvBlock* block, const BlockHash& hash);
  // Drops every cached hash of free blocks (e.g. after weights change). Returns false if blocks are in use.
  bool reset_prefix_cache();

  // Invariant check for tests: queue links, counts, ref_cnts, hash map consistency.
  void check_invariants() const;
  const KvBlock& block_const(int32_t id) const { return blocks_[static_cast<size_t>(id)]; }

 private:
  void queue_remove(KvBlock* b);
  void queue_append(KvBlock* b);
  KvBlock* queue_pop_front();

  bool enable_caching_;
  std::vector<KvBlock> blocks_;
  KvBlock head_, tail_;  // sentinels of the free queue
  int32_t num_free_ = 0;
  std::unordered_map<BlockHash, KvBlock*, BlockHashHasher> cached_;
};

}  // namespace strata
