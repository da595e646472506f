#include "dist/tcp_channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

#include "core/logging.h"

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kTimedOut = "timed out";
constexpr milliseconds kMaxAttemptTimeout{10'000};  // one connect attempt (a SYN into a black hole)
constexpr auto kRetryLogInterval = std::chrono::seconds(5);

std::string errno_string(int err) {
  return std::error_code(err, std::generic_category()).message();
}

void set_int_option(int fd, int level, int name, int value) {
  // Best effort: these tune the socket; a kernel without one of them still works.
  (void)::setsockopt(fd, level, name, &value, sizeof(value));
}

void tune_connected_socket(int fd) {
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  // A peer whose host died without a reset is noticed in about a minute instead of hours.
  set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, 30);
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, 5);
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, 6);
}

// Numeric host of a socket address; an IPv4 address seen through a dual-stack socket loses its
// "::ffff:" prefix so other IPv4 hosts can use it.
std::string numeric_host(const sockaddr_storage& addr, socklen_t len, uint16_t* port) {
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  if (port) *port = static_cast<uint16_t>(std::atoi(serv));
  std::string h = host;
  if (h.starts_with("::ffff:") && h.find('.') != std::string::npos) h = h.substr(7);
  return h;
}

std::string peer_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  uint16_t port = 0;
  std::string host = numeric_host(addr, len, &port);
  return join_host_port(host, port);
}

std::string local_host_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  return numeric_host(addr, len, nullptr);
}

// Milliseconds left until deadline for poll(): rounded up, at least 0.
int poll_timeout_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1'000'000'000));
}

// Waits for `events` on fd until deadline (forever without one): true when ready (or hung up,
// which the following read/write reports), false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline, bool has_deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    int timeout = has_deadline ? poll_timeout_ms(deadline) : -1;
    int n = ::poll(&p, 1, timeout);
    if (n > 0) return true;
    if (n == 0) {
      if (Clock::now() >= deadline) return false;
      continue;
    }
    if (errno != EINTR) return true;  // let the I/O call report the error
  }
}

std::string seconds_str(Clock::duration d) {
  return fmt::format("{:.1f}", std::chrono::duration<double>(d).count());
}

Result<int> make_listening_socket(int family, const sockaddr* addr, socklen_t len, bool dual_stack) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return make_error("socket: {}", errno_string(errno));
  set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (family == AF_INET6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? 0 : 1);
  if (::bind(fd, addr, len) != 0) {
    int err = errno;
    ::close(fd);
    return make_error("bind: {}", errno_string(err));
  }
  if (::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    return make_error("listen: {}", errno_string(err));
  }
  return fd;
}

// One connection attempt to every address host resolves to, each bounded by attempt_timeout.
Result<std::unique_ptr<Channel>> try_connect(const std::string& host, uint16_t port,
                                             milliseconds attempt_timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    return make_error("cannot resolve '{}': {}", host,
                      rc == EAI_SYSTEM ? errno_string(errno) : gai_strerror(rc));
  }
  std::string failures;
  auto deadline = Clock::now() + attempt_timeout;
  for (addrinfo* ai = list; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      failures += fmt::format("{}socket: {}", failures.empty() ? "" : "; ", errno_string(errno));
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS || err == EINTR) {
        if (!wait_fd(fd, POLLOUT, deadline, true)) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(err);
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    if (err == 0) {
      ::freeaddrinfo(list);
      int flags = ::fcntl(fd, F_GETFL);
      ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      return std::make_unique<Channel>(fd);
    }
    ::close(fd);
    if (!failures.empty()) failures += "; ";
    sockaddr_storage addr{};
    std::memcpy(&addr, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof(addr)));
    failures += fmt::format("{}: {}", numeric_host(addr, ai->ai_addrlen, nullptr), errno_string(err));
  }
  ::freeaddrinfo(list);
  if (failures.empty()) failures = "no addresses";
  return Error(failures);
}

}  // namespace

bool is_timeout(const Error& error) {
  return error.message().starts_with(kTimedOut);
}

