// WeightLoader: gives a model its rank's slice of each weight as f32 host memory, from a
// checkpoint (WeightStore) or as deterministic random values (--load-format dummy).
//
// The model names each tensor with its full (unsharded) shape and how it is split across the
// tensor-parallel group; the loader checks the checkpoint's shape and dtype against that, cuts out
// this rank's rows or columns, and widens to f32. Dummy values are a pure function of (seed, tensor
// name, element index), so every rank's slice agrees with the unsharded tensor.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "weights/safetensors.h"

namespace strata {

enum class ShardDim { kNone, kRows, kCols };  // replicated; split dim 0 (column-parallel); dim 1 (row-parallel)

struct DummyInit {
  float center = 0.0f;  // values are center + uniform(-scale, scale)
  float scale = 0.02f;
};

class WeightLoader {
 public:
  static WeightLoader from_checkpoint(WeightStore store);
  static WeightLoader dummy(uint64_t seed);

  bool is_dummy() const { return !store_; }
  bool has(const std::string& name) const { return !store_ || store_->has(name); }
  // This rank's slice of `name` as f32. Errors name the file, the tensor and what is wrong.
  Result<Tensor> load(const std::string& name, const Shape& full_shape, ShardDim dim, int rank, int size,
                      DummyInit init = {}) const;
  // This rank's slice of `name` in the checkpoint's dtype (checkpoints only): a view into the mmap'd
  // file when the slice is contiguous, else converted to f32 into `holder`.
  Result<TensorView> load_raw(const std::string& name, const Shape& full_shape, ShardDim dim, int rank, int size,
                              Tensor& holder) const;
  // The key of `name`'s dummy values (core/dummy_init.h), for backends that generate them in place.
  uint64_t dummy_key(const std::string& name) const;

 private:
  Result<TensorView> checked(const std::string& name, const Shape& full) const;
  std::shared_ptr<WeightStore> store_;
  uint64_t seed_ = 0;
};

// [begin, end) of part `rank` of `size` equal parts of `n` (n must divide evenly; checked).
std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size);

}  // namespace strata
