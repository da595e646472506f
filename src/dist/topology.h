// Topology: where this process sits in a model replica spread over nodes. One process per node
// (one Kubernetes pod); the same command runs on every node and the role comes from the environment
// LeaderWorkerSet injects (LWS_LEADER_ADDRESS, LWS_GROUP_SIZE, LWS_WORKER_INDEX) or from the explicit
// --nnodes / --node-rank / --master-addr / --master-port flags (which win over the environment).
//
// Ranks: global rank = node_rank × ranks_per_node + local index; pipeline stage = rank / tp; tp rank =
// rank % tp, so a tensor-parallel group stays inside a node and the pipeline crosses nodes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "dist/communicator.h"

namespace strata {

struct DistOptions {
  int tensor_parallel_size = 1;
  int pipeline_parallel_size = 1;
  int nnodes = 0;            // 0: LWS_GROUP_SIZE, else 1
  int node_rank = -1;        // -1: LWS_WORKER_INDEX, else 0
  std::string master_addr;   // "": LWS_LEADER_ADDRESS, else 127.0.0.1
  int master_port = 29500;   // the leader's rendezvous port
  double join_timeout_s = 900;  // how long the leader waits for every rank, and workers for the leader
};

struct Topology {
  ParallelConfig parallel;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr;  // the leader (127.0.0.1 on one node)
  uint16_t master_port = 29500;
  std::chrono::milliseconds join_timeout{900000};
  bool from_lws = false;  // the role came from LeaderWorkerSet's environment

  int world_size() const { return parallel.world_size(); }
  int ranks_per_node() const { return world_size() / nnodes; }
  int first_local_rank() const { return node_rank * ranks_per_node(); }
  bool is_leader() const { return node_rank == 0; }
  int tp() const { return parallel.tensor_parallel_size; }
  int pp() const { return parallel.pipeline_parallel_size; }
  int stage_of(int rank) const { return rank / tp(); }
  int tp_rank_of(int rank) const { return rank % tp(); }
  int node_of(int rank) const { return rank / ranks_per_node(); }
  // The rank whose step output the engine uses: tp rank 0 of the last stage.
  int output_rank() const { return (pp() - 1) * tp(); }
  // Whether anything beyond one rank in this process is involved.
  bool distributed() const { return world_size() > 1 || nnodes > 1; }
};

using EnvLookup = std::function<const char*(const char*)>;

// Flags + environment → topology, or a one-line error naming the flag or variable at fault.
Result<Topology> resolve_topology(const DistOptions& options, const EnvLookup& env);
Result<Topology> resolve_topology(const DistOptions& options);  // the process environment

}  // namespace strata
