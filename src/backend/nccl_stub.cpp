// CPU-only builds: the NCCL communicator is absent (its implementation is in backend/cuda/).
#include "dist/nccl_communicator.h"

namespace strata {

#ifndef STRATA_HAVE_CUDA
bool nccl_available() {
  return false;
}

Result<std::unique_ptr<Communicator>> create_nccl_communicator(Store&, const std::string& key, int, int,
                                                               Backend&, std::chrono::milliseconds) {
  return make_error("NCCL communicator '{}': this build has no NCCL (configure with `cmake --preset cuda`)",
                    key);
}
#endif

}  // namespace strata
