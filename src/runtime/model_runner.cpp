#include "runtime/model_runner.h"

#include <algorithm>
#include <cstring>

namespace strata {

TensorView ModelRunner::to_backend(Tensor& host, std::vector<Tensor>& keep) {
  if (backend_.name() == "cpu") return host.view();
  Tensor t = backend_.alloc(host.dtype(), host.shape());
  backend_.copy_from_host(host.data<void>(), t.view());
  keep.push_back(t);
  return t.view();
}

std::vector<float> ModelRunner::step(std::span<const SeqChunk> chunks) {
  const int32_t bs = cache_.block_size;
  const int32_t num_seqs = static_cast<int32_t>(chunks.size());
  int64_t n = 0, num_logits = 0;
  size_t max_blocks = 1;
  int32_t max_q = 0, max_len = 0;
  for (const auto& c : chunks) {
    n += static_cast<int64_t>(c.tokens.size());
    num_logits += c.all_logits ? static_cast<int64_t>(c.tokens.size()) : (c.want_logits ? 1 : 0);
    max_blocks = std::max(max_blocks, c.block_table.size());
    max_q = std::max(max_q, static_cast<int32_t>(c.tokens.size()));
    max_len = std::max(max_len, c.start + static_cast<int32_t>(c.tokens.size()));
  }
  Tensor ids = Tensor::host(DType::kI32, {n});
  Tensor pos = Tensor::host(DType::kI32, {n});
  Tensor slots = Tensor::host(DType::kI64, {n});
  Tensor qsl = Tensor::host(DType::kI32, {num_seqs + 1});
  Tensor lens = Tensor::host(DType::kI32, {num_seqs});
  Tensor tables = Tensor::host(DType::kI32, {num_seqs, static_cast<int64_t>(max_blocks)});
  Tensor rows = Tensor::host(DType::kI32, {num_logits});
  int64_t t = 0, r = 0;
  for (int32_t s = 0; s < num_seqs; ++s) {
    const SeqChunk& c = chunks[s];
    const int32_t len = static_cast<int32_t>(c.tokens.size());
    STRATA_CHECK(static_cast<int64_t>(c.block_table.size()) * bs >= c.start + len, "block table too short");
    qsl.data<int32_t>()[s] = static_cast<int32_t>(t);
    lens.data<int32_t>()[s] = c.start + len;
    std::copy(c.block_table.begin(), c.block_table.end(), tables.data<int32_t>() + s * max_blocks);
    for (int32_t i = 0; i < len; ++i, ++t) {
      const int32_t p = c.start + i;
      ids.data<int32_t>()[t] = c.tokens[i];
      pos.data<int32_t>()[t] = p;
      slots.data<int64_t>()[t] = static_cast<int64_t>(c.block_table[p / bs]) * bs + p % bs;
      if (c.all_logits || (c.want_logits && i == len - 1)) rows.data<int32_t>()[r++] = static_cast<int32_t>(t);
    }
  }
  qsl.data<int32_t>()[num_seqs] = static_cast<int32_t>(t);
  std::vector<Tensor> keep;
  ForwardBatch batch;
  batch.token_ids = to_backend(ids, keep);
  batch.positions = to_backend(pos, keep);
  batch.attn.slot_mapping = to_backend(slots, keep);
  batch.attn.query_start_loc = to_backend(qsl, keep);
  batch.attn.seq_lens = to_backend(lens, keep);
  batch.attn.block_tables = to_backend(tables, keep);
  batch.attn.num_seqs = num_seqs;
  batch.attn.max_query_len = max_q;
  batch.attn.max_seq_len = max_len;
  batch.logits_indices = to_backend(rows, keep);
  Tensor logits = model_.forward(batch, cache_);
  std::vector<float> out(static_cast<size_t>(logits.numel()));
  backend_.copy_to_host(logits.view(), out.data());
  return out;
}

}  // namespace strata
