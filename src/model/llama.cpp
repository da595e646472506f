#include "model/llama.h"

#include <cmath>
#include <cstring>

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
  STRATA_RETURN_IF_ERROR(divisible(c.num_key_value_heads, "num_key_value_heads"));
  STRATA_RETURN_IF_ERROR(divisible(c.intermediate_size, "intermediate_size"));
  STRATA_RETURN_IF_ERROR(divisible(c.vocab_size, "vocab_size"));
  std::unique_ptr<LlamaModel> m(new LlamaModel(c, b, tp));
  STRATA_RETURN_IF_ERROR(m->load(w, options));
  return std::unique_ptr<Model>(std::move(m));
}

Tensor LlamaModel::upload(Tensor host) {
  if (backend_.name() == "cpu") return host;
  Tensor t = backend_.alloc(host.dtype(), host.shape());
  backend_.copy_from_host(host.data<void>(), t.view());
  return t;
}

Status LlamaModel::load(const WeightLoader& w, const ModelOptions& options) {
  const ModelConfig& c = config_;
  const int r = tp_.rank(), n = tp_.size();
  const int64_t h = c.hidden_size, hd = c.head_dim;
  heads_local_ = c.num_attention_heads / n;
  kv_heads_local_ = c.num_key_value_heads / n;
  inter_local_ = c.intermediate_size / n;
  vocab_local_ = c.vocab_size / n;
  const DummyInit norm_init{1.0f, 0.1f};
  auto get = [&](const std::string& name, const Shape& shape, ShardDim dim, DummyInit init = {}) -> Result<Tensor> {
    STRATA_TRY(Tensor t, w.load(name, shape, dim, r, n, init));
    return upload(std::move(t));
  };
  STRATA_TRY(embed_, get("model.embed_tokens.weight", {c.vocab_size, h}, ShardDim::kRows));
  if (c.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    STRATA_TRY(lm_head_, get("lm_head.weight", {c.vocab_size, h}, ShardDim::kRows));
  }
  STRATA_TRY(final_norm_, get("model.norm.weight", {h}, ShardDim::kNone, norm_init));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer l;
    STRATA_TRY(l.input_norm, get(p + "input_layernorm.weight", {h}, ShardDim::kNone, norm_init));
    STRATA_TRY(l.post_norm, get(p + "post_attention_layernorm.weight", {h}, ShardDim::kNone, norm_init));
    STRATA_TRY(l.q, get(p + "self_attn.q_proj.weight", {c.num_attention_heads * hd, h}, ShardDim::kRows));
    STRATA_TRY(l.k, get(p + "self_attn.k_proj.weight", {c.num_key_value_heads * hd, h}, ShardDim::kRows));
    STRATA_TRY(l.v, get(p + "self_attn.v_proj.weight", {c.num_key_value_heads * hd, h}, ShardDim::kRows));
    STRATA_TRY(l.o, get(p + "self_attn.o_proj.weight", {h, c.num_attention_heads * hd}, ShardDim::kCols));
    if (c.attention_bias) {
      STRATA_TRY(l.q_bias, get(p + "self_attn.q_proj.bias", {c.num_attention_heads * hd}, ShardDim::kRows));
      STRATA_TRY(l.k_bias, get(p + "self_attn.k_proj.bias", {c.num_key_value_heads * hd}, ShardDim::kRows));
      STRATA_TRY(l.v_bias, get(p + "self_attn.v_proj.bias", {c.num_key_value_heads * hd}, ShardDim::kRows));
    }
    if (c.o_proj_bias) {
      STRATA_TRY(l.o_bias, get(p + "self_attn.o_proj.bias", {h}, ShardDim::kNone));
    }
    // gate and up are stored separately; each rank keeps its rows of both, gate first.
    STRATA_TRY(Tensor gate, w.load(p + "mlp.gate_proj.weight", {c.intermediate_size, h}, ShardDim::kRows, r, n));
    STRATA_TRY(Tensor up, w.load(p + "mlp.up_proj.weight", {c.intermediate_size, h}, ShardDim::kRows, r, n));
    Tensor gate_up = Tensor::host(DType::kF32, {2 * inter_local_, h});
    std::memcpy(gate_up.data<float>(), gate.data<float>(), gate.view().nbytes());
    std::memcpy(gate_up.data<float>() + inter_local_ * h, up.data<float>(), up.view().nbytes());
    l.gate_up = upload(std::move(gate_up));
    if (c.mlp_bias) {
      STRATA_TRY(Tensor gb, w.load(p + "mlp.gate_proj.bias", {c.intermediate_size}, ShardDim::kRows, r, n));
      STRATA_TRY(Tensor ub, w.load(p + "mlp.up_proj.bias", {c.intermediate_size}, ShardDim::kRows, r, n));
      Tensor b = Tensor::host(DType::kF32, {2 * inter_local_});
      std::memcpy(b.data<float>(), gb.data<float>(), gb.view().nbytes());
      std::memcpy(b.data<float>() + inter_local_, ub.data<float>(), ub.view().nbytes());
      l.gate_up_bias = upload(std::move(b));
      STRATA_TRY(l.down_bias, get(p + "mlp.down_proj.bias", {h}, ShardDim::kNone));
    }
    STRATA_TRY(l.down, get(p + "mlp.down_proj.weight", {h, c.intermediate_size}, ShardDim::kCols));
    layers_.push_back(std::move(l));
  }
  RopeFrequencies f = compute_rope_frequencies(c.rope_theta, hd, c.rope_scaling, c.max_position_embeddings);
  cos_sin_ = upload(build_cos_sin_table(f, options.max_model_len));
  return ok_status();
}

