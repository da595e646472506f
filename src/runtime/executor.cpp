#include "runtime/executor.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/model_runner.h"

namespace strata {

std::future<StepOutput> Executor::submit(std::span<const SeqChunk> chunks) {
  std::promise<StepOutput> p;
  p.set_value(run(chunks));
  return p.get_future();
}

struct AsyncExecutor::Impl {
  struct Job {
    std::vector<SeqChunk> chunks;
    std::promise<StepOutput> done;
  };
  Executor& inner;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  bool stop = false;
  std::thread thread;

  explicit Impl(Executor& e) : inner(e) {
    thread = std::thread([this] {
      while (true) {
        Job job;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return stop || !jobs.empty(); });
          if (jobs.empty()) return;
          job = std::move(jobs.front());
          jobs.pop_front();
        }
        job.done.set_value(inner.run(job.chunks));
      }
    });
  }
  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    thread.join();
  }
};

AsyncExecutor::AsyncExecutor(Executor& inner) : impl_(std::make_unique<Impl>(inner)) {}
AsyncExecutor::~AsyncExecutor() = default;

bool AsyncExecutor::runs_ahead() const { return impl_->inner.runs_ahead(); }

StepOutput AsyncExecutor::run(std::span<const SeqChunk> chunks) { return submit(chunks).get(); }

std::future<StepOutput> AsyncExecutor::submit(std::span<const SeqChunk> chunks) {
  Impl::Job job;
  job.chunks.assign(chunks.begin(), chunks.end());
  auto future = job.done.get_future();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->jobs.push_back(std::move(job));
  }
  impl_->cv.notify_all();
  return future;
}

}  // namespace strata
