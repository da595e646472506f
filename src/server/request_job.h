// RequestJob: one HTTP request's engine work seen from the I/O side. It owns the request's streams
// (one per prompt, each with n samples), turns engine notifications into drains on the connection's
// strand, hands every event to the route's callback, aborts the engine requests when the client
// disconnects, and records each finished sample in the metrics.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace strata {

class RequestJob : public std::enable_shared_from_this<RequestJob> {
 public:
  using EventFn = std::function<void(size_t prompt, StreamEvent& event)>;
  using DoneFn = std::function<void()>;

  RequestJob(Engine& engine, std::shared_ptr<Exchange> exchange, ServingMetrics* metrics)
      : engine_(engine), exchange_(std::move(exchange)), metrics_(metrics) {}

  // Submitted streams, in prompt order, with their engine request ids and max_tokens parameter.
  void add(std::shared_ptr<RequestStream> stream, std::string engine_id, int64_t max_tokens_param);
  // Starts delivering: on_event for every event (on the connection strand), on_done once all are done.
  void start(EventFn on_event, DoneFn on_done);
  void abort_all();

 private:
  struct Part {
    std::shared_ptr<RequestStream> stream;
    std::string id;
    int64_t max_tokens_param;
    std::vector<double> last_token_time;  // per sample
    std::vector<std::vector<double>> gaps;
  };
  void drain();
  void record(Part& part, const StreamEvent& e);

  Engine& engine_;
  std::shared_ptr<Exchange> exchange_;
  ServingMetrics* metrics_;
  std::vector<Part> parts_;
  EventFn on_event_;
  DoneFn on_done_;
  bool done_ = false;
};

}  // namespace strata
