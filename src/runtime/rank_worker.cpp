#include "runtime/rank_worker.h"

#include "runtime/step_codec.h"

namespace strata {

void RankState::reset() {
  runner.reset();
  cache = KvCache();
  model.reset();
  pp.reset();
  tp.reset();
  transport.reset();
  backend.reset();
}

RankWorker::RankWorker(int rank, Init init) {
  state_.rank = rank;
  thread_ = std::thread([this, init = std::move(init)]() mutable { loop(std::move(init)); });
}

RankWorker::~RankWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status RankWorker::ready() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return init_status_.has_value(); });
  return *init_status_;
}

std::optional<Status> RankWorker::ready_within(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return init_status_.has_value(); });
  return init_status_;
}

void RankWorker::submit(std::shared_ptr<const std::string> step, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(std::move(step), std::move(done));
  }
  cv_.notify_all();
}

void RankWorker::loop(Init init) {
  Status st = init(state_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    init_status_ = st;
  }
  cv_.notify_all();
  while (st.ok()) {
    std::pair<std::shared_ptr<const std::string>, Done> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) break;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    OwnedStep step = decode_step(*job.first);
    StepOutput out = state_.runner->run(step.chunks);
    if (job.second) job.second(std::move(out));
  }
  state_.reset();  // tear down on this thread (the GPU context lives here)
}

}  // namespace strata
