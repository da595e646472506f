#include "weights/weight_loader.h"

#include "core/dummy_init.h"

#include <cstring>
#include <functional>
#include <vector>

namespace strata {

namespace {
bool is_float(DType t) {
  return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16 || t == DType::kF64;
}
}  // namespace

std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size) {
  STRATA_CHECK(size > 0 && n % size == 0, "{} does not split into {} equal parts", n, size);
  int64_t part = n / size;
  return {part * rank, part * (rank + 1)};
}

WeightLoader WeightLoader::from_checkpoint(WeightStore store) {
  WeightLoader l;
  l.store_ = std::make_shared<WeightStore>(std::move(store));
  return l;
}

WeightLoader WeightLoader::dummy(uint64_t seed) {
  WeightLoader l;
  l.seed_ = seed;
  return l;
}

Result<TensorView> WeightLoader::checked(const std::string& name, const Shape& full) const {
  STRATA_TRY(TensorView src, store_->get(name));
  const std::string& file = store_->file_of(name);
  if (src.shape != full)
    return make_error("{}: tensor '{}' has shape {}, expected {} from config.json", file, name,
                      shape_str(src.shape), shape_str(full));
  if (!is_float(src.dtype))
    return make_error("{}: tensor '{}' has dtype {}, expected a floating-point type (F32, BF16, F16)", file, name,
                      dtype_name(src.dtype));
  return src;
}

uint64_t WeightLoader::dummy_key(const std::string& name) const { return strata::dummy_key(seed_, name); }

Result<TensorView> WeightLoader::load_raw(const std::string& name, const Shape& full, ShardDim dim, int rank, int size,
                                          Tensor& holder) const {
  STRATA_CHECK(store_, "load_raw needs a checkpoint");
  STRATA_TRY(TensorView src, checked(name, full));
  const int64_t rows = full[0], cols = full.size() == 2 ? full[1] : 1;
  if (src.dtype == DType::kF64 || (dim == ShardDim::kCols && size > 1)) {
    STRATA_TRY(holder, load(name, full, dim, rank, size));
    return holder.view();
  }
  if (dim == ShardDim::kNone || size == 1) return src;
  auto [r0, r1] = shard_range(rows, rank, size);
  TensorView v = src;
  v.data = static_cast<uint8_t*>(src.data) + static_cast<size_t>(r0) * cols * dtype_size(src.dtype);
  v.shape[0] = r1 - r0;
  return v;
}

Result<Tensor> WeightLoader::load(const std::string& name, const Shape& full, ShardDim dim, int rank, int size,
                                  DummyInit init) const {
  STRATA_CHECK(full.size() == 1 || full.size() == 2, "weights are 1-D or 2-D");
  const int64_t rows = full[0], cols = full.size() == 2 ? full[1] : 1;
  int64_t r0 = 0, r1 = rows, c0 = 0, c1 = cols;
  if (dim == ShardDim::kRows) std::tie(r0, r1) = shard_range(rows, rank, size);
  if (dim == ShardDim::kCols) std::tie(c0, c1) = shard_range(cols, rank, size);
  Shape local = full.size() == 2 ? Shape{r1 - r0, c1 - c0} : Shape{r1 - r0};
  Tensor out = Tensor::host(DType::kF32, local);
  float* dst = out.data<float>();
  const int64_t lc = c1 - c0;
  if (!store_) {
    const uint64_t key = strata::dummy_key(seed_, name);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c)
        dst[(r - r0) * lc + (c - c0)] = dummy_value(key, static_cast<uint64_t>(r * cols + c), init.center, init.scale);
    return out;
  }
  STRATA_TRY(TensorView src, checked(name, full));
  const size_t es = dtype_size(src.dtype);
  const auto* base = static_cast<const uint8_t*>(src.data);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = base + (static_cast<size_t>(r) * cols + c0) * es;
    if (src.dtype == DType::kF64) {
      for (int64_t c = 0; c < lc; ++c) {
        double v;
        std::memcpy(&v, row + c * 8, 8);
        dst[(r - r0) * lc + c] = static_cast<float>(v);
      }
    } else {
      convert_to_f32(src.dtype, row, dst + (r - r0) * lc, static_cast<size_t>(lc));
    }
  }
  return out;
}

}  // namespace strata
