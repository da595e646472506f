// TCP rendezvous store (store.h): the leader runs a TcpStoreServer; every other process holds a
// TcpStoreClient over a Channel (more when its threads wait concurrently). Requests are one message each (set
// / get / add) and answered by one reply. A get for a key nobody has set yet waits on the server (a condition
// variable, no polling) until the key is set or the client's timeout passes. The leader uses local(), the
// same map without a socket.
//
// A client that loses its connection to the server calls comm_failure("lost the rendezvous store at
// host:port: ...") (the store is how ranks agree, so there is no going on without it); only get's
// timeout comes back as an error value (is_timeout() holds for it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dist/store.h"
#include "dist/tcp_channel.h"

namespace strata {

class TcpStoreClient final : public Store {
 public:
  // Takes the first connection to the server (connect_store makes it).
  explicit TcpStoreClient(std::unique_ptr<Channel> channel);
  ~TcpStoreClient() override;

  // Thread-safe. A request takes an idle connection; when another thread's request (say, a blocked
  // get) holds the only one, it opens another, so a waiting get never delays a set from the same
  // process (ranks that are threads of one process may share a client).
  void set(const std::string& key, const std::string& value) override;
  Result<std::string> get(const std::string& key, std::chrono::milliseconds timeout) override;
  int64_t add(const std::string& key, int64_t delta) override;

  // IP of this process on the interface that routes to the store's host (what the data plane can
  // advertise to the other ranks).
  const std::string& local_address() const { return local_address_; }
  // "host:port" of the server.
  const std::string& server_address() const { return server_address_; }

 private:
  std::string request(const std::string& msg);

  std::string local_address_;
  std::string server_address_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Channel>> idle_;  // connections no request is using
};

// Connects to the store at host:port, retrying as connect_with_retry does.
Result<std::unique_ptr<TcpStoreClient>> connect_store(const std::string& host, uint16_t port,
                                                      const RetryOptions& options);

class TcpStoreServer {
 public:
  // Listens on host:port ("" = every interface, port 0 = ephemeral) and starts serving.
  static Result<std::unique_ptr<TcpStoreServer>> start(const std::string& host, uint16_t port);
  // Stops accepting, wakes waiting gets, disconnects the clients and joins every thread.
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  uint16_t port() const { return listener_->port(); }
  // The same key-value map, for the process that runs the server.
  Store& local() { return *local_; }

  // The map and its waiters, shared by local() and the client threads.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::string> values;
    bool stopping = false;
  };

 private:
  struct Client {
    std::unique_ptr<Channel> channel;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  explicit TcpStoreServer(std::unique_ptr<Listener> listener);
  void accept_loop();
  void serve(Client* client);

  std::unique_ptr<Listener> listener_;
  State state_;
  std::unique_ptr<Store> local_;
  std::mutex clients_mu_;
  std::list<Client> clients_;
  std::thread accept_thread_;
};

}  // namespace strata
