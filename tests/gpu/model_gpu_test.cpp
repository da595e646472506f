// Model-level GPU checks (run on the GPU machine by tests/gpu/run.sh; skipped without a GPU):
//  - decode steps replayed from CUDA graphs equal the same steps run eagerly;
//  - a Llama-3.1-8B-shaped model with dummy weights, bf16 on the GPU against f32 on the CPU backend,
//    teacher-forced: top-1 agreement and relative logit error (STRATA_GPU_LARGE=1; ~32 GB of host RAM).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "runtime/model_loader.h"
#include "runtime/model_runner.h"
#include "testutil.h"

namespace strata {
namespace {

#define REQUIRE_GPU()                                       \
  do {                                                      \
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";   \
  } while (0)

double rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (static_cast<double>(a[i]) - ref[i]) * (static_cast<double>(a[i]) - ref[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

int32_t argmax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j)
    if (row[j] > row[best]) best = j;
  return static_cast<int32_t>(best);
}

// Sequences decoding side by side: each owns blocks [s * per_seq, (s + 1) * per_seq).
struct Batch {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::vector<int32_t>> tables;
  std::vector<SeqChunk> prefill() const {
    std::vector<SeqChunk> c;
    for (size_t s = 0; s < tokens.size(); ++s) c.push_back({tokens[s], 0, tables[s], true, false, false});
    return c;
  }
  std::vector<SeqChunk> decode() const {
    std::vector<SeqChunk> c;
    for (size_t s = 0; s < tokens.size(); ++s) {
      const int32_t last = static_cast<int32_t>(tokens[s].size()) - 1;
      c.push_back({std::span<const int32_t>(tokens[s]).subspan(last), last, tables[s], true, false, false});
    }
    return c;
  }
};

Batch make_batch(const std::vector<int>& lens, int32_t vocab, int blocks_per_seq, std::mt19937& rng) {
  Batch b;
  for (size_t s = 0; s < lens.size(); ++s) {
    std::vector<int32_t> t(static_cast<size_t>(lens[s]));
    for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    b.tokens.push_back(t);
    std::vector<int32_t> table;
    for (int i = 0; i < blocks_per_seq; ++i) table.push_back(static_cast<int32_t>(s) * blocks_per_seq + i);
    b.tables.push_back(table);
  }
  return b;
}

TEST(GpuModel, GraphReplayEqualsEagerDecode) {
  REQUIRE_GPU();
  STRATA_REQUIRE_TESTDATA();
  LoadOptions o;
  o.model = test::fixture_model_dir("llama3");
  o.max_model_len = 256;
  o.device = "cuda";
  o.dtype = "bfloat16";
  auto m = load_model(o);
  ASSERT_TRUE(m.ok()) << m.error().message();
  const int64_t vocab = m->config.vocab_size;
  KvCache eager_cache = m->model->allocate_kv_cache(128, 16);
  KvCache graph_cache = m->model->allocate_kv_cache(128, 16);
  ModelRunner eager(*m->model, *m->backend, eager_cache);
  ModelRunner graphs(*m->model, *m->backend, graph_cache);
  ASSERT_GT(graphs.capture_graphs(8, 256), 0);
  std::mt19937 rng(std::random_device{}());
  Batch a = make_batch({5, 17, 33}, static_cast<int32_t>(vocab), 8, rng);  // 3 sequences: bucket 4 pads one
  Batch b = a;
  auto pa = a.prefill(), pb = b.prefill();
  StepOutput ea = eager.run(pa), eb = graphs.run(pb);
  int agree = 0, total = 0;
  double worst = 0;
  for (int step = 0; step < 24; ++step) {
    for (size_t s = 0; s < a.tokens.size(); ++s) {
      a.tokens[s].push_back(ea.tokens[s]);  // both follow the eager run's tokens
      b.tokens[s].push_back(ea.tokens[s]);
    }
    auto da = a.decode(), db = b.decode();
    ea = eager.run(da);
    eb = graphs.run(db);
    ASSERT_EQ(ea.logits.size(), eb.logits.size());
    worst = std::max(worst, rel_err(eb.logits, ea.logits));
    for (size_t s = 0; s < a.tokens.size(); ++s, ++total) agree += ea.tokens[s] == eb.tokens[s];
    // The device argmax is the argmax of the logits returned.
    for (size_t s = 0; s < a.tokens.size(); ++s) EXPECT_EQ(ea.tokens[s], argmax(ea.logits.data() + s * vocab, vocab));
  }
  std::printf("graph vs eager over %d decode rows: top-1 agreement %d/%d, worst relative logit error %.2e\n", total,
              agree, total, worst);
  EXPECT_LT(worst, 2e-2);
  EXPECT_GE(agree, total * 9 / 10);
}

// A model directory with Llama-3.1-8B's config.json and the Llama 3.1 tokenizer (dummy weights).
std::string llama8b_dir() {
  namespace fs = std::filesystem;
  const std::string dir = test::make_temp_dir("llama8b");
  fs::copy_file(test::testdata_dir() + "/llama3-hf-configs/Llama-3.1-8B.config.json", dir + "/config.json");
  const std::string tok = test::hf_tokenizer_dir("llama-3.1-instruct");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(tok + "/" + f, dir + "/" + f);
  return dir;
}

TEST(GpuModel, Llama8BShapeBf16AgainstCpuF32) {
  REQUIRE_GPU();
  STRATA_REQUIRE_TESTDATA();
  if (!std::getenv("STRATA_GPU_LARGE")) GTEST_SKIP() << "set STRATA_GPU_LARGE=1 (32 GB of host RAM, ~1 min)";
  const std::string dir = llama8b_dir();
  LoadOptions o;
  o.model = dir;
  o.load_format = "dummy";
  o.max_model_len = 256;
  o.device = "cuda";
  o.dtype = "bfloat16";
  auto g = load_model(o);
  ASSERT_TRUE(g.ok()) << g.error().message();
  o.device = "cpu";
  auto c = load_model(o);
  ASSERT_TRUE(c.ok()) << c.error().message();
  const int64_t vocab = g->config.vocab_size;
  KvCache gc = g->model->allocate_kv_cache(16, 16), cc = c->model->allocate_kv_cache(16, 16);
  ModelRunner gr(*g->model, *g->backend, gc), cr(*c->model, *c->backend, cc);
  std::mt19937 rng(std::random_device{}());
  Batch b = make_batch({64}, static_cast<int32_t>(vocab), 16, rng);
  auto p = b.prefill();
  StepOutput go = gr.run(p), co = cr.run(p);
  int agree = 0, total = 0;
  double err_sum = 0, worst = 0;
  for (int step = 0;; ++step) {
    const double e = rel_err(go.logits, co.logits);
    err_sum += e;
    worst = std::max(worst, e);
    agree += go.tokens[0] == co.tokens[0];
    ++total;
    if (step == 16) break;
    b.tokens[0].push_back(co.tokens[0]);  // teacher-forced by the fp32 reference
    auto d = b.decode();
    go = gr.run(d);
    co = cr.run(d);
  }
  std::printf("Llama-3.1-8B shape, dummy weights, bf16 GPU vs f32 CPU over %d positions: top-1 agreement %d/%d, "
              "relative logit error mean %.3e worst %.3e\n", total, agree, total, err_sum / total, worst);
  EXPECT_GE(agree, total * 8 / 10);
  EXPECT_LT(worst, 0.1);
}

}  // namespace
}  // namespace strata
