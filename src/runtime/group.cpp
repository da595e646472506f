#include "runtime/group.h"

#include <algorithm>
#include <cstdlib>

#include "core/logging.h"
#include "dist/nccl_communicator.h"
#include "dist/tcp_communicator.h"
#include "runtime/step_codec.h"

namespace strata {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kHeartbeat = std::chrono::seconds(2);
constexpr auto kSilenceLimit = std::chrono::seconds(15);  // no message for this long: the peer is lost

// Builds one rank on its own thread: backend, communicators, model shard, KV cache (the group agrees
// on the smallest block count through the store), runner and its CUDA graphs.
Status init_rank(RankState& s, const GroupOptions& o, const ModelSource& src, Store& store,
                 const std::string& advertise) {
  const Topology& t = o.topology;
  const int rank = s.rank, stage = t.stage_of(rank), tp_rank = t.tp_rank_of(rank);
  STRATA_TRY(s.backend, create_backend(o.load.device, rank - t.first_local_rank()));
  std::vector<int> tp_ranks, pp_ranks;
  for (int i = 0; i < t.tp(); ++i) tp_ranks.push_back(stage * t.tp() + i);
  for (int i = 0; i < t.pp(); ++i) pp_ranks.push_back(i * t.tp() + tp_rank);
  if (s.backend->name() == "cpu") {
    STRATA_TRY(auto mesh, TcpMesh::create(store, "mesh", rank, t.world_size(), advertise, t.join_timeout));
    s.tp = mesh->group(tp_ranks);
    if (t.pp() > 1) s.pp = mesh->group(pp_ranks);
    s.transport = mesh;
  } else {
    STRATA_TRY(s.tp, create_nccl_communicator(store, fmt::format("nccl/tp/{}", stage), tp_rank, t.tp(), *s.backend,
                                              t.join_timeout));
    if (t.pp() > 1) {
      STRATA_TRY(s.pp, create_nccl_communicator(store, fmt::format("nccl/pp/{}", tp_rank), stage, t.pp(), *s.backend,
                                                t.join_timeout));
    }
  }
  STRATA_TRY(s.model, build_model(src, o.load, *s.backend, *s.tp, s.pp.get(), nullptr));
  KvSizing kv = o.kv;
  if (kv.max_num_batched_tokens <= 0) kv.max_num_batched_tokens = default_batched_tokens(*s.backend);
  if (rank == 0) store.set("max_num_batched_tokens", std::to_string(kv.max_num_batched_tokens));
  int64_t blocks = o.num_blocks_override;
  if (blocks <= 0) {
    STRATA_TRY(blocks, max_kv_blocks(*s.model, *s.backend, kv));
    if (o.tokens_hint > 0) blocks = std::min(blocks, (o.tokens_hint + kv.block_size - 1) / kv.block_size);
  }
  store.set(fmt::format("kv_blocks/{}", rank), std::to_string(blocks));
  for (int r = 0; r < t.world_size(); ++r) {
    STRATA_TRY(std::string v, store.get(fmt::format("kv_blocks/{}", r), t.join_timeout));
    blocks = std::min<int64_t>(blocks, std::stoll(v));
  }
  blocks = std::min<int64_t>(blocks, INT32_MAX);
  s.cache = s.model->allocate_kv_cache(blocks, kv.block_size);
  s.runner = std::make_unique<ModelRunner>(*s.model, *s.backend, s.cache);
  // Graphs replay whole steps; a pipeline stage's send/recv pairs are left eager for now.
  if (!o.enforce_eager && t.pp() == 1 && s.backend->supports_graphs())
    s.runner->capture_graphs(static_cast<int32_t>(std::min<int64_t>(kv.max_num_seqs, kv.max_num_batched_tokens)),
                             src.max_model_len);
  store.set(fmt::format("ready/{}", rank), "1");
  return ok_status();
}

// Waits for a key, logging every 10 s what is still missing.
Result<std::string> wait_key(Store& store, const std::string& key, std::chrono::milliseconds timeout,
                             const std::string& what) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto v = store.get(key, std::min<std::chrono::milliseconds>(left, std::chrono::seconds(10)));
    if (v.ok()) return v;
    if (Clock::now() >= deadline) return make_error("timed out after {} s waiting for {}", timeout.count() / 1000, what);
    LOG_INFO("still waiting for {}", what);
  }
}

