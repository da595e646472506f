// Tensor views (borrowed data + dtype + shape, row-major contiguous) and an owning host tensor.
// Views never own memory; the owner (a mmap'd safetensors file, a Tensor, a backend buffer)
// outlives them.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace strata {

using Shape = std::vector<int64_t>;

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
std::string shape_str(const Shape& s);

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Shape shape;

  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

// Owning tensor: a view plus shared ownership of its storage (host memory from Tensor::host, or a
// backend's device memory with that backend's deleter). Copies share storage.
class Tensor {
 public:
  Tensor() = default;
  Tensor(TensorView view, std::shared_ptr<void> storage) : view_(std::move(view)), storage_(std::move(storage)) {}
  // Host memory, 64-byte aligned (page-aligned from 1 MiB), zero-initialised.
  static Tensor host(DType dtype, Shape shape);

  const TensorView& view() const { return view_; }
  const Shape& shape() const { return view_.shape; }
  DType dtype() const { return view_.dtype; }
  int64_t numel() const { return view_.numel(); }
  bool empty() const { return view_.data == nullptr; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(view_.data);
  }

 private:
  TensorView view_;
  std::shared_ptr<void> storage_;
};

}  // namespace strata