std::string join_host_port(std::string_view host, uint16_t port) {
  if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    return make_error("'{}' is not host:port", text);
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return make_error("'{}' has no valid port", text);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return make_error("'{}' has no host", text);
  return std::pair<std::string, uint16_t>(std::string(host), static_cast<uint16_t>(port));
}

// --- Channel ---

Channel::Channel(int fd) : fd_(fd) {
  tune_connected_socket(fd_);
  peer_ = peer_of(fd_);
  local_address_ = local_host_of(fd_);
}

Channel::~Channel() {
  close();
  ::close(fd_);
}

void Channel::close() {
  if (!closed_.exchange(true)) ::shutdown(fd_, SHUT_RDWR);
}

Status Channel::send(std::string_view msg) {
  std::lock_guard<std::mutex> lock(send_mu_);
  char header[kFrameHeaderBytes];
  encode_frame_header(msg.size(), header);
  size_t total = kFrameHeaderBytes + msg.size();
  size_t sent = 0;
  while (sent < total) {
    if (closed_) return make_error("channel to {} is closed", peer_);
    iovec iov[2];
    int n_iov = 0;
    if (sent < kFrameHeaderBytes) {
      iov[n_iov++] = {header + sent, kFrameHeaderBytes - sent};
      iov[n_iov++] = {const_cast<char*>(msg.data()), msg.size()};
    } else {
      iov[n_iov++] = {const_cast<char*>(msg.data()) + (sent - kFrameHeaderBytes), total - sent};
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = n_iov;
    ssize_t n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_fd(fd_, POLLOUT, Clock::time_point{}, false);
    } else if (errno != EINTR) {
      return make_error("send to {} failed: {}", peer_, closed_ ? "channel closed" : errno_string(errno));
    }
  }
  return ok_status();
}

Result<std::string> Channel::recv() {
  return recv_until(Clock::time_point{}, false);
}

Result<std::string> Channel::recv(std::chrono::milliseconds timeout) {
  return recv_until(Clock::now() + timeout, true);
}

Result<std::string> Channel::recv_until(Clock::time_point deadline, bool has_deadline) {
  std::lock_guard<std::mutex> lock(recv_mu_);
  while (true) {
    char* dst;
    size_t want;
    if (header_filled_ < kFrameHeaderBytes) {
      dst = header_ + header_filled_;
      want = kFrameHeaderBytes - header_filled_;
    } else {
      dst = payload_.data() + payload_filled_;
      want = payload_.size() - payload_filled_;
    }
    if (want > 0) {
      if (closed_) return make_error("channel to {} is closed", peer_);
      ssize_t n = ::recv(fd_, dst, want, MSG_DONTWAIT);
      if (n == 0) {
        if (closed_) return make_error("channel to {} is closed", peer_);
        bool mid = header_filled_ > 0;
        return make_error("connection closed by {}{}", peer_, mid ? " in the middle of a message" : "");
      }
      if (n < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err != EAGAIN && err != EWOULDBLOCK) {
          return make_error("receive from {} failed: {}", peer_,
                            closed_ ? "channel closed" : errno_string(err));
        }
        if (!wait_fd(fd_, POLLIN, deadline, has_deadline)) {
          return make_error("{} waiting for a message from {}", kTimedOut, peer_);
        }
        continue;
      }
      if (header_filled_ < kFrameHeaderBytes) {
        header_filled_ += static_cast<size_t>(n);
        if (header_filled_ < kFrameHeaderBytes) continue;
        uint64_t length = decode_frame_header(header_);
        if (length > kMaxChannelMessageBytes) {
          close();
          return make_error("message of {} bytes from {} exceeds the limit (not a strata peer?)", length,
                            peer_);
        }
        payload_.assign(length, '\0');
        payload_filled_ = 0;
        continue;
      }
      payload_filled_ += static_cast<size_t>(n);
      continue;
    }
    std::string msg = std::move(payload_);
    payload_.clear();
    payload_filled_ = 0;
    header_filled_ = 0;
    return msg;
  }
}

// --- Listener ---

Listener::Listener(int fd, int wake_fd, uint16_t port, std::string address)
    : fd_(fd), wake_fd_(wake_fd), port_(port), address_(std::move(address)) {}

