// ModelRunner (one per rank): turns a step's list of sequence chunks into the model's device inputs
// (token ids, positions, slot mapping, block tables, query_start_loc, seq_lens, logits rows), runs
// Model::forward and returns the logits of each chunk's last token on the host.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"

namespace strata {

// One sequence's part of a step: tokens [start, start + tokens.size()) of the sequence.
struct SeqChunk {
  std::span<const int32_t> tokens;
  int32_t start = 0;                     // position of tokens[0]
  std::span<const int32_t> block_table;  // blocks holding positions [0, start + tokens.size())
  bool want_logits = true;               // logits of the chunk's last token
  bool all_logits = false;               // logits of every token of the chunk (parity tests)
};

class ModelRunner {
 public:
  ModelRunner(Model& model, Backend& backend, KvCache& cache) : model_(model), backend_(backend), cache_(cache) {}
  // Host f32 [num_logit_rows, vocab], rows in chunk order.
  std::vector<float> step(std::span<const SeqChunk> chunks);
  int block_size() const { return cache_.block_size; }

 private:
  TensorView to_backend(Tensor& host, std::vector<Tensor>& keep);
  Model& model_;
  Backend& backend_;
  KvCache& cache_;
};

}  // namespace strata
