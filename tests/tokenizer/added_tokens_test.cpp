// Added-token matching as tokenizers' AddedVocabulary: leftmost-longest, lstrip/rstrip swallowing
// whitespace, single_word, normalized tokens matched after normalization, special-token skipping.
#include <gtest/gtest.h>

#include "synthetic_tokenizer.h"

namespace strata::test {
namespace {

using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> with_added(const nlohmann::json& added,
                                      const nlohmann::json& normalizer = nullptr) {
  auto j = byte_level_tokenizer_json();
  j["added_tokens"] = added;
  j["normalizer"] = normalizer;
  return load_synthetic("added", j);
}

TEST(AddedTokens, PlainTokenSplitsText) {
  auto tok = with_added(nlohmann::json::array({added_token(300, "<s>")}));
  ASSERT_NE(tok, nullptr);
  // " b" after the token is byte-level "Ġb": two byte tokens, 'Ġ' is byte 32.
  EXPECT_EQ(tok->encode("a <s> b"), (Ids{97, 32, 300, 32, 98}));
  EXPECT_EQ(tok->decode(tok->encode("a <s> b")), "a <s> b");
}

TEST(AddedTokens, LstripSwallowsWhitespaceOnTheLeft) {
  auto tok = with_added(nlohmann::json::array({added_token(300, "<mask>", true, /*lstrip=*/true)}));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a \t <mask> b"), (Ids{97, 300, 32, 98}));
  EXPECT_EQ(tok->encode("<mask>"), (Ids{300}));
}

TEST(AddedTokens, RstripSwallowsWhitespaceOnTheRight) {
  auto tok = with_added(nlohmann::json::array({added_token(300, "<r>", true, false, /*rstrip=*/true)}));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a <r> \n b"), (Ids{97, 32, 300, 98}));
}

TEST(AddedTokens, SingleWordOnlyMatchesWholeWords) {
  auto tok =
      with_added(nlohmann::json::array({added_token(300, "[X]", true, false, false, /*single_word=*/true)}));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a[X]b"), (Ids{97, 91, 88, 93, 98}));
  EXPECT_EQ(tok->encode("a [X] b"), (Ids{97, 32, 300, 32, 98}));
  EXPECT_EQ(tok->encode("[X]"), (Ids{300}));
  EXPECT_EQ(tok->encode("é[X]"), (Ids{195, 169, 91, 88, 93}));  // é is a word character
}

TEST(AddedTokens, LeftmostLongestMatch) {
  auto tok = with_added({added_token(300, "<a>"), added_token(301, "<a><b>"), added_token(302, "a><b")});
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("x<a><b>y"), (Ids{120, 301, 121}));
  EXPECT_EQ(tok->encode("x<a>y"), (Ids{120, 300, 121}));
}

TEST(AddedTokens, NormalizedTokenMatchesNormalizedText) {
  // "ệ" (U+1EC7) is found in "e" + U+0323 + U+0302 once NFC has composed it.
  auto tok = with_added({added_token(300, "\xE1\xBB\x87", false, false, false, false, /*normalized=*/true),
                         added_token(301, "<raw>", true)},
                        {{"type", "NFC"}});
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("e\xCC\xA3\xCC\x82"), (Ids{300}));
  EXPECT_EQ(tok->encode("x<raw>e\xCC\x82\xCC\xA3"), (Ids{120, 301, 300}));
  // Text that is a vocabulary entry keeps the model's id: "é" is the byte-level character of 0xE9.
  auto in_vocab = with_added(nlohmann::json::array({added_token(300, "\xC3\xA9", false)}));
  ASSERT_NE(in_vocab, nullptr);
  EXPECT_EQ(in_vocab->token_to_id("\xC3\xA9"), 233);
}

TEST(AddedTokens, SkipSpecialTokensOnlySkipsSpecialOnes) {
  auto tok =
      with_added({added_token(300, "<s>", /*special=*/true), added_token(301, "<tool>", /*special=*/false)});
  ASSERT_NE(tok, nullptr);
  const Ids ids = tok->encode("<s>hi<tool>");
  EXPECT_EQ(ids, (Ids{300, 104, 105, 301}));
  EXPECT_EQ(tok->decode(ids), "<s>hi<tool>");
  EXPECT_EQ(tok->decode(ids, /*skip_special_tokens=*/true), "hi<tool>");
  EXPECT_TRUE(tok->is_special(300));
  EXPECT_FALSE(tok->is_special(301));
  EXPECT_FALSE(tok->is_special(104));
  EXPECT_EQ(tok->vocab_size(), 302);
  EXPECT_EQ(tok->token_to_id("<tool>"), 301);
  EXPECT_EQ(tok->id_to_token(32), "\xC4\xA0");  // "Ġ"
  EXPECT_EQ(tok->id_to_token(5000), "");
}

TEST(AddedTokens, ConfigAddsMissingTokensAndNamesBosEos) {
  auto j = byte_level_tokenizer_json();
  j["added_tokens"] = nlohmann::json::array({added_token(300, "<s>")});
  nlohmann::json config = {
      {"bos_token", "<s>"},
      {"eos_token", {{"__type", "AddedToken"}, {"content", "</s>"}}},
      {"added_tokens_decoder", {{"301", {{"content", "</s>"}, {"special", true}, {"normalized", false}}}}},
  };
  auto tok = load_synthetic("cfg", j, config);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->bos_id(), 300);
  EXPECT_EQ(tok->eos_id(), 301);
  EXPECT_EQ(tok->encode("a</s>"), (Ids{97, 301}));
  EXPECT_TRUE(tok->is_special(301));
}

TEST(AddedTokens, LlamaTokenizerFastAddBosEosRebuildsTemplate) {
  auto j = byte_level_tokenizer_json();
  j["added_tokens"] = {added_token(300, "<s>"), added_token(301, "</s>")};
  nlohmann::json config = {{"tokenizer_class", "LlamaTokenizerFast"},
                           {"bos_token", "<s>"},
                           {"eos_token", "</s>"},
                           {"add_bos_token", true},
                           {"add_eos_token", true}};
  auto tok = load_synthetic("llamafast", j, config);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a"), (Ids{300, 97, 301}));
  EXPECT_EQ(tok->encode("a", false), (Ids{97}));
  config["add_bos_token"] = false;
  config["add_eos_token"] = false;
  tok = load_synthetic("llamafast2", j, config);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("a"), (Ids{97}));
}

}  // namespace
}  // namespace strata::test
