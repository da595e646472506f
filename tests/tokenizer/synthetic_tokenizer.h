// Small hand-made tokenizer.json files for exercising single features: a byte-level BPE whose
// vocabulary is the 256 byte characters (id = byte value) plus whatever a test adds.
#pragma once

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace strata::test {

inline nlohmann::json byte_level_tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[unicode::byte_to_unicode()[b]] = b;
  return {
      {"version", "1.0"},
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
  };
}

inline nlohmann::json added_token(int id, const std::string& content, bool special = true,
                                  bool lstrip = false, bool rstrip = false, bool single_word = false,
                                  bool normalized = false) {
  return {{"id", id},         {"content", content},       {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

// Writes tokenizer.json (and tokenizer_config.json unless null) into a fresh directory.
inline std::string write_tokenizer_dir(const std::string& tag, const std::string& tokenizer_json,
                                       const std::string& config_json = "") {
  const std::string dir = make_temp_dir(tag);
  std::ofstream(dir + "/tokenizer.json") << tokenizer_json;
  if (!config_json.empty()) std::ofstream(dir + "/tokenizer_config.json") << config_json;
  return dir;
}

inline std::unique_ptr<Tokenizer> load_synthetic(const std::string& tag, const nlohmann::json& tokenizer_json,
                                                 const nlohmann::json& config = nullptr) {
  auto tok = Tokenizer::from_dir(
      write_tokenizer_dir(tag, tokenizer_json.dump(), config.is_null() ? "" : config.dump()));
  if (!tok.ok()) {
    ADD_FAILURE() << tok.error().message();
    return nullptr;
  }
  return std::move(tok).value();
}

}  // namespace strata::test
