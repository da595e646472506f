// A tiny OpenAI-compatible server for the benchmark client's tests, on 127.0.0.1 and an ephemeral
// port: GET /v1/models, POST /tokenize, /detokenize, and streaming /v1/completions and
// /v1/chat/completions. Its tokenizer is one token per printable ASCII character (ids 0..94 for
// ' '..'~') plus BOS "<s>" = 95; ids from 96 up are refused by /detokenize. A streamed completion
// sends max_tokens token chunks, `chunk_delay_ms` apart, every event split across two HTTP chunks
// (and the last token glued to the usage event), then the usage chunk and [DONE].
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::bench::test {

struct CharTokenizer {
  static constexpr int64_t kBos = 95;
  static constexpr int64_t kVocab = 96;
  static std::vector<int64_t> encode(const std::string& text, bool add_special_tokens);
  static Result<std::string> decode(const std::vector<int64_t>& ids);
};

struct FakeServerConfig {
  std::string model = "fake-model";
  int chunk_delay_ms = 5;
};

class FakeOpenAiServer {
 public:
  explicit FakeOpenAiServer(FakeServerConfig config = {});
  ~FakeOpenAiServer();
  std::string base_url() const;
  int64_t num_completions() const { return num_completions_.load(); }
  int64_t max_in_flight() const { return max_in_flight_.load(); }
  int64_t num_connections() const { return num_connections_.load(); }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<int64_t> num_completions_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> max_in_flight_{0};
  std::atomic<int64_t> num_connections_{0};
  friend struct Impl;
};

}  // namespace strata::bench::test
