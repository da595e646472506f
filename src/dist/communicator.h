// Communicator: collectives over one group of ranks (a tensor-parallel group, or the ranks of one
// tensor-parallel index across pipeline stages). Every layer is written against this interface; the
// single-rank implementation makes each collective the identity. Implementations: TCP (CPU tensors,
// tcp_communicator.h) and NCCL (CUDA tensors, nccl_communicator.h).
//
// Tensors live on the memory of the backend the communicator was made for. Every call is collective
// over the group (send/recv: over the pair) and blocks the caller until its part is done (NCCL: until
// it is queued on the backend's stream). A lost peer is fatal: the failure handler
// (set_comm_failure_handler) is called with a one-line reason and does not return.
#pragma once

#include <functional>
#include <memory>
#include <string>

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
  virtual int rank() const = 0;  // in this group
  virtual int size() const = 0;
  // In place: x = sum over ranks of x. Every rank ends with bit-identical values.
  virtual void all_reduce_sum(const TensorView& x) = 0;
  // out [size * rows, ...] = concatenation over ranks of x [rows, ...] along dim 0.
  virtual void all_gather(const TensorView& x, const TensorView& out) = 0;
  // x on every rank = x on `root`.
  virtual void broadcast(const TensorView& x, int root) = 0;
  // Point to point with group rank `peer`; the receiver's x has the sender's size.
  virtual void send(const TensorView& x, int peer) = 0;
  virtual void recv(const TensorView& x, int peer) = 0;
  virtual void barrier() = 0;
};

std::unique_ptr<Communicator> create_single_rank_communicator();

// Called (from any thread) when a peer is lost or a transport fails; must not return. The default
// logs the reason and aborts. The server installs one that turns /health 503 and exits non-zero.
using CommFailureHandler = std::function<void(const std::string& reason)>;
void set_comm_failure_handler(CommFailureHandler handler);
[[noreturn]] void comm_failure(const std::string& reason);

}  // namespace strata
