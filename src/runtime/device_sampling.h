// DeviceSampling: the model runner's last step, a token per logits row drawn on the device. Rows
// whose chunk asks for nothing beyond greedy or a plain temperature go through Backend::argmax_rows /
// sample_rows; as soon as one row of the step needs more (top-k / top-p / min-p, penalties, logprobs)
// the whole step goes through Backend::sample_filtered, with the rows' SamplingRowParams, the
// penalties' token entries (built on the host from the chunk's prompt and output tokens, while the
// device is still running the forward pass) and the logprob outputs in buffers this object keeps
// (one upload, one kernel, one download; buffers grow only when a step outgrows them).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"

namespace strata {

struct SeqChunk;
struct RowLogprobs;

class DeviceSampling {
 public:
  explicit DeviceSampling(Backend& backend) : backend_(backend) {}

  // logits f32 [m, vocab]; chunks[r]: the chunk row r draws for when it is device_sample, else
  // (nullptr or not device_sample) row r gets its argmax; extra[r] >= 0: one more output token for row
  // r's penalties than its chunk's output_ids hold (the token a chunk run ahead took from the previous
  // step). Fills tokens [m] and, when some row asked for logprobs, logprobs [m] (token -1 on the rows
  // that did not); else leaves logprobs empty.
  void sample(const TensorView& logits, std::span<const SeqChunk* const> chunks, std::span<const int32_t> extra,
              std::vector<int32_t>& tokens, std::vector<RowLogprobs>& logprobs);
  // Sizes the device buffers for steps of up to max_rows rows and max_entries penalty entries.
  void reserve(int64_t max_rows, int64_t max_entries);

 private:
  // Appends row r's penalty entries (token, output count | kInPromptBit); extra >= 0 counts as one more
  // output token.
  void add_entries(const SeqChunk& c, int32_t extra, int64_t vocab);
  void ensure(Tensor& t, DType dtype, int64_t n);

  Backend& backend_;
  Tensor in_;   // u8: [m] SamplingRowParams, [m + 1] offsets, [n, 2] entries (or temperatures + seeds)
  Tensor out_;  // i32: [m] ids, [m, 1 + kMaxSampleLogprobs] ranks / top ids, then as f32 the logprobs
  std::vector<SamplingRowParams> params_;
  std::vector<int32_t> offsets_, entries_, touched_, host_out_;
  std::vector<uint32_t> counts_;  // [vocab] output counts, all zero between rows
  std::vector<uint8_t> marks_;    // [vocab] 1: in the prompt, 2: in the output; all zero between rows
  std::vector<char> staging_;
};

}  // namespace strata
