// A tensor/pipeline-parallel group of ranks (topology.h) serving one model. The leader process (node
// 0) runs the rendezvous store, waits for every worker node to join (logging who is missing), starts
// its own ranks and returns a GroupExecutor for the engine; each worker node's process runs
// run_worker_node() with the same flags, which joins, starts its ranks and runs the steps the leader
// sends until told to stop.
//
// Control plane: one TCP channel per worker node carrying steps (leader → node), the output rank's
// step output (node → leader), heartbeats both ways and errors. Data plane: NCCL between GPU ranks,
// a TCP mesh (tcp_communicator.h) between CPU ranks. Any lost node, rank or connection goes to
// comm_failure(): the group is dead and the process exits non-zero (LeaderWorkerSet recreates it).
#pragma once

#include <atomic>
#include <deque>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dist/tcp_channel.h"
#include "dist/tcp_store.h"
#include "dist/topology.h"
#include "runtime/executor.h"
#include "runtime/kv_sizing.h"
#include "runtime/model_loader.h"
#include "runtime/rank_worker.h"

namespace strata {

struct GroupOptions {
  Topology topology;
  LoadOptions load;
  KvSizing kv;                   // max_num_batched_tokens 0: the GPU default (kv_sizing.h)
  bool enforce_eager = false;
  int64_t num_blocks_override = 0;
  int64_t tokens_hint = 0;       // > 0: no more KV blocks than these tokens need
  std::string summary;           // the configuration every node must share, checked when a node joins
};

class GroupExecutor final : public Executor {
 public:
  static Result<std::unique_ptr<GroupExecutor>> start(const GroupOptions& options,
                                                      std::shared_ptr<const ModelSource> source);
  ~GroupExecutor() override;  // tells the worker nodes to stop, then stops the local ranks
  StepOutput run(std::span<const SeqChunk> chunks) override;
  std::future<StepOutput> submit(std::span<const SeqChunk> chunks) override;
  int max_in_flight() const override { return topology_.pp(); }
  bool overlaps() const override { return true; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t max_num_batched_tokens() const { return batched_tokens_; }

 private:
  struct Node {
    int index = 0;
    std::unique_ptr<Channel> channel;
    std::thread reader;
  };
  GroupExecutor() = default;
  Status join_nodes(const GroupOptions& o);
  void read_node(Node& node);

  Topology topology_;
  std::unique_ptr<TcpStoreServer> store_server_;
  std::unique_ptr<Listener> listener_;
  std::vector<std::unique_ptr<Node>> nodes_;  // worker nodes 1..nnodes-1
  std::vector<std::unique_ptr<RankWorker>> ranks_;
  std::thread heartbeat_;
  // A step that has not come back in step_timeout_ (STRATA_STEP_TIMEOUT_S, default 600 s) means a rank
  // is hung (e.g. inside a collective while its heartbeats still flow): the group is failed.
  std::thread watchdog_;
  std::chrono::seconds step_timeout_{600};
  std::deque<std::chrono::steady_clock::time_point> started_;  // steps in flight, oldest first
  void step_done();
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  // Steps in flight whose output comes from a worker node, oldest first.
  std::deque<std::shared_ptr<std::promise<StepOutput>>> pending_;
  int64_t num_blocks_ = 0, batched_tokens_ = 0;
};

// A worker node's process (LWS_WORKER_INDEX > 0 / --node-rank > 0): returns the exit code.
int run_worker_node(const GroupOptions& options);

}  // namespace strata