// Waits for every local rank's init. The first failure wins: returned when every local rank has
// finished (a configuration error all ranks hit alike), else fatal (the others may be stuck in a
// collective with the failed one, and a thread stuck there cannot be joined).
Status wait_ranks_ready(std::vector<std::unique_ptr<RankWorker>>& ranks, int first_rank,
                        const std::function<void(const std::string&)>& on_failure) {
  while (true) {
    bool all = true;
    for (size_t i = 0; i < ranks.size(); ++i) {
      auto st = ranks[i]->ready_within(std::chrono::milliseconds(50));
      if (!st) {
        all = false;
        continue;
      }
      if (st->ok()) continue;
      const std::string msg = fmt::format("rank {}: {}", first_rank + static_cast<int>(i), st->error().message());
      if (on_failure) on_failure(msg);
      for (int wait = 0; wait < 40; ++wait) {  // up to 2 s for the others to finish too
        bool done = true;
        for (auto& r : ranks) done = done && r->ready_within(std::chrono::milliseconds(50)).has_value();
        if (done) return Error(msg);
      }
      comm_failure(msg + " (the other ranks are still starting; giving up)");
    }
    if (all) return ok_status();
  }
}

std::string summary_diff(const std::string& mine, const std::string& theirs) {
  std::string out;
  auto lines = [](const std::string& s) {
    std::vector<std::string> v;
    size_t at = 0;
    while (at < s.size()) {
      size_t end = s.find('\n', at);
      if (end == std::string::npos) end = s.size();
      v.push_back(s.substr(at, end - at));
      at = end + 1;
    }
    return v;
  };
  auto a = lines(mine), b = lines(theirs);
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "", y = i < b.size() ? b[i] : "";
    if (x != y) out += fmt::format("{}here: '{}' vs leader: '{}'", out.empty() ? "" : "; ", x, y);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<GroupExecutor>> GroupExecutor::start(const GroupOptions& o,
                                                            std::shared_ptr<const ModelSource> source) {
  const Topology& t = o.topology;
  std::unique_ptr<GroupExecutor> g(new GroupExecutor());
  g->topology_ = t;
  const bool multi = t.nnodes > 1;
  STRATA_TRY(g->store_server_, TcpStoreServer::start(multi ? "" : "127.0.0.1", multi ? t.master_port : 0));
  Store& store = g->store_server_->local();
  store.set("config", o.summary);
  std::string advertise = "127.0.0.1";
  if (multi) {
    STRATA_RETURN_IF_ERROR(g->join_nodes(o));
    advertise = g->nodes_.front()->channel->local_address();
  }
  LOG_INFO("group: {} ranks (tensor parallel {} x pipeline parallel {}) on {} node(s); this node runs ranks {}..{}",
           t.world_size(), t.tp(), t.pp(), t.nnodes, t.first_local_rank(), t.first_local_rank() + t.ranks_per_node() - 1);
  for (int r = t.first_local_rank(); r < t.first_local_rank() + t.ranks_per_node(); ++r)
    g->ranks_.push_back(std::make_unique<RankWorker>(
        r, [&o, source, &store, advertise](RankState& s) { return init_rank(s, o, *source, store, advertise); }));
  STRATA_RETURN_IF_ERROR(wait_ranks_ready(g->ranks_, t.first_local_rank(), nullptr));
  for (int r = 0; r < t.world_size(); ++r)
    STRATA_RETURN_IF_ERROR(wait_key(store, fmt::format("ready/{}", r), t.join_timeout,
                                    fmt::format("rank {} (node {}) to load its shard", r, t.node_of(r))));
  g->num_blocks_ = INT64_MAX;
  for (int r = 0; r < t.world_size(); ++r)
    g->num_blocks_ = std::min<int64_t>(g->num_blocks_, std::stoll(store.get(fmt::format("kv_blocks/{}", r), {}).value()));
  g->num_blocks_ = std::min<int64_t>(g->num_blocks_, INT32_MAX);
  g->batched_tokens_ = std::stoll(store.get("max_num_batched_tokens", {}).value());
  LOG_INFO("group ready: every rank has loaded its shard; {} KV blocks per rank", g->num_blocks_);
  if (const char* v = std::getenv("STRATA_STEP_TIMEOUT_S"); v && std::atoi(v) > 0)
    g->step_timeout_ = std::chrono::seconds(std::atoi(v));
  g->watchdog_ = std::thread([p = g.get()] {
    std::unique_lock<std::mutex> lock(p->mu_);
    while (!p->cv_.wait_for(lock, std::chrono::seconds(1), [&] { return p->stopping_.load(); })) {
      if (!p->started_.empty() && Clock::now() - p->started_.front() > p->step_timeout_)
        comm_failure(fmt::format("a step has not finished after {} s: a rank is hung (STRATA_STEP_TIMEOUT_S)",
                                 p->step_timeout_.count()));
    }
  });
  return g;
}

Status GroupExecutor::join_nodes(const GroupOptions& o) {
  const Topology& t = o.topology;
  STRATA_TRY(listener_, Listener::listen("", 0));
  store_server_->local().set("control", std::to_string(listener_->port()));
  LOG_INFO("rendezvous on port {}: waiting up to {} s for {} worker node(s) to join", t.master_port,
           t.join_timeout.count() / 1000, t.nnodes - 1);
  const auto deadline = Clock::now() + t.join_timeout;
  auto last_log = Clock::now();
  std::vector<bool> joined(static_cast<size_t>(t.nnodes), false);
  joined[0] = true;
  while (static_cast<int>(nodes_.size()) < t.nnodes - 1) {
    if (Clock::now() >= deadline || Clock::now() - last_log >= std::chrono::seconds(10)) {
      std::string missing;
      for (int i = 1; i < t.nnodes; ++i)
        if (!joined[static_cast<size_t>(i)]) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
      if (Clock::now() >= deadline)
        return make_error("worker node(s) {} did not join within {} s (leader port {})", missing,
                          t.join_timeout.count() / 1000, t.master_port);
      LOG_INFO("waiting for worker node(s) {} to join ({} of {} nodes here)", missing, nodes_.size() + 1, t.nnodes);
      last_log = Clock::now();
    }
    for (int i = 1; i < t.nnodes; ++i) {
      if (joined[static_cast<size_t>(i)]) continue;
      auto why = store_server_->local().get(fmt::format("rejected/{}", i), std::chrono::milliseconds(0));
      if (why.ok()) return make_error("worker node {} refused to join: its flags differ from the leader's: {}", i, *why);
    }
    auto ch = listener_->accept(std::chrono::seconds(1));
    if (!ch.ok()) {
      if (is_timeout(ch.error())) continue;
      return ch.error();
    }
    auto hello = (*ch)->recv(std::chrono::seconds(10));
    int index = -1;
    if (hello.ok() && hello->size() > 1 && (*hello)[0] == 'J') index = std::atoi(hello->c_str() + 1);
    if (index < 1 || index >= t.nnodes || joined[static_cast<size_t>(index)]) {
      LOG_WARN("rejected a control connection from {}: not a new worker node of this group", (*ch)->peer());
      continue;
    }
    joined[static_cast<size_t>(index)] = true;
    LOG_INFO("worker node {} joined from {}", index, (*ch)->peer());
    auto node = std::make_unique<Node>();
    node->index = index;
    node->channel = std::move(*ch);
    nodes_.push_back(std::move(node));
  }
  for (auto& n : nodes_) n->reader = std::thread([this, node = n.get()] { read_node(*node); });
  heartbeat_ = std::thread([this] {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (cv_.wait_for(lock, kHeartbeat, [&] { return stopping_.load(); })) return;
      }
      for (auto& n : nodes_) (void)n->channel->send("H");  // a failed send shows up in the reader
    }
  });
  return ok_status();
}

