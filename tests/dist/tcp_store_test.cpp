// TcpStoreServer and its clients over 127.0.0.1.
#include "dist/tcp_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "dist_test_util.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

RetryOptions store_retry() {
  RetryOptions retry;
  retry.timeout = 10s;
  retry.what = "test store";
  return retry;
}

std::unique_ptr<TcpStoreServer> start_server() {
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  EXPECT_TRUE(server.ok()) << server.error().message();
  return server.ok() ? std::move(server).value() : nullptr;
}

std::unique_ptr<TcpStoreClient> connect(const TcpStoreServer& server) {
  auto client = connect_store("127.0.0.1", server.port(), store_retry());
  EXPECT_TRUE(client.ok()) << client.error().message();
  return client.ok() ? std::move(client).value() : nullptr;
}

TEST(TcpStore, SetGetAddAcrossClients) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto a = connect(*server);
  auto b = connect(*server);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->local_address(), "127.0.0.1");
  EXPECT_EQ(a->server_address(), join_host_port("127.0.0.1", server->port()));

  a->set("config", std::string("binary\0value", 12));
  auto got = b->get("config", 1s);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, std::string("binary\0value", 12));
  auto local = server->local().get("config", 1s);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(*local, *got);

  server->local().set("from-leader", "v");
  auto seen = a->get("from-leader", 1s);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(*seen, "v");

  a->set("", "empty key");
  b->set("overwritten", "1");
  a->set("overwritten", "2");
  EXPECT_EQ(b->get("", 1s).value(), "empty key");
  EXPECT_EQ(b->get("overwritten", 1s).value(), "2");

  EXPECT_EQ(a->add("count", 1), 1);
  EXPECT_EQ(b->add("count", 5), 6);
  EXPECT_EQ(server->local().add("count", -2), 4);
  EXPECT_EQ(a->get("count", 1s).value(), "4");
  EXPECT_EQ(b->add("count", 0), 4);
}

TEST(TcpStore, ConcurrentAddsAreAtomic) {
  auto server = start_server();
  ASSERT_TRUE(server);
  constexpr int kClients = 4;
  constexpr int kAdds = 200;
  test::run_threads(kClients, [&](int) {
    auto client = connect(*server);
    ASSERT_TRUE(client);
    for (int i = 0; i < kAdds; ++i) client->add("n", 1);
  });
  EXPECT_EQ(server->local().add("n", 0), kClients * kAdds);
}

TEST(TcpStore, GetBlocksUntilAnotherClientSets) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto waiter = connect(*server);
  auto setter = connect(*server);
  ASSERT_TRUE(waiter && setter);
  std::atomic<bool> returned{false};
  Result<std::string> got = make_error("not run");
  std::thread t([&] {
    got = waiter->get("ready", 30s);
    returned = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load());
  setter->set("ready", "yes");
  t.join();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, "yes");
}

TEST(TcpStore, OneClientSharedByAWaitingAndASettingThread) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto client = connect(*server);
  ASSERT_TRUE(client);
  Result<std::string> got = make_error("not run");
  std::thread t([&] { got = client->get("ready", 30s); });
  std::this_thread::sleep_for(20ms);
  client->set("ready", "yes");  // must not wait for the get above
  t.join();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, "yes");
}

TEST(TcpStore, LocalGetBlocksUntilAClientAdds) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto client = connect(*server);
  ASSERT_TRUE(client);
  Result<std::string> got = make_error("not run");
  std::thread t([&] { got = server->local().get("counter", 30s); });
  client->add("counter", 3);
  t.join();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(*got, "3");
}

TEST(TcpStore, GetTimesOutWithAnErrorNamingTheKey) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto client = connect(*server);
  ASSERT_TRUE(client);
  auto got = client->get("never-set", 100ms);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(is_timeout(got.error())) << got.error().message();
  EXPECT_NE(got.error().message().find("'never-set'"), std::string::npos) << got.error().message();
  auto local = server->local().get("never-set", 10ms);
  ASSERT_FALSE(local.ok());
  EXPECT_TRUE(is_timeout(local.error())) << local.error().message();
  // The connection is still good after a timeout.
  client->set("k", "v");
  EXPECT_EQ(client->get("k", 1s).value(), "v");
}

TEST(TcpStore, ServerShutdownWithAWaitingClientFailsTheClient) {
  test::ThrowingCommFailureHandler handler;
  auto server = start_server();
  ASSERT_TRUE(server);
  auto client = connect(*server);
  ASSERT_TRUE(client);
  client->set("k", "v");  // the client is connected and served
  std::string failure;
  std::thread t([&] {
    try {
      (void)client->get("never-set", 60s);
    } catch (const test::CommFailureError& e) {
      failure = e.what();
    }
  });
  std::this_thread::sleep_for(30ms);
  server.reset();  // must not hang on the waiting get
  t.join();
  EXPECT_NE(failure.find("lost the rendezvous store at 127.0.0.1:"), std::string::npos) << failure;
}

TEST(TcpStore, LostServerCallsTheFailureHandler) {
  test::ThrowingCommFailureHandler handler;
  auto server = start_server();
  ASSERT_TRUE(server);
  auto client = connect(*server);
  ASSERT_TRUE(client);
  server.reset();
  try {
    client->set("k", "v");
    FAIL() << "set on a lost store returned";
  } catch (const test::CommFailureError& e) {
    EXPECT_NE(std::string(e.what()).find("lost the rendezvous store at 127.0.0.1:"), std::string::npos)
        << e.what();
  }
}

TEST(TcpStore, ServerStopsWithIdleClientsConnected) {
  auto server = start_server();
  ASSERT_TRUE(server);
  auto a = connect(*server);
  auto b = connect(*server);
  ASSERT_TRUE(a && b);
  a->set("x", "1");
  server.reset();  // joins every client thread without waiting for the clients to leave
}

}  // namespace
}  // namespace strata
