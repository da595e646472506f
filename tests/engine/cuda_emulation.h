// Just enough of CUDA, on the host, to run the sampling kernel's device code (backend/cuda/
// sampling_row.cuh) in a test without a GPU: every thread of a cluster is a fiber (ucontext) of one
// OS thread; __syncthreads, cluster.sync() and the warp shuffles are barriers that switch to another
// fiber; atomics are plain read-modify-writes (fibers never interleave between barriers); distributed
// shared memory maps an address to the same offset in another CTA's block. Fibers resume from a
// barrier in a shuffled order, so a missing barrier can show. A deadlock (a barrier some thread never
// reaches) is reported instead of hanging.
#pragma once

#define STRATA_CUDA_EMULATION 1

#include <ucontext.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#define __device__
#define __global__
#define __host__
#define __forceinline__ inline

struct uint2 {
  uint32_t x, y;
};
struct alignas(16) uint4 {
  uint32_t x, y, z, w;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) ulonglong2 {
  unsigned long long x, y;
};
inline uint2 make_uint2(uint32_t x, uint32_t y) {
  return {x, y};
}
inline float4 make_float4(float x, float y, float z, float w) {
  return {x, y, z, w};
}
inline float4 __ldcs(const float4* p) {
  return *p;
}
inline int __clz(int x) {
  return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x));
}
inline int min(int a, int b) {
  return a < b ? a : b;
}
inline int max(int a, int b) {
  return a > b ? a : b;
}
inline unsigned min(unsigned a, unsigned b) {
  return a < b ? a : b;
}
inline unsigned max(unsigned a, unsigned b) {
  return a > b ? a : b;
}
inline uint32_t atomicAdd(uint32_t* p, uint32_t v) {
  const uint32_t old = *p;
  *p += v;
  return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p += v;
  return old;
}

namespace emu {

struct Index {
  unsigned x = 0, y = 0, z = 0;
};

struct Fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  Index thread, block;
  bool done = false;
};

struct Barrier {
  int expected = 0, count = 0;
  std::vector<Fiber*> waiting;
};

// One cluster of `ctas` CTAs of `threads` threads each, run to completion by run().
class Cluster {
 public:
  Cluster(int ctas, int threads, size_t smem_bytes, uint64_t seed)
      : ctas_(ctas), threads_(threads), smem_bytes_(smem_bytes), rng_(seed) {}

  // body(rank, smem) runs on every thread; blockIdx = (rank, row), threadIdx.x = its thread.
  void run(unsigned row, const std::function<void(int rank, unsigned char* smem)>& body) {
    body_ = &body;
    smem_.clear();
    for (int i = 0; i < ctas_; ++i) smem_.emplace_back(new unsigned char[smem_bytes_]());
    fibers_.clear();
    fibers_.resize(static_cast<size_t>(ctas_ * threads_));
    cluster_ = Barrier{ctas_ * threads_, 0, {}};
    blocks_.assign(static_cast<size_t>(ctas_), Barrier{threads_, 0, {}});
    warps_.assign(static_cast<size_t>(ctas_ * threads_ / 32), Barrier{32, 0, {}});
    warp_words_.assign(static_cast<size_t>(ctas_ * threads_), 0);
    ready_.clear();
    for (int i = 0; i < ctas_ * threads_; ++i) {
      Fiber& f = fibers_[static_cast<size_t>(i)];
      f.thread.x = static_cast<unsigned>(i % threads_);
      f.block.x = static_cast<unsigned>(i / threads_);
      f.block.y = row;
      f.stack.reset(new char[kStack]);
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack.get();
      f.ctx.uc_stack.ss_size = kStack;
      f.ctx.uc_link = &scheduler_;
      makecontext(&f.ctx, &Cluster::trampoline, 0);
      ready_.push_back(&f);
    }
    Cluster* outer = active;
    active = this;
    while (!ready_.empty()) {
      current_ = ready_.back();
      ready_.pop_back();
      swapcontext(&scheduler_, &current_->ctx);
      if (failed_) break;
    }
    active = outer;
    const bool all_done = std::all_of(fibers_.begin(), fibers_.end(), [](const Fiber& f) { return f.done; });
    if (failed_) throw std::runtime_error(failure_);
    if (!all_done)
      throw std::runtime_error("deadlock: some threads wait at a barrier the others never reach");
  }

