// The group communicators over a TcpMesh: each collective becomes one exchange of messages on the
// mesh's connections (see tcp_communicator.h for the algorithms).
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>

#include "dist/tcp_communicator.h"

namespace strata {
namespace {

// Tensors of at most this many bytes are all-reduced in one round: everyone sends everything to
// everyone. Larger ones go through owners (reduce-scatter + all-gather, two rounds, less traffic).
constexpr size_t kOneShotBytes = size_t{64} << 10;
// The owner sums contributions as they arrive, at least this many elements at a time.
constexpr size_t kReduceGrainElems = size_t{32} << 10;
constexpr size_t kReduceBlockElems = 1024;

// dst[i] = ((srcs[0][i] + srcs[1][i]) + srcs[2][i]) + ... for i in [begin, end), f32 accumulation.
// dst may be one of the sources: each block is read whole before it is written.
void reduce_range(DType dtype, const std::vector<const char*>& srcs, size_t begin, size_t end, char* dst) {
  size_t esz = dtype_size(dtype);
  float acc[kReduceBlockElems];
  float tmp[kReduceBlockElems];
  for (size_t b = begin; b < end; b += kReduceBlockElems) {
    size_t m = std::min(kReduceBlockElems, end - b);
    if (dtype == DType::kF32) {
      std::memcpy(acc, srcs[0] + b * esz, m * sizeof(float));
      for (size_t k = 1; k < srcs.size(); ++k) {
        std::memcpy(tmp, srcs[k] + b * esz, m * sizeof(float));
        for (size_t i = 0; i < m; ++i) acc[i] += tmp[i];
      }
      std::memcpy(dst + b * esz, acc, m * sizeof(float));
    } else {
      convert_to_f32(dtype, srcs[0] + b * esz, acc, m);
      for (size_t k = 1; k < srcs.size(); ++k) {
        convert_to_f32(dtype, srcs[k] + b * esz, tmp, m);
        for (size_t i = 0; i < m; ++i) acc[i] += tmp[i];
      }
      convert_from_f32(dtype, acc, dst + b * esz, m);
    }
  }
}

}  // namespace

class TcpGroupCommunicator final : public Communicator {
 public:
  TcpGroupCommunicator(std::shared_ptr<TcpMesh> mesh, std::vector<int> ranks)
      : mesh_(std::move(mesh)),
        ranks_(std::move(ranks)),
        name_(fmt::format("[{}]", fmt::join(ranks_, ", "))) {
    me_ = static_cast<int>(std::find(ranks_.begin(), ranks_.end(), mesh_->rank()) - ranks_.begin());
    srcs_.resize(ranks_.size());
  }

  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(ranks_.size()); }

  void all_reduce_sum(const TensorView& x) override {
    int n = size();
    if (n == 1) return;
    STRATA_CHECK(x.dtype == DType::kF32 || x.dtype == DType::kBF16 || x.dtype == DType::kF16,
                 "all_reduce_sum over TCP takes F32, BF16 or F16, not {}", dtype_name(x.dtype));
    size_t esz = dtype_size(x.dtype);
    size_t numel = static_cast<size_t>(x.numel());
    size_t bytes = numel * esz;
    auto* data = static_cast<char*>(x.data);
    std::lock_guard<std::mutex> lock(mesh_->mu_);
    sends_.clear();
    recvs_.clear();
    if (bytes <= kOneShotBytes) {
      char* scratch = mesh_->scratch((n - 1) * bytes);
      for (int g = 0, slot = 0; g < n; ++g) {
        if (g == me_) {
          srcs_[g] = data;
          continue;
        }
        char* buf = scratch + static_cast<size_t>(slot++) * bytes;
        srcs_[g] = buf;
        sends_.push_back({ranks_[g], data, bytes});
        recvs_.push_back({ranks_[g], buf, bytes});
      }
      mesh_->exchange(sends_, recvs_, "all_reduce_sum", name_);
      reduce_range(x.dtype, srcs_, 0, numel, data);
      return;
    }
    // Group rank g owns elements [numel * g / n, numel * (g + 1) / n).
    auto begin = [&](int g) { return numel * static_cast<size_t>(g) / static_cast<size_t>(n); };
    auto count = [&](int g) { return begin(g + 1) - begin(g); };
    size_t own = count(me_);
    char* own_data = data + begin(me_) * esz;
    char* scratch = mesh_->scratch((n - 1) * own * esz);
    size_t ready_bytes = 0;
    // On each connection: first this rank's contribution to the peer's slice, then the summed slice.
    for (int g = 0, slot = 0; g < n; ++g) {
      if (g == me_) {
        srcs_[g] = own_data;
        continue;
      }
      srcs_[g] = scratch + static_cast<size_t>(slot++) * own * esz;
      sends_.push_back({ranks_[g], data + begin(g) * esz, count(g) * esz});
      recvs_.push_back({ranks_[g], const_cast<char*>(srcs_[g]), own * esz});
    }
    for (int g = 0; g < n; ++g) {
      if (g == me_) continue;
      sends_.push_back({ranks_[g], own_data, own * esz, &ready_bytes});
      recvs_.push_back({ranks_[g], data + begin(g) * esz, count(g) * esz});
    }
    size_t reduced = 0;  // elements of the own slice summed (and so sendable)
    auto reduce_arrived = [&] {
      size_t arrived = own;
      for (int i = 0; i < n - 1; ++i) arrived = std::min(arrived, recvs_[i].received / esz);
      if (arrived > reduced && (arrived == own || arrived - reduced >= kReduceGrainElems)) {
        reduce_range(x.dtype, srcs_, reduced, arrived, own_data);
        reduced = arrived;
        ready_bytes = reduced * esz;
      }
    };
    mesh_->exchange(sends_, recvs_, "all_reduce_sum", name_, reduce_arrived);
  }

