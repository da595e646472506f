// Tensor and pipeline parallelism on the CPU: a GroupExecutor whose ranks are threads of this process
// (TCP data plane over loopback) returns the same all-position logits as one rank, within float32
// tolerance, for tp 2, pp 2 and tp 2 x pp 2 on every fixture architecture (qwen2 has one KV head, so
// tp 2 replicates it).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "runtime/group.h"
#include "runtime/model_loader.h"
#include "testutil.h"

namespace strata {
namespace {

struct Layout {
  int tp, pp;
};

class GroupParity : public ::testing::TestWithParam<std::tuple<std::string, Layout>> {};

std::vector<float> run_logits(Executor& ex, const std::vector<int32_t>& ids) {
  std::vector<int32_t> table;
  for (int b = 0; b < 16; ++b) table.push_back(b);
  SeqChunk c{ids, 0, table, true, true};
  return ex.run(std::span<const SeqChunk>(&c, 1)).logits;
}

TEST_P(GroupParity, LogitsEqualOneRank) {
  STRATA_REQUIRE_TESTDATA();
  const auto& [fixture, layout] = GetParam();
  const std::string dir = test::fixture_model_dir(fixture);
  auto golden = nlohmann::json::parse(test::read_file(dir + "/golden.json"));
  LoadOptions lo;
  lo.model = dir;
  lo.max_model_len = 256;
  lo.device = "cpu";
  lo.dtype = "float32";
  auto one = load_model(lo);
  ASSERT_TRUE(one.ok()) << one.error().message();
  KvCache cache = one->model->allocate_kv_cache(16, 16);
  ModelRunner runner(*one->model, *one->backend, cache);

  GroupOptions g;
  DistOptions d;
  d.tensor_parallel_size = layout.tp;
  d.pipeline_parallel_size = layout.pp;
  auto topo = resolve_topology(d, [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(topo.ok()) << topo.error().message();
  g.topology = *topo;
  g.load = lo;
  g.num_blocks_override = 16;
  auto src = open_model(lo);
  ASSERT_TRUE(src.ok()) << src.error().message();
  auto group = GroupExecutor::start(g, std::make_shared<const ModelSource>(std::move(*src)));
  ASSERT_TRUE(group.ok()) << group.error().message();
  EXPECT_EQ((*group)->num_blocks(), 16);
  for (const auto& c : golden["cases"]) {
    auto ids = c["prompt_ids"].get<std::vector<int32_t>>();
    std::vector<float> want = run_logits(runner, ids), got = run_logits(**group, ids);
    ASSERT_EQ(got.size(), want.size());
    double max_abs = 0, max_err = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(want[i])));
      max_err = std::max(max_err, std::fabs(static_cast<double>(got[i]) - want[i]));
    }
    EXPECT_LE(max_err, 1e-5 * std::max(1.0, max_abs)) << "max |error| " << max_err << " of max |logit| " << max_abs;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GroupParity,
                         ::testing::Combine(::testing::Values("llama3", "qwen2", "mistral"),
                                            ::testing::Values(Layout{2, 1}, Layout{1, 2}, Layout{2, 2})),
                         [](const auto& info) {
                           const Layout l = std::get<1>(info.param);
                           return std::get<0>(info.param) + "_tp" + std::to_string(l.tp) + "_pp" + std::to_string(l.pp);
                         });

}  // namespace
}  // namespace strata
