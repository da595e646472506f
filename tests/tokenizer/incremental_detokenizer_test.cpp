// IncrementalDetokenizer: deltas are always complete UTF-8, never a broken character, and they add up
// to the decode of all generated ids.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace strata::test {
namespace {

using Ids = std::vector<int32_t>;

constexpr const char* kMixedText =
    "Hello 世界! \xF0\x9F\x9A\x80\xF0\x9F\x94\xA5 naïve café "
    "\xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB\xEF\xB8\x8F "
    "✅ 日本語のテキスト、한국어 텍스트 🇫🇷 𝔘𝔫𝔦𝔠𝔬𝔡𝔢";

// Streams `generated` and checks every delta and the total.
void check_stream(const Tokenizer& tok, const Ids& prompt, const Ids& generated, bool skip_special) {
  IncrementalDetokenizer detok(tok, prompt, skip_special);
  std::string all;
  for (int32_t id : generated) {
    const std::string delta = detok.push(id);
    EXPECT_TRUE(unicode::is_valid_utf8(delta));
    EXPECT_EQ(delta.find("\xEF\xBF\xBD"), std::string::npos) << "delta holds a replacement character";
    all += delta;
  }
  all += detok.flush();
  EXPECT_EQ(all, tok.decode(generated, skip_special));
  EXPECT_EQ(detok.text(), all);
}

class Detokenizer : public ::testing::TestWithParam<const char*> {};

TEST_P(Detokenizer, SplitCharactersAreHeldBack) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  const Ids ids = tok->encode(kMixedText, false);
  // The text must really contain tokens that end inside a character, or this test proves nothing.
  int split_chars = 0;
  for (size_t i = 1; i <= ids.size(); ++i) {
    const std::string prefix = tok->decode(std::span<const int32_t>(ids).first(i));
    split_chars += prefix.size() >= 3 && prefix.compare(prefix.size() - 3, 3, "\xEF\xBF\xBD") == 0;
  }
  EXPECT_GT(split_chars, 3);
  check_stream(*tok, {}, ids, true);
  // With a prompt as context: the generated part alone comes out.
  const Ids prompt = tok->encode("Say something in many scripts:", true);
  check_stream(*tok, prompt, ids, true);
}

TEST_P(Detokenizer, SpecialTokensSkippedOrKept) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  ASSERT_TRUE(tok->eos_id().has_value());
  Ids ids = tok->encode("Done: 完成 \xF0\x9F\x8E\x89", false);
  ids.push_back(*tok->eos_id());
  check_stream(*tok, {}, ids, true);
  check_stream(*tok, {}, ids, false);
  IncrementalDetokenizer keep(*tok, {}, false);
  for (int32_t id : ids) keep.push(id);
  EXPECT_EQ(keep.text(), tok->decode(ids, false));
}

TEST_P(Detokenizer, RandomStreams) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(7);
  const char* pieces[] = {"a",  " the", "世", "界", "\xF0\x9F\x98\x80", "é",
                          "\n", "  ",   "42", "한", "\xE2\x80\x8D",     "!"};
  for (int iter = 0; iter < 200; ++iter) {
    std::string text;
    const int n = static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) text += pieces[rng() % std::size(pieces)];
    check_stream(*tok, tok->encode("prompt", true), tok->encode(text, false), true);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Detokenizer,
                         ::testing::Values("llama-3.1-instruct", "deepseek-r1", "qwen2.5-instruct"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

TEST(DetokenizerByteLevel, ByteTokenizerStreamsMultibyteCharacters) {
  auto tok = Tokenizer::byte_level();
  const Ids ids = tok->encode(kMixedText, false);
  check_stream(*tok, tok->encode("hi", true), ids, true);
  // A stream that ends inside a character: held back until flush(), which gives U+FFFD.
  IncrementalDetokenizer detok(*tok, {}, true);
  EXPECT_EQ(detok.push('a'), "a");
  EXPECT_EQ(detok.push(0xF0), "");
  EXPECT_EQ(detok.push(0x9F), "");
  EXPECT_EQ(detok.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(detok.text(), "a\xEF\xBF\xBD");
}

}  // namespace
}  // namespace strata::test
