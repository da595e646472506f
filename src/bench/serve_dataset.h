// Prompts for `strata bench serve` (vLLM's RandomDataset and ShareGPTDataset), tokenized by the
// server under test through /tokenize and /detokenize (strata's client has no tokenizer of its own).
//
// random: per request an input length uniform in [floor(L(1-r)), ceil(L(1+r))] (L = input length
// minus the special tokens the server adds, e.g. BOS) and an output length likewise; a shared prefix
// of random ids; then consecutive ids from a random offset in the ordinary vocabulary. The ids are
// detokenized, re-tokenized and truncated or padded (at most 10 rounds) so the text is exactly the
// wanted number of tokens. The vocabulary is discovered from /detokenize: the first id it refuses (or
// renders empty) bounds it, and a run of markup-like tokens ("<|...|>") at the top - the added special
// tokens - is left out.
// sharegpt: a JSON list of {"conversations": [{"from","value"}, ...]}; entries with at least two turns
// are shuffled (seeded); turn 0 is the prompt and the token count of turn 1 the output length; pairs
// with a prompt or output shorter than 4 tokens, a prompt over 1024 or a total over 2048 are skipped;
// too few valid pairs are topped up by drawing among them again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::bench {

class HttpClient;

struct SampleRequest {
  std::string prompt;
  int64_t prompt_len = 0;
  int64_t expected_output_len = 0;
};

// Text <-> token ids; thread-safe.
class BenchTokenizer {
 public:
  virtual ~BenchTokenizer() = default;
  virtual Result<std::vector<int64_t>> tokenize(const std::string& text, bool add_special_tokens) = 0;
  virtual Result<std::string> detokenize(const std::vector<int64_t>& ids) = 0;
};

// The server's /tokenize and /detokenize.
class ServerTokenizer : public BenchTokenizer {
 public:
  ServerTokenizer(HttpClient& client, std::string model) : client_(client), model_(std::move(model)) {}
  Result<std::vector<int64_t>> tokenize(const std::string& text, bool add_special_tokens) override;
  Result<std::string> detokenize(const std::vector<int64_t>& ids) override;

 private:
  HttpClient& client_;
  std::string model_;
};

struct VocabInfo {
  int64_t num_ids = 0;       // ids [0, num_ids) detokenize
  int64_t num_ordinary = 0;  // ids [0, num_ordinary) are not trailing special tokens
};
Result<VocabInfo> discover_vocab(BenchTokenizer& tok);

struct RandomDatasetOptions {
  int64_t num_prompts = 1000;
  int64_t input_len = 1024;
  int64_t output_len = 128;
  double range_ratio = 0.0;
  int64_t prefix_len = 0;
  uint64_t seed = 0;
  int64_t vocab_size = 0;  // ordinary ids to sample from; 0 = discover_vocab()
  int num_workers = 32;    // concurrent tokenizer round trips
};
Result<std::vector<SampleRequest>> sample_random_requests(BenchTokenizer& tok, const RandomDatasetOptions& o);

struct ShareGptOptions {
  std::string path;
  int64_t num_prompts = 1000;
  uint64_t seed = 0;
  int num_workers = 32;
};
Result<std::vector<SampleRequest>> sample_sharegpt_requests(BenchTokenizer& tok, const ShareGptOptions& o);

// vLLM's is_valid_sequence() with its defaults.
bool is_valid_sharegpt_pair(int64_t prompt_len, int64_t output_len);

}  // namespace strata::bench
