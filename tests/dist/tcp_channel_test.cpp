// Channel, Listener and connect_with_retry over real sockets on 127.0.0.1.
#include "dist/tcp_channel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "dist_test_util.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

RetryOptions quick_retry(std::chrono::milliseconds timeout) {
  RetryOptions retry;
  retry.timeout = timeout;
  retry.initial_backoff = 50ms;
  retry.what = "test server";
  return retry;
}

struct Pair {
  std::unique_ptr<Listener> listener;
  std::unique_ptr<Channel> client;
  std::unique_ptr<Channel> server;
};

Pair connected_pair() {
  Pair p;
  auto listener = Listener::listen("127.0.0.1", 0);
  EXPECT_TRUE(listener.ok()) << listener.error().message();
  p.listener = std::move(listener).value();
  auto client = connect_with_retry("127.0.0.1", p.listener->port(), quick_retry(5s));
  EXPECT_TRUE(client.ok()) << client.error().message();
  p.client = std::move(client).value();
  auto server = p.listener->accept(5s);
  EXPECT_TRUE(server.ok()) << server.error().message();
  p.server = std::move(server).value();
  return p;
}

TEST(HostPort, JoinAndParse) {
  EXPECT_EQ(join_host_port("10.0.0.1", 29500), "10.0.0.1:29500");
  EXPECT_EQ(join_host_port("::1", 80), "[::1]:80");
  auto v4 = parse_host_port("leader-0.svc:29500");
  ASSERT_TRUE(v4.ok()) << v4.error().message();
  EXPECT_EQ(v4->first, "leader-0.svc");
  EXPECT_EQ(v4->second, 29500);
  auto v6 = parse_host_port("[fe80::1]:7");
  ASSERT_TRUE(v6.ok()) << v6.error().message();
  EXPECT_EQ(v6->first, "fe80::1");
  EXPECT_EQ(v6->second, 7);
  EXPECT_FALSE(parse_host_port("nohost").ok());
  EXPECT_FALSE(parse_host_port("host:99999").ok());
  EXPECT_FALSE(parse_host_port("host:").ok());
  EXPECT_FALSE(parse_host_port(":80").ok());
}

TEST(Channel, MessagesArriveWholeAndInOrder) {
  Pair p = connected_pair();
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i / 4096);
  std::thread sender([&] {
    EXPECT_TRUE(p.client->send("hello").ok());
    EXPECT_TRUE(p.client->send("").ok());
    EXPECT_TRUE(p.client->send(big).ok());
  });
  auto a = p.server->recv();
  auto b = p.server->recv();
  auto c = p.server->recv();
  sender.join();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, "hello");
  EXPECT_EQ(*b, "");
  EXPECT_TRUE(*c == big);
  EXPECT_EQ(p.client->local_address(), "127.0.0.1");
  EXPECT_EQ(p.server->peer().rfind("127.0.0.1:", 0), 0u) << p.server->peer();
  EXPECT_EQ(p.client->peer(), join_host_port("127.0.0.1", p.listener->port()));
}

TEST(Channel, ConcurrentSendersDoNotInterleave) {
  Pair p = connected_pair();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      std::string msg(100'000 + t, static_cast<char>('a' + t));
      for (int i = 0; i < kPerThread; ++i) EXPECT_TRUE(p.client->send(msg).ok());
    });
  }
  int counts[kThreads] = {};
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    auto msg = p.server->recv();
    ASSERT_TRUE(msg.ok()) << msg.error().message();
    int t = (*msg)[0] - 'a';
    ASSERT_TRUE(t >= 0 && t < kThreads);
    EXPECT_EQ(msg->size(), 100'000u + t);
    EXPECT_EQ(msg->find_first_not_of((*msg)[0]), std::string::npos);
    ++counts[t];
  }
  for (auto& s : senders) s.join();
  for (int c : counts) EXPECT_EQ(c, kPerThread);
}

TEST(Channel, RecvTimeoutIsDistinguishableAndKeepsTheChannel) {
  Pair p = connected_pair();
  auto r = p.server->recv(30ms);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_timeout(r.error())) << r.error().message();
  ASSERT_TRUE(p.client->send("late").ok());
  auto late = p.server->recv(5s);
  ASSERT_TRUE(late.ok()) << late.error().message();
  EXPECT_EQ(*late, "late");
}

