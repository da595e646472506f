// TCP transport for the control plane and the CPU data plane: a Listener accepts Channels, and
// connect_with_retry dials one (re-resolving the host name on every attempt, since in Kubernetes the
// leader's DNS name may not resolve until its pod exists). A Channel carries whole messages: each is
// an 8-byte little-endian length followed by that many bytes, so the reader always gets exactly what
// one send wrote. Sockets are blocking-free underneath (poll with deadlines), TCP_NODELAY and
// keepalive are on, SIGPIPE is never raised, and close() from any thread wakes a blocked reader.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace strata {

// Size of the length prefix in front of every message (Channel and TcpMesh share the framing).
inline constexpr size_t kFrameHeaderBytes = 8;
// Channel::recv refuses larger messages (a corrupt or foreign stream), so garbage cannot allocate.
inline constexpr uint64_t kMaxChannelMessageBytes = uint64_t{1} << 30;

inline void encode_frame_header(uint64_t length, char* out) {
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
}
inline uint64_t decode_frame_header(const char* in) {
  uint64_t length = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i)
    length |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return length;
}

// True for the error Channel::recv(timeout) returns when no whole message arrived in time; the
// channel stays usable (a partly received message is kept and completed by the next recv).
bool is_timeout(const Error& error);

// "host:port", with an IPv6 host in brackets ("[::1]:29500").
std::string join_host_port(std::string_view host, uint16_t port);
// Inverse of join_host_port; an error naming the text when it has no valid port.
Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text);

class Channel {
 public:
  // Takes ownership of a connected socket.
  explicit Channel(int fd);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Writes one whole message. Thread-safe: concurrent senders never interleave their bytes.
  Status send(std::string_view msg);
  // The next whole message; an error on EOF, reset or close(). One reader at a time.
  Result<std::string> recv();
  // As recv, but an error for which is_timeout() holds when no whole message arrives in `timeout`.
  Result<std::string> recv(std::chrono::milliseconds timeout);
  // Shuts the connection down: a recv or send blocked in another thread returns an error. The socket
  // is released by the destructor.
  void close();
  bool closed() const { return closed_.load(); }

  // "host:port" of the other end.
  const std::string& peer() const { return peer_; }
  // IP of this end: the address of the local interface that routes to the peer.
  const std::string& local_address() const { return local_address_; }
  // The socket, for TcpMesh's poll loop (which then owns all I/O on it).
  int native_handle() const { return fd_; }

 private:
  Result<std::string> recv_until(std::chrono::steady_clock::time_point deadline, bool has_deadline);

  int fd_;
  std::atomic<bool> closed_{false};
  std::string peer_;
  std::string local_address_;
  std::mutex send_mu_;
  // Reader state, kept across a timed-out recv so a partial message is not lost.
  std::mutex recv_mu_;
  char header_[kFrameHeaderBytes];
  size_t header_filled_ = 0;
  std::string payload_;
  size_t payload_filled_ = 0;
};

class Listener {
 public:
  // Binds host:port (port 0: an ephemeral port; host "" : every interface, IPv6 and IPv4 where the
  // host has IPv6, "0.0.0.0": every IPv4 interface). The error names host:port and the reason
  // (e.g. "Address already in use").
  static Result<std::unique_ptr<Listener>> listen(const std::string& host, uint16_t port);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const { return port_; }
  // The next connection; an error for which is_timeout() holds after `timeout`, another after close().
  Result<std::unique_ptr<Channel>> accept(std::chrono::milliseconds timeout);
  // Stops listening; an accept blocked in another thread returns an error.
  void close();

 private:
  Listener(int fd, int wake_fd, uint16_t port, std::string address);

  int fd_;
  int wake_fd_;  // eventfd that close() signals
  uint16_t port_;
  std::string address_;  // "host:port" for messages
  std::atomic<bool> closed_{false};
};

struct RetryOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(600)};  // in all, across attempts
  std::chrono::milliseconds initial_backoff{100};                // doubling after each failure
  std::chrono::milliseconds max_backoff{5000};
  std::string what = "peer";  // names the other end in log lines: "waiting for <what> at host:port"
};

// Connects to host:port, retrying (with backoff, resolving the name anew each attempt) until it
// succeeds or options.timeout passes; logs progress at info level about every 5 s. The error names
// host:port, the number of attempts and the last failure.
Result<std::unique_ptr<Channel>> connect_with_retry(const std::string& host, uint16_t port,
                                                    const RetryOptions& options);

}  // namespace strata
