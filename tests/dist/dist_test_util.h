// Helpers for the TCP transport tests: a failure handler that throws (comm_failure is [[noreturn]],
// so throwing is the one way a test can observe it and go on), a free local port, and running the
// ranks of a mesh as threads of this process.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dist/communicator.h"
#include "dist/tcp_channel.h"
#include "dist/tcp_communicator.h"
#include "dist/tcp_store.h"

namespace strata::test {

struct CommFailureError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Installs a comm-failure handler that throws CommFailureError for the scope's lifetime.
class ThrowingCommFailureHandler {
 public:
  ThrowingCommFailureHandler() {
    set_comm_failure_handler([](const std::string& reason) { throw CommFailureError(reason); });
  }
  ~ThrowingCommFailureHandler() { set_comm_failure_handler(nullptr); }
};

// A port nothing listens on right now (bound once, then released).
inline uint16_t free_port() {
  auto listener = Listener::listen("127.0.0.1", 0);
  EXPECT_TRUE(listener.ok()) << listener.error().message();
  return listener.ok() ? (*listener)->port() : 0;
}

// Runs fn(rank) on world_size threads and joins them; an exception escaping a rank fails the test.
inline void run_threads(int world_size, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        fn(rank);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "rank " << rank << " threw: " << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
}

// A rendezvous store server on 127.0.0.1 and, per rank, a client of it (rank 0 uses local()).
class MeshHarness {
 public:
  explicit MeshHarness(int world_size) : world_size_(world_size) {
    auto server = TcpStoreServer::start("127.0.0.1", 0);
    EXPECT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(server).value();
    for (int rank = 1; rank < world_size; ++rank) {
      RetryOptions retry;
      retry.timeout = std::chrono::seconds(10);
      retry.what = "test store";
      auto client = connect_store("127.0.0.1", server_->port(), retry);
      EXPECT_TRUE(client.ok()) << client.error().message();
      clients_.push_back(std::move(client).value());
    }
  }

  Store& store(int rank) { return rank == 0 ? server_->local() : *clients_[rank - 1]; }

  // This rank's mesh (all ranks must call it, each from its own thread).
  std::shared_ptr<TcpMesh> mesh(int rank, const std::string& prefix = "test") {
    auto mesh =
        TcpMesh::create(store(rank), prefix, rank, world_size_, "127.0.0.1", std::chrono::seconds(20));
    EXPECT_TRUE(mesh.ok()) << mesh.error().message();
    if (!mesh.ok()) throw std::runtime_error(mesh.error().message());
    return std::move(mesh).value();
  }

  // Creates every rank's mesh and runs fn(rank, mesh) on one thread per rank.
  void run(const std::function<void(int, TcpMesh&)>& fn) {
    run_threads(world_size_, [&](int rank) {
      auto mesh = this->mesh(rank);
      fn(rank, *mesh);
    });
  }

 private:
  int world_size_;
  std::unique_ptr<TcpStoreServer> server_;
  std::vector<std::unique_ptr<TcpStoreClient>> clients_;
};

}  // namespace strata::test
