// CPU data plane: a full mesh of TCP connections among the ranks of a job, and Communicators over
// subsets of it (communicator.h) for tensors in host memory.
//
// Setup (TcpMesh::create): every rank listens on an ephemeral port, publishes
// "<prefix>/addr/<rank>" = "advertise_host:port" in the rendezvous store, connects to every higher
// rank (announcing itself in a hello message) and accepts one connection from every lower rank.
//
// Data flow: one connection per pair carries length-prefixed messages in order. A collective posts
// its sends and receives on the connections it uses and drives them all at once from the calling
// thread with non-blocking sockets and poll(), so no rank ever blocks in a send while a peer blocks
// in its own: large messages cannot deadlock. While blocked, a rank also drains whatever any other
// peer sends it ahead of time (kept until the matching receive), so point-to-point sends in a cycle
// (pipeline stages) cannot deadlock either. Messages go straight from the sender's tensor into the
// receiver's tensor (or scratch) with no intermediate copy when the receive is already posted.
//
// all_reduce_sum: rank g of the group owns the g-th slice of the tensor; every rank sends each slice
// to its owner, the owner sums the n contributions in group-rank order with f32 accumulation (the
// result matches ((x0 + x1) + x2) + ... bit for bit) and sends the sum back to everyone, streaming
// as soon as each part is summed. Every element is reduced in one place, so all ranks end with
// bit-identical values. Small tensors go to everyone at once and each rank sums them in the same
// order (one round trip instead of two, same bits).
//
// Rules: a rank uses its mesh (all of its groups) from one thread at a time, and every rank issues
// the operations on a pair of ranks in the same order. Ranks may be threads of one process (each
// with its own mesh) or processes on different hosts. A lost peer or a transport error mid-operation
// calls comm_failure("lost rank R (host:port) during OP: reason"). If the installed handler throws
// (tests do), the exception leaves the collective and the mesh is unusable afterwards: every later
// operation fails the same way.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "dist/store.h"

namespace strata {

class TcpMesh : public std::enable_shared_from_this<TcpMesh> {
 public:
  // Builds the mesh of `world_size` ranks (see above); returns once all world_size - 1 connections are
  // up, or an error listing the ranks still missing after `timeout`. advertise_host is how the other
  // ranks reach this one (an IP or a resolvable name).
  static Result<std::shared_ptr<TcpMesh>> create(Store& store, const std::string& prefix, int rank,
                                                 int world_size, const std::string& advertise_host,
                                                 std::chrono::milliseconds timeout);
  ~TcpMesh();
  TcpMesh(const TcpMesh&) = delete;
  TcpMesh& operator=(const TcpMesh&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // A Communicator over world_ranks (distinct, containing this rank); its rank is this rank's index
  // in the vector. It keeps the mesh alive.
  std::unique_ptr<Communicator> group(std::vector<int> world_ranks);

 private:
  friend class TcpGroupCommunicator;
  struct Peer;

  // One message to or from a peer (a world rank) within an exchange. `ready`, when set, bounds how
  // many bytes of `data` may be sent so far (a producer grows it from on_progress).
  struct SendOp {
    int peer = -1;
    const void* data = nullptr;
    size_t bytes = 0;
    const size_t* ready = nullptr;
  };
  struct RecvOp {
    int peer = -1;
    void* data = nullptr;
    size_t bytes = 0;
    size_t received = 0;  // grows as the payload arrives
  };

  TcpMesh(int rank, int world_size);
  // Runs every op to completion (ops to one peer in the order given), calling on_progress after each
  // round of I/O. `op` and `group` name the operation in failure messages. Caller holds mu_.
  void exchange(std::span<SendOp> sends, std::span<RecvOp> recvs, const char* op, const std::string& group,
                const std::function<void()>& on_progress = {});
  void write_some(Peer& peer);
  void read_some(Peer& peer, const char* op, const std::string& group);
  void complete_recv(Peer& peer, const char* op, const std::string& group);
  // Hands messages that arrived early to the receives now posted for them.
  void deliver_queued(Peer& peer, const char* op, const std::string& group);
  bool has_pending(const Peer& peer) const;
  // Mark the mesh unusable and call comm_failure.
  [[noreturn]] void fail(const std::string& message);
  [[noreturn]] void fail_lost(const Peer& peer, const char* op, const std::string& group,
                              const std::string& reason);
  [[noreturn]] void fail_mismatch(const Peer& peer, const char* op, const std::string& group, uint64_t got,
                                  size_t expected);
  // Scratch memory of at least `bytes`, reused across operations. Caller holds mu_.
  char* scratch(size_t bytes);

  int rank_;
  int world_size_;
  std::mutex mu_;                             // one operation at a time
  std::vector<std::unique_ptr<Peer>> peers_;  // by world rank; null for this rank
  bool broken_ = false;
  std::string broken_reason_;
  std::unique_ptr<char[]> scratch_;
  size_t scratch_bytes_ = 0;
  // Per-exchange bookkeeping, kept to avoid allocating on every call.
  struct SendState;
  std::vector<SendState> send_states_;
  size_t pending_sends_ = 0;
  size_t pending_recvs_ = 0;
};

}  // namespace strata
