// NCCL communicator: the data plane between GPU ranks (all-reduce inside a tensor-parallel group,
// send/recv between pipeline stages). Each rank makes one from its own CUDA backend; every operation
// is queued on that backend's stream, after the kernels that produced its input and before those that
// read its output, so the host does not wait for it (barrier() excepted) and decode steps that
// contain collectives can be captured into CUDA graphs.
//
// Setting up: group rank 0 makes an NCCL unique id and publishes it through the rendezvous store
// under `key` (hex-encoded); the other ranks read it from there. All ranks then count themselves in
// under `key + "/arrived"` and wait, up to `timeout`, for the whole group before calling
// ncclCommInitRank (which would wait forever for a rank that never comes). `key` must be unique per
// communicator within the store (e.g. "nccl/tp/stage1").
//
// The implementation is src/backend/cuda/nccl_communicator.cpp (CUDA builds); CPU-only builds have a
// stub that reports NCCL missing.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/communicator.h"
#include "dist/store.h"

namespace strata {

// Whether this build has NCCL (CUDA builds) and a CUDA GPU is present.
bool nccl_available();

// This process's member `rank` of a group of `size` ranks on `backend`'s GPU (it must be the CUDA
// backend). Errors (a value): no NCCL in this build, a backend that is not CUDA, the id or the other
// ranks not arriving within `timeout`, ncclCommInitRank failing (e.g. two ranks on one GPU).
// Failures after setup go to comm_failure(). The communicator must not outlive the backend.
Result<std::unique_ptr<Communicator>> create_nccl_communicator(Store& store, const std::string& key, int rank,
                                                               int size, Backend& backend,
                                                               std::chrono::milliseconds timeout);

}  // namespace strata
