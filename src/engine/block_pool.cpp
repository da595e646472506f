#include "engine/block_pool.h"

#include "core/status.h"

namespace strata {

BlockHash hash_block(const std::optional<BlockHash>& parent, std::span<const int32_t> tokens,
                     std::string_view extra_keys) {
  Sha256 h;
  const uint8_t has_parent = parent ? 1 : 0;
  h.update(&has_parent, 1);
  if (parent) h.update(parent->data(), parent->size());
  const uint64_t n = tokens.size();
  h.update(&n, sizeof(n));
  h.update(tokens.data(), tokens.size() * sizeof(int32_t));
  const uint64_t e = extra_keys.size();
  h.update(&e, sizeof(e));
  h.update(extra_keys);
  return h.finish();
}

BlockPool::BlockPool(int32_t num_blocks, bool enable_caching)
    : enable_caching_(enable_caching), blocks_(static_cast<size_t>(num_blocks)) {
  STRATA_CHECK(num_blocks > 0, "a KV cache needs at least one block");
  head_.next_free = &tail_;
  tail_.prev_free = &head_;
  for (int32_t i = 0; i < num_blocks; ++i) {
    blocks_[static_cast<size_t>(i)].id = i;
    queue_append(&blocks_[static_cast<size_t>(i)]);
  }
}

void BlockPool::queue_remove(KvBlock* b) {
  STRATA_CHECK(b->in_free_queue, "block {} is not free", b->id);
  b->prev_free->next_free = b->next_free;
  b->next_free->prev_free = b->prev_free;
  b->prev_free = b->next_free = nullptr;
  b->in_free_queue = false;
  --num_free_;
}

void BlockPool::queue_append(KvBlock* b) {
  STRATA_CHECK(!b->in_free_queue, "block {} is already free", b->id);
  b->prev_free = tail_.prev_free;
  b->next_free = &tail_;
  tail_.prev_free->next_free = b;
  tail_.prev_free = b;
  b->in_free_queue = true;
  ++num_free_;
}

KvBlock* BlockPool::queue_pop_front() {
  KvBlock* b = head_.next_free;
  STRATA_CHECK(b != &tail_, "no free KV blocks");
  queue_remove(b);
  return b;
}

std::vector<KvBlock*> BlockPool::get_new_blocks(int32_t n) {
  STRATA_CHECK(n <= num_free_, "asked for {} blocks with {} free", n, num_free_);
  std::vector<KvBlock*> out;
  out.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    KvBlock* b = queue_pop_front();
    STRATA_CHECK(b->ref_cnt == 0, "free block {} has ref_cnt {}", b->id, b->ref_cnt);
    if (b->hash) {  // evict its cached prefix
      auto it = cached_.find(*b->hash);
      if (it != cached_.end() && it->second == b) cached_.erase(it);
      b->hash.reset();
    }
    b->ref_cnt = 1;
    out.push_back(b);
  }
  return out;
}

KvBlock* BlockPool::cached_block(const BlockHash& hash) const {
  if (!enable_caching_) return nullptr;
  auto it = cached_.find(hash);
  return it == cached_.end() ? nullptr : it->second;
}

void BlockPool::touch(std::span<KvBlock* const> blocks) {
  for (KvBlock* b : blocks) {
    if (b->ref_cnt == 0) queue_remove(b);
    ++b->ref_cnt;
  }
}

void BlockPool::free_blocks(std::span<KvBlock* const> blocks) {
  for (KvBlock* b : blocks) {
    STRATA_CHECK(b->ref_cnt > 0, "double free of block {}", b->id);
    if (--b->ref_cnt == 0) queue_append(b);
  }
}

void BlockPool::cache_block(KvBlock* block, const BlockHash& hash) {
  if (!enable_caching_ || block->hash) return;
  auto [it, inserted] = cached_.emplace(hash, block);
  if (inserted) block->hash = hash;
}

bool BlockPool::reset_prefix_cache() {
  if (num_free_ != num_blocks()) return false;
  for (auto& b : blocks_) b.hash.reset();
  cached_.clear();
  return true;
}

void BlockPool::check_invariants() const {
  int32_t n = 0;
  const KvBlock* prev = &head_;
  for (const KvBlock* b = head_.next_free; b != &tail_; b = b->next_free) {
    STRATA_CHECK(b->prev_free == prev, "free queue back link broken at block {}", b->id);
    STRATA_CHECK(b->in_free_queue && b->ref_cnt == 0, "block {} in the free queue with ref_cnt {}", b->id, b->ref_cnt);
    prev = b;
    STRATA_CHECK(++n <= num_blocks(), "free queue has a cycle");
  }
  STRATA_CHECK(n == num_free_, "free queue holds {} blocks, counter says {}", n, num_free_);
  for (const auto& b : blocks_) {
    STRATA_CHECK(b.ref_cnt >= 0, "block {} ref_cnt {}", b.id, b.ref_cnt);
    STRATA_CHECK((b.ref_cnt == 0) == b.in_free_queue, "block {}: ref_cnt {} but in_free_queue {}", b.id, b.ref_cnt,
                 b.in_free_queue);
    if (b.hash) {
      auto it = cached_.find(*b.hash);
      STRATA_CHECK(it != cached_.end() && it->second == &b, "block {} has a hash missing from the map", b.id);
    }
  }
  for (const auto& [h, b] : cached_) STRATA_CHECK(b->hash && *b->hash == h, "map entry for block {} stale", b->id);
}

}  // namespace strata
