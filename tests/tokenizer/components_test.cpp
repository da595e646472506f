// Building blocks checked against the behaviour of Hugging Face tokenizers: Split delimiter
// behaviors, Oniguruma-compatible regex classes, lossy UTF-8 repair, NFC, BPE merges and options.
#include <gtest/gtest.h>

#include "synthetic_tokenizer.h"
#include "tokenizer/nfc.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace strata::test {
namespace {

using Pieces = std::vector<std::string>;
using Ids = std::vector<int32_t>;

std::unique_ptr<Regex> compile(const std::string& pattern) {
  auto re = Regex::compile(pattern);
  EXPECT_TRUE(re.ok()) << (re.ok() ? "" : re.error().message());
  return re.ok() ? std::move(re).value() : nullptr;
}

Pieces split(const std::string& text, const Regex& re, SplitBehavior behavior, bool invert = false) {
  Pieces out;
  split_by_pattern(text, re, invert, behavior, out);
  return out;
}

// tokenizers' normalizer.rs `split` test.
TEST(Split, DelimiterBehaviorsMatchTokenizers) {
  auto dash = compile(Regex::escape("-"));
  ASSERT_NE(dash, nullptr);
  const std::string s = "The-final--countdown";
  EXPECT_EQ(split(s, *dash, SplitBehavior::kRemoved), (Pieces{"The", "final", "countdown"}));
  EXPECT_EQ(split(s, *dash, SplitBehavior::kIsolated), (Pieces{"The", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(s, *dash, SplitBehavior::kMergedWithPrevious),
            (Pieces{"The-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(s, *dash, SplitBehavior::kMergedWithNext), (Pieces{"The", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(s, *dash, SplitBehavior::kContiguous), (Pieces{"The", "-", "final", "--", "countdown"}));
}

// tokenizers' split.rs `invert` test: splitting on the inverted pattern.
TEST(Split, InvertSwapsMatchesAndGaps) {
  auto space = compile(" ");
  ASSERT_NE(space, nullptr);
  EXPECT_EQ(split("Hello Hello Hello", *space, SplitBehavior::kRemoved, /*invert=*/true), (Pieces{" ", " "}));
  EXPECT_EQ(split("Hello Hello Hello", *space, SplitBehavior::kRemoved), (Pieces{"Hello", "Hello", "Hello"}));
}

TEST(Regex, ClassesHaveOnigurumaMeaning) {
  auto ws = compile(R"(\s+)");
  ASSERT_NE(ws, nullptr);
  EXPECT_TRUE(
      ws->search("a\xE3\x80\x80"
                 "b"));  // U+3000 ideographic space
  EXPECT_TRUE(
      ws->search("a\xC2\x85"
                 "b"));  // U+0085 next line
  EXPECT_FALSE(
      ws->search("a\xE1\xA0\x8E"
                 "b"));  // U+180E is not White_Space
  auto not_ws = compile(R"(^[^\s]+$)");
  ASSERT_NE(not_ws, nullptr);
  EXPECT_TRUE(not_ws->search("\xE1\xA0\x8E"));
  auto word = compile(R"(^\w+$)");
  ASSERT_NE(word, nullptr);
  EXPECT_TRUE(word->search("e\xCC\x81_9"));  // a combining mark is a word character in Oniguruma
  // Oniguruma counts ² as a word character outside a class but not inside one.
  auto word_outside = compile(R"(^\w+$)");
  auto word_inside = compile(R"(^[\w]+$)");
  ASSERT_NE(word_outside, nullptr);
  ASSERT_NE(word_inside, nullptr);
  EXPECT_TRUE(word_outside->search("x\xC2\xB2"));
  EXPECT_FALSE(word_inside->search("x\xC2\xB2"));
  EXPECT_FALSE(
      word_outside->search("a\xE2\x80\x8D"
                           "b"));  // nor ZWJ
  auto lookahead = compile(R"(\s+(?!\S))");
  ASSERT_NE(lookahead, nullptr);
  std::vector<RegexMatch> m;
  lookahead->find_all("a   b", m);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].start, 1u);
  EXPECT_EQ(m[0].end, 3u);
  EXPECT_FALSE(Regex::compile("(unclosed").ok());
  auto literal = compile(Regex::escape("a.b*[c]\n"));
  ASSERT_NE(literal, nullptr);
  EXPECT_TRUE(literal->search("xa.b*[c]\ny"));
  EXPECT_FALSE(literal->search("aXbb[c]\n"));
}

TEST(Regex, EmptyMatchesAdvance) {
  auto empty = compile("x*");
  ASSERT_NE(empty, nullptr);
  std::vector<RegexMatch> m;
  empty->find_all("axxb", m);
  // As Rust's find_iter: (0,0), (1,3), (4,4); the empty match at 3 right after (1,3) is skipped.
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].start, 1u);
  EXPECT_EQ(m[1].end, 3u);
  EXPECT_EQ(m[2].start, 4u);
}

TEST(Unicode, LossyRepairMatchesRust) {
  EXPECT_EQ(unicode::to_valid_utf8("Hello \xF0\x90\x80World"), "Hello \xEF\xBF\xBDWorld");
  EXPECT_EQ(unicode::to_valid_utf8("\xF0\x9F\x98"), "\xEF\xBF\xBD");
  EXPECT_EQ(unicode::to_valid_utf8("\xE0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(unicode::to_valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(unicode::to_valid_utf8("a\xFF"
                                   "b\xC0\xAF"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(unicode::to_valid_utf8("caf\xC3\xA9 \xF0\x9F\x9A\x80"), "caf\xC3\xA9 \xF0\x9F\x9A\x80");
  EXPECT_TRUE(unicode::is_valid_utf8("\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(unicode::is_valid_utf8("\xF4\x90\x80\x80"));
}

TEST(Unicode, ByteAlphabetIsGpt2) {
  EXPECT_EQ(unicode::byte_to_unicode()[' '], "\xC4\xA0");   // Ġ
  EXPECT_EQ(unicode::byte_to_unicode()['\n'], "\xC4\x8A");  // Ċ
  EXPECT_EQ(unicode::byte_to_unicode()['A'], "A");
  EXPECT_EQ(unicode::unicode_to_byte(0x120), ' ');
  EXPECT_EQ(unicode::unicode_to_byte(0x4E00), -1);
}

TEST(Nfc, ComposesReordersAndRespectsExclusions) {
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");                                 // e + acute -> é
  EXPECT_EQ(unicode::nfc("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "\xED\x95\x9C");  // jamo -> 한
  // a + dot below (220) + circumflex (230) in either order -> ậ
  EXPECT_EQ(unicode::nfc("a\xCC\x82\xCC\xA3"), "\xE1\xBA\xAD");
  EXPECT_EQ(unicode::nfc("a\xCC\xA3\xCC\x82"), "\xE1\xBA\xAD");
  EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");                  // Å (Angstrom sign) -> Å
  EXPECT_EQ(unicode::nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");  // U+0958 is excluded
  EXPECT_EQ(unicode::nfd("\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(unicode::nfc("plain ascii"), "plain ascii");
}

TEST(Bpe, BothMergeFormatsAndIgnoreMerges) {
  auto j = byte_level_tokenizer_json();
  j["model"]["vocab"]["ab"] = 256;
  j["model"]["vocab"]["abc"] = 257;
  j["model"]["vocab"]["xyz"] = 258;
  j["model"]["merges"] = {"a b", "ab c"};
  auto strings = load_synthetic("merges-strings", j);
  j["model"]["merges"] =
      nlohmann::json::array({nlohmann::json::array({"a", "b"}), nlohmann::json::array({"ab", "c"})});
  auto pairs = load_synthetic("merges-pairs", j);
  ASSERT_NE(strings, nullptr);
  ASSERT_NE(pairs, nullptr);
  EXPECT_EQ(strings->encode("abc abd"), (Ids{257, 32, 256, 100}));
  EXPECT_EQ(pairs->encode("abc abd"), (Ids{257, 32, 256, 100}));
  EXPECT_EQ(strings->encode("xyz"), (Ids{120, 121, 122}));
  j["model"]["ignore_merges"] = true;
  auto ignoring = load_synthetic("ignore-merges", j);
  ASSERT_NE(ignoring, nullptr);
  EXPECT_EQ(ignoring->encode("xyz"), (Ids{258}));
}

TEST(Bpe, LowestRankMergesFirst) {
  // "abc": merges rank 0 "b c", rank 1 "a b" -> a + bc; the leftmost pair wins a tie.
  auto j = byte_level_tokenizer_json();
  j["model"]["vocab"]["ab"] = 256;
  j["model"]["vocab"]["bc"] = 257;
  j["model"]["vocab"]["aa"] = 258;
  j["model"]["merges"] = {"b c", "a b", "a a"};
  auto tok = load_synthetic("rank", j);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("abc"), (Ids{97, 257}));
  EXPECT_EQ(tok->encode("aaa"), (Ids{258, 97}));
}

TEST(Bpe, ByteFallbackAndUnknown) {
  nlohmann::json vocab = {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}};
  nlohmann::json j = {
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", nlohmann::json::array()},
        {"byte_fallback", true},
        {"unk_token", "<unk>"}}},
      {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}}}};
  auto tok = load_synthetic("fallback", j);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a\xC3\xA9z"), (Ids{1, 2, 3, 0}));  // é by bytes, z unknown
  EXPECT_EQ(tok->decode(Ids{1, 2, 3}), "a\xC3\xA9");
  EXPECT_EQ(tok->decode(Ids{2, 1}),
            "\xEF\xBF\xBD"
            "a");
}

TEST(Bpe, FuseUnk) {
  nlohmann::json vocab = {{"<unk>", 0}, {"a", 1}};
  nlohmann::json j = {{"model",
                       {{"type", "BPE"},
                        {"vocab", vocab},
                        {"merges", nlohmann::json::array()},
                        {"unk_token", "<unk>"},
                        {"fuse_unk", true}}}};
  auto fused = load_synthetic("fuse-unk", j);
  j["model"]["fuse_unk"] = false;
  auto unfused = load_synthetic("no-fuse-unk", j);
  ASSERT_NE(fused, nullptr);
  ASSERT_NE(unfused, nullptr);
  EXPECT_EQ(fused->encode("xyaz"), (Ids{0, 1, 0}));
  EXPECT_EQ(unfused->encode("xyaz"), (Ids{0, 0, 1, 0}));
  EXPECT_EQ(fused->decode(Ids{1, 0, 1}), "a <unk> a");  // no decoder: tokens joined by spaces
}

TEST(PreTokenizers, DigitsAndSequence) {
  auto j = byte_level_tokenizer_json();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Digits"}, {"individual_digits", true}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", false}}}}};
  j["model"]["vocab"]["12"] = 256;
  j["model"]["vocab"]
   ["\xC4\xA0"
    "a"] = 257;
  j["model"]["merges"] = {"1 2", "\xC4\xA0 a"};
  auto tok = load_synthetic("digits", j);
  ASSERT_NE(tok, nullptr);
  // Digits isolates each digit, so "12" never merges; ByteLevel prefixes each piece with a space.
  EXPECT_EQ(tok->encode("a12"), (Ids{257, 32, 49, 32, 50}));
}

}  // namespace
}  // namespace strata::test
