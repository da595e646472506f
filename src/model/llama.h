// Llama-family decoder (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM) for one
// tensor-parallel rank: vocab-parallel embedding and LM head, column-parallel q/k/v and gate/up,
// row-parallel o and down projections followed by an all-reduce, KV heads split across ranks.
//
// With pipeline parallelism the rank holds only its stage's layers: the first stage embeds, the
// others receive (residual, delta) [2, tokens, hidden] from the previous stage; the last stage owns the
// final norm and the LM head, the others send (residual, delta) on.
//
// Per layer: x = norm(residual) → q, k, v → rope → write K/V into the paged cache → attention over
// the cache → o_proj (+all-reduce) → residual add + norm → gate/up → silu·mul → down (+all-reduce).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/model.h"

namespace strata {

class LlamaModel final : public Model {
 public:
  static Result<std::unique_ptr<Model>> create(const ModelConfig& config, const WeightLoader& weights,
                                               Backend& backend, Communicator& tp, const ModelOptions& options);

  const ModelConfig& config() const override { return config_; }
  int64_t kv_bytes_per_block(int block_size) const override;
  KvCache allocate_kv_cache(int64_t num_blocks, int block_size) override;
  Tensor forward(const ForwardBatch& batch, KvCache& cache) override;
  bool is_last_stage() const override { return stage_ + 1 == stages_; }

 private:
  struct Layer {
    Tensor input_norm;          // [hidden]
    Tensor qkv;                 // [(heads_local + 2 * kv_local) * head_dim, hidden]: q rows, k rows, v rows
    Tensor qkv_bias;
    Tensor o;                   // [hidden, heads_local * head_dim]
    Tensor o_bias;              // [hidden] (rank 0 only adds it before the all-reduce)
    Tensor post_norm;           // [hidden]
    Tensor gate_up;             // [2 * intermediate_local, hidden]: gate rows then up rows
    Tensor gate_up_bias;
    Tensor down;                // [hidden, intermediate_local]
    Tensor down_bias;
  };

  LlamaModel(const ModelConfig& c, Backend& b, Communicator& tp, Communicator* pp)
      : config_(c), backend_(b), tp_(tp), pp_(pp) {}
  Status load(const WeightLoader& w, const ModelOptions& options);
  Status load_into(const WeightLoader& w, const std::string& name, const Shape& full, ShardDim dim,
                   const TensorView& dst, DummyInit init, int shard, int shards);
  Result<Tensor> load_weight(const WeightLoader& w, const std::string& name, const Shape& full, ShardDim dim,
                             DummyInit init);
  struct Part {
    std::string name;
    Shape full;
    bool kv = false;  // k/v projection: sharded by KV head (replicated when ranks outnumber KV heads)
  };
  Result<Tensor> load_stacked(const WeightLoader& w, const std::vector<Part>& parts);
  Tensor upload(Tensor host);
  void attention_block(const Layer& l, const TensorView& x, const ForwardBatch& batch, const Tensor& k_cache,
                       const Tensor& v_cache, const TensorView& out);
  void mlp_block(const Layer& l, const TensorView& x, const TensorView& out);
  Tensor logits(const TensorView& hidden_rows);

  ModelConfig config_;
  Backend& backend_;
  Communicator& tp_;
  Communicator* pp_;  // null with one stage
  int stage_ = 0, stages_ = 1;
  int64_t first_layer_ = 0;  // global index of layers_[0]
  DType dt_ = DType::kF32;  // weights, activations and KV cache (logits are F32)
  int64_t heads_local_ = 0, kv_heads_local_ = 0, inter_local_ = 0, vocab_local_ = 0;
  int kv_shard_ = 0, kv_shards_ = 1;  // this rank's slice of the KV heads
  Tensor embed_;    // [vocab_local, hidden]
  Tensor lm_head_;  // [vocab_local, hidden] (shares embed_ when tied)
  Tensor final_norm_;
  Tensor cos_sin_;  // [max_model_len, head_dim]
  std::vector<Layer> layers_;
};

}  // namespace strata