Listener::~Listener() {
  close();
  ::close(fd_);
  ::close(wake_fd_);
}

Result<std::unique_ptr<Listener>> Listener::listen(const std::string& host, uint16_t port) {
  std::string where = join_host_port(host.empty() ? "*" : host, port);
  Result<int> fd = make_error("no addresses");
  if (host.empty()) {
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons(port);
    fd = make_listening_socket(AF_INET6, reinterpret_cast<sockaddr*>(&any6), sizeof(any6), true);
  }
  if (!fd.ok() && (host.empty() || host == "0.0.0.0")) {
    sockaddr_in any4{};
    any4.sin_family = AF_INET;
    any4.sin_addr.s_addr = htonl(INADDR_ANY);
    any4.sin_port = htons(port);
    fd = make_listening_socket(AF_INET, reinterpret_cast<sockaddr*>(&any4), sizeof(any4), false);
  } else if (!host.empty()) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* list = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    if (rc != 0)
      return make_error("cannot listen on {}: cannot resolve '{}': {}", where, host, gai_strerror(rc));
    for (addrinfo* ai = list; ai && !fd.ok(); ai = ai->ai_next) {
      fd = make_listening_socket(ai->ai_family, ai->ai_addr, ai->ai_addrlen, false);
    }
    ::freeaddrinfo(list);
  }
  if (!fd.ok()) return make_error("cannot listen on {}: {}", where, fd.error().message());
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  uint16_t bound_port = port;
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) numeric_host(addr, len, &bound_port);
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    int err = errno;
    ::close(*fd);
    return make_error("cannot listen on {}: eventfd: {}", where, errno_string(err));
  }
  std::string address = join_host_port(host.empty() ? "*" : host, bound_port);
  return std::unique_ptr<Listener>(new Listener(*fd, wake, bound_port, std::move(address)));
}

Result<std::unique_ptr<Channel>> Listener::accept(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (closed_) return make_error("listener on {} is closed", address_);
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return std::make_unique<Channel>(fd);
    int err = errno;
    if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED && err != EPROTO) {
      if (closed_) return make_error("listener on {} is closed", address_);
      return make_error("accept on {} failed: {}", address_, errno_string(err));
    }
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(p, 2, poll_timeout_ms(deadline));
    if (n == 0 && Clock::now() >= deadline) {
      return make_error("{} after {} ms waiting for a connection on {}", kTimedOut, timeout.count(),
                        address_);
    }
  }
}

void Listener::close() {
  if (closed_.exchange(true)) return;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  ::shutdown(fd_, SHUT_RDWR);  // refuses new connections from now on
}

// --- connect_with_retry ---

Result<std::unique_ptr<Channel>> connect_with_retry(const std::string& host, uint16_t port,
                                                    const RetryOptions& options) {
  std::string where = join_host_port(host, port);
  auto start = Clock::now();
  auto deadline = start + options.timeout;
  auto backoff = std::max(options.initial_backoff, milliseconds(1));
  Clock::time_point last_log{};
  std::string last_error;
  for (int attempt = 1;; ++attempt) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    auto attempt_timeout = std::clamp(left, milliseconds(1), kMaxAttemptTimeout);
    auto channel = try_connect(host, port, attempt_timeout);
    auto now = Clock::now();
    if (channel.ok()) {
      if (attempt > 1) {
        LOG_INFO("connected to {} at {} after {} attempts ({}s)", options.what, where, attempt,
                 seconds_str(now - start));
      }
      return channel;
    }
    last_error = channel.error().message();
    if (now >= deadline) {
      return make_error("could not connect to {} at {} within {}s ({} attempts): {}", options.what, where,
                        seconds_str(options.timeout), attempt, last_error);
    }
    if (last_log == Clock::time_point{} || now - last_log >= kRetryLogInterval) {
      LOG_INFO("waiting for {} at {}: {} (attempt {}, {}s elapsed, timeout {}s)", options.what, where,
               last_error, attempt, seconds_str(now - start), seconds_str(options.timeout));
      last_log = now;
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::max(options.max_backoff, backoff));
  }
}

}  // namespace strata
