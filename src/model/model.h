// Model: a causal LM built from the HF config and a weight source for one tensor-parallel rank,
// running one step over a flat batch of tokens from many sequences (the layout the engine
// schedules: variable-length prefill chunks and single decode tokens mixed) against a paged KV cache.
//
// forward(): token ids + positions + attention metadata → logits for the requested rows. Models are
// found by their HF architecture name (create_model).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/communicator.h"
#include "weights/model_config.h"
#include "weights/weight_loader.h"

namespace strata {

// Per-layer K and V caches of this pipeline stage's layers, each [num_blocks, block_size,
// num_kv_heads_local, head_dim] (k[0] is the stage's first layer).
struct KvCache {
  std::vector<Tensor> k;
  std::vector<Tensor> v;
  int64_t num_blocks = 0;
  int block_size = 0;
};

struct ForwardBatch {
  TensorView token_ids;       // int32 [num_tokens]
  TensorView positions;       // int32 [num_tokens]
  AttentionMetadata attn;     // per-sequence layout of the tokens and their blocks
  TensorView logits_indices;  // int32 [num_logits]: rows whose logits are returned
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // Bytes of KV cache one block of `block_size` tokens takes on this rank, over all layers.
  virtual int64_t kv_bytes_per_block(int block_size) const = 0;
  virtual KvCache allocate_kv_cache(int64_t num_blocks, int block_size) = 0;
  // Logits f32 [num_logits, vocab_size] (the full vocabulary on every rank of the last pipeline
  // stage); an empty Tensor on the other stages, which send their activations to the next stage.
  virtual Tensor forward(const ForwardBatch& batch, KvCache& cache) = 0;
  // Whether forward() returns logits (the last pipeline stage).
  virtual bool is_last_stage() const { return true; }
};

struct ModelOptions {
  int64_t max_model_len = 0;  // positions the rope cache covers
  DType dtype = DType::kF32;  // weights, activations and KV cache
  // The ranks of this tensor-parallel index across pipeline stages (group rank = stage); null = one
  // stage. Stage s runs layers [s * L / pp, (s + 1) * L / pp) (earlier stages take the remainder).
  Communicator* pp = nullptr;
};

// [first, last) layers of pipeline stage `stage` of `stages` for a model of `num_layers`.
std::pair<int64_t, int64_t> stage_layers(int64_t num_layers, int stage, int stages);

// Builds the model named by config.architecture for the rank `tp.rank()` of `tp.size()` (and the
// stage options.pp->rank() of options.pp->size()).
Result<std::unique_ptr<Model>> create_model(const ModelConfig& config, const WeightLoader& weights,
                                            Backend& backend, Communicator& tp, const ModelOptions& options);

}  // namespace strata
