// RankWorker: one rank of a parallel group living in this process. Its thread owns everything of the
// rank (backend, communicators, model shard, KV cache, runner: RankState), built by an init function
// on that thread (so a GPU rank's CUDA context and stream stay on it), and runs the steps it is given
// in order. Steps are encoded (step_codec.h), so they stay valid whatever the engine does next.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/communicator.h"
#include "model/model.h"
#include "runtime/model_runner.h"

namespace strata {

struct RankState {
  int rank = 0;
  std::unique_ptr<Backend> backend;
  std::shared_ptr<void> transport;  // what the communicators share (a TCP mesh), kept alive with them
  std::unique_ptr<Communicator> tp, pp;
  std::unique_ptr<Model> model;
  KvCache cache;
  std::unique_ptr<ModelRunner> runner;
  ~RankState() { reset(); }
  void reset();  // runner, cache, model, then communicators, then the backend
};

class RankWorker {
 public:
  using Init = std::function<Status(RankState&)>;
  using Done = std::function<void(StepOutput&&)>;
  RankWorker(int rank, Init init);
  ~RankWorker();  // finishes queued steps, then tears the rank down on its thread
  RankWorker(const RankWorker&) = delete;
  RankWorker& operator=(const RankWorker&) = delete;

  // Blocks until init has finished; its status.
  Status ready();
  // Init's status if it has finished within `timeout`.
  std::optional<Status> ready_within(std::chrono::milliseconds timeout);
  // Queues a step (encode_step bytes); `done`, when set, gets the rank's output on the rank's thread.
  void submit(std::shared_ptr<const std::string> step, Done done);

 private:
  void loop(Init init);

  RankState state_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Status> init_status_;
  std::deque<std::pair<std::shared_ptr<const std::string>, Done>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace strata
