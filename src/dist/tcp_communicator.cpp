#include "dist/tcp_communicator.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <system_error>
#include <thread>

#include "core/logging.h"
#include "dist/tcp_channel.h"

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kHelloMagic = "strata-mesh-v1";
constexpr milliseconds kHelloTimeout{10'000};
// A message nobody has asked for yet is buffered; a larger one means a corrupt stream.
constexpr uint64_t kMaxBufferedMessageBytes = uint64_t{1} << 38;
// Bytes read from one connection before the poll loop turns to the others.
constexpr size_t kMaxReadPerTurn = size_t{8} << 20;

std::string errno_string(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// The first message on a connection: who is calling whom, and the caller's published address.
struct Hello {
  int from = -1;
  std::string address;
};

std::string hello_message(const std::string& prefix, int from, int to, int world_size,
                          const std::string& address) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", kHelloMagic, prefix, from, to, world_size, address);
}

// The caller, when the hello is for this mesh and this rank.
Result<Hello> parse_hello(const std::string& msg, const std::string& prefix, int rank, int world_size) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t nl = msg.find('\n', start);
    parts.push_back(msg.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  if (parts.size() != 6 || parts[0] != kHelloMagic) return make_error("not a strata mesh hello");
  if (parts[1] != prefix) return make_error("hello for mesh '{}', this is mesh '{}'", parts[1], prefix);
  int from = -1;
  try {
    from = std::stoi(parts[2]);
    if (std::stoi(parts[3]) != rank || std::stoi(parts[4]) != world_size) {
      return make_error("hello for rank {} of {}, this is rank {} of {}", parts[3], parts[4], rank,
                        world_size);
    }
  } catch (const std::exception&) {
    return make_error("malformed hello");
  }
  if (from < 0 || from >= rank) return make_error("hello from rank {}, expected a rank below {}", from, rank);
  return Hello{from, parts[5]};
}

}  // namespace

struct TcpMesh::SendState {
  const SendOp* op = nullptr;
  char header[kFrameHeaderBytes];
  size_t sent = 0;  // header and payload bytes written
};

struct TcpMesh::Peer {
  struct Buffer {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };

  int rank = -1;
  std::unique_ptr<Channel> channel;  // owns the socket
  int fd = -1;
  std::string address;
  bool dead = false;
  std::string dead_reason;
  // This exchange's ops to and from this peer, in order.
  std::vector<SendState*> send_queue;
  size_t send_head = 0;
  std::vector<RecvOp*> recv_queue;
  size_t recv_head = 0;
  // The incoming message being read: straight into a posted receive, or into `partial`.
  char header[kFrameHeaderBytes];
  size_t header_filled = 0;
  bool in_payload = false;
  uint64_t length = 0;
  uint64_t filled = 0;
  char* target = nullptr;
  RecvOp* target_op = nullptr;
  Buffer partial;
  std::deque<Buffer> queued;  // whole messages that arrived before their receive was posted
};

TcpMesh::TcpMesh(int rank, int world_size) : rank_(rank), world_size_(world_size) {
  peers_.resize(world_size);
}

TcpMesh::~TcpMesh() = default;

