#include "weights/weight_loader.h"

#include <cstring>
#include <functional>
#include <vector>

namespace strata {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
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
    const uint64_t key = splitmix64(seed_ ^ fnv1a(name));
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) {
        uint64_t bits = splitmix64(key + static_cast<uint64_t>(r * cols + c));
        float u = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);  // [0, 1)
        dst[(r - r0) * lc + (c - c0)] = init.center + init.scale * (2.0f * u - 1.0f);
      }
    return out;
  }
  STRATA_TRY(TensorView src, store_->get(name));
  const std::string& file = store_->file_of(name);
  if (src.shape != full)
    return make_error("{}: tensor '{}' has shape {}, expected {} from config.json", file, name,
                      shape_str(src.shape), shape_str(full));
  if (!is_float(src.dtype))
    return make_error("{}: tensor '{}' has dtype {}, expected a floating-point type (F32, BF16, F16)", file, name,
                      dtype_name(src.dtype));
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
