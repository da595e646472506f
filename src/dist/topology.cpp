#include "dist/topology.h"

#include <cstdlib>

namespace strata {

namespace {
Result<int> env_int(const EnvLookup& env, const char* name) {
  const char* v = env(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1000000) return make_error("{}={}: expected a non-negative integer", name, v);
  return static_cast<int>(x);
}
}  // namespace

Result<Topology> resolve_topology(const DistOptions& o, const EnvLookup& env) {
  Topology t;
  if (o.tensor_parallel_size < 1) return make_error("--tensor-parallel-size {}: must be at least 1", o.tensor_parallel_size);
  if (o.pipeline_parallel_size < 1)
    return make_error("--pipeline-parallel-size {}: must be at least 1", o.pipeline_parallel_size);
  t.parallel.tensor_parallel_size = o.tensor_parallel_size;
  t.parallel.pipeline_parallel_size = o.pipeline_parallel_size;
  STRATA_TRY(int lws_size, env_int(env, "LWS_GROUP_SIZE"));
  STRATA_TRY(int lws_index, env_int(env, "LWS_WORKER_INDEX"));
  const char* lws_leader = env("LWS_LEADER_ADDRESS");
  t.from_lws = lws_size > 0;
  t.nnodes = o.nnodes > 0 ? o.nnodes : (lws_size > 0 ? lws_size : 1);
  t.node_rank = o.node_rank >= 0 ? o.node_rank : (lws_index >= 0 ? lws_index : 0);
  if (!o.master_addr.empty()) t.master_addr = o.master_addr;
  else if (lws_leader && *lws_leader) t.master_addr = lws_leader;
  if (o.master_port < 1 || o.master_port > 65535) return make_error("--master-port {}: expected 1..65535", o.master_port);
  t.master_port = static_cast<uint16_t>(o.master_port);
  if (o.join_timeout_s <= 0) return make_error("--rendezvous-timeout {}: must be positive", o.join_timeout_s);
  t.join_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.join_timeout_s * 1000));
  const char* nodes_from = o.nnodes > 0 ? "--nnodes" : "LWS_GROUP_SIZE";
  if (t.node_rank >= t.nnodes)
    return make_error("node rank {} ({}) is not below the {} nodes of {}", t.node_rank,
                      o.node_rank >= 0 ? "--node-rank" : "LWS_WORKER_INDEX", t.nnodes, nodes_from);
  if (t.world_size() % t.nnodes != 0)
    return make_error("--tensor-parallel-size {} x --pipeline-parallel-size {} = {} ranks cannot be split evenly over "
                      "{} nodes ({})", t.tp(), t.pp(), t.world_size(), t.nnodes, nodes_from);
  if (t.nnodes > 1 && t.master_addr.empty())
    return make_error("{} nodes but no leader address: set --master-addr or LWS_LEADER_ADDRESS", t.nnodes);
  if (t.master_addr.empty()) t.master_addr = "127.0.0.1";
  return t;
}

Result<Topology> resolve_topology(const DistOptions& o) {
  return resolve_topology(o, [](const char* name) { return std::getenv(name); });
}

}  // namespace strata
