#include "engine/kv_cache_manager.h"

#include <algorithm>

#include "core/status.h"

namespace strata {

KvCacheManager::KvCacheManager(int32_t num_blocks, int32_t block_size, bool enable_caching)
    : block_size_(block_size), pool_(num_blocks, enable_caching) {
  STRATA_CHECK(block_size > 0, "block size must be positive");
}

void KvCacheManager::hash_full_blocks(State& st, std::span<const int32_t> tokens, int64_t upto,
                                      std::string_view extra) {
  const size_t full = static_cast<size_t>(std::min<int64_t>(upto, static_cast<int64_t>(tokens.size())) / block_size_);
  while (st.hashes.size() < full) {
    const size_t i = st.hashes.size();
    std::optional<BlockHash> parent;
    if (i > 0) parent = st.hashes[i - 1];
    st.hashes.push_back(hash_block(parent, tokens.subspan(i * block_size_, block_size_), extra));
  }
}

PrefixHit KvCacheManager::get_computed_blocks(RequestKey req, std::span<const int32_t> tokens,
                                              std::string_view extra_keys) {
  PrefixHit hit;
  if (!pool_.caching_enabled() || tokens.empty()) return hit;
  State& st = requests_[req];
  STRATA_CHECK(st.blocks.empty(), "prefix lookup for a request that already holds blocks");
  // At most all but the last token: its logits are needed, so it is always computed.
  const int64_t max_tokens = static_cast<int64_t>(tokens.size()) - 1;
  hash_full_blocks(st, tokens, max_tokens, extra_keys);
  for (const BlockHash& h : st.hashes) {
    KvBlock* b = pool_.cached_block(h);
    if (!b) break;
    hit.blocks.push_back(b);
  }
  hit.num_tokens = static_cast<int64_t>(hit.blocks.size()) * block_size_;
  return hit;
}

bool KvCacheManager::allocate_slots(RequestKey req, std::span<const int32_t> tokens, int64_t num_computed,
                                    int64_t num_new, const PrefixHit* hit, std::string_view extra_keys) {
  State& st = requests_[req];
  const std::vector<KvBlock*> no_hits;
  const std::vector<KvBlock*>& hits = hit ? hit->blocks : no_hits;
  STRATA_CHECK(hits.empty() || st.blocks.empty(), "prefix hits only on first allocation");
  const int64_t total = num_computed + num_new;
  const int64_t needed = (total + block_size_ - 1) / block_size_;
  const int64_t have = static_cast<int64_t>(st.blocks.size() + hits.size());
  const int64_t fresh = std::max<int64_t>(0, needed - have);
  // Hits sitting in the free queue stop being free once touched.
  const int64_t hits_free = std::count_if(hits.begin(), hits.end(), [](KvBlock* b) { return b->ref_cnt == 0; });
  if (fresh > pool_.num_free() - hits_free) {
    if (st.blocks.empty() && hits.empty() && st.hashes.empty()) requests_.erase(req);
    return false;
  }
  if (hit && pool_.caching_enabled()) {  // counted once, when the lookup's admission succeeds
    queries_ += static_cast<int64_t>(tokens.size());
    hits_ += hit->num_tokens;
  }
  pool_.touch(hits);
  st.blocks.insert(st.blocks.end(), hits.begin(), hits.end());
  st.num_cached = std::max(st.num_cached, hits.size());
  std::vector<KvBlock*> got = pool_.get_new_blocks(static_cast<int32_t>(fresh));
  st.blocks.insert(st.blocks.end(), got.begin(), got.end());
  if (pool_.caching_enabled()) {
    hash_full_blocks(st, tokens, total, extra_keys);
    const size_t full = std::min(st.hashes.size(), static_cast<size_t>(total / block_size_));
    for (size_t i = st.num_cached; i < full; ++i) pool_.cache_block(st.blocks[i], st.hashes[i]);
    st.num_cached = std::max(st.num_cached, full);
  }
  return true;
}

void KvCacheManager::free(RequestKey req) {
  auto it = requests_.find(req);
  if (it == requests_.end()) return;
  std::vector<KvBlock*> rev(it->second.blocks.rbegin(), it->second.blocks.rend());
  pool_.free_blocks(rev);
  requests_.erase(it);
}

std::vector<int32_t> KvCacheManager::block_ids(RequestKey req) const {
  std::vector<int32_t> ids;
  auto it = requests_.find(req);
  if (it == requests_.end()) return ids;
  for (const KvBlock* b : it->second.blocks) ids.push_back(b->id);
  return ids;
}

int64_t KvCacheManager::num_blocks_of(RequestKey req) const {
  auto it = requests_.find(req);
  return it == requests_.end() ? 0 : static_cast<int64_t>(it->second.blocks.size());
}

}  // namespace strata
