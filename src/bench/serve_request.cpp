#include "bench/serve_request.h"

#include <nlohmann/json.hpp>

namespace strata::bench {

using nlohmann::json;

std::string build_request_body(const RequestInput& in) {
  json body;
  body["model"] = in.model;
  if (in.chat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", in.prompt}}});
    body["max_completion_tokens"] = in.output_len;
  } else {
    body["prompt"] = in.prompt;
    body["max_tokens"] = in.output_len;
  }
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body["ignore_eos"] = in.ignore_eos;
  return dump_json(body);
}

StreamAccumulator::StreamAccumulator(bool chat, int64_t prompt_len, BenchClock::time_point start)
    : chat_(chat), start_(start), last_(start), last_bytes_at_(start) {
  out_.prompt_len = prompt_len;
}

void StreamAccumulator::on_headers(int status, std::string_view reason) {
  status_ = status;
  reason_ = std::string(reason);
}

void StreamAccumulator::on_bytes(std::string_view bytes, BenchClock::time_point at) {
  if (status_ != 200) {
    if (error_body_.size() < 1024) error_body_.append(bytes.substr(0, 1024 - error_body_.size()));
    return;
  }
  last_bytes_at_ = at;
  for (const std::string& event : sse_.feed(bytes)) on_event(event, at);
}

void StreamAccumulator::on_event(const std::string& data, BenchClock::time_point at) {
  if (data == "[DONE]") return;
  json j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    bad_json_ = true;
    if (stream_error_.empty()) stream_error_ = "invalid JSON event in the stream: " + data.substr(0, 200);
    return;
  }
  auto choices = j.find("choices");
  if (choices != j.end() && choices->is_array() && !choices->empty()) {
    const json& c = (*choices)[0];
    if (out_.num_chunks == 0) {
      out_.ttft = std::chrono::duration<double>(at - start_).count();
    } else {
      out_.itl.push_back(std::chrono::duration<double>(at - last_).count());
    }
    last_ = at;
    ++out_.num_chunks;
    const json* text = nullptr;
    if (chat_) {
      auto delta = c.find("delta");
      if (delta != c.end() && delta->is_object()) {
        auto content = delta->find("content");
        if (content != delta->end()) text = &*content;
      }
    } else {
      auto t = c.find("text");
      if (t != c.end()) text = &*t;
    }
    if (text && text->is_string()) out_.generated_text += text->get_ref<const std::string&>();
    return;
  }
  auto usage = j.find("usage");
  if (usage != j.end() && usage->is_object()) {
    auto ct = usage->find("completion_tokens");
    if (ct != usage->end() && ct->is_number_integer()) out_.output_tokens = ct->get<int64_t>();
    auto pt = usage->find("prompt_tokens");
    if (pt != usage->end() && pt->is_number_integer()) out_.prompt_len = pt->get<int64_t>();
    return;
  }
  auto err = j.find("error");
  if (err != j.end() && stream_error_.empty()) {
    if (err->is_object() && err->contains("message") && (*err)["message"].is_string())
      stream_error_ = (*err)["message"].get<std::string>();
    else
      stream_error_ = dump_json(*err);
  }
}

void StreamAccumulator::on_done(const std::string& transport_error) {
  out_.success = false;
  if (!transport_error.empty()) {
    out_.error = transport_error;
  } else if (status_ != 200) {
    out_.error = reason_.empty() ? "HTTP " + std::to_string(status_) : reason_;
    if (!error_body_.empty()) out_.error += ": " + error_body_;
  } else {
    for (const std::string& event : sse_.finish()) on_event(event, last_bytes_at_);
    if (bad_json_) {
      out_.error = stream_error_;
    } else if (out_.num_chunks > 0) {
      out_.success = true;
    } else {
      out_.error = "Never received a valid chunk to calculate TTFT.This response will be marked as failed!";
      if (!stream_error_.empty()) out_.error += " Server error: " + stream_error_;
    }
  }
  out_.latency = std::chrono::duration<double>(last_ - start_).count();
}

}  // namespace strata::bench
