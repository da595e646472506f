#include "runtime/step_codec.h"

#include <cstring>
#include <type_traits>

#include "core/status.h"

namespace strata {

namespace {

class Writer {
 public:
  template <typename T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  template <typename T>
  void put_span(std::span<const T> v) {
    put<uint64_t>(v.size());
    out_.append(reinterpret_cast<const char*>(v.data()), v.size_bytes());
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  T get() {
    T v;
    STRATA_CHECK(at_ + sizeof(T) <= in_.size(), "control message truncated at byte {}", at_);
    std::memcpy(&v, in_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  template <typename T>
  std::vector<T> get_vector() {
    const auto n = get<uint64_t>();
    STRATA_CHECK(n <= (in_.size() - at_) / sizeof(T), "control message: {} elements past its end", n);
    std::vector<T> v(n);
    std::memcpy(v.data(), in_.data() + at_, n * sizeof(T));
    at_ += n * sizeof(T);
    return v;
  }
  bool done() const { return at_ == in_.size(); }

 private:
  std::string_view in_;
  size_t at_ = 0;
};

}  // namespace

std::string encode_step(std::span<const SeqChunk> chunks) {
  Writer w;
  w.put<uint64_t>(chunks.size());
  for (const SeqChunk& c : chunks) {
    w.put_span(c.tokens);
    w.put_span(c.block_table);
    w.put(c.start);
    w.put<uint8_t>(c.want_logits | c.all_logits << 1 | c.device_sample << 2);
    w.put(c.temperature);
    w.put(c.seed);
    w.put(c.sampling);
    // The history only travels when a penalty reads it: repetition over prompt + output, frequency and
    // presence over the output.
    const DeviceSamplingParams& p = c.sampling;
    const bool repetition = c.device_sample && p.repetition_penalty != 1.0f;
    const bool output = repetition || (c.device_sample && (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f));
    w.put_span(repetition ? c.prompt_ids : std::span<const int32_t>());
    w.put_span(output ? c.output_ids : std::span<const int32_t>());
  }
  return w.take();
}

OwnedStep decode_step(std::string_view bytes) {
  Reader r(bytes);
  OwnedStep s;
  const auto n = r.get<uint64_t>();
  s.tokens.resize(n);
  s.tables.resize(n);
  s.prompt_ids.resize(n);
  s.output_ids.resize(n);
  s.chunks.resize(n);
  for (size_t i = 0; i < n; ++i) {
    s.tokens[i] = r.get_vector<int32_t>();
    s.tables[i] = r.get_vector<int32_t>();
    SeqChunk& c = s.chunks[i];
    c.tokens = s.tokens[i];
    c.block_table = s.tables[i];
    c.start = r.get<int32_t>();
    const auto flags = r.get<uint8_t>();
    c.want_logits = flags & 1;
    c.all_logits = flags & 2;
    c.device_sample = flags & 4;
    c.temperature = r.get<float>();
    c.seed = r.get<uint64_t>();
    c.sampling = r.get<DeviceSamplingParams>();
    s.prompt_ids[i] = r.get_vector<int32_t>();
    s.output_ids[i] = r.get_vector<int32_t>();
    c.prompt_ids = s.prompt_ids[i];
    c.output_ids = s.output_ids[i];
  }
  STRATA_CHECK(r.done(), "control message: trailing bytes after a step");
  return s;
}

std::string encode_output(const StepOutput& out) {
  Writer w;
  w.put_span(std::span<const float>(out.logits));
  w.put_span(std::span<const int32_t>(out.tokens));
  w.put<uint64_t>(out.logprobs.size());
  for (const RowLogprobs& l : out.logprobs) {
    w.put(l.token);
    w.put(l.logprob);
    w.put(l.rank);
    w.put_span(std::span<const int32_t>(l.top_ids));
    w.put_span(std::span<const float>(l.top_logprobs));
  }
  return w.take();
}

StepOutput decode_output(std::string_view bytes) {
  Reader r(bytes);
  StepOutput out;
  out.logits = r.get_vector<float>();
  out.tokens = r.get_vector<int32_t>();
  out.logprobs.resize(r.get<uint64_t>());
  for (RowLogprobs& l : out.logprobs) {
    l.token = r.get<int32_t>();
    l.logprob = r.get<float>();
    l.rank = r.get<int32_t>();
    l.top_ids = r.get_vector<int32_t>();
    l.top_logprobs = r.get_vector<float>();
  }
  STRATA_CHECK(r.done(), "control message: trailing bytes after a step output");
  return out;
}

}  // namespace strata
