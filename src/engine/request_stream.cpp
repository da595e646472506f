#include "engine/request_stream.h"

namespace strata {

void RequestStream::push(StreamEvent e) {
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (e.finished) --pending_samples_;
    events_.push_back(std::move(e));
    notify = notify_;
  }
  cv_.notify_all();
  if (notify) notify();
}

std::vector<StreamEvent> RequestStream::next(std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return !events_.empty() || pending_samples_ <= 0; };
  if (timeout) cv_.wait_for(lock, *timeout, ready);
  else cv_.wait(lock, ready);
  std::vector<StreamEvent> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

bool RequestStream::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_samples_ <= 0 && events_.empty();
}

}  // namespace strata