  // Barriers.
  void sync_cluster() { arrive(cluster_); }
  void sync_block() { arrive(blocks_[current_->block.x]); }
  void sync_warp() { arrive(warps_[warp_of_current()]); }
  uint64_t& warp_word(int lane) { return warp_words_[warp_of_current() * 32 + static_cast<size_t>(lane)]; }

  // The address in CTA `rank`'s shared memory at p's offset in this CTA's.
  void* map(const void* p, int rank) {
    const auto* base = smem_[current_->block.x].get();
    const auto* q = static_cast<const unsigned char*>(p);
    if (q < base || q >= base + smem_bytes_) fail("map_shared_rank of an address outside shared memory");
    if (rank < 0 || rank >= ctas_) fail("map_shared_rank to a rank outside the cluster");
    return smem_[static_cast<size_t>(rank)].get() + (q - base);
  }
  const Fiber& current() const { return *current_; }
  void fail(const std::string& why) {
    failed_ = true;
    failure_ = why;
    swapcontext(&current_->ctx, &scheduler_);
  }

  static inline Cluster* active = nullptr;

 private:
  static constexpr size_t kStack = 64 << 10;

  static void trampoline() {
    Cluster& c = *active;
    Fiber& f = *c.current_;
    (*c.body_)(static_cast<int>(f.block.x), c.smem_[f.block.x].get());
    f.done = true;
  }
  size_t warp_of_current() const {
    return (current_->block.x * static_cast<size_t>(threads_) + current_->thread.x) / 32;
  }
  void arrive(Barrier& b) {
    if (++b.count == b.expected) {
      b.count = 0;
      std::shuffle(b.waiting.begin(), b.waiting.end(), rng_);
      for (Fiber* f : b.waiting) ready_.push_back(f);
      b.waiting.clear();
      return;
    }
    b.waiting.push_back(current_);
    swapcontext(&current_->ctx, &scheduler_);
  }

  int ctas_, threads_;
  size_t smem_bytes_;
  std::mt19937_64 rng_;
  const std::function<void(int, unsigned char*)>* body_ = nullptr;
  std::vector<std::unique_ptr<unsigned char[]>> smem_;
  std::vector<Fiber> fibers_;
  std::vector<Fiber*> ready_;
  Fiber* current_ = nullptr;
  ucontext_t scheduler_;
  Barrier cluster_;
  std::vector<Barrier> blocks_, warps_;
  std::vector<uint64_t> warp_words_;
  bool failed_ = false;
  std::string failure_;
};

}  // namespace emu

#define threadIdx (::emu::Cluster::active->current().thread)
#define blockIdx (::emu::Cluster::active->current().block)

inline void __syncthreads() {
  emu::Cluster::active->sync_block();
}

// Lane l gets the word of lane l ^ off (xor) or l - off (up; its own below off).
template <typename T>
T emu_shuffle(T v, int off, bool up) {
  static_assert(sizeof(T) <= 8);
  emu::Cluster& c = *emu::Cluster::active;
  const int lane = static_cast<int>(threadIdx.x % 32);
  uint64_t word = 0;
  std::memcpy(&word, &v, sizeof(T));
  c.warp_word(lane) = word;
  c.sync_warp();
  const int from = up ? lane - off : lane ^ off;
  T r = v;
  if (from >= 0) {
    const uint64_t w = c.warp_word(from);
    std::memcpy(&r, &w, sizeof(T));
  }
  c.sync_warp();
  return r;
}
inline uint32_t __shfl_xor_sync(unsigned, uint32_t v, int off) {
  return emu_shuffle(v, off, false);
}
inline unsigned long long __shfl_up_sync(unsigned, unsigned long long v, int off) {
  return emu_shuffle(v, off, true);
}

namespace cooperative_groups {
struct cluster_group {
  static void sync() { emu::Cluster::active->sync_cluster(); }
  template <typename T>
  static T* map_shared_rank(T* p, int rank) {
    return static_cast<T*>(emu::Cluster::active->map(p, rank));
  }
  template <typename T>
  static T* map_shared_rank(T* p, unsigned rank) {
    return map_shared_rank(p, static_cast<int>(rank));
  }
  static unsigned block_rank() { return blockIdx.x; }
};
inline cluster_group this_cluster() {
  return {};
}
}  // namespace cooperative_groups
