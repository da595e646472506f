#include "dist/tcp_store.h"

#include <charconv>
#include <cstring>
#include <optional>

#include "core/logging.h"
#include "dist/communicator.h"

namespace strata {
namespace {

using std::chrono::milliseconds;

// Requests: one tag byte, fixed fields, then the key (and for set, a u32 key length first).
constexpr char kSet = 'S';
constexpr char kGet = 'G';
constexpr char kAdd = 'A';
// Replies: one tag byte, then the payload.
constexpr char kReplyOk = 'k';
constexpr char kReplyValue = 'v';
constexpr char kReplyTimeout = 't';
constexpr char kReplyStopping = 'x';
constexpr char kReplyError = 'e';
// A client's further connections go to a server known to be up.
constexpr std::chrono::seconds kExtraConnectionTimeout{30};

void put_u64(std::string& out, uint64_t v) {
  char buf[8];
  encode_frame_header(v, buf);  // the same little-endian encoding
  out.append(buf, 8);
}

uint64_t take_u64(std::string_view& in) {
  uint64_t v = decode_frame_header(in.data());
  in.remove_prefix(8);
  return v;
}

using State = TcpStoreServer::State;

void state_set(State& state, const std::string& key, const std::string& value) {
  {
    std::lock_guard<std::mutex> lock(state.mu);
    state.values[key] = value;
  }
  state.cv.notify_all();
}

enum class GetOutcome { kFound, kTimedOut, kStopping };

GetOutcome state_get(State& state, const std::string& key, milliseconds timeout, std::string* value) {
  std::unique_lock<std::mutex> lock(state.mu);
  auto found = [&] { return state.stopping || state.values.count(key) > 0; };
  if (!state.cv.wait_for(lock, timeout, found)) return GetOutcome::kTimedOut;
  auto it = state.values.find(key);
  if (it == state.values.end()) return GetOutcome::kStopping;
  *value = it->second;
  return GetOutcome::kFound;
}

// The new value, or an error when key holds something that is not an integer.
Result<int64_t> state_add(State& state, const std::string& key, int64_t delta) {
  int64_t result;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    std::string& stored = state.values[key];
    int64_t current = 0;
    if (!stored.empty()) {
      auto [end, ec] = std::from_chars(stored.data(), stored.data() + stored.size(), current);
      if (ec != std::errc() || end != stored.data() + stored.size()) {
        return make_error("store key '{}' holds '{}', which is not an integer", key, stored);
      }
    }
    result = current + delta;
    stored = std::to_string(result);
  }
  state.cv.notify_all();
  return result;
}

std::string timeout_message(const std::string& key, milliseconds timeout, const std::string& where) {
  return fmt::format("timed out after {} ms waiting for key '{}' in the rendezvous store{}", timeout.count(),
                     key, where);
}

class LocalStore final : public Store {
 public:
  explicit LocalStore(State& state) : state_(state) {}
  void set(const std::string& key, const std::string& value) override { state_set(state_, key, value); }
  Result<std::string> get(const std::string& key, milliseconds timeout) override {
    std::string value;
    switch (state_get(state_, key, timeout, &value)) {
      case GetOutcome::kFound:
        return value;
      case GetOutcome::kTimedOut:
        return Error(timeout_message(key, timeout, ""));
      case GetOutcome::kStopping:
        break;
    }
    return make_error("the rendezvous store is shutting down (waiting for key '{}')", key);
  }
  int64_t add(const std::string& key, int64_t delta) override {
    auto value = state_add(state_, key, delta);
    STRATA_CHECK(value.ok(), "{}", value.error().message());
    return *value;
  }

 private:
  State& state_;
};

}  // namespace

// --- client ---

TcpStoreClient::TcpStoreClient(std::unique_ptr<Channel> channel)
    : local_address_(channel->local_address()), server_address_(channel->peer()) {
  idle_.push_back(std::move(channel));
}

TcpStoreClient::~TcpStoreClient() = default;

std::string TcpStoreClient::request(const std::string& msg) {
  std::unique_ptr<Channel> channel;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      channel = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  auto lost = [&](const std::string& why) {
    comm_failure(fmt::format("lost the rendezvous store at {}: {}", server_address_, why));
  };
  if (!channel) {  // every connection is busy with another thread's request
    auto host_port = parse_host_port(server_address_);
    STRATA_CHECK(host_port.ok(), "{}", host_port.error().message());
    RetryOptions retry;
    retry.timeout = kExtraConnectionTimeout;
    retry.what = "the rendezvous store";
    auto connected = connect_with_retry(host_port->first, host_port->second, retry);
    if (!connected.ok()) lost(connected.error().message());
    channel = std::move(connected).value();
  }
  Status sent = channel->send(msg);
  if (!sent.ok()) lost(sent.error().message());
  auto reply = channel->recv();
  if (!reply.ok()) lost(reply.error().message());
  if (reply->empty()) lost("empty reply");
  if ((*reply)[0] == kReplyStopping) lost("the server is shutting down");
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(channel));
  return std::move(reply).value();
}

void TcpStoreClient::set(const std::string& key, const std::string& value) {
  std::string msg(1, kSet);
  put_u64(msg, key.size());
  msg += key;
  msg += value;
  std::string reply = request(msg);
  if (reply[0] != kReplyOk)
    comm_failure(fmt::format("rendezvous store at {}: bad reply to set", server_address_));
}

