// Qwen2.5 golden token ids (special tokens written in the text, no BOS: Qwen has none) and round trip.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer_test_util.h"

namespace strata::test {
namespace {

TEST(QwenGolden, EncodeMatchesAndRoundTrips) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("qwen2.5-instruct");
  ASSERT_NE(tok, nullptr);
  auto golden =
      nlohmann::json::parse(read_file(testdata_dir() + "/qwen2.5-golden-tokens/golden_tokens.subset31.json"));
  ASSERT_EQ(golden.size(), 31u);
  int passed = 0;
  for (const auto& c : golden) {
    const std::string text = c.at("text").get<std::string>();
    const auto want = c.at("ids").get<std::vector<int32_t>>();
    // Qwen adds no BOS, so both settings give the same ids.
    const std::vector<int32_t> ids = tok->encode(text, /*add_special_tokens=*/true);
    EXPECT_EQ(ids, want) << "text: '" << text << "'\n got " << ids_to_string(ids) << "\nwant "
                         << ids_to_string(want);
    EXPECT_EQ(tok->encode(text, false), ids);
    EXPECT_EQ(tok->decode(ids), text);
    passed += ids == want;
  }
  EXPECT_EQ(passed, 31);
}

TEST(QwenGolden, SpecialTokensInTextAreSingleIds) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer("qwen2.5-instruct");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("<|im_start|>user\nHi<|im_end|>"),
            (std::vector<int32_t>{151644, 872, 198, 13048, 151645}));
  EXPECT_FALSE(tok->bos_id().has_value());
  EXPECT_EQ(tok->eos_id(), 151645);
  EXPECT_TRUE(tok->is_special(151645));
  // <tool_call> is an added token that is not special: matched in text, kept by skip_special_tokens.
  const auto tool_call = tok->token_to_id("<tool_call>");
  ASSERT_TRUE(tool_call.has_value());
  EXPECT_FALSE(tok->is_special(*tool_call));
  const auto ids = tok->encode("<|im_start|><tool_call>x");
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(tok->decode(ids, /*skip_special_tokens=*/true), "<tool_call>x");
}

}  // namespace
}  // namespace strata::test
