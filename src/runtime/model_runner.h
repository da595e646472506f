// ModelRunner (one per rank): turns a step's list of sequence chunks into the model's device inputs
// (token ids, positions, slot mapping, block tables, query_start_loc, seq_lens, logits rows), runs
// Model::forward and returns the logits of each chunk's last token on the host, and a token drawn on
// the device for each (DeviceSampling: greedy, temperature, top-k / top-p / min-p, penalties and raw
// logprobs), so requests that need nothing more need no logits copy and no host sampler at all.
//
// On backends with graphs, decode-only steps (one token per sequence) replay a CUDA graph captured
// for the next batch-size bucket up (padding sequences write no KV and their rows are ignored); the
// inputs are copied into the graph's fixed buffers first. Everything else runs eagerly.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/model.h"
#include "runtime/device_sampling.h"
#include "runtime/executor.h"

namespace strata {

// What a device_sample chunk's draw applies besides its temperature and seed (Backend::
// sample_filtered's SamplingRowParams); the defaults apply nothing.
struct DeviceSamplingParams {
  int32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;  // over prompt_ids + output_ids
  float frequency_penalty = 0.0f;   // over output_ids
  float presence_penalty = 0.0f;    // over output_ids
  int32_t num_logprobs = -1;        // -1: none; else the sampled token's raw logprob and this many top ones
};

// One sequence's part of a step: tokens [start, start + tokens.size()) of the sequence.
struct SeqChunk {
  std::span<const int32_t> tokens;
  int32_t start = 0;                     // position of tokens[0]
  std::span<const int32_t> block_table;  // blocks holding positions [0, start + tokens.size())
  bool want_logits = true;               // logits of the chunk's last token
  bool all_logits = false;               // logits of every token of the chunk (parity tests)
  bool device_sample = false;            // only a token drawn on the device is needed (no logits)
  float temperature = 0.0f;              // of that draw (0 = argmax)
  uint64_t seed = 0;                     // of that draw (one number from the request's RNG per step)
  DeviceSamplingParams sampling{};       // the rest of that draw
  std::span<const int32_t> prompt_ids{};  // the request's prompt and output so far, for the penalties
  std::span<const int32_t> output_ids{};
  // >= 0: the chunk is one token, the one the previous step drew on the device for its chunk
  // token_from (the engine scheduled it before that token was back); `tokens` is then not read.
  int32_t token_from = -1;
};

// log_softmax of a chunk's raw last logits row, as its device draw returns it.
struct RowLogprobs {
  int32_t token = -1;  // the drawn token; -1: no logprobs were asked for
  float logprob = 0.0f;
  int32_t rank = 0;                 // tokens whose logit is >= the drawn one's
  std::vector<int32_t> top_ids;     // the num_logprobs most likely, descending (ties: lower id first)
  std::vector<float> top_logprobs;
};

struct StepOutput {
  // f32 [rows, vocab], rows in chunk order (all_logits chunks: every token; want_logits: one); empty
  // when every chunk that wants logits is device_sample.
  std::vector<float> logits;
  // Per chunk: the device's draw from its last logits row (argmax unless device_sample with a
  // temperature), -1 without one.
  std::vector<int32_t> tokens;
  // Per chunk, when some device_sample chunk asked for logprobs (else empty): its logprobs.
  std::vector<RowLogprobs> logprobs;
};

class ModelRunner final : public Executor {
 public:
  ModelRunner(Model& model, Backend& backend, KvCache& cache)
      : model_(model), backend_(backend), cache_(cache), sampling_(backend) {}
  StepOutput run(std::span<const SeqChunk> chunks) override;
  bool runs_ahead() const override { return true; }
  // Host f32 [num_logit_rows, vocab], rows in chunk order.
  std::vector<float> step(std::span<const SeqChunk> chunks) { return run(chunks).logits; }
  int block_size() const { return cache_.block_size; }

  // Captures decode graphs for every bucket up to max_batch (largest first). Returns the bucket count.
  int capture_graphs(int32_t max_batch, int64_t max_model_len);
  // Runs one step of `tokens` prompt tokens (as min(tokens, max_seqs) sequences) writing no KV, so the
  // backend's workspace reaches the size the largest step needs.
  void profile(int64_t tokens, int32_t max_seqs);

 private:
  struct Inputs;
  StepOutput run_step(std::span<const SeqChunk> chunks);
  struct Graph {
    int id = -1;
    TensorView logits;
  };
  Tensor forward_eager(const Inputs& in);
  // Replays (capturing first if needed) the graph of the bucket for a decode-only step; false if none fits.
  bool run_graph(const Inputs& in, TensorView& logits);
  int32_t bucket_for(int32_t num_seqs) const;
  void fill_graph_inputs(const Inputs& in, int32_t bucket);
  ForwardBatch graph_batch(int32_t bucket) const;

  Model& model_;
  Backend& backend_;
  KvCache& cache_;
  DeviceSampling sampling_;
  // Graph inputs: fixed buffers sized for the largest bucket.
  // int32 block: ids, positions, query_start_loc, seq_lens, logits rows (g_max_batch_ each, +1 for qsl).
  Tensor g_i32_, g_slots_, g_tables_;
  int32_t g_max_batch_ = 0;
  int64_t g_max_blocks_ = 0;
  std::vector<int32_t> g_buckets_;
  std::map<int32_t, Graph> graphs_;  // by bucket size
  std::vector<int32_t> last_tokens_;  // the previous step's draws, per chunk (SeqChunk::token_from)
};

}  // namespace strata
