#include "backend/backend.h"

namespace strata {

#ifndef STRATA_HAVE_CUDA
bool cuda_available() { return false; }
Result<std::unique_ptr<Backend>> create_cuda_backend(int) {
  return make_error("--device cuda: this build has no CUDA backend (configure with `cmake --preset cuda`)");
}
#endif

}  // namespace strata