TEST(Channel, CloseUnblocksABlockedRecv) {
  Pair p = connected_pair();
  Result<std::string> r = make_error("not run");
  std::thread reader([&] { r = p.server->recv(); });
  std::this_thread::sleep_for(20ms);
  p.server->close();
  reader.join();
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(is_timeout(r.error()));
  EXPECT_NE(r.error().message().find("closed"), std::string::npos) << r.error().message();
  EXPECT_FALSE(p.server->send("x").ok());
}

TEST(Channel, PeerGoneIsAnError) {
  Pair p = connected_pair();
  p.client.reset();
  auto r = p.server->recv(5s);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(is_timeout(r.error()));
  EXPECT_NE(r.error().message().find("connection closed by 127.0.0.1:"), std::string::npos)
      << r.error().message();
}

TEST(Listener, BindFailureNamesTheAddress) {
  auto first = Listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(first.ok()) << first.error().message();
  uint16_t port = (*first)->port();
  EXPECT_NE(port, 0);
  auto second = Listener::listen("127.0.0.1", port);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find(join_host_port("127.0.0.1", port)), std::string::npos)
      << second.error().message();
  EXPECT_NE(second.error().message().find("in use"), std::string::npos) << second.error().message();
}

TEST(Listener, AcceptTimesOutAndCloseUnblocksIt) {
  auto listener = Listener::listen("", 0);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  auto r = (*listener)->accept(20ms);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_timeout(r.error())) << r.error().message();
  Result<std::unique_ptr<Channel>> blocked = make_error("not run");
  std::thread acceptor([&] { blocked = (*listener)->accept(60s); });
  std::this_thread::sleep_for(20ms);
  (*listener)->close();
  acceptor.join();
  ASSERT_FALSE(blocked.ok());
  EXPECT_FALSE(is_timeout(blocked.error())) << blocked.error().message();
}

TEST(Listener, AllInterfacesAcceptsIpv4Loopback) {
  auto listener = Listener::listen("", 0);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  auto client = connect_with_retry("127.0.0.1", (*listener)->port(), quick_retry(5s));
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto server = (*listener)->accept(5s);
  ASSERT_TRUE(server.ok()) << server.error().message();
  EXPECT_EQ((*server)->local_address(), "127.0.0.1");  // not "::ffff:127.0.0.1"
  EXPECT_EQ((*server)->peer().rfind("127.0.0.1:", 0), 0u) << (*server)->peer();
}

TEST(ConnectWithRetry, SucceedsWhenTheServerStartsLate) {
  uint16_t port = test::free_port();
  std::unique_ptr<Listener> late;
  std::thread starter([&] {
    std::this_thread::sleep_for(1200ms);
    auto listener = Listener::listen("127.0.0.1", port);
    EXPECT_TRUE(listener.ok()) << listener.error().message();
    if (listener.ok()) late = std::move(listener).value();
  });
  auto client = connect_with_retry("localhost", port, quick_retry(20s));
  starter.join();
  ASSERT_TRUE(client.ok()) << client.error().message();
  ASSERT_TRUE(late);
  auto server = late->accept(5s);
  ASSERT_TRUE(server.ok()) << server.error().message();
  ASSERT_TRUE((*client)->send("ping").ok());
  auto msg = (*server)->recv(5s);
  ASSERT_TRUE(msg.ok()) << msg.error().message();
  EXPECT_EQ(*msg, "ping");
}

TEST(ConnectWithRetry, FailsWithAClearErrorAfterItsTimeout) {
  uint16_t port = test::free_port();
  auto client = connect_with_retry("127.0.0.1", port, quick_retry(500ms));
  ASSERT_FALSE(client.ok());
  const std::string& message = client.error().message();
  EXPECT_NE(message.find("test server at " + join_host_port("127.0.0.1", port)), std::string::npos)
      << message;
  EXPECT_NE(message.find("refused"), std::string::npos) << message;
}

}  // namespace
}  // namespace strata