int64_t LlamaModel::kv_bytes_per_block(int block_size) const {
  return 2 * config_.num_hidden_layers * block_size * kv_heads_local_ * config_.head_dim *
         static_cast<int64_t>(sizeof(float));
}

KvCache LlamaModel::allocate_kv_cache(int64_t num_blocks, int block_size) {
  KvCache cache;
  cache.num_blocks = num_blocks;
  cache.block_size = block_size;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    cache.k.push_back(backend_.alloc(DType::kF32, {num_blocks, block_size, kv_heads_local_, config_.head_dim}));
    cache.v.push_back(backend_.alloc(DType::kF32, {num_blocks, block_size, kv_heads_local_, config_.head_dim}));
  }
  return cache;
}

void LlamaModel::attention_block(const Layer& l, const TensorView& x, const ForwardBatch& batch,
                                 const Tensor& k_cache, const Tensor& v_cache, const TensorView& out) {
  const int64_t n = x.dim(0), hd = config_.head_dim;
  Tensor q = backend_.alloc(DType::kF32, {n, heads_local_, hd});
  Tensor k = backend_.alloc(DType::kF32, {n, kv_heads_local_, hd});
  Tensor v = backend_.alloc(DType::kF32, {n, kv_heads_local_, hd});
  backend_.linear(x, l.q.view(), l.q_bias.view(), q.view());
  backend_.linear(x, l.k.view(), l.k_bias.view(), k.view());
  backend_.linear(x, l.v.view(), l.v_bias.view(), v.view());
  backend_.rope(q.view(), k.view(), batch.positions, cos_sin_.view());
  backend_.write_kv(k.view(), v.view(), k_cache.view(), v_cache.view(), batch.attn.slot_mapping);
  Tensor attn = backend_.alloc(DType::kF32, {n, heads_local_, hd});
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  backend_.paged_attention(q.view(), k_cache.view(), v_cache.view(), batch.attn, scale, attn.view());
  // Row-parallel: the bias joins on rank 0 only, so the all-reduce adds it once.
  backend_.linear(attn.view(), l.o.view(), tp_.rank() == 0 ? l.o_bias.view() : TensorView{}, out);
  tp_.all_reduce_sum(out);
}

void LlamaModel::mlp_block(const Layer& l, const TensorView& x, const TensorView& out) {
  const int64_t n = x.dim(0);
  Tensor gu = backend_.alloc(DType::kF32, {n, 2 * inter_local_});
  backend_.linear(x, l.gate_up.view(), l.gate_up_bias.view(), gu.view());
  Tensor act = backend_.alloc(DType::kF32, {n, inter_local_});
  backend_.silu_mul(gu.view(), act.view());
  backend_.linear(act.view(), l.down.view(), tp_.rank() == 0 ? l.down_bias.view() : TensorView{}, out);
  tp_.all_reduce_sum(out);
}

Tensor LlamaModel::logits(const TensorView& rows) {
  const int64_t m = rows.dim(0), v = config_.vocab_size;
  Tensor local = backend_.alloc(DType::kF32, {m, vocab_local_});
  backend_.linear(rows, lm_head_.view(), TensorView{}, local.view());
  if (tp_.size() == 1) return local;
  // all_gather stacks [size, m, vocab_local]; reorder into [m, vocab].
  Tensor stacked = backend_.alloc(DType::kF32, {tp_.size() * m, vocab_local_});
  tp_.all_gather(local.view(), stacked.view());
  Tensor out = backend_.alloc(DType::kF32, {m, v});
  for (int r = 0; r < tp_.size(); ++r)
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(out.data<float>() + i * v + r * vocab_local_, stacked.data<float>() + (r * m + i) * vocab_local_,
                  vocab_local_ * sizeof(float));
  return out;
}

Tensor LlamaModel::forward(const ForwardBatch& batch, KvCache& cache) {
  const int64_t n = batch.token_ids.numel(), h = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  Tensor residual = backend_.alloc(DType::kF32, {n, h});
  backend_.embedding(batch.token_ids, embed_.view(), tp_.rank() * vocab_local_, residual.view());
  tp_.all_reduce_sum(residual.view());
  Tensor x = backend_.alloc(DType::kF32, {n, h});
  Tensor delta = backend_.alloc(DType::kF32, {n, h});
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (i == 0) backend_.rms_norm(residual.view(), l.input_norm.view(), eps, x.view());
    else backend_.add_rms_norm(residual.view(), delta.view(), l.input_norm.view(), eps, x.view());
    attention_block(l, x.view(), batch, cache.k[i], cache.v[i], delta.view());
    backend_.add_rms_norm(residual.view(), delta.view(), l.post_norm.view(), eps, x.view());
    mlp_block(l, x.view(), delta.view());
  }
  backend_.add_rms_norm(residual.view(), delta.view(), final_norm_.view(), eps, x.view());
  const int64_t m = batch.logits_indices.numel();
  Tensor rows = backend_.alloc(DType::kF32, {m, h});
  backend_.gather_rows(x.view(), batch.logits_indices, rows.view());
  return logits(rows.view());
}

}  // namespace strata
