#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/logging.h"
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
  void broadcast(const TensorView&, int) override {}
  void send(const TensorView&, int) override { STRATA_CHECK(false, "send on a single-rank group"); }
  void recv(const TensorView&, int) override { STRATA_CHECK(false, "recv on a single-rank group"); }
  void barrier() override {}
};

std::mutex g_handler_mu;
CommFailureHandler g_handler;

}  // namespace

std::unique_ptr<Communicator> create_single_rank_communicator() {
  return std::make_unique<SingleRankCommunicator>();
}

void set_comm_failure_handler(CommFailureHandler handler) {
  std::lock_guard<std::mutex> lock(g_handler_mu);
  g_handler = std::move(handler);
}

void comm_failure(const std::string& reason) {
  CommFailureHandler h;
  {
    std::lock_guard<std::mutex> lock(g_handler_mu);
    h = g_handler;
  }
  if (h) h(reason);
  LOG_ERROR("distributed: {}", reason);
  std::abort();
}

}  // namespace strata