void GroupExecutor::read_node(Node& node) {
  while (true) {
    auto m = node.channel->recv(kSilenceLimit);
    if (stopping_) return;
    if (!m.ok()) {
      if (is_timeout(m.error()))
        comm_failure(fmt::format("worker node {} ({}) sent nothing for {} s", node.index, node.channel->peer(),
                                 kSilenceLimit.count()));
      comm_failure(fmt::format("lost worker node {} ({}): {}", node.index, node.channel->peer(), m.error().message()));
    }
    if (m->empty()) continue;
    if ((*m)[0] == 'E') comm_failure(fmt::format("worker node {}: {}", node.index, m->substr(1)));
    if ((*m)[0] == 'O') {
      std::shared_ptr<std::promise<StepOutput>> p;
      {
        std::lock_guard<std::mutex> lock(mu_);
        STRATA_CHECK(!pending_.empty(), "a step output from node {} with no step in flight", node.index);
        p = std::move(pending_.front());
        pending_.pop_front();
      }
      step_done();
      p->set_value(decode_output(std::string_view(*m).substr(1)));
    }
  }
}

StepOutput GroupExecutor::run(std::span<const SeqChunk> chunks) { return submit(chunks).get(); }

std::future<StepOutput> GroupExecutor::submit(std::span<const SeqChunk> chunks) {
  auto step = std::make_shared<const std::string>(encode_step(chunks));
  auto result = std::make_shared<std::promise<StepOutput>>();
  auto future = result->get_future();
  const int out_rank = topology_.output_rank();
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_.push_back(Clock::now());
    if (topology_.node_of(out_rank) != topology_.node_rank) pending_.push_back(result);
  }
  if (!nodes_.empty()) {
    const std::string wire = "S" + *step;
    for (auto& n : nodes_)
      if (Status st = n->channel->send(wire); !st.ok())
        comm_failure(fmt::format("lost worker node {} ({}): {}", n->index, n->channel->peer(), st.error().message()));
  }
  for (size_t i = 0; i < ranks_.size(); ++i) {
    RankWorker::Done done;
    if (topology_.first_local_rank() + static_cast<int>(i) == out_rank)
      done = [this, result](StepOutput&& out) {
        step_done();
        result->set_value(std::move(out));
      };
    ranks_[i]->submit(step, std::move(done));
  }
  return future;
}

