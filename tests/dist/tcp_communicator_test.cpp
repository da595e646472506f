// TcpMesh and its group communicators: ranks are threads of this process, each with its own mesh,
// talking over 127.0.0.1.
#include "dist/tcp_communicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "dist_test_util.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

// Deterministic non-integer values in [-1, 1) (splitmix64).
std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    v[i] =
        static_cast<float>(static_cast<int64_t>(z >> 40) - (int64_t{1} << 23)) / static_cast<float>(1 << 23);
  }
  return v;
}

TensorView view(std::vector<float>& v, Shape shape) {
  return TensorView{v.data(), DType::kF32, std::move(shape)};
}
TensorView view(std::vector<float>& v) {
  return view(v, {static_cast<int64_t>(v.size())});
}

std::vector<int> all_ranks(int n) {
  std::vector<int> ranks(n);
  for (int i = 0; i < n; ++i) ranks[i] = i;
  return ranks;
}

// Sizes around the one-shot threshold, uneven slices, fewer elements than ranks, and 16M elements.
TEST(TcpMesh, AllReduceSumIsTheRankOrderSumOnEveryRankBitForBit) {
  constexpr int kRanks = 4;
  const std::vector<size_t> sizes = {1, 3, 1000, 16384, 16385, 100'003, size_t{16} << 20};
  std::vector<std::vector<std::vector<float>>> inputs(sizes.size());
  std::vector<std::vector<float>> expected(sizes.size());
  for (size_t s = 0; s < sizes.size(); ++s) {
    for (int r = 0; r < kRanks; ++r) inputs[s].push_back(random_floats(sizes[s], s * 100 + r));
    expected[s] = inputs[s][0];
    for (int r = 1; r < kRanks; ++r) {
      for (size_t i = 0; i < sizes[s]; ++i) expected[s][i] += inputs[s][r][i];
    }
  }
  test::MeshHarness harness(kRanks);
  harness.run([&](int rank, TcpMesh& mesh) {
    auto comm = mesh.group(all_ranks(kRanks));
    EXPECT_EQ(comm->rank(), rank);
    EXPECT_EQ(comm->size(), kRanks);
    for (size_t s = 0; s < sizes.size(); ++s) {
      std::vector<float> x = std::move(inputs[s][rank]);
      auto start = std::chrono::steady_clock::now();
      comm->all_reduce_sum(view(x));
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (rank == 0 && sizes[s] >= (size_t{1} << 20)) {
        std::printf("all_reduce_sum of %zu f32 over %d local ranks: %.3f s, %.2f GB/s (algbw)\n", sizes[s],
                    kRanks, seconds, sizes[s] * 4 / seconds / 1e9);
      }
      EXPECT_EQ(std::memcmp(x.data(), expected[s].data(), x.size() * 4), 0) << "size " << sizes[s];
    }
  });
}

TEST(TcpMesh, AllReduceSumBf16AndF16AccumulateInF32) {
  constexpr int kRanks = 3;
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (size_t n : {size_t{100}, size_t{70'001}}) {
      std::vector<std::vector<uint16_t>> inputs(kRanks, std::vector<uint16_t>(n));
      std::vector<float> acc(n, 0.f);
      for (int r = 0; r < kRanks; ++r) {
        auto f = random_floats(n, 7 + r);
        convert_from_f32(dtype, f.data(), inputs[r].data(), n);
        std::vector<float> widened(n);
        convert_to_f32(dtype, inputs[r].data(), widened.data(), n);
        for (size_t i = 0; i < n; ++i) acc[i] = r == 0 ? widened[i] : acc[i] + widened[i];
      }
      std::vector<uint16_t> expected(n);
      convert_from_f32(dtype, acc.data(), expected.data(), n);
      test::MeshHarness harness(kRanks);
      harness.run([&](int rank, TcpMesh& mesh) {
        auto comm = mesh.group(all_ranks(kRanks));
        std::vector<uint16_t> x = inputs[rank];
        comm->all_reduce_sum(TensorView{x.data(), dtype, {static_cast<int64_t>(n)}});
        EXPECT_TRUE(x == expected) << dtype_name(dtype) << " n=" << n;
      });
    }
  }
}

TEST(TcpMesh, AllGatherConcatenatesInGroupRankOrder) {
  constexpr int kRanks = 4;
  test::MeshHarness harness(kRanks);
  harness.run([&](int rank, TcpMesh& mesh) {
    // Group order differs from world order: group rank g is world rank ranks[g].
    std::vector<int> ranks = {2, 0, 3, 1};
    auto comm = mesh.group(ranks);
    int me = comm->rank();
    EXPECT_EQ(ranks[me], rank);
    std::vector<float> x(6);
    for (int i = 0; i < 6; ++i) x[i] = static_cast<float>(me * 100 + i);
    std::vector<float> out(kRanks * 6, -1.f);
    comm->all_gather(view(x, {2, 3}), view(out, {kRanks * 2, 3}));
    for (int g = 0; g < kRanks; ++g) {
      for (int i = 0; i < 6; ++i) EXPECT_EQ(out[g * 6 + i], static_cast<float>(g * 100 + i));
    }
    // In place: x is this rank's slot of out.
    std::vector<float> big_out(kRanks * 50'000);
    auto mine = random_floats(50'000, me);
    std::memcpy(big_out.data() + me * 50'000, mine.data(), 50'000 * 4);
    TensorView slot{big_out.data() + me * 50'000, DType::kF32, {50'000}};
    comm->all_gather(slot, view(big_out));
    for (int g = 0; g < kRanks; ++g) {
      auto theirs = random_floats(50'000, g);
      EXPECT_EQ(std::memcmp(big_out.data() + g * 50'000, theirs.data(), 50'000 * 4), 0) << g;
    }
  });
}

TEST(TcpMesh, BroadcastFromANonZeroRoot) {
  constexpr int kRanks = 4;
  test::MeshHarness harness(kRanks);
  harness.run([&](int rank, TcpMesh& mesh) {
    auto comm = mesh.group(all_ranks(kRanks));
    for (size_t n : {size_t{5}, size_t{1} << 20}) {
      std::vector<float> x = rank == 2 ? random_floats(n, 42) : std::vector<float>(n, 0.f);
      comm->broadcast(view(x), 2);
      EXPECT_TRUE(x == random_floats(n, 42)) << "n=" << n;
    }
  });
}

TEST(TcpMesh, SendRecvBetweenPairsWithoutDeadlock) {
  constexpr int kRanks = 4;
  constexpr size_t kElems = size_t{4} << 20;  // 16 MiB: far beyond the socket buffers
  test::MeshHarness harness(kRanks);
  harness.run([&](int rank, TcpMesh& mesh) {
    auto comm = mesh.group(all_ranks(kRanks));
    // Pairs 0<->1 and 2<->3 both send first, then receive.
    int partner = rank ^ 1;
    std::vector<float> out = random_floats(kElems, rank);
    std::vector<float> in(kElems);
    comm->send(view(out), partner);
    comm->recv(view(in), partner);
    EXPECT_TRUE(in == random_floats(kElems, partner));
    // A ring of sends (pipeline stages passing activations on, the last back to the first).
    int next = (rank + 1) % kRanks;
    int prev = (rank + kRanks - 1) % kRanks;
    comm->send(view(out), next);
    comm->recv(view(in), prev);
    EXPECT_TRUE(in == random_floats(kElems, prev));
    // Small messages, many round trips.
    for (int i = 0; i < 100; ++i) {
      std::vector<float> token = {static_cast<float>(rank * 1000 + i)};
      std::vector<float> got = {0.f};
      if (rank % 2 == 0) {
        comm->send(view(token), partner);
        comm->recv(view(got), partner);
      } else {
        comm->recv(view(got), partner);
        comm->send(view(token), partner);
      }
      EXPECT_EQ(got[0], static_cast<float>(partner * 1000 + i));
    }
  });
}

TEST(TcpMesh, SubgroupsUsedConcurrently) {
  constexpr int kRanks = 4;
  test::MeshHarness harness(kRanks);
  harness.run([&](int rank, TcpMesh& mesh) {
    // Tensor-parallel pairs {0,1},{2,3} and pipeline pairs {0,2},{1,3}.
    auto tp = mesh.group(rank < 2 ? std::vector<int>{0, 1} : std::vector<int>{2, 3});
    auto pp = mesh.group(rank % 2 == 0 ? std::vector<int>{0, 2} : std::vector<int>{1, 3});
    auto world = mesh.group(all_ranks(kRanks));
    EXPECT_EQ(tp->rank(), rank % 2);
    EXPECT_EQ(pp->rank(), rank / 2);
    for (int iter = 0; iter < 20; ++iter) {
      size_t n = iter % 2 == 0 ? 10 : 30'000;
      std::vector<float> x(n, static_cast<float>(rank + iter));
      tp->all_reduce_sum(view(x));
      int tp_base = rank & ~1;
      EXPECT_EQ(x[n - 1], static_cast<float>(2 * iter + 2 * tp_base + 1));
      std::vector<float> mine = {static_cast<float>(rank)};
      std::vector<float> both(2);
      pp->all_gather(view(mine), view(both));
      EXPECT_EQ(both[0], static_cast<float>(rank % 2));
      EXPECT_EQ(both[1], static_cast<float>(rank % 2 + 2));
      if (iter % 5 == 0) world->barrier();
    }
  });
}

TEST(TcpMesh, BarrierWaitsForEveryRank) {
  constexpr int kRanks = 4;
  std::atomic<int> arrived{0};
  test::MeshHarness harness(kRanks);
  harness.run([&](int rank, TcpMesh& mesh) {
    auto comm = mesh.group(all_ranks(kRanks));
    if (rank == 3) std::this_thread::sleep_for(50ms);
    ++arrived;
    comm->barrier();
    EXPECT_EQ(arrived.load(), kRanks);
  });
}

TEST(TcpMesh, RanksInOneProcessCanShareAStoreClient) {
  constexpr int kRanks = 3;
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.error().message();
  RetryOptions retry;
  retry.timeout = 10s;
  auto client = connect_store("127.0.0.1", (*server)->port(), retry);
  ASSERT_TRUE(client.ok()) << client.error().message();
  test::run_threads(kRanks, [&](int rank) {
    auto mesh = TcpMesh::create(**client, "shared", rank, kRanks, (*client)->local_address(), 10s);
    ASSERT_TRUE(mesh.ok()) << mesh.error().message();
    auto comm = (*mesh)->group(all_ranks(kRanks));
    std::vector<float> x = {static_cast<float>(rank)};
    comm->all_reduce_sum(view(x));
    EXPECT_EQ(x[0], 3.f);
  });
}

TEST(TcpMesh, CreateTimesOutListingTheMissingRanks) {
  constexpr int kRanks = 3;
  test::MeshHarness harness(kRanks);
  test::run_threads(2, [&](int rank) {  // rank 2 never shows up
    auto mesh = TcpMesh::create(harness.store(rank), "incomplete", rank, kRanks, "127.0.0.1", 500ms);
    ASSERT_FALSE(mesh.ok());
    const std::string& message = mesh.error().message();
    EXPECT_NE(message.find("waiting for rank(s) 2:"), std::string::npos) << message;
    EXPECT_NE(message.find("mesh 'incomplete'"), std::string::npos) << message;
  });
}

TEST(TcpMesh, APeerLostMidCollectiveCallsTheFailureHandler) {
  test::ThrowingCommFailureHandler handler;
  constexpr int kRanks = 4;
  std::vector<std::string> failures(kRanks);
  std::vector<std::string> second_failures(kRanks);
  test::MeshHarness harness(kRanks);
  std::vector<std::shared_ptr<TcpMesh>> meshes(kRanks);
  test::run_threads(kRanks, [&](int rank) {
    auto mesh = harness.mesh(rank);
    if (rank == 3) return;  // leaves: its connections close while the others wait for it
    meshes[rank] = mesh;    // the survivors keep theirs until every thread is done
    auto comm = mesh->group(all_ranks(kRanks));
    std::vector<float> x(1 << 20, 1.f);
    try {
      comm->all_reduce_sum(view(x));
    } catch (const test::CommFailureError& e) {
      failures[rank] = e.what();
    }
    try {
      comm->barrier();
    } catch (const test::CommFailureError& e) {
      second_failures[rank] = e.what();
    }
  });
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_NE(failures[rank].find("lost rank 3 (127.0.0.1:"), std::string::npos) << failures[rank];
    EXPECT_NE(failures[rank].find("during all_reduce_sum in group [0, 1, 2, 3]"), std::string::npos)
        << failures[rank];
    EXPECT_NE(second_failures[rank].find("failed earlier"), std::string::npos) << second_failures[rank];
  }
}

TEST(TcpMesh, AllReduceThroughputTwoAndFourRanks) {
  constexpr size_t kElems = size_t{16} << 20;
  for (int ranks : {2, 4}) {
    test::MeshHarness harness(ranks);
    harness.run([&](int rank, TcpMesh& mesh) {
      auto comm = mesh.group(all_ranks(ranks));
      std::vector<float> x(kElems, 0.5f);
      comm->all_reduce_sum(view(x));  // warm-up: scratch, socket buffers
      constexpr int kIters = 3;
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kIters; ++i) comm->all_reduce_sum(view(x));
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / kIters;
      std::vector<float> small(1024, 0.5f);  // 4 KiB: latency bound
      constexpr int kSmallIters = 200;
      auto small_start = std::chrono::steady_clock::now();
      for (int i = 0; i < kSmallIters; ++i) comm->all_reduce_sum(view(small));
      double small_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - small_start).count() / kSmallIters;
      if (rank == 0) {
        std::printf("all_reduce_sum 1024 f32, %d local ranks: %.1f us\n", ranks, small_seconds * 1e6);
        double bytes = kElems * 4.0;
        std::printf("all_reduce_sum 16M f32, %d local ranks: %.1f ms, algbw %.2f GB/s, busbw %.2f GB/s\n",
                    ranks, seconds * 1e3, bytes / seconds / 1e9,
                    bytes / seconds / 1e9 * 2 * (ranks - 1) / ranks);
      }
    });
  }
}

}  // namespace
}  // namespace strata
