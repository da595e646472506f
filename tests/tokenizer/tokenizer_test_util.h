// Shared helpers for the tokenizer tests: the three real Hugging Face tokenizers of the testdata,
// loaded once per process, and the llama.cpp vocabulary test vectors.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "testutil.h"
#include "tokenizer/tokenizer.h"

namespace strata::test {

// The tokenizer of testdata hf-tokenizers/<name>, loaded once (nullptr if loading failed: the
// failure is reported through ADD_FAILURE).
inline const Tokenizer* hf_tokenizer(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = loaded.find(name); it != loaded.end()) return it->second.get();
  auto tok = Tokenizer::from_dir(hf_tokenizer_dir(name));
  if (!tok.ok()) {
    ADD_FAILURE() << "loading " << name << ": " << tok.error().message();
    loaded[name] = nullptr;
    return nullptr;
  }
  return (loaded[name] = std::move(tok).value()).get();
}

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// llama.cpp's <name>.inp (texts, each followed by "\n__ggml_vocab_test__\n") and <name>.out (the
// expected ids of each text on one line).
inline std::vector<VocabCase> llamacpp_vocab_cases(const std::string& name) {
  const std::string dir = testdata_dir() + "/llamacpp-vocab/";
  const std::string inp = read_file(dir + name + ".inp");
  const std::string out = read_file(dir + name + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  size_t pos = 0;
  while (pos < inp.size()) {
    size_t end = inp.find(sep, pos);
    if (end == std::string::npos) break;
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    if (i >= cases.size()) {
      cases.push_back({"<missing input>", {}});
    }
    std::istringstream ids(line);
    int32_t id;
    while (ids >> id) cases[i].ids.push_back(id);
    ++i;
  }
  return cases;
}

inline std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

}  // namespace strata::test
