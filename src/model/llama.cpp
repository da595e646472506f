#include "model/llama.h"

#include <algorithm>
#include <cmath>

#include "model/layers/rope.h"

namespace strata {

Result<std::unique_ptr<Model>> LlamaModel::create(const ModelConfig& c, const WeightLoader& w, Backend& b,
                                                  Communicator& tp, const ModelOptions& options) {
  const int n = tp.size();
  auto divisible = [&](int64_t v, const char* what) -> Status {
    if (v % n != 0)
      return make_error("config.json: {} = {} is not divisible by --tensor-parallel-size {}", what, v, n);
    return ok_status();
  };
  STRATA_RETURN_IF_ERROR(divisible(c.num_attention_heads, "num_attention_heads"));
  if (c.num_key_value_heads % n != 0 && n % c.num_key_value_heads != 0)
    return make_error("config.json: num_key_value_heads = {} and --tensor-parallel-size {}: one must divide the other",
                      c.num_key_value_heads, n);
  STRATA_RETURN_IF_ERROR(divisible(c.intermediate_size, "intermediate_size"));
  STRATA_RETURN_IF_ERROR(divisible(c.vocab_size, "vocab_size"));
  const int stages = options.pp ? options.pp->size() : 1;
  if (stages > c.num_hidden_layers)
    return make_error("--pipeline-parallel-size {} exceeds the model's {} layers (config.json num_hidden_layers)",
                      stages, c.num_hidden_layers);
  std::unique_ptr<LlamaModel> m(new LlamaModel(c, b, tp, options.pp));
  STRATA_RETURN_IF_ERROR(m->load(w, options));
  return std::unique_ptr<Model>(std::move(m));
}

std::pair<int64_t, int64_t> stage_layers(int64_t num_layers, int stage, int stages) {
  const int64_t base = num_layers / stages, extra = num_layers % stages;
  const int64_t first = stage * base + std::min<int64_t>(stage, extra);
  return {first, first + base + (stage < extra ? 1 : 0)};
}

Tensor LlamaModel::upload(Tensor host) {
  if (backend_.name() == "cpu") return host;
  Tensor t = backend_.alloc(host.dtype(), host.shape());
  backend_.copy_from_host(host.data<void>(), t.view());
  return t;
}

// Rows [row0, row0 + dst rows) of the tensor `name` (full shape `full`, this rank's shard along
// `dim`) into dst: generated in place for dummy weights, else uploaded from the mmap'd checkpoint.
Status LlamaModel::load_into(const WeightLoader& w, const std::string& name, const Shape& full, ShardDim dim,
                             const TensorView& dst, DummyInit init, int r, int n) {
  if (w.is_dummy()) {
    const int64_t cols = full.size() == 2 ? full[1] : 1;
    int64_t row0 = 0, col0 = 0;
    if (dim == ShardDim::kRows) row0 = shard_range(full[0], r, n).first;
    if (dim == ShardDim::kCols) col0 = shard_range(cols, r, n).first;
    backend_.fill_dummy(dst, w.dummy_key(name), row0, col0, cols, init.center, init.scale);
    return ok_status();
  }
  Tensor holder;
  STRATA_TRY(TensorView src, w.load_raw(name, full, dim, r, n, holder));
  STRATA_CHECK(src.numel() == dst.numel(), "{}: {} elements for a {} slot", name, src.numel(), shape_str(dst.shape));
  backend_.upload(src, dst);
  return ok_status();
}

Result<Tensor> LlamaModel::load_weight(const WeightLoader& w, const std::string& name, const Shape& full,
                                       ShardDim dim, DummyInit init) {
  Shape local = full;
  const int n = tp_.size();
  if (dim == ShardDim::kRows) local[0] /= n;
  if (dim == ShardDim::kCols) local[1] /= n;
  Tensor t = backend_.alloc(dt_, local);
  STRATA_RETURN_IF_ERROR(load_into(w, name, full, dim, t.view(), init, tp_.rank(), n));
  return t;
}

// Several column-parallel weights stacked by rows into one tensor (this rank's rows of each, in order).
Result<Tensor> LlamaModel::load_stacked(const WeightLoader& w, const std::vector<Part>& parts) {
  int64_t rows = 0;
  for (const Part& p : parts) rows += p.full[0] / (p.kv ? kv_shards_ : tp_.size());
  const int64_t cols = parts[0].full.size() == 2 ? parts[0].full[1] : 0;
  Tensor t = backend_.alloc(dt_, cols ? Shape{rows, cols} : Shape{rows});
  int64_t at = 0;
  for (const Part& p : parts) {
    const int shard = p.kv ? kv_shard_ : tp_.rank(), shards = p.kv ? kv_shards_ : tp_.size();
    const int64_t local = p.full[0] / shards;
    TensorView dst = t.view();
    dst.data = static_cast<char*>(dst.data) + at * std::max<int64_t>(cols, 1) * dtype_size(dt_);
    dst.shape[0] = local;
    STRATA_RETURN_IF_ERROR(load_into(w, p.name, p.full, ShardDim::kRows, dst, {}, shard, shards));
    at += local;
  }
  return t;
}

Status LlamaModel::load(const WeightLoader& w, const ModelOptions& options) {
  const ModelConfig& c = config_;
  const int n = tp_.size();
  const int64_t h = c.hidden_size, hd = c.head_dim;
  dt_ = options.dtype;
  if (!backend_.supports_dtype(dt_))
    return make_error("--dtype {}: the {} backend does not compute in it", dtype_name(dt_), backend_.name());
  heads_local_ = c.num_attention_heads / n;
  // Fewer KV heads than ranks: each KV head is replicated on the n / kv_heads ranks whose query heads use it.
  kv_shards_ = static_cast<int>(std::min<int64_t>(c.num_key_value_heads, n));
  kv_shard_ = tp_.rank() / (n / kv_shards_);
  kv_heads_local_ = c.num_key_value_heads / kv_shards_;
  inter_local_ = c.intermediate_size / n;
  vocab_local_ = c.vocab_size / n;
  stage_ = pp_ ? pp_->rank() : 0;
  stages_ = pp_ ? pp_->size() : 1;
  const auto [first, last] = stage_layers(c.num_hidden_layers, stage_, stages_);
  first_layer_ = first;
  const bool first_stage = stage_ == 0, last_stage = stage_ + 1 == stages_;
  const DummyInit norm_init{1.0f, 0.1f};
  auto get = [&](const std::string& name, const Shape& shape, ShardDim dim, DummyInit init = {}) {
    return load_weight(w, name, shape, dim, init);
  };
  // Each stage reads only what it runs: the embedding (first), the final norm and LM head (last).
  if (first_stage || (last_stage && c.tie_word_embeddings)) {
    STRATA_TRY(embed_, get("model.embed_tokens.weight", {c.vocab_size, h}, ShardDim::kRows));
  }
  if (last_stage) {
    if (c.tie_word_embeddings) {
      lm_head_ = embed_;
    } else {
      STRATA_TRY(lm_head_, get("lm_head.weight", {c.vocab_size, h}, ShardDim::kRows));
    }
    STRATA_TRY(final_norm_, get("model.norm.weight", {h}, ShardDim::kNone, norm_init));
  }
  const int64_t qd = c.num_attention_heads * hd, kvd = c.num_key_value_heads * hd;
  for (int64_t i = first; i < last; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer l;
    STRATA_TRY(l.input_norm, get(p + "input_layernorm.weight", {h}, ShardDim::kNone, norm_init));
    STRATA_TRY(l.post_norm, get(p + "post_attention_layernorm.weight", {h}, ShardDim::kNone, norm_init));
    // q, k, v stacked: this rank's q rows, then its k rows, then its v rows (one GEMM).
    STRATA_TRY(l.qkv, load_stacked(w, {{p + "self_attn.q_proj.weight", {qd, h}},
                                       {p + "self_attn.k_proj.weight", {kvd, h}, true},
                                       {p + "self_attn.v_proj.weight", {kvd, h}, true}}));
    STRATA_TRY(l.o, get(p + "self_attn.o_proj.weight", {h, qd}, ShardDim::kCols));
    if (c.attention_bias) {
      STRATA_TRY(l.qkv_bias, load_stacked(w, {{p + "self_attn.q_proj.bias", {qd}},
                                              {p + "self_attn.k_proj.bias", {kvd}, true},
                                              {p + "self_attn.v_proj.bias", {kvd}, true}}));
    }
    if (c.o_proj_bias) {
      STRATA_TRY(l.o_bias, get(p + "self_attn.o_proj.bias", {h}, ShardDim::kNone));
    }
    // gate and up are stored separately; each rank keeps its rows of both, gate first.
    STRATA_TRY(l.gate_up, load_stacked(w, {{p + "mlp.gate_proj.weight", {c.intermediate_size, h}},
                                           {p + "mlp.up_proj.weight", {c.intermediate_size, h}}}));
    if (c.mlp_bias) {
      STRATA_TRY(l.gate_up_bias, load_stacked(w, {{p + "mlp.gate_proj.bias", {c.intermediate_size}},
                                                  {p + "mlp.up_proj.bias", {c.intermediate_size}}}));
      STRATA_TRY(l.down_bias, get(p + "mlp.down_proj.bias", {h}, ShardDim::kNone));
    }
    STRATA_TRY(l.down, get(p + "mlp.down_proj.weight", {h, c.intermediate_size}, ShardDim::kCols));
    layers_.push_back(std::move(l));
  }
  RopeFrequencies f = compute_rope_frequencies(c.rope_theta, hd, c.rope_scaling, c.max_position_embeddings);
  cos_sin_ = upload(build_cos_sin_table(f, options.max_model_len));
  backend_.synchronize();
  return ok_status();
}

int64_t LlamaModel::kv_bytes_per_block(int block_size) const {
  return 2 * static_cast<int64_t>(layers_.size()) * block_size * kv_heads_local_ * config_.head_dim *
         static_cast<int64_t>(dtype_size(dt_));
}

KvCache LlamaModel::allocate_kv_cache(int64_t num_blocks, int block_size) {
  KvCache cache;
  cache.num_blocks = num_blocks;
  cache.block_size = block_size;
  for (size_t i = 0; i < layers_.size(); ++i) {
    cache.k.push_back(backend_.alloc(dt_, {num_blocks, block_size, kv_heads_local_, config_.head_dim}));
    cache.v.push_back(backend_.alloc(dt_, {num_blocks, block_size, kv_heads_local_, config_.head_dim}));
  }
  return cache;
}

void LlamaModel::attention_block(const Layer& l, const TensorView& x, const ForwardBatch& batch,
                                 const Tensor& k_cache, const Tensor& v_cache, const TensorView& out) {
  const int64_t n = x.dim(0), hd = config_.head_dim;
  Tensor qkv = backend_.workspace(dt_, {n, (heads_local_ + 2 * kv_heads_local_) * hd});
  backend_.linear(x, l.qkv.view(), l.qkv_bias.view(), qkv.view());
  Tensor q = backend_.workspace(dt_, {n, heads_local_, hd});
  backend_.qkv_rope_cache(qkv.view(), batch.positions, cos_sin_.view(), q.view(), k_cache.view(), v_cache.view(),
                          batch.attn.slot_mapping);
  Tensor attn = backend_.workspace(dt_, {n, heads_local_, hd});
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  backend_.paged_attention(q.view(), k_cache.view(), v_cache.view(), batch.attn, scale, attn.view());
  // Row-parallel: the bias joins on rank 0 only, so the all-reduce adds it once.
  backend_.linear(attn.view(), l.o.view(), tp_.rank() == 0 ? l.o_bias.view() : TensorView{}, out);
  tp_.all_reduce_sum(out);
}

void LlamaModel::mlp_block(const Layer& l, const TensorView& x, const TensorView& out) {
  const int64_t n = x.dim(0);
  Tensor gu = backend_.workspace(dt_, {n, 2 * inter_local_});
  backend_.linear(x, l.gate_up.view(), l.gate_up_bias.view(), gu.view());
  Tensor act = backend_.workspace(dt_, {n, inter_local_});
  backend_.silu_mul(gu.view(), act.view());
  backend_.linear(act.view(), l.down.view(), tp_.rank() == 0 ? l.down_bias.view() : TensorView{}, out);
  tp_.all_reduce_sum(out);
}

Tensor LlamaModel::logits(const TensorView& rows) {
  const int64_t m = rows.dim(0), v = config_.vocab_size;
  Tensor local = backend_.workspace(DType::kF32, {m, vocab_local_});
  backend_.linear(rows, lm_head_.view(), TensorView{}, local.view());
  if (tp_.size() == 1) return local;
  // all_gather stacks [size, m, vocab_local]; each rank's block becomes columns of [m, vocab].
  Tensor stacked = backend_.workspace(DType::kF32, {tp_.size() * m, vocab_local_});
  tp_.all_gather(local.view(), stacked.view());
  Tensor out = backend_.workspace(DType::kF32, {m, v});
  for (int r = 0; r < tp_.size(); ++r) {
    TensorView part = stacked.view();
    part.data = stacked.data<float>() + r * m * vocab_local_;
    part.shape = {m, vocab_local_};
    backend_.copy_into_cols(part, out.view(), r * vocab_local_);
  }
  return out;
}

Tensor LlamaModel::forward(const ForwardBatch& batch, KvCache& cache) {
  const int64_t n = batch.token_ids.numel(), h = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  // residual and delta side by side: what one stage hands the next in one message.
  Tensor carried = backend_.workspace(dt_, {2, n, h});
  TensorView residual = carried.view(), delta = carried.view();
  residual.shape = delta.shape = {n, h};
  delta.data = static_cast<char*>(carried.view().data) + n * h * dtype_size(dt_);
  if (stage_ == 0) {
    backend_.embedding(batch.token_ids, embed_.view(), tp_.rank() * vocab_local_, residual);
    tp_.all_reduce_sum(residual);
  } else {
    pp_->recv(carried.view(), stage_ - 1);
  }
  Tensor x = backend_.workspace(dt_, {n, h});
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (first_layer_ + static_cast<int64_t>(i) == 0) backend_.rms_norm(residual, l.input_norm.view(), eps, x.view());
    else backend_.add_rms_norm(residual, delta, l.input_norm.view(), eps, x.view());
    const size_t mark = backend_.workspace_mark();  // the layer's temporaries die with it
    attention_block(l, x.view(), batch, cache.k[i], cache.v[i], delta);
    backend_.add_rms_norm(residual, delta, l.post_norm.view(), eps, x.view());
    mlp_block(l, x.view(), delta);
    backend_.workspace_release(mark);
  }
  if (!is_last_stage()) {
    pp_->send(carried.view(), stage_ + 1);
    return Tensor();
  }
  backend_.add_rms_norm(residual, delta, final_norm_.view(), eps, x.view());
  const int64_t m = batch.logits_indices.numel();
  Tensor rows = backend_.workspace(dt_, {m, h});
  backend_.gather_rows(x.view(), batch.logits_indices, rows.view());
  return logits(rows.view());
}

}  // namespace strata