Result<std::shared_ptr<TcpMesh>> TcpMesh::create(Store& store, const std::string& prefix, int rank,
                                                 int world_size, const std::string& advertise_host,
                                                 std::chrono::milliseconds timeout) {
  STRATA_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "rank {} of {}", rank, world_size);
  std::shared_ptr<TcpMesh> mesh(new TcpMesh(rank, world_size));
  if (world_size == 1) return mesh;
  auto start = Clock::now();
  auto deadline = start + timeout;
  auto left = [&] {
    return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  };

  STRATA_TRY(auto listener, Listener::listen("", 0));
  std::string my_address = join_host_port(advertise_host, listener->port());
  store.set(fmt::format("{}/addr/{}", prefix, rank), my_address);

  std::mutex mu;
  std::vector<std::unique_ptr<Channel>> channels(world_size);
  std::vector<std::string> problems(world_size);
  std::vector<std::string> addresses(world_size);  // as published, for messages
  // Lower ranks connect to this one: accept them on a helper thread while this one dials higher ranks.
  std::thread acceptor([&] {
    for (int accepted = 0; accepted < rank;) {
      auto channel = listener->accept(left());
      if (!channel.ok()) {
        if (is_timeout(channel.error()) && Clock::now() < deadline) continue;
        if (!is_timeout(channel.error())) {
          LOG_WARN("mesh '{}' rank {}: {}", prefix, rank, channel.error().message());
        }
        break;
      }
      auto hello = (*channel)->recv(std::min(left(), kHelloTimeout));
      Result<Hello> from =
          hello.ok() ? parse_hello(*hello, prefix, rank, world_size) : Result<Hello>(hello.error());
      if (!from.ok()) {
        LOG_WARN("mesh '{}' rank {}: dropping a connection from {}: {}", prefix, rank, (*channel)->peer(),
                 from.error().message());
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      if (channels[from->from]) {
        LOG_WARN("mesh '{}' rank {}: dropping a second connection from rank {}", prefix, rank, from->from);
        continue;
      }
      Status ack = (*channel)->send("ok");
      if (!ack.ok()) {
        problems[from->from] = ack.error().message();
        continue;
      }
      channels[from->from] = std::move(channel).value();
      addresses[from->from] = from->address;
      ++accepted;
    }
  });
  struct JoinOnExit {
    Listener& listener;
    std::thread& thread;
    ~JoinOnExit() {
      if (thread.joinable()) {
        listener.close();
        thread.join();
      }
    }
  } join_on_exit{*listener, acceptor};

  for (int peer = rank + 1; peer < world_size; ++peer) {
    auto address = store.get(fmt::format("{}/addr/{}", prefix, peer), left());
    if (!address.ok()) {
      problems[peer] = "its address was never published in the store";
      continue;
    }
    auto host_port = parse_host_port(*address);
    if (!host_port.ok()) {
      problems[peer] = host_port.error().message();
      continue;
    }
    RetryOptions retry;
    retry.timeout = left();
    retry.what = fmt::format("rank {} of mesh '{}'", peer, prefix);
    auto channel = connect_with_retry(host_port->first, host_port->second, retry);
    if (!channel.ok()) {
      problems[peer] = channel.error().message();
      continue;
    }
    Status sent = (*channel)->send(hello_message(prefix, rank, peer, world_size, my_address));
    auto reply =
        sent.ok() ? (*channel)->recv(std::max(left(), milliseconds(100))) : Result<std::string>(sent.error());
    if (!reply.ok() || *reply != "ok") {
      problems[peer] = fmt::format("{} did not accept the connection: {}", *address,
                                   reply.ok() ? "unexpected reply" : reply.error().message());
      continue;
    }
    std::lock_guard<std::mutex> lock(mu);
    channels[peer] = std::move(channel).value();
    addresses[peer] = *address;
  }
  acceptor.join();

  std::vector<int> missing;
  std::string details;
  for (int peer = 0; peer < world_size; ++peer) {
    if (peer == rank || channels[peer]) continue;
    missing.push_back(peer);
    std::string why = problems[peer];
    if (why.empty()) why = "it never connected";
    details += fmt::format("{}rank {}: {}", details.empty() ? "" : "; ", peer, why);
  }
  if (!missing.empty()) {
    return make_error("mesh '{}': rank {} of {} gave up after {:.1f}s waiting for rank(s) {}: {}", prefix,
                      rank, world_size, std::chrono::duration<double>(Clock::now() - start).count(),
                      fmt::join(missing, ", "), details);
  }
  for (int peer = 0; peer < world_size; ++peer) {
    if (peer == rank) continue;
    auto p = std::make_unique<Peer>();
    p->rank = peer;
    p->fd = channels[peer]->native_handle();
    p->address = addresses[peer].empty() ? channels[peer]->peer() : addresses[peer];
    p->channel = std::move(channels[peer]);
    int flags = ::fcntl(p->fd, F_GETFL);
    ::fcntl(p->fd, F_SETFL, flags | O_NONBLOCK);
    mesh->peers_[peer] = std::move(p);
  }
  LOG_DEBUG("mesh '{}': rank {} of {} connected", prefix, rank, world_size);
  return mesh;
}

char* TcpMesh::scratch(size_t bytes) {
  if (bytes > scratch_bytes_) {
    scratch_.reset();
    scratch_.reset(new char[bytes]);
    scratch_bytes_ = bytes;
  }
  return scratch_.get();
}

bool TcpMesh::has_pending(const Peer& peer) const {
  return peer.send_head < peer.send_queue.size() || peer.recv_head < peer.recv_queue.size();
}

void TcpMesh::fail(const std::string& message) {
  broken_ = true;
  broken_reason_ = message;
  comm_failure(message);
}