Result<std::string> TcpStoreClient::get(const std::string& key, milliseconds timeout) {
  std::string msg(1, kGet);
  put_u64(msg, static_cast<uint64_t>(std::max<int64_t>(timeout.count(), 0)));
  msg += key;
  std::string reply = request(msg);
  if (reply[0] == kReplyTimeout) return Error(timeout_message(key, timeout, " at " + server_address_));
  if (reply[0] != kReplyValue)
    comm_failure(fmt::format("rendezvous store at {}: bad reply to get", server_address_));
  return reply.substr(1);
}

int64_t TcpStoreClient::add(const std::string& key, int64_t delta) {
  std::string msg(1, kAdd);
  put_u64(msg, static_cast<uint64_t>(delta));
  msg += key;
  std::string reply = request(msg);
  STRATA_CHECK(reply[0] != kReplyError, "{}", reply.substr(1));
  if (reply[0] != kReplyValue || reply.size() != 9) {
    comm_failure(fmt::format("rendezvous store at {}: bad reply to add", server_address_));
  }
  std::string_view payload(reply);
  payload.remove_prefix(1);
  return static_cast<int64_t>(take_u64(payload));
}

Result<std::unique_ptr<TcpStoreClient>> connect_store(const std::string& host, uint16_t port,
                                                      const RetryOptions& options) {
  STRATA_TRY(auto channel, connect_with_retry(host, port, options));
  return std::make_unique<TcpStoreClient>(std::move(channel));
}

// --- server ---

TcpStoreServer::TcpStoreServer(std::unique_ptr<Listener> listener)
    : listener_(std::move(listener)), local_(std::make_unique<LocalStore>(state_)) {}

Result<std::unique_ptr<TcpStoreServer>> TcpStoreServer::start(const std::string& host, uint16_t port) {
  STRATA_TRY(auto listener, Listener::listen(host, port));
  std::unique_ptr<TcpStoreServer> server(new TcpStoreServer(std::move(listener)));
  server->accept_thread_ = std::thread([s = server.get()] { s->accept_loop(); });
  LOG_INFO("rendezvous store listening on port {}", server->port());
  return server;
}

TcpStoreServer::~TcpStoreServer() {
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    state_.stopping = true;
  }
  state_.cv.notify_all();
  listener_->close();
  if (accept_thread_.joinable()) accept_thread_.join();
  std::lock_guard<std::mutex> lock(clients_mu_);
  for (Client& c : clients_) c.channel->close();
  for (Client& c : clients_) {
    if (c.thread.joinable()) c.thread.join();
  }
}

void TcpStoreServer::accept_loop() {
  while (true) {
    auto channel = listener_->accept(std::chrono::hours(24));
    if (!channel.ok()) {
      if (is_timeout(channel.error())) continue;
      {
        std::lock_guard<std::mutex> lock(state_.mu);
        if (state_.stopping) return;
      }
      LOG_WARN("rendezvous store: {}", channel.error().message());
      std::this_thread::sleep_for(milliseconds(100));  // e.g. out of file descriptors
      continue;
    }
    std::lock_guard<std::mutex> lock(clients_mu_);
    for (auto it = clients_.begin(); it != clients_.end();) {  // reap clients that left
      if (it->done) {
        it->thread.join();
        it = clients_.erase(it);
      } else {
        ++it;
      }
    }
    Client& client = clients_.emplace_back();
    client.channel = std::move(channel).value();
    client.thread = std::thread([this, c = &client] { serve(c); });
  }
}

void TcpStoreServer::serve(Client* client) {
  Channel& channel = *client->channel;
  while (true) {
    auto msg = channel.recv();
    if (!msg.ok()) break;  // the client left (or the server is stopping)
    std::string_view in(*msg);
    std::string reply;
    if (in.size() >= 9 && in[0] == kSet) {
      in.remove_prefix(1);
      uint64_t key_len = take_u64(in);
      if (key_len > in.size()) break;
      state_set(state_, std::string(in.substr(0, key_len)), std::string(in.substr(key_len)));
      reply.assign(1, kReplyOk);
    } else if (in.size() >= 9 && in[0] == kGet) {
      in.remove_prefix(1);
      auto timeout = milliseconds(static_cast<int64_t>(std::min<uint64_t>(take_u64(in), uint64_t{1} << 40)));
      std::string value;
      switch (state_get(state_, std::string(in), timeout, &value)) {
        case GetOutcome::kFound:
          reply = kReplyValue + value;
          break;
        case GetOutcome::kTimedOut:
          reply.assign(1, kReplyTimeout);
          break;
        case GetOutcome::kStopping:
          reply.assign(1, kReplyStopping);
          break;
      }
    } else if (in.size() >= 9 && in[0] == kAdd) {
      in.remove_prefix(1);
      auto delta = static_cast<int64_t>(take_u64(in));
      auto value = state_add(state_, std::string(in), delta);
      if (value.ok()) {
        reply.assign(1, kReplyValue);
        put_u64(reply, static_cast<uint64_t>(*value));
      } else {
        reply = kReplyError + value.error().message();
      }
    } else {
      LOG_WARN("rendezvous store: malformed request from {}; disconnecting it", channel.peer());
      break;
    }
    if (!channel.send(reply).ok()) break;
  }
  channel.close();
  client->done = true;
}

}  // namespace strata
