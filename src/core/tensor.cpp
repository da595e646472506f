#include "core/tensor.h"

#include <cstring>

namespace strata {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Tensor Tensor::host(DType dtype, Shape shape) {
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  STRATA_CHECK(p != nullptr, "out of host memory allocating {} bytes", rounded);
  std::memset(p, 0, rounded);
  return Tensor(TensorView{p, dtype, std::move(shape)}, std::shared_ptr<void>(p, std::free));
}

}  // namespace strata