void TcpMesh::fail_lost(const Peer& peer, const char* op, const std::string& group,
                        const std::string& reason) {
  fail(
      fmt::format("lost rank {} ({}) during {} in group {}: {}", peer.rank, peer.address, op, group, reason));
}

void TcpMesh::fail_mismatch(const Peer& peer, const char* op, const std::string& group, uint64_t got,
                            size_t expected) {
  fail(fmt::format(
      "rank {} ({}) sent a {}-byte message where {} in group {} expects {} bytes (the ranks issued "
      "operations in different orders or with different shapes)",
      peer.rank, peer.address, got, op, group, expected));
}

void TcpMesh::exchange(std::span<SendOp> sends, std::span<RecvOp> recvs, const char* op,
                       const std::string& group, const std::function<void()>& on_progress) {
  if (broken_) {
    comm_failure(fmt::format("rank {} cannot run {} in group {}: its TCP mesh failed earlier ({})", rank_, op,
                             group, broken_reason_));
  }
  struct BreakOnUnwind {
    TcpMesh* mesh;
    bool finished = false;
    ~BreakOnUnwind() {
      if (!finished) mesh->broken_ = true;
    }
  } guard{this};

  for (auto& p : peers_) {
    if (!p) continue;
    p->send_queue.clear();
    p->send_head = 0;
    p->recv_queue.clear();
    p->recv_head = 0;
  }
  send_states_.resize(sends.size());
  for (size_t i = 0; i < sends.size(); ++i) {
    const SendOp& s = sends[i];
    STRATA_CHECK(s.peer >= 0 && s.peer < world_size_ && s.peer != rank_, "send to rank {}", s.peer);
    send_states_[i].op = &s;
    send_states_[i].sent = 0;
    encode_frame_header(s.bytes, send_states_[i].header);
    peers_[s.peer]->send_queue.push_back(&send_states_[i]);
  }
  for (RecvOp& r : recvs) {
    STRATA_CHECK(r.peer >= 0 && r.peer < world_size_ && r.peer != rank_, "recv from rank {}", r.peer);
    r.received = 0;
    peers_[r.peer]->recv_queue.push_back(&r);
  }
  pending_sends_ = sends.size();
  pending_recvs_ = recvs.size();

  std::vector<pollfd> fds;
  std::vector<Peer*> fd_peers;
  fds.reserve(world_size_);
  fd_peers.reserve(world_size_);
  while (true) {
    for (auto& p : peers_) {
      if (p && !p->queued.empty()) deliver_queued(*p, op, group);
    }
    if (on_progress) on_progress();
    if (pending_sends_ == 0 && pending_recvs_ == 0) break;
    fds.clear();
    fd_peers.clear();
    bool want_write = false;
    for (auto& p : peers_) {
      if (!p) continue;
      if (p->dead) {
        if (has_pending(*p)) fail_lost(*p, op, group, p->dead_reason);
        continue;
      }
      short events = POLLIN;
      if (p->send_head < p->send_queue.size()) {
        const SendState& s = *p->send_queue[p->send_head];
        size_t ready = s.op->ready ? std::min(*s.op->ready, s.op->bytes) : s.op->bytes;
        if (s.sent < kFrameHeaderBytes + ready) events |= POLLOUT;
      }
      want_write |= (events & POLLOUT) != 0;
      fds.push_back({p->fd, events, 0});
      fd_peers.push_back(p.get());
    }
    STRATA_CHECK(want_write || pending_recvs_ > 0,
                 "{} in group {} stalled: sends wait for data nobody produces", op, group);
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      STRATA_CHECK(errno == EINTR, "poll: {}", errno_string(errno));
      continue;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      short revents = fds[i].revents;
      Peer& p = *fd_peers[i];
      if ((revents & (POLLOUT | POLLERR | POLLHUP)) && p.send_head < p.send_queue.size()) write_some(p);
      if (revents & (POLLIN | POLLERR | POLLHUP)) read_some(p, op, group);
    }
  }
  guard.finished = true;
}