  void all_gather(const TensorView& x, const TensorView& out) override {
    int n = size();
    size_t bytes = x.nbytes();
    STRATA_CHECK(out.dtype == x.dtype && out.nbytes() == bytes * n, "all_gather of {} {} into {} {}",
                 dtype_name(x.dtype), shape_str(x.shape), dtype_name(out.dtype), shape_str(out.shape));
    auto* gathered = static_cast<char*>(out.data);
    char* own = gathered + static_cast<size_t>(me_) * bytes;
    if (x.data != own && bytes > 0) std::memmove(own, x.data, bytes);
    if (n == 1) return;
    std::lock_guard<std::mutex> lock(mesh_->mu_);
    sends_.clear();
    recvs_.clear();
    for (int g = 0; g < n; ++g) {
      if (g == me_) continue;
      sends_.push_back({ranks_[g], own, bytes});
      recvs_.push_back({ranks_[g], gathered + static_cast<size_t>(g) * bytes, bytes});
    }
    mesh_->exchange(sends_, recvs_, "all_gather", name_);
  }

  void broadcast(const TensorView& x, int root) override {
    int n = size();
    STRATA_CHECK(root >= 0 && root < n, "broadcast root {} in a group of {}", root, n);
    if (n == 1) return;
    std::lock_guard<std::mutex> lock(mesh_->mu_);
    sends_.clear();
    recvs_.clear();
    if (me_ == root) {
      for (int g = 0; g < n; ++g) {
        if (g != me_) sends_.push_back({ranks_[g], x.data, x.nbytes()});
      }
    } else {
      recvs_.push_back({ranks_[root], x.data, x.nbytes()});
    }
    mesh_->exchange(sends_, recvs_, "broadcast", name_);
  }

  void send(const TensorView& x, int peer) override {
    check_peer(peer, "send");
    std::lock_guard<std::mutex> lock(mesh_->mu_);
    sends_.assign(1, {ranks_[peer], x.data, x.nbytes()});
    recvs_.clear();
    mesh_->exchange(sends_, recvs_, "send", name_);
  }

  void recv(const TensorView& x, int peer) override {
    check_peer(peer, "recv");
    std::lock_guard<std::mutex> lock(mesh_->mu_);
    sends_.clear();
    recvs_.assign(1, {ranks_[peer], x.data, x.nbytes()});
    mesh_->exchange(sends_, recvs_, "recv", name_);
  }

  void barrier() override {
    int n = size();
    if (n == 1) return;
    std::lock_guard<std::mutex> lock(mesh_->mu_);
    sends_.clear();
    recvs_.clear();
    for (int g = 0; g < n; ++g) {
      if (g == me_) continue;
      sends_.push_back({ranks_[g], nullptr, 0});
      recvs_.push_back({ranks_[g], nullptr, 0});
    }
    mesh_->exchange(sends_, recvs_, "barrier", name_);
  }

 private:
  void check_peer(int peer, const char* op) const {
    STRATA_CHECK(peer >= 0 && peer < size() && peer != me_, "{} with group rank {} from rank {} of {}", op,
                 peer, me_, size());
  }

  std::shared_ptr<TcpMesh> mesh_;
  std::vector<int> ranks_;  // world ranks, by group rank
  std::string name_;        // "[0, 1, 2, 3]" for messages
  int me_ = 0;
  std::vector<TcpMesh::SendOp> sends_;
  std::vector<TcpMesh::RecvOp> recvs_;
  std::vector<const char*> srcs_;  // contributions to the reduction, by group rank
};

std::unique_ptr<Communicator> TcpMesh::group(std::vector<int> world_ranks) {
  std::vector<int> sorted = world_ranks;
  std::sort(sorted.begin(), sorted.end());
  STRATA_CHECK(!sorted.empty() && sorted.front() >= 0 && sorted.back() < world_size_ &&
                   std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end() &&
                   std::binary_search(sorted.begin(), sorted.end(), rank_),
               "group [{}] of a {}-rank mesh for rank {}", fmt::join(world_ranks, ", "), world_size_, rank_);
  return std::make_unique<TcpGroupCommunicator>(shared_from_this(), std::move(world_ranks));
}

}  // namespace strata
