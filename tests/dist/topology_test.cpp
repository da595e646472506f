// Topology from flags and LeaderWorkerSet's environment.
#include "dist/topology.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace strata {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(Topology, SingleNodeByDefault) {
  DistOptions o;
  o.tensor_parallel_size = 2;
  auto t = resolve_topology(o, env_of({}));
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->nnodes, 1);
  EXPECT_TRUE(t->is_leader());
  EXPECT_EQ(t->master_addr, "127.0.0.1");
  EXPECT_EQ(t->ranks_per_node(), 2);
  EXPECT_TRUE(t->distributed());
  EXPECT_FALSE(resolve_topology(DistOptions{}, env_of({}))->distributed());
}

TEST(Topology, LeaderWorkerSetReferenceLayout) {
  // The reference deployment: tp 8 x pp 2 over a group of two pods; this is the worker.
  DistOptions o;
  o.tensor_parallel_size = 8;
  o.pipeline_parallel_size = 2;
  auto t = resolve_topology(o, env_of({{"LWS_LEADER_ADDRESS", "vllm-0.vllm.default"},
                                       {"LWS_GROUP_SIZE", "2"},
                                       {"LWS_WORKER_INDEX", "1"}}));
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_TRUE(t->from_lws);
  EXPECT_EQ(t->master_addr, "vllm-0.vllm.default");
  EXPECT_FALSE(t->is_leader());
  EXPECT_EQ(t->ranks_per_node(), 8);
  EXPECT_EQ(t->first_local_rank(), 8);
  // Global rank = node x 8 + local; stage = rank / tp; tp rank = rank % tp: TP inside a node.
  EXPECT_EQ(t->stage_of(8), 1);
  EXPECT_EQ(t->tp_rank_of(13), 5);
  EXPECT_EQ(t->node_of(7), 0);
  EXPECT_EQ(t->output_rank(), 8);
}

TEST(Topology, FlagsWinOverTheEnvironment) {
  DistOptions o;
  o.pipeline_parallel_size = 2;
  o.nnodes = 2;
  o.node_rank = 0;
  o.master_addr = "10.0.0.5";
  o.master_port = 1234;
  auto t = resolve_topology(o, env_of({{"LWS_LEADER_ADDRESS", "x"}, {"LWS_GROUP_SIZE", "4"}, {"LWS_WORKER_INDEX", "3"}}));
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->nnodes, 2);
  EXPECT_EQ(t->node_rank, 0);
  EXPECT_EQ(t->master_addr, "10.0.0.5");
  EXPECT_EQ(t->master_port, 1234);
}

TEST(Topology, ClearErrors) {
  DistOptions o;
  o.tensor_parallel_size = 3;
  auto uneven = resolve_topology(o, env_of({{"LWS_GROUP_SIZE", "2"}, {"LWS_LEADER_ADDRESS", "l"}}));
  ASSERT_FALSE(uneven.ok());
  EXPECT_NE(uneven.error().message().find("cannot be split evenly over 2 nodes (LWS_GROUP_SIZE)"), std::string::npos);
  DistOptions two;
  two.pipeline_parallel_size = 2;
  auto bad_index = resolve_topology(two, env_of({{"LWS_GROUP_SIZE", "2"}, {"LWS_WORKER_INDEX", "2"}, {"LWS_LEADER_ADDRESS", "l"}}));
  ASSERT_FALSE(bad_index.ok());
  EXPECT_NE(bad_index.error().message().find("LWS_WORKER_INDEX"), std::string::npos);
  auto junk = resolve_topology(two, env_of({{"LWS_GROUP_SIZE", "two"}}));
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.error().message().find("LWS_GROUP_SIZE=two"), std::string::npos);
  DistOptions nodes;
  nodes.pipeline_parallel_size = 2;
  nodes.nnodes = 2;
  auto no_leader = resolve_topology(nodes, env_of({}));
  ASSERT_FALSE(no_leader.ok());
  EXPECT_NE(no_leader.error().message().find("--master-addr"), std::string::npos);
}

}  // namespace
}  // namespace strata
