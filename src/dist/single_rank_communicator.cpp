#include <cstring>

#include "dist/communicator.h"

namespace strata {
namespace {

class SingleRankCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(const TensorView&) override {}
  void all_gather(const TensorView& x, const TensorView& out) override {
    if (x.data != out.data) std::memcpy(out.data, x.data, x.nbytes());
  }
  void barrier() override {}
};

}  // namespace

std::unique_ptr<Communicator> create_single_rank_communicator() {
  return std::make_unique<SingleRankCommunicator>();
}

}  // namespace strata
