// Communicator: collectives over one group of ranks (a tensor-parallel group, or a pipeline pair).
// Every layer is written against this interface from the start; the single-rank implementation
// makes each collective the identity. NCCL (GPU) and TCP (CPU) implementations come with
// multi-rank support.
#pragma once

#include <memory>

#include "core/tensor.h"

namespace strata {

struct ParallelConfig {
  int tensor_parallel_size = 1;
  int pipeline_parallel_size = 1;
  int world_size() const { return tensor_parallel_size * pipeline_parallel_size; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: x = sum over ranks of x (f32).
  virtual void all_reduce_sum(const TensorView& x) = 0;
  // out [size * rows, ...] = concatenation over ranks of x along dim 0.
  virtual void all_gather(const TensorView& x, const TensorView& out) = 0;
  virtual void barrier() = 0;
};

std::unique_ptr<Communicator> create_single_rank_communicator();

}  // namespace strata
