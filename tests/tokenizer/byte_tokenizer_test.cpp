// The built-in byte tokenizer: bytes are ids 0..255, <s> = 256 is prepended, </s> = 257.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

namespace strata {
namespace {

using Ids = std::vector<int32_t>;

TEST(ByteTokenizer, EncodeDecodeRoundTrip) {
  auto tok = Tokenizer::byte_level();
  EXPECT_EQ(tok->encode("hi"), (Ids{256, 104, 105}));
  EXPECT_EQ(tok->encode("hi", false), (Ids{104, 105}));
  EXPECT_EQ(tok->encode("", true), (Ids{256}));
  const std::string text = "caf\xC3\xA9 \xF0\x9F\x9A\x80 \x01\x7F";
  const Ids ids = tok->encode(text, false);
  EXPECT_EQ(ids.size(), text.size());
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->decode(tok->encode(text)), "<s>" + text);
  EXPECT_EQ(tok->decode(tok->encode(text), /*skip_special_tokens=*/true), text);
  Ids with_eos = ids;
  with_eos.push_back(257);
  EXPECT_EQ(tok->decode(with_eos), text + "</s>");
  EXPECT_EQ(tok->decode(with_eos, true), text);
  EXPECT_EQ(tok->decode(Ids{0xF0, 0x9F, 'a'}),
            "\xEF\xBF\xBD"
            "a");  // a broken character
}

TEST(ByteTokenizer, Vocabulary) {
  auto tok = Tokenizer::byte_level();
  EXPECT_EQ(tok->vocab_size(), 258);
  EXPECT_EQ(tok->bos_id(), 256);
  EXPECT_EQ(tok->eos_id(), 257);
  EXPECT_TRUE(tok->is_special(256));
  EXPECT_TRUE(tok->is_special(257));
  EXPECT_FALSE(tok->is_special(65));
  EXPECT_EQ(tok->token_to_id("</s>"), 257);
  EXPECT_EQ(tok->token_to_id("A"), 65);
  EXPECT_EQ(tok->id_to_token(65), "A");
  EXPECT_EQ(tok->id_to_token(256), "<s>");
  EXPECT_EQ(tok->id_to_token(258), "");
  EXPECT_FALSE(tok->token_to_id("AB").has_value());
}

}  // namespace
}  // namespace strata
