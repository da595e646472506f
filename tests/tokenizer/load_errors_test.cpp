// Loading failures are errors that name the file and the field, never crashes.
#include <gtest/gtest.h>

#include "synthetic_tokenizer.h"

namespace strata::test {
namespace {

std::string load_error(const std::string& tag, const std::string& tokenizer_json,
                       const std::string& config = "") {
  auto tok = Tokenizer::from_dir(write_tokenizer_dir(tag, tokenizer_json, config));
  EXPECT_FALSE(tok.ok());
  return tok.ok() ? std::string() : tok.error().message();
}

TEST(LoadErrors, MissingTokenizerJsonNamesThePath) {
  const std::string dir = make_temp_dir("empty-model-dir");
  auto tok = Tokenizer::from_dir(dir);
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.error().message().find(dir + "/tokenizer.json"), std::string::npos) << tok.error().message();
  auto none = Tokenizer::from_dir("/nonexistent/strata-model");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("/nonexistent/strata-model/tokenizer.json"), std::string::npos);
}

TEST(LoadErrors, CorruptJson) {
  const std::string msg = load_error("corrupt", "{\"model\": {\"type\": \"BPE\", ");
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid JSON"), std::string::npos) << msg;
  EXPECT_FALSE(Tokenizer::from_dir(write_tokenizer_dir("binary", std::string("\x1f\x8b\x08\x00", 4))).ok());
}

TEST(LoadErrors, UnsupportedModelType) {
  auto j = byte_level_tokenizer_json();
  j["model"]["type"] = "WordPiece";
  const std::string msg = load_error("wordpiece", j.dump());
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.type 'WordPiece'"), std::string::npos) << msg;
}

TEST(LoadErrors, UnsupportedComponentsNameTheField) {
  auto j = byte_level_tokenizer_json();
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers", {{{"type", "Digits"}}, {{"type", "Metaspace"}, {"replacement", "_"}}}}};
  std::string msg = load_error("metaspace", j.dump());
  EXPECT_NE(msg.find("pre_tokenizer.pretokenizers[1].type 'Metaspace'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tokenizer.json"), std::string::npos) << msg;

  j = byte_level_tokenizer_json();
  j["normalizer"] = {{"type", "NFKC"}};
  msg = load_error("nfkc", j.dump());
  EXPECT_NE(msg.find("normalizer.type 'NFKC'"), std::string::npos) << msg;

  j = byte_level_tokenizer_json();
  j["decoder"] = {{"type", "WordPiece"}};
  msg = load_error("wp-decoder", j.dump());
  EXPECT_NE(msg.find("decoder.type 'WordPiece'"), std::string::npos) << msg;

  j = byte_level_tokenizer_json();
  j["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}, {"invert", false}};
  msg = load_error("bad-regex", j.dump());
  EXPECT_NE(msg.find("pre_tokenizer.pattern"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(unclosed"), std::string::npos) << msg;

  j = byte_level_tokenizer_json();
  j["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", "Sideways"}, {"invert", false}};
  msg = load_error("bad-behavior", j.dump());
  EXPECT_NE(msg.find("pre_tokenizer.behavior 'Sideways'"), std::string::npos) << msg;
}

TEST(LoadErrors, BadModelContents) {
  auto j = byte_level_tokenizer_json();
  j["model"]["merges"] = {"a zz"};
  std::string msg = load_error("bad-merge", j.dump());
  EXPECT_NE(msg.find("model.merges[0]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'zz'"), std::string::npos) << msg;

  j = byte_level_tokenizer_json();
  j["model"]["merges"] = {"a b c"};
  msg = load_error("bad-merge-format", j.dump());
  EXPECT_NE(msg.find("model.merges[0]"), std::string::npos) << msg;

  j = byte_level_tokenizer_json();
  j["model"]["vocab"]["x"] = "seven";
  msg = load_error("bad-vocab", j.dump());
  EXPECT_NE(msg.find("model.vocab"), std::string::npos) << msg;

  j = byte_level_tokenizer_json();
  j.erase("model");
  msg = load_error("no-model", j.dump());
  EXPECT_NE(msg.find("model is missing"), std::string::npos) << msg;
}

TEST(LoadErrors, CorruptTokenizerConfig) {
  const std::string msg = load_error("bad-config", byte_level_tokenizer_json().dump(), "{\"bos_token\": ");
  EXPECT_NE(msg.find("tokenizer_config.json"), std::string::npos) << msg;
  const std::string msg2 =
      load_error("bad-config-type", byte_level_tokenizer_json().dump(), "{\"bos_token\": 5}");
  EXPECT_NE(msg2.find("bos_token"), std::string::npos) << msg2;
}

}  // namespace
}  // namespace strata::test
