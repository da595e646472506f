// The three real tokenizers: known ids with special tokens, bos/eos from tokenizer_config.json,
// decoding with and without special tokens, and concurrent encoding.
#include <gtest/gtest.h>

#include <thread>

#include "tokenizer_test_util.h"

namespace strata::test {
namespace {

using Ids = std::vector<int32_t>;

TEST(HfTokenizer, Llama31KnownIds) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("llama-3.1-instruct");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Hello world", true), (Ids{128000, 9906, 1917}));
  EXPECT_EQ(tok->encode("Hello world", false), (Ids{9906, 1917}));
  EXPECT_EQ(tok->encode("", true), (Ids{128000}));
  EXPECT_EQ(tok->bos_id(), 128000);
  EXPECT_EQ(tok->eos_id(), 128009);  // <|eot_id|>
  EXPECT_EQ(tok->vocab_size(), 128256);
  EXPECT_EQ(tok->token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(tok->id_to_token(9906), "Hello");
  EXPECT_EQ(tok->id_to_token(1917), "\xC4\xA0world");  // "Ġworld"
  EXPECT_TRUE(tok->is_special(128009));
  EXPECT_FALSE(tok->is_special(9906));
  // Special tokens written in the text are single ids, text around them is encoded normally.
  const Ids chat = tok->encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", true);
  EXPECT_EQ(chat, (Ids{128000, 128006, 882, 128007, 271, 13347, 128009}));
}

TEST(HfTokenizer, DeepSeekKnownIds) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("deepseek-r1");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Hello world", true), (Ids{0, 19923, 2058}));
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->token_to_id("<\xEF\xBD\x9CUser\xEF\xBD\x9C>"), 128803);  // <｜User｜>
  EXPECT_EQ(tok->token_to_id("<\xEF\xBD\x9C"
                             "Assistant\xEF\xBD\x9C>"),
            128804);  // <｜Assistant｜>
  EXPECT_EQ(tok->token_to_id("<think>"), 128798);
  EXPECT_EQ(tok->token_to_id("</think>"), 128799);
  const std::string prompt =
      "<\xEF\xBD\x9CUser\xEF\xBD\x9C>Hello world<\xEF\xBD\x9C"
      "Assistant\xEF\xBD\x9C><think>\n";
  const Ids ids = tok->encode(prompt, true);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[1], 128803);
  EXPECT_EQ(ids[2], 19923);
  EXPECT_EQ(ids[3], 2058);
  EXPECT_EQ(ids[4], 128804);
  EXPECT_EQ(ids[5], 128798);
  EXPECT_EQ(tok->decode(ids),
            "<\xEF\xBD\x9C"
            "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>" +
                prompt);
  // <think> is an added token that is not special, so it stays.
  EXPECT_FALSE(tok->is_special(128798));
  EXPECT_EQ(tok->decode(ids, /*skip_special_tokens=*/true), "Hello world<think>\n");
}

TEST(HfTokenizer, QwenKnownIds) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("qwen2.5-instruct");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Hello world", true), (Ids{9707, 1879}));
  EXPECT_EQ(tok->vocab_size(), 151665);
  // NFC: a decomposed é encodes like the precomposed one.
  EXPECT_EQ(tok->encode("caf"
                        "e\xCC\x81"),
            tok->encode("caf\xC3\xA9"));
  EXPECT_EQ(tok->decode(tok->encode("caf"
                                    "e\xCC\x81")),
            "caf\xC3\xA9");
}

TEST(HfTokenizer, DecodeSkipsSpecialTokens) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("llama-3.1-instruct");
  ASSERT_NE(tok, nullptr);
  const std::string text = "<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is 42.<|eot_id|>";
  const Ids ids = tok->encode(text, true);
  EXPECT_EQ(tok->decode(ids), "<|begin_of_text|>" + text);
  EXPECT_EQ(tok->decode(ids, true), "assistant\n\nThe answer is 42.");
  // Unknown ids are dropped, as in tokenizers.
  EXPECT_EQ(tok->decode(Ids{9906, 999999, 1917}), "Hello world");
}

TEST(HfTokenizer, DecodeReplacesBrokenUtf8) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("llama-3.1-instruct");
  ASSERT_NE(tok, nullptr);
  const Ids rocket = tok->encode("\xF0\x9F\x9A\x80", false);  // 🚀 is several byte tokens
  ASSERT_GT(rocket.size(), 1u);
  EXPECT_EQ(tok->decode(rocket), "\xF0\x9F\x9A\x80");
  const std::string partial = tok->decode(std::span<const int32_t>(rocket).first(rocket.size() - 1));
  EXPECT_EQ(partial, "\xEF\xBF\xBD");
  // Invalid UTF-8 given to encode is repaired to U+FFFD first, like a Rust &str would have to be.
  EXPECT_EQ(tok->decode(tok->encode("a\xFF"
                                    "b",
                                    false)),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(HfTokenizer, ConcurrentEncodeIsConsistent) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("llama-3.1-instruct");
  ASSERT_NE(tok, nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back("Request " + std::to_string(i * 7919) + ": the quick brown fox " + std::to_string(i) +
                    " jumps over the lazy dog, 世界 " + std::string(static_cast<size_t>(i % 7), ' ') + "!");
  }
  std::vector<Ids> expected;
  for (const auto& t : texts) expected.push_back(tok->encode(t));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t idx = (i * (k + 1) + round) % texts.size();
          if (tok->encode(texts[idx]) != expected[idx]) ++mismatches[k];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(mismatches[k], 0) << "thread " << k;
}

}  // namespace
}  // namespace strata::test