void GroupExecutor::step_done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_.empty()) started_.pop_front();
}

GroupExecutor::~GroupExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (watchdog_.joinable()) watchdog_.join();
  for (auto& n : nodes_) (void)n->channel->send("Q");
  for (auto& n : nodes_) {
    n->channel->close();
    if (n->reader.joinable()) n->reader.join();
  }
  ranks_.clear();
}

int run_worker_node(const GroupOptions& o) {
  const Topology& t = o.topology;
  RetryOptions retry;
  retry.timeout = t.join_timeout;
  retry.what = "the leader's rendezvous";
  LOG_INFO("worker node {} of {}: joining the leader at {}:{}", t.node_rank, t.nnodes, t.master_addr, t.master_port);
  auto store = connect_store(t.master_addr, t.master_port, retry);
  if (!store.ok()) return LOG_ERROR("{}", store.error().message()), 1;
  auto config = wait_key(**store, "config", t.join_timeout, "the leader's configuration");
  if (!config.ok()) return LOG_ERROR("{}", config.error().message()), 1;
  if (*config != o.summary) {
    const std::string diff = summary_diff(o.summary, *config);
    (*store)->set(fmt::format("rejected/{}", t.node_rank), diff);  // so the leader says why, too
    LOG_ERROR("this node's flags differ from the leader's: {}", diff);
    return 1;
  }
  auto port = wait_key(**store, "control", t.join_timeout, "the leader's control port");
  if (!port.ok()) return LOG_ERROR("{}", port.error().message()), 1;
  retry.what = "the leader's control port";
  auto ch_or = connect_with_retry(t.master_addr, static_cast<uint16_t>(std::stoi(*port)), retry);
  if (!ch_or.ok()) return LOG_ERROR("{}", ch_or.error().message()), 1;
  std::unique_ptr<Channel> ch = std::move(*ch_or);
  if (!ch->send("J" + std::to_string(t.node_rank)).ok()) return LOG_ERROR("lost the leader while joining"), 1;
  std::atomic<bool> stop{false};
  std::thread heartbeat([&] {
    while (!stop) {
      (void)ch->send("H");
      for (int i = 0; i < 20 && !stop; ++i) std::this_thread::sleep_for(kHeartbeat / 20);
    }
  });
  struct Stop {  // on every return path
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Stop() {
      stop = true;
      thread.join();
    }
  } stopper{stop, heartbeat};
  auto source_or = open_model(o.load);
  if (!source_or.ok()) {
    (void)ch->send("E" + source_or.error().message());
    return LOG_ERROR("{}", source_or.error().message()), 1;
  }
  auto source = std::make_shared<const ModelSource>(std::move(*source_or));
  // Each rank talks to the store over its own connection (a blocked get must not hold up the others).
  std::vector<std::unique_ptr<TcpStoreClient>> stores;
  for (int i = 0; i < t.ranks_per_node(); ++i) {
    auto s = connect_store(t.master_addr, t.master_port, retry);
    if (!s.ok()) return LOG_ERROR("{}", s.error().message()), 1;
    stores.push_back(std::move(*s));
  }
  const std::string advertise = ch->local_address();
  std::vector<std::unique_ptr<RankWorker>> ranks;
  for (int i = 0; i < t.ranks_per_node(); ++i) {
    Store* rank_store = stores[static_cast<size_t>(i)].get();
    ranks.push_back(std::make_unique<RankWorker>(
        t.first_local_rank() + i,
        [&o, source, rank_store, advertise](RankState& s) { return init_rank(s, o, *source, *rank_store, advertise); }));
  }
  if (Status st = wait_ranks_ready(ranks, t.first_local_rank(),
                                   [&ch](const std::string& msg) { (void)ch->send("E" + msg); });
      !st.ok()) {
    LOG_ERROR("{}", st.error().message());
    return 1;
  }
  LOG_INFO("worker node {}: ranks {}..{} ready, serving the leader's steps", t.node_rank, t.first_local_rank(),
           t.first_local_rank() + t.ranks_per_node() - 1);
  const int out_rank = t.output_rank();
  while (true) {
    auto m = ch->recv(kSilenceLimit);
    if (!m.ok()) {
      if (is_timeout(m.error()))
        comm_failure(fmt::format("the leader ({}) sent nothing for {} s", ch->peer(), kSilenceLimit.count()));
      comm_failure(fmt::format("lost the leader ({}): {}", ch->peer(), m.error().message()));
    }
    if (m->empty() || (*m)[0] == 'H') continue;
    if ((*m)[0] == 'Q') break;
    STRATA_CHECK((*m)[0] == 'S', "unknown control message '{}'", (*m)[0]);
    auto step = std::make_shared<const std::string>(m->substr(1));
    for (int i = 0; i < t.ranks_per_node(); ++i) {
      RankWorker::Done done;
      if (t.first_local_rank() + i == out_rank)
        done = [&ch](StepOutput&& out) {
          if (Status st = ch->send("O" + encode_output(out)); !st.ok())
            comm_failure(fmt::format("lost the leader ({}): {}", ch->peer(), st.error().message()));
        };
      ranks[static_cast<size_t>(i)]->submit(step, std::move(done));
    }
  }
  LOG_INFO("worker node {}: the leader stopped the group", t.node_rank);
  ranks.clear();
  return 0;
}

}  // namespace strata
