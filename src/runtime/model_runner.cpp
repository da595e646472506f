#include "runtime/model_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/logging.h"

namespace strata {

// The step's inputs on the host, in the layout ForwardBatch wants.
struct ModelRunner::Inputs {
  std::vector<int32_t> ids, pos, qsl, lens, tables, rows;
  std::vector<int64_t> slots;
  int32_t num_seqs = 0, max_q = 0, max_len = 0;
  int64_t max_blocks = 1;
  std::vector<int64_t> last_row;  // per chunk: its last logits row, -1 without one
  bool need_logits = false;       // some row is not device_sample
  std::vector<const SeqChunk*> drawn_for;  // per logits row: the device_sample chunk it is drawn for, or null
  // Per logits row: the token its chunk took from the previous step's draw (SeqChunk::token_from), an
  // output token its penalties count beyond the chunk's output_ids; -1 for none.
  std::vector<int32_t> drawn_extra;
  bool decode_only = true;        // one token per sequence, one logits row each, nothing else
};

namespace {
constexpr size_t kAlign = 256;
size_t aligned(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
}  // namespace

namespace {
// STRATA_STEP_TIMING=1: every 100 steps, where a step's wall time went (host input building, device
// work until the tokens are back, the engine between steps).
struct StepTiming {
  bool on = [] {
    const char* e = std::getenv("STRATA_STEP_TIMING");
    return e && e[0] == '1';
  }();
  double prep = 0, device = 0, between = 0, tokens = 0, seqs = 0;
  int steps = 0, graphed = 0;
  std::chrono::steady_clock::time_point last_end{};
  void report() {
    LOG_INFO("steps {}-{}: {:.0f} tokens / {:.1f} seqs per step, {} graphed; ms per step: inputs {:.3f}, device "
             "{:.3f}, between steps {:.3f}", steps - 99, steps, tokens / 100, seqs / 100, graphed, prep / 100,
             device / 100, between / 100);
    prep = device = between = tokens = seqs = 0;
    graphed = 0;
  }
};
StepTiming g_timing;
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

StepOutput ModelRunner::run(std::span<const SeqChunk> chunks) {
  StepOutput out = run_step(chunks);
  last_tokens_ = out.tokens;
  return out;
}

StepOutput ModelRunner::run_step(std::span<const SeqChunk> chunks) {
  const auto t_start = std::chrono::steady_clock::now();
  if (g_timing.on && g_timing.steps > 0) g_timing.between += std::chrono::duration<double, std::milli>(t_start - g_timing.last_end).count();
  const int32_t bs = cache_.block_size;
  Inputs in;
  in.num_seqs = static_cast<int32_t>(chunks.size());
  for (const auto& c : chunks) {
    in.max_blocks = std::max<int64_t>(in.max_blocks, static_cast<int64_t>(c.block_table.size()));
    in.max_q = std::max(in.max_q, static_cast<int32_t>(c.tokens.size()));
    in.max_len = std::max(in.max_len, c.start + static_cast<int32_t>(c.tokens.size()));
  }
  in.tables.assign(static_cast<size_t>(in.num_seqs * in.max_blocks), 0);
  in.last_row.assign(chunks.size(), -1);
  int64_t t = 0;
  for (int32_t s = 0; s < in.num_seqs; ++s) {
    const SeqChunk& c = chunks[s];
    const int32_t len = static_cast<int32_t>(c.tokens.size());
    STRATA_CHECK(static_cast<int64_t>(c.block_table.size()) * bs >= c.start + len, "block table too short");
    in.qsl.push_back(static_cast<int32_t>(t));
    in.lens.push_back(c.start + len);
    std::copy(c.block_table.begin(), c.block_table.end(), in.tables.begin() + s * in.max_blocks);
    if (len != 1 || !c.want_logits || c.all_logits) in.decode_only = false;
    if (c.all_logits || (c.want_logits && !c.device_sample)) in.need_logits = true;
    if (c.token_from >= 0) {
      STRATA_CHECK(len == 1 && static_cast<size_t>(c.token_from) < last_tokens_.size() &&
                       last_tokens_[static_cast<size_t>(c.token_from)] >= 0,
                   "chunk {} takes its token from chunk {} of the previous step, which drew none", s, c.token_from);
    }
    for (int32_t i = 0; i < len; ++i, ++t) {
      const int32_t p = c.start + i;
      in.ids.push_back(c.token_from >= 0 ? last_tokens_[static_cast<size_t>(c.token_from)] : c.tokens[i]);
      in.pos.push_back(p);
      in.slots.push_back(static_cast<int64_t>(c.block_table[p / bs]) * bs + p % bs);
      if (c.all_logits || (c.want_logits && i == len - 1)) {
        in.rows.push_back(static_cast<int32_t>(t));
        in.drawn_for.push_back(c.device_sample && i == len - 1 ? &c : nullptr);
        in.drawn_extra.push_back(c.token_from >= 0 ? last_tokens_[static_cast<size_t>(c.token_from)] : -1);
      }
    }
    if (c.want_logits || c.all_logits) in.last_row[s] = static_cast<int64_t>(in.rows.size()) - 1;
  }
  in.qsl.push_back(static_cast<int32_t>(t));

  backend_.reset_workspace();
  const double prep_ms = g_timing.on ? ms_since(t_start) : 0;
  const auto t_dev = std::chrono::steady_clock::now();
  TensorView logits;
  Tensor eager;
  const bool graphed = run_graph(in, logits);
  if (!graphed) {
    eager = forward_eager(in);
    logits = eager.view();
  }
  struct Record {  // accounts the step on every return path
    const Inputs& in;
    double prep;
    std::chrono::steady_clock::time_point t_dev;
    bool graphed;
    ~Record() {
      if (!g_timing.on) return;
      g_timing.prep += prep;
      g_timing.device += ms_since(t_dev);
      g_timing.tokens += static_cast<double>(in.ids.size());
      g_timing.seqs += in.num_seqs;
      g_timing.graphed += graphed;
      g_timing.last_end = std::chrono::steady_clock::now();
      if (++g_timing.steps % 100 == 0) g_timing.report();
    }
  } record{in, prep_ms, t_dev, graphed};
  StepOutput out;
  out.tokens.assign(chunks.size(), -1);
  const int64_t m = static_cast<int64_t>(in.rows.size()), vocab = logits.shape.empty() ? 0 : logits.shape.back();
  if (m == 0 || logits.data == nullptr) return out;  // nothing sampled, or not the last pipeline stage
  logits.shape = {m, vocab};  // a graph's logits have one row per bucket slot; the real ones come first
  std::vector<int32_t> best;
  std::vector<RowLogprobs> row_logprobs;
  sampling_.sample(logits, in.drawn_for, in.drawn_extra, best, row_logprobs);
  for (size_t i = 0; i < chunks.size(); ++i)
    if (in.last_row[i] >= 0) out.tokens[i] = best[static_cast<size_t>(in.last_row[i])];
  if (!row_logprobs.empty()) {
    out.logprobs.resize(chunks.size());
    for (size_t i = 0; i < chunks.size(); ++i)
      if (in.last_row[i] >= 0) out.logprobs[i] = std::move(row_logprobs[static_cast<size_t>(in.last_row[i])]);
  }
  if (in.need_logits) {
    out.logits.resize(static_cast<size_t>(m * vocab));
    backend_.copy_to_host(logits, out.logits.data());
  }
  return out;
}

Tensor ModelRunner::forward_eager(const Inputs& in) {
  // One host buffer, one copy: each array at a 256-byte aligned offset.
  const int64_t n = static_cast<int64_t>(in.ids.size());
  struct Part {
    const void* src;
    size_t bytes;
    DType dtype;
    Shape shape;
    size_t offset = 0;
  };
  std::vector<Part> parts = {
      {in.ids.data(), in.ids.size() * 4, DType::kI32, {n}},
      {in.pos.data(), in.pos.size() * 4, DType::kI32, {n}},
      {in.slots.data(), in.slots.size() * 8, DType::kI64, {n}},
      {in.qsl.data(), in.qsl.size() * 4, DType::kI32, {in.num_seqs + 1}},
      {in.lens.data(), in.lens.size() * 4, DType::kI32, {in.num_seqs}},
      {in.tables.data(), in.tables.size() * 4, DType::kI32, {in.num_seqs, in.max_blocks}},
      {in.rows.data(), in.rows.size() * 4, DType::kI32, {static_cast<int64_t>(in.rows.size())}},
  };
  size_t total = 0;
  for (auto& p : parts) {
    p.offset = total;
    total += aligned(std::max<size_t>(p.bytes, 1));
  }
  std::vector<char> host(total);
  for (const auto& p : parts)
    if (p.bytes) std::memcpy(host.data() + p.offset, p.src, p.bytes);
  Tensor dev = backend_.workspace(DType::kU8, {static_cast<int64_t>(total)});
  backend_.copy_from_host(host.data(), dev.view());
  auto view = [&](const Part& p) { return TensorView{dev.data<char>() + p.offset, p.dtype, p.shape}; };
  ForwardBatch batch;
  batch.token_ids = view(parts[0]);
  batch.positions = view(parts[1]);
  batch.attn.slot_mapping = view(parts[2]);
  batch.attn.query_start_loc = view(parts[3]);
  batch.attn.seq_lens = view(parts[4]);
  batch.attn.block_tables = view(parts[5]);
  batch.logits_indices = view(parts[6]);
  batch.attn.num_seqs = in.num_seqs;
  batch.attn.max_query_len = in.max_q;
  batch.attn.max_seq_len = in.max_len;
  return model_.forward(batch, cache_);
}

int32_t ModelRunner::bucket_for(int32_t num_seqs) const {
  for (int32_t b : g_buckets_)
    if (b >= num_seqs) return b;
  return -1;
}

ForwardBatch ModelRunner::graph_batch(int32_t b) const {
  const int32_t B = g_max_batch_;
  int32_t* base = g_i32_.data<int32_t>();
  ForwardBatch batch;
  batch.token_ids = {base, DType::kI32, {b}};
  batch.positions = {base + B, DType::kI32, {b}};
  batch.attn.query_start_loc = {base + 2 * B, DType::kI32, {b + 1}};
  batch.attn.seq_lens = {base + 3 * B + 1, DType::kI32, {b}};
  batch.logits_indices = {base + 4 * B + 1, DType::kI32, {b}};
  batch.attn.slot_mapping = {g_slots_.data<int64_t>(), DType::kI64, {b}};
  batch.attn.block_tables = {g_tables_.data<int32_t>(), DType::kI32, {b, g_max_blocks_}};
  batch.attn.num_seqs = b;
  batch.attn.max_query_len = 1;
  batch.attn.max_seq_len = static_cast<int32_t>(g_max_blocks_ * cache_.block_size);
  return batch;
}

// Real sequences first, then padding: token 0 at position 0, seq_len 1, block 0, no KV write.
void ModelRunner::fill_graph_inputs(const Inputs& in, int32_t b) {
  const int32_t B = g_max_batch_, n = in.num_seqs;
  std::vector<int32_t> i32(static_cast<size_t>(5 * B + 1), 0);
  std::vector<int64_t> slots(static_cast<size_t>(b), -1);
  for (int32_t s = 0; s < b; ++s) {
    const bool real = s < n;
    i32[s] = real ? in.ids[s] : 0;
    i32[B + s] = real ? in.pos[s] : 0;
    i32[2 * B + s] = s;
    i32[3 * B + 1 + s] = real ? in.lens[s] : 1;
    i32[4 * B + 1 + s] = s;
    if (real) slots[s] = in.slots[s];
  }
  i32[2 * B + b] = b;
  backend_.copy_from_host(i32.data(), g_i32_.view());
  backend_.copy_from_host(slots.data(), TensorView{g_slots_.data<void>(), DType::kI64, {b}});
  // Only the columns this step uses: rows are g_max_blocks_ wide on the device.
  const int64_t width = std::min(in.max_blocks, g_max_blocks_);
  if (n > 0)
    backend_.copy_from_host_2d(in.tables.data(), in.max_blocks * 4, g_tables_.data<void>(), g_max_blocks_ * 4,
                               width * 4, static_cast<size_t>(n));
  if (b > n) {
    std::vector<int32_t> zeros(static_cast<size_t>(b - n), 0);
    backend_.copy_from_host_2d(zeros.data(), 4, g_tables_.data<int32_t>() + n * g_max_blocks_, g_max_blocks_ * 4, 4,
                               static_cast<size_t>(b - n));
  }
}

bool ModelRunner::run_graph(const Inputs& in, TensorView& logits) {
  if (graphs_.empty() || !in.decode_only || in.max_blocks > g_max_blocks_) return false;
  const int32_t b = bucket_for(in.num_seqs);
  auto it = graphs_.find(b);
  if (b < 0 || it == graphs_.end()) return false;
  fill_graph_inputs(in, b);
  backend_.replay(it->second.id);
  logits = it->second.logits;
  return true;
}

int ModelRunner::capture_graphs(int32_t max_batch, int64_t max_model_len) {
  if (!backend_.supports_graphs() || max_batch < 1) return 0;
  static const int32_t kBuckets[] = {1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256,
                                     320, 384, 448, 512};
  g_buckets_.clear();
  for (int32_t b : kBuckets)
    if (b <= max_batch) g_buckets_.push_back(b);
  if (g_buckets_.back() < max_batch && max_batch <= 512) g_buckets_.push_back(max_batch);
  g_max_batch_ = g_buckets_.back();
  g_max_blocks_ = (max_model_len + cache_.block_size - 1) / cache_.block_size;
  g_i32_ = backend_.alloc(DType::kI32, {5 * g_max_batch_ + 1});
  g_slots_ = backend_.alloc(DType::kI64, {g_max_batch_});
  g_tables_ = backend_.alloc(DType::kI32, {g_max_batch_, g_max_blocks_});
  sampling_.reserve(g_max_batch_, 1 << 16);  // so that sampling steps do not allocate either
  Inputs none;  // every slot padding
  none.max_blocks = 1;
  // Largest first, so the workspace has grown to its final size before the small graphs are taken.
  for (auto it = g_buckets_.rbegin(); it != g_buckets_.rend(); ++it) {
    const int32_t b = *it;
    fill_graph_inputs(none, b);
    backend_.reset_workspace();
    ForwardBatch warm = graph_batch(b);
    model_.forward(warm, cache_);  // warm-up: GEMM plans, workspace growth
    backend_.synchronize();
    backend_.reset_workspace();
    ForwardBatch batch = graph_batch(b);
    backend_.begin_capture();
    Tensor logits = model_.forward(batch, cache_);
    Graph g;
    g.id = backend_.end_capture();
    g.logits = logits.view();
    graphs_[b] = g;
  }
  backend_.synchronize();
  return static_cast<int>(g_buckets_.size());
}

void ModelRunner::profile(int64_t tokens, int32_t max_seqs) {
  const int32_t seqs = static_cast<int32_t>(std::max<int64_t>(1, std::min<int64_t>(tokens, max_seqs)));
  const int32_t bs = cache_.block_size;
  Inputs in;
  in.num_seqs = seqs;
  int64_t t = 0;
  for (int32_t s = 0; s < seqs; ++s) {
    const int64_t len = tokens / seqs + (s < tokens % seqs ? 1 : 0);
    in.max_blocks = std::max<int64_t>(in.max_blocks, (len + bs - 1) / bs);
    in.max_q = std::max<int32_t>(in.max_q, static_cast<int32_t>(len));
    in.max_len = in.max_q;
    in.qsl.push_back(static_cast<int32_t>(t));
    in.lens.push_back(static_cast<int32_t>(len));
    for (int64_t i = 0; i < len; ++i, ++t) {
      in.ids.push_back(0);
      in.pos.push_back(static_cast<int32_t>(i));
      in.slots.push_back(-1);  // no KV writes: every key read comes from block 0
    }
    in.rows.push_back(static_cast<int32_t>(t - 1));
  }
  in.qsl.push_back(static_cast<int32_t>(t));
  in.tables.assign(static_cast<size_t>(seqs * in.max_blocks), 0);
  backend_.reset_workspace();
  forward_eager(in);
  backend_.synchronize();
  backend_.reset_workspace();
}

}  // namespace strata
