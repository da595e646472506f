// NCCL implementation of Communicator (see dist/nccl_communicator.h). It lives under backend/cuda
// because it includes the CUDA and NCCL headers, which nothing outside this folder may do.
#include "dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "backend/cuda/cuda_backend.h"
#include "core/logging.h"

namespace strata {
namespace {

std::string hex_encode(const void* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool hex_decode(const std::string& s, void* out, size_t n) {
  if (s.size() != 2 * n) return false;
  auto* p = static_cast<unsigned char*>(out);
  for (size_t i = 0; i < n; ++i) {
    const int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    p[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

// The NCCL type a sum runs in (every rank gets the same bits: NCCL reduces in the same order
// everywhere). Data movement (gather, broadcast, send/recv) goes as bytes and takes any dtype.
ncclDataType_t reduce_type(DType t) {
  switch (t) {
    case DType::kF32:
      return ncclFloat32;
    case DType::kBF16:
      return ncclBfloat16;
    case DType::kF16:
      return ncclFloat16;
    case DType::kF64:
      return ncclFloat64;
    case DType::kI32:
      return ncclInt32;
    case DType::kI64:
      return ncclInt64;
    default:
      break;
  }
  check_failed(__FILE__, __LINE__, "reduce_type", fmt::format("all_reduce_sum of {} tensors", dtype_name(t)));
}

std::string nccl_version_string() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  // NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since 2.9.
  return fmt::format("{}.{}.{}", v / 10000, v / 100 % 100, v % 100);
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, int rank, int size, CudaBackend& backend)
      : comm_(comm),
        rank_(rank),
        size_(size),
        device_(backend.device()),
        stream_(backend.stream()),
        barrier_buf_(backend.alloc(DType::kI32, {1})) {}

  ~NcclCommunicator() override {
    cudaSetDevice(device_);
    std::string reason;
    if (!failed_.load() && !wait_stream(&reason)) {
      LOG_WARN("NCCL communicator (rank {} of {}): {}; aborting it", rank_, size_, reason);
      failed_ = true;
    }
    // Destroy frees this rank's resources once its queued work is done; Abort also stops in-flight
    // kernels that wait for a peer that is gone. Neither synchronises with the other ranks.
    if (failed_.load())
      ncclCommAbort(comm_);
    else
      ncclCommDestroy(comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // Every call below only queues work on the backend's stream, so each may also be recorded into a
  // CUDA graph by the backend's begin_capture()/end_capture(): NCCL supports collectives and
  // send/recv under stream capture since 2.9, and a replay runs them again on the same buffers.
  void all_reduce_sum(const TensorView& x) override {
    if (x.numel() == 0) return;
    check(ncclAllReduce(x.data, x.data, static_cast<size_t>(x.numel()), reduce_type(x.dtype), ncclSum, comm_,
                        stream_),
          "ncclAllReduce", __FILE__, __LINE__);
  }

  void all_gather(const TensorView& x, const TensorView& out) override {
    const size_t bytes = x.nbytes();
    STRATA_CHECK(out.nbytes() == bytes * size_, "all_gather: out {} {} holds {} bytes, want {} ranks x {}",
                 dtype_name(out.dtype), shape_str(out.shape), out.nbytes(), size_, bytes);
    // In place only at this rank's slot of out (NCCL's rule); otherwise the two must not overlap.
    auto* x_begin = static_cast<const char*>(x.data);
    auto* out_begin = static_cast<const char*>(out.data);
    const bool in_place = x_begin == out_begin + bytes * rank_;
    STRATA_CHECK(in_place || x_begin + bytes <= out_begin || out_begin + bytes * size_ <= x_begin,
                 "all_gather: x overlaps out other than at this rank's slot");
    if (bytes == 0) return;
    check(ncclAllGather(x.data, out.data, bytes, ncclUint8, comm_, stream_), "ncclAllGather", __FILE__,
          __LINE__);
  }

  void broadcast(const TensorView& x, int root) override {
    STRATA_CHECK(root >= 0 && root < size_, "broadcast from rank {} in a group of {}", root, size_);
    if (x.nbytes() == 0) return;
    check(ncclBroadcast(x.data, x.data, x.nbytes(), ncclUint8, root, comm_, stream_), "ncclBroadcast",
          __FILE__, __LINE__);
  }

  void send(const TensorView& x, int peer) override {
    STRATA_CHECK(peer >= 0 && peer < size_ && peer != rank_, "send to rank {} from rank {} of {}", peer,
                 rank_, size_);
    check(ncclSend(x.data, x.nbytes(), ncclUint8, peer, comm_, stream_), "ncclSend", __FILE__, __LINE__);
  }

  void recv(const TensorView& x, int peer) override {
    STRATA_CHECK(peer >= 0 && peer < size_ && peer != rank_, "recv from rank {} at rank {} of {}", peer,
                 rank_, size_);
    check(ncclRecv(x.data, x.nbytes(), ncclUint8, peer, comm_, stream_), "ncclRecv", __FILE__, __LINE__);
  }

  // A one-element all-reduce, then a wait for the stream (so also for everything queued before it).
  // Not capturable: it waits on the host.
  void barrier() override {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    cudaStreamIsCapturing(stream_, &capture);
    STRATA_CHECK(capture == cudaStreamCaptureStatusNone, "barrier() inside a CUDA graph capture");
    void* one = barrier_buf_.view().data;
    check(ncclAllReduce(one, one, 1, ncclInt32, ncclSum, comm_, stream_), "ncclAllReduce", __FILE__,
          __LINE__);
    std::string reason;
    if (!wait_stream(&reason)) fail(reason + fmt::format(" (barrier at {}:{})", __FILE__, __LINE__));
  }

 private:
  // An error returned by a call, or one NCCL's background threads recorded (a peer lost, a network
  // failure), is fatal for the group.
  void check(ncclResult_t r, const char* what, const char* file, int line) {
    if (r == ncclSuccess) {
      ncclResult_t async = ncclSuccess;
      r = ncclCommGetAsyncError(comm_, &async);
      if (r == ncclSuccess && (async == ncclSuccess || async == ncclInProgress)) return;
      if (r == ncclSuccess) r = async;
      what = "ncclCommGetAsyncError";
    }
    fail(fmt::format("{} failed at {}:{}: {} ({})", what, file, line, ncclGetErrorString(r), last_error()));
  }

  [[noreturn]] void fail(const std::string& reason) {
    failed_ = true;
    comm_failure(fmt::format("NCCL rank {} of {} on GPU {}: {}", rank_, size_, device_, reason));
  }

  std::string last_error() const {
    const char* s = ncclGetLastError(comm_);
    return s && *s ? s : "no detail; NCCL_DEBUG=WARN shows more";
  }

  // Waits for the stream to drain, watching NCCL's asynchronous error state meanwhile (a collective
  // whose peer died would otherwise block a plain cudaStreamSynchronize forever).
  bool wait_stream(std::string* reason) {
    for (int spins = 0;; ++spins) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return true;
      if (e != cudaErrorNotReady) {
        *reason = fmt::format("CUDA error on the stream: {}", cudaGetErrorString(e));
        return false;
      }
      ncclResult_t async = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(comm_, &async);
      if (r != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
        *reason = fmt::format("asynchronous NCCL error: {} ({})",
                              ncclGetErrorString(r != ncclSuccess ? r : async), last_error());
        return false;
      }
      if (spins < 1000)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  ncclComm_t comm_;
  int rank_, size_, device_;
  cudaStream_t stream_;
  Tensor barrier_buf_;  // int32 [1] on the GPU, for barrier()
  std::atomic<bool> failed_{false};
};

// Counts this rank in under key/arrived and waits for the whole group (or the deadline).
Status wait_for_group(Store& store, const std::string& key, int size,
                      std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds timeout) {
  const std::string counter = key + "/arrived";
  int64_t arrived = store.add(counter, 1);
  for (auto pause = std::chrono::milliseconds(1); arrived < size;
       pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error("NCCL communicator '{}': {} of {} ranks arrived within {} ms", key, arrived, size,
                        timeout.count());
    std::this_thread::sleep_for(pause);
    arrived = store.add(counter, 0);
  }
  return ok_status();
}

}  // namespace

bool nccl_available() {
  int v = 0;
  return cuda_available() && ncclGetVersion(&v) == ncclSuccess;
}

Result<std::unique_ptr<Communicator>> create_nccl_communicator(Store& store, const std::string& key, int rank,
                                                               int size, Backend& backend,
                                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (size < 1 || rank < 0 || rank >= size)
    return make_error("NCCL communicator '{}': rank {} of a group of {}", key, rank, size);
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (!cuda)
    return make_error("NCCL communicator '{}': needs the CUDA backend, got '{}'", key, backend.name());
  const int device = cuda->device();
  // ncclCommInitRank binds the communicator to the calling thread's current device.
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
    return make_error("NCCL communicator '{}': cudaSetDevice({}): {}", key, device, cudaGetErrorString(e));

  ncclUniqueId id{};
  if (rank == 0) {
    if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess)
      return make_error("NCCL communicator '{}': ncclGetUniqueId: {} ({})", key, ncclGetErrorString(r),
                        ncclGetLastError(nullptr));
    store.set(key, hex_encode(&id, sizeof(id)));
  } else {
    STRATA_TRY(std::string hex, store.get(key, timeout));
    if (!hex_decode(hex, &id, sizeof(id)))
      return make_error("NCCL communicator '{}': the store holds {} characters that are not a hex NCCL id",
                        key, hex.size());
  }
  STRATA_RETURN_IF_ERROR(wait_for_group(store, key, size, deadline, timeout));

  ncclComm_t comm = nullptr;
  if (ncclResult_t r = ncclCommInitRank(&comm, size, id, rank); r != ncclSuccess) {
    // A failed blocking init leaves nothing the caller could use; the group is torn down anyway.
    return make_error("NCCL communicator '{}': ncclCommInitRank (rank {} of {}, GPU {}): {} ({})", key, rank,
                      size, device, ncclGetErrorString(r), ncclGetLastError(comm));
  }
  LOG_INFO("NCCL {}: communicator '{}' rank {} of {} on GPU {}", nccl_version_string(), key, rank, size,
           device);
  return std::unique_ptr<Communicator>(new NcclCommunicator(comm, rank, size, *cuda));
}

}  // namespace strata