void TcpMesh::write_some(Peer& peer) {
  while (peer.send_head < peer.send_queue.size() && !peer.dead) {
    SendState& s = *peer.send_queue[peer.send_head];
    const SendOp& op = *s.op;
    size_t ready = op.ready ? std::min(*op.ready, op.bytes) : op.bytes;
    size_t total_ready = kFrameHeaderBytes + ready;
    if (s.sent >= total_ready) return;
    auto* data = static_cast<char*>(const_cast<void*>(op.data));
    iovec iov[2];
    int n_iov = 0;
    if (s.sent < kFrameHeaderBytes) {
      iov[n_iov++] = {s.header + s.sent, kFrameHeaderBytes - s.sent};
      if (ready > 0) iov[n_iov++] = {data, ready};
    } else {
      iov[n_iov++] = {data + (s.sent - kFrameHeaderBytes), total_ready - s.sent};
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = n_iov;
    ssize_t n = ::sendmsg(peer.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      peer.dead = true;
      peer.dead_reason = fmt::format("send failed: {}", errno_string(errno));
      return;
    }
    s.sent += static_cast<size_t>(n);
    if (s.sent == kFrameHeaderBytes + op.bytes) {
      ++peer.send_head;
      --pending_sends_;
    }
  }
}

void TcpMesh::read_some(Peer& peer, const char* op, const std::string& group) {
  size_t budget = kMaxReadPerTurn;
  while (!peer.dead && budget > 0) {
    ssize_t n;
    if (!peer.in_payload) {
      n = ::recv(peer.fd, peer.header + peer.header_filled, kFrameHeaderBytes - peer.header_filled,
                 MSG_DONTWAIT);
    } else {
      n = ::recv(peer.fd, peer.target + peer.filled, std::min<uint64_t>(peer.length - peer.filled, budget),
                 MSG_DONTWAIT);
    }
    if (n == 0) {
      peer.dead = true;
      bool mid_message = peer.in_payload || peer.header_filled > 0;
      peer.dead_reason = mid_message ? "connection closed by the peer in the middle of a message"
                                     : "connection closed by the peer";
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      peer.dead = true;
      peer.dead_reason = fmt::format("receive failed: {}", errno_string(errno));
      return;
    }
    budget -= std::min<size_t>(budget, static_cast<size_t>(n));
    if (!peer.in_payload) {
      peer.header_filled += static_cast<size_t>(n);
      if (peer.header_filled < kFrameHeaderBytes) continue;
      peer.length = decode_frame_header(peer.header);
      peer.filled = 0;
      peer.in_payload = true;
      if (peer.recv_head < peer.recv_queue.size() && peer.queued.empty()) {
        RecvOp& r = *peer.recv_queue[peer.recv_head];
        if (peer.length != r.bytes) fail_mismatch(peer, op, group, peer.length, r.bytes);
        peer.target = static_cast<char*>(r.data);
        peer.target_op = &r;
      } else {
        if (peer.length > kMaxBufferedMessageBytes) {
          fail(fmt::format(
              "rank {} ({}) sent a {}-byte message header during {} in group {} (a corrupt stream?)",
              peer.rank, peer.address, peer.length, op, group));
        }
        peer.partial.data.reset(new char[std::max<uint64_t>(peer.length, 1)]);
        peer.partial.size = peer.length;
        peer.target = peer.partial.data.get();
        peer.target_op = nullptr;
      }
    } else {
      peer.filled += static_cast<uint64_t>(n);
      if (peer.target_op) peer.target_op->received = peer.filled;
    }
    if (peer.filled == peer.length) complete_recv(peer, op, group);
  }
}

void TcpMesh::complete_recv(Peer& peer, const char* op, const std::string& group) {
  peer.in_payload = false;
  peer.header_filled = 0;
  if (peer.target_op) {
    peer.target_op->received = peer.length;
    peer.target_op = nullptr;
    ++peer.recv_head;
    --pending_recvs_;
  } else {
    peer.queued.push_back(std::move(peer.partial));
    deliver_queued(peer, op, group);
  }
  peer.target = nullptr;
}

void TcpMesh::deliver_queued(Peer& peer, const char* op, const std::string& group) {
  while (peer.recv_head < peer.recv_queue.size() && !peer.queued.empty()) {
    Peer::Buffer& msg = peer.queued.front();
    RecvOp& r = *peer.recv_queue[peer.recv_head];
    if (msg.size != r.bytes) fail_mismatch(peer, op, group, msg.size, r.bytes);
    if (msg.size > 0) std::memcpy(r.data, msg.data.get(), msg.size);
    r.received = msg.size;
    peer.queued.pop_front();
    ++peer.recv_head;
    --pending_recvs_;
  }
}

}  // namespace strata
