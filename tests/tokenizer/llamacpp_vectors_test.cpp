// llama.cpp's tokenizer test vectors against the Hugging Face tokenizers they were made with: every
// text encodes (without BOS) to the expected ids and decodes back to itself.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace strata::test {
namespace {

struct VectorSet {
  const char* vocab;      // llamacpp-vocab/<vocab>.inp/.out
  const char* tokenizer;  // hf-tokenizers/<tokenizer>
};

void PrintTo(const VectorSet& v, std::ostream* os) {
  *os << v.vocab << " with " << v.tokenizer;
}

class LlamaCppVectors : public ::testing::TestWithParam<VectorSet> {};

TEST_P(LlamaCppVectors, EncodeMatchesAndRoundTrips) {
  STRATA_REQUIRE_TESTDATA();
  const Tokenizer* tok = hf_tokenizer(GetParam().tokenizer);
  ASSERT_NE(tok, nullptr);
  const auto cases = llamacpp_vocab_cases(GetParam().vocab);
  ASSERT_EQ(cases.size(), 46u);
  int passed = 0;
  for (const auto& c : cases) {
    const std::vector<int32_t> ids = tok->encode(c.text, /*add_special_tokens=*/false);
    EXPECT_EQ(ids, c.ids) << "text: '" << c.text << "'\n got " << ids_to_string(ids) << "\nwant "
                          << ids_to_string(c.ids);
    EXPECT_EQ(tok->decode(ids), c.text);
    passed += ids == c.ids;
  }
  EXPECT_EQ(passed, 46);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, LlamaCppVectors,
                         ::testing::Values(VectorSet{"ggml-vocab-llama-bpe.gguf", "llama-3.1-instruct"},
                                           VectorSet{"ggml-vocab-deepseek-v3.gguf", "deepseek-r1"},
                                           VectorSet{"ggml-vocab-qwen2.gguf", "qwen2.5-instruct"}),
                         [](const auto& info) {
                           std::string n = info.param.tokenizer;
                           for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

}  // namespace
}  // namespace strata::test
