// Random Unicode text through the real tokenizers: encoding never crashes and decoding gives the text
// back (for Qwen, whose normalizer is NFC, the NFC form of the text).
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/nfc.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace strata::test {
namespace {

// Code point ranges the generator draws from, with some weight on the tricky ones.
struct Range {
  char32_t first;
  char32_t last;
};
const Range kRanges[] = {
    {0x20, 0x7E},        // ASCII printable
    {0x20, 0x7E},        //
    {0x30, 0x39},        // ASCII digits
    {0x09, 0x0D},        // \t \n \v \f \r
    {0x00, 0x1F},        // controls
    {0xA0, 0xFF},        // Latin-1
    {0x100, 0x24F},      // Latin Extended
    {0x300, 0x36F},      // combining marks
    {0x370, 0x4FF},      // Greek, Cyrillic
    {0x600, 0x6FF},      // Arabic (incl. Arabic-Indic digits)
    {0x900, 0x97F},      // Devanagari
    {0x1100, 0x11FF},    // Hangul jamo
    {0x2000, 0x206F},    // general punctuation, odd spaces, ZWJ
    {0x3000, 0x30FF},    // CJK punctuation, kana
    {0x4E00, 0x9FFF},    // CJK ideographs
    {0xAC00, 0xD7A3},    // Hangul syllables
    {0xFE00, 0xFE0F},    // variation selectors
    {0xFF00, 0xFFEF},    // fullwidth forms, fullwidth digits
    {0x1F300, 0x1FAFF},  // emoji
    {0x0, 0x10FFFF},     // anything
};
const char32_t kSpaces[] = {0x20, 0x85, 0xA0, 0x1680, 0x180E, 0x2002, 0x200B, 0x2028, 0x202F, 0x3000, 0xFEFF};
const char* const kFragments[] = {"'s",   "'LL",  "'ve ",    "  ",  "\n\n",
                                  "\r\n", " 123", "1234567", "...", "https://"};

std::string random_text(std::mt19937& rng) {
  std::uniform_int_distribution<int> length(0, 200);
  std::uniform_int_distribution<size_t> range(0, std::size(kRanges) - 1);
  std::uniform_int_distribution<int> kind(0, 19);
  const int n = length(rng);
  std::string s;
  for (int i = 0; i < n; ++i) {
    const int k = kind(rng);
    if (k == 0) {
      s += kFragments[rng() % std::size(kFragments)];
      continue;
    }
    if (k <= 2) {
      unicode::append_utf8(s, kSpaces[rng() % std::size(kSpaces)]);
      continue;
    }
    const Range r = kRanges[range(rng)];
    char32_t c = r.first + static_cast<char32_t>(rng() % (r.last - r.first + 1));
    if (c >= 0xD800 && c < 0xE000) c = 0xE000;  // no surrogates
    unicode::append_utf8(s, c);
  }
  return s;
}

void fuzz_round_trip(const std::string& name, bool nfc, unsigned seed) {
  const Tokenizer* tok = hf_tokenizer(name);
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(seed);
  int failures = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const std::string text = random_text(rng);
    const std::vector<int32_t> ids = tok->encode(text, /*add_special_tokens=*/false);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->vocab_size()) << id;
    const std::string want = nfc ? unicode::nfc(text) : text;
    const std::string got = tok->decode(ids);
    if (got != want && ++failures <= 5) {
      ADD_FAILURE() << name << " iteration " << iter << ": round trip differs\n text "
                    << ::testing::PrintToString(text) << "\n  got " << ::testing::PrintToString(got);
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(Fuzz, Llama31RoundTrip) {
  STRATA_REQUIRE_TESTDATA();
  fuzz_round_trip("llama-3.1-instruct", false, 1);
}

TEST(Fuzz, DeepSeekRoundTrip) {
  STRATA_REQUIRE_TESTDATA();
  fuzz_round_trip("deepseek-r1", false, 2);
}

TEST(Fuzz, QwenRoundTripOfNfcText) {
  STRATA_REQUIRE_TESTDATA();
  fuzz_round_trip("qwen2.5-instruct", true, 3);
}

}  // namespace
}  // namespace strata::test
