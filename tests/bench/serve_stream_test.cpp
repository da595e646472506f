// The SSE parser on arbitrarily split input, and the fold of a streamed response into a
// RequestOutput (TTFT, ITL, E2EL, usage, failures).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/serve_request.h"
#include "bench/serve_sse.h"

namespace strata::bench {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> feed_all(SseParser& p, const std::vector<std::string>& pieces) {
  std::vector<std::string> out;
  for (const auto& piece : pieces)
    for (auto& e : p.feed(piece)) out.push_back(std::move(e));
  for (auto& e : p.finish()) out.push_back(std::move(e));
  return out;
}

TEST(SseParser, MultipleEventsInOneRead) {
  SseParser p;
  auto events = p.feed("data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(events, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "[DONE]"}));
  EXPECT_EQ(p.buffered(), 0u);
}

TEST(SseParser, EventSplitAcrossReads) {
  SseParser p;
  EXPECT_TRUE(p.feed("data: {\"te").empty());
  EXPECT_TRUE(p.feed("xt\":\"hi\"}").empty());
  EXPECT_TRUE(p.feed("\n").empty());
  EXPECT_EQ(p.feed("\ndata: [DO"), (std::vector<std::string>{"{\"text\":\"hi\"}"}));
  EXPECT_EQ(p.feed("NE]\n\n"), (std::vector<std::string>{"[DONE]"}));
}

TEST(SseParser, ByteByByteEqualsWhole) {
  const std::string stream =
      ": ping\n\ndata: {\"x\":1}\r\n\r\nevent: message\ndata: line1\ndata: line2\n\nid: 7\n\ndata:nospace\n\n"
      "data: [DONE]\n\n";
  SseParser whole;
  const auto expected = feed_all(whole, {stream});
  EXPECT_EQ(expected, (std::vector<std::string>{"{\"x\":1}", "line1\nline2", "nospace", "[DONE]"}));
  for (size_t split = 1; split < stream.size(); ++split) {
    SseParser p;
    EXPECT_EQ(feed_all(p, {stream.substr(0, split), stream.substr(split)}), expected) << "split at " << split;
  }
  SseParser bytes;
  std::vector<std::string> pieces;
  for (char c : stream) pieces.emplace_back(1, c);
  EXPECT_EQ(feed_all(bytes, pieces), expected);
}

TEST(SseParser, UnterminatedTrailingEventOnFinish) {
  SseParser p;
  EXPECT_TRUE(p.feed("data: {\"usage\":{}}").empty());
  EXPECT_EQ(p.finish(), (std::vector<std::string>{"{\"usage\":{}}"}));
  EXPECT_TRUE(p.finish().empty());
}

std::string event(const nlohmann::json& j) {
  return "data: " + j.dump() + "\n\n";
}

nlohmann::json text_chunk(const std::string& t) {
  return {{"choices", {{{"index", 0}, {"text", t}}}}};
}

TEST(StreamAccumulator, CompletionTimingsAndUsage) {
  const auto t0 = BenchClock::now();
  StreamAccumulator acc(false, 100, t0);
  acc.on_headers(200, "OK");
  acc.on_bytes(event(text_chunk("Hel")), t0 + milliseconds(50));
  // Two token events in one read, then the second half of a split one.
  const std::string third = event(text_chunk("!"));
  acc.on_bytes(event(text_chunk("lo")) + third.substr(0, 10), t0 + milliseconds(70));
  acc.on_bytes(third.substr(10), t0 + milliseconds(100));
  acc.on_bytes(event({{"choices", nlohmann::json::array()},
                      {"usage", {{"prompt_tokens", 12}, {"completion_tokens", 3}, {"total_tokens", 15}}}}) +
                   "data: [DONE]\n\n",
               t0 + milliseconds(130));
  acc.on_done("");
  const RequestOutput& o = acc.output();
  EXPECT_TRUE(o.success) << o.error;
  EXPECT_NEAR(o.ttft, 0.050, 1e-9);
  ASSERT_EQ(o.itl.size(), 2u);
  EXPECT_NEAR(o.itl[0], 0.020, 1e-9);
  EXPECT_NEAR(o.itl[1], 0.030, 1e-9);
  EXPECT_NEAR(o.latency, 0.100, 1e-9);  // the usage chunk carries no token
  EXPECT_EQ(o.output_tokens, 3);
  EXPECT_EQ(o.prompt_len, 12);  // replaced by usage.prompt_tokens
  EXPECT_EQ(o.generated_text, "Hello!");
  EXPECT_EQ(o.num_chunks, 3);
}

TEST(StreamAccumulator, ChatDeltas) {
  const auto t0 = BenchClock::now();
  StreamAccumulator acc(true, 5, t0);
  acc.on_headers(200, "OK");
  acc.on_bytes(event({{"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}}}}}),
               t0 + milliseconds(10));
  acc.on_bytes(event({{"choices", {{{"index", 0}, {"delta", {{"content", "Hi"}}}}}}}), t0 + milliseconds(15));
  acc.on_bytes("data: [DONE]\n\n", t0 + milliseconds(16));
  acc.on_done("");
  EXPECT_TRUE(acc.output().success);
  EXPECT_EQ(acc.output().generated_text, "Hi");
  EXPECT_NEAR(acc.output().ttft, 0.010, 1e-9);
  EXPECT_EQ(acc.output().prompt_len, 5);
  EXPECT_EQ(acc.output().output_tokens, 0);
}

TEST(StreamAccumulator, Non200IsFailed) {
  const auto t0 = BenchClock::now();
  StreamAccumulator acc(false, 5, t0);
  acc.on_headers(400, "Bad Request");
  acc.on_bytes("{\"error\":{\"message\":\"too long\"}}", t0 + milliseconds(1));
  acc.on_done("");
  EXPECT_FALSE(acc.output().success);
  EXPECT_NE(acc.output().error.find("Bad Request"), std::string::npos);
  EXPECT_NE(acc.output().error.find("too long"), std::string::npos);
}

TEST(StreamAccumulator, NoChoiceChunkIsFailed) {
  const auto t0 = BenchClock::now();
  StreamAccumulator acc(false, 5, t0);
  acc.on_headers(200, "OK");
  acc.on_bytes(event({{"error", {{"message", "engine died"}}}}) + "data: [DONE]\n\n", t0 + milliseconds(3));
  acc.on_done("");
  EXPECT_FALSE(acc.output().success);
  EXPECT_NE(acc.output().error.find("Never received a valid chunk"), std::string::npos);
  EXPECT_NE(acc.output().error.find("engine died"), std::string::npos);
}

TEST(StreamAccumulator, TransportErrorIsFailed) {
  const auto t0 = BenchClock::now();
  StreamAccumulator acc(false, 5, t0);
  acc.on_headers(200, "OK");
  acc.on_bytes(event(text_chunk("a")), t0 + milliseconds(3));
  acc.on_done("read: end of stream");
  EXPECT_FALSE(acc.output().success);
  EXPECT_EQ(acc.output().error, "read: end of stream");
}

TEST(StreamAccumulator, TrailingEventWithoutBlankLine) {
  const auto t0 = BenchClock::now();
  StreamAccumulator acc(false, 5, t0);
  acc.on_headers(200, "OK");
  acc.on_bytes("data: " + text_chunk("a").dump(), t0 + milliseconds(8));
  acc.on_done("");
  EXPECT_TRUE(acc.output().success);
  EXPECT_NEAR(acc.output().ttft, 0.008, 1e-9);
}

TEST(RequestBody, CompletionsAndChat) {
  RequestInput in{"m", "hello", 3, 7, false, true};
  auto j = nlohmann::json::parse(build_request_body(in));
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["prompt"], "hello");
  EXPECT_EQ(j["max_tokens"], 7);
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_EQ(j["ignore_eos"], true);
  in.chat = true;
  j = nlohmann::json::parse(build_request_body(in));
  EXPECT_FALSE(j.contains("prompt"));
  EXPECT_EQ(j["messages"][0]["role"], "user");
  EXPECT_EQ(j["messages"][0]["content"], "hello");
  EXPECT_EQ(j["max_completion_tokens"], 7);
}

}  // namespace
}  // namespace strata::bench
