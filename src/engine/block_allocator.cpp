#include "engine/block_allocator.h"

#include "core/status.h"

namespace strata {

BlockAllocator::BlockAllocator(int32_t num_blocks) : num_blocks_(num_blocks), in_use_(num_blocks, false) {
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

std::optional<std::vector<int32_t>> BlockAllocator::allocate(int32_t n) {
  if (n > num_free()) return std::nullopt;
  std::vector<int32_t> out;
  for (int32_t i = 0; i < n; ++i) {
    int32_t b = free_.back();
    free_.pop_back();
    in_use_[b] = true;
    out.push_back(b);
  }
  return out;
}

void BlockAllocator::free(const std::vector<int32_t>& blocks) {
  for (int32_t b : blocks) {
    STRATA_CHECK(b >= 0 && b < num_blocks_ && in_use_[b], "double free of block {}", b);
    in_use_[b] = false;
    free_.push_back(b);
  }
}

}  // namespace strata
