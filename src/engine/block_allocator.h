// A free list of KV-cache block ids. The serving engine's BlockPool (ref counts, prefix caching,
// LRU eviction) replaces it; the offline generator only needs allocate/free.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace strata {

class BlockAllocator {
 public:
  explicit BlockAllocator(int32_t num_blocks);
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t num_blocks() const { return num_blocks_; }
  // n blocks, or nothing if fewer than n are free.
  std::optional<std::vector<int32_t>> allocate(int32_t n);
  void free(const std::vector<int32_t>& blocks);

 private:
  int32_t num_blocks_;
  std::vector<int32_t> free_;
  std::vector<bool> in_use_;
};

}  // namespace strata
