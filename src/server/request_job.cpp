#include "server/request_job.h"

namespace strata {

void RequestJob::add(std::shared_ptr<RequestStream> stream, std::string engine_id, int64_t max_tokens_param) {
  parts_.push_back(Part{std::move(stream), std::move(engine_id), max_tokens_param, {}, {}});
}

void RequestJob::start(EventFn on_event, DoneFn on_done) {
  on_event_ = std::move(on_event);
  on_done_ = std::move(on_done);
  auto self = shared_from_this();
  for (Part& p : parts_) {
    // Strong reference until done (cleared in drain), so the job outlives the route's stack frame.
    p.stream->set_notify([self] { self->exchange_->post([self] { self->drain(); }); });
  }
  std::vector<std::string> ids;
  for (const Part& p : parts_) ids.push_back(p.id);
  Engine* engine = &engine_;
  exchange_->on_disconnect([engine, ids] {
    for (const auto& id : ids) engine->abort(id);
  });
  exchange_->post([self] { self->drain(); });  // events pushed before set_notify
}

void RequestJob::abort_all() {
  for (const Part& p : parts_) engine_.abort(p.id);
}

void RequestJob::record(Part& part, const StreamEvent& e) {
  const size_t i = static_cast<size_t>(e.index);
  if (part.last_token_time.size() <= i) {
    part.last_token_time.resize(i + 1, 0.0);
    part.gaps.resize(i + 1);
  }
  if (!e.token_ids.empty()) {
    if (part.last_token_time[i] > 0) part.gaps[i].push_back(e.time - part.last_token_time[i]);
    part.last_token_time[i] = e.time;
  }
  if (!e.finished || !metrics_) return;
  RequestRecord r;
  r.finished_reason = e.finish_reason;
  r.num_prompt_tokens = e.num_prompt_tokens;
  r.num_generation_tokens = e.num_output_tokens;
  r.max_tokens = part.max_tokens_param;
  r.arrival_time = e.times.arrival;
  if (e.times.first_scheduled > 0) r.first_scheduled_time = e.times.first_scheduled;
  if (e.times.first_token > 0) r.first_token_time = e.times.first_token;
  r.finished_time = e.times.finished;
  r.inter_token_gaps = std::move(part.gaps[i]);
  metrics_->on_request_finished(r);
}

void RequestJob::drain() {
  if (done_) return;
  bool all_done = true;
  for (size_t i = 0; i < parts_.size(); ++i) {
    Part& p = parts_[i];
    for (StreamEvent& e : p.stream->next(std::chrono::milliseconds(0))) {
      record(p, e);
      on_event_(i, e);
    }
    all_done = all_done && p.stream->done();
  }
  if (!all_done) return;
  done_ = true;
  for (Part& p : parts_) p.stream->set_notify(nullptr);  // breaks the job <-> stream cycle
  on_done_();
}

}  // namespace strata
