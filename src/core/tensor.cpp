#include "core/tensor.h"

#include <sys/mman.h>

#include <cstring>

namespace strata {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Tensor Tensor::host(DType dtype, Shape shape) {
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  if (bytes >= (1u << 20)) {
    // Large buffers (weights, KV cache): anonymous mappings are zero-filled lazily by the kernel, so
    // a 4 GiB KV cache costs nothing until its pages are touched.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    STRATA_CHECK(p != MAP_FAILED, "out of host memory mapping {} bytes", bytes);
    return Tensor(TensorView{p, dtype, std::move(shape)},
                  std::shared_ptr<void>(p, [bytes](void* q) { munmap(q, bytes); }));
  }
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  STRATA_CHECK(p != nullptr, "out of host memory allocating {} bytes", rounded);
  std::memset(p, 0, rounded);
  return Tensor(TensorView{p, dtype, std::move(shape)}, std::shared_ptr<void>(p, std::free));
}

}  // namespace strata
