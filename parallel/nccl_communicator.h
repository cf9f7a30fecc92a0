// NcclCommunicator: the Communicator interface over NCCL, on its own CUDA stream.
// Bootstrapped over any host Communicator (mpi, or self for a world of one): the
// unique id travels by all_gather, so this file needs no <mpi.h>. Decisions a
// reader would miss: operations first make the comm stream wait for the caller's
// compute stream (set_compute_stream, default the legacy stream), host buffers
// are staged through device scratch (so the host-buffer conformance tests run
// unchanged), and all_reduce on host doubles goes through NCCL too (ncclFloat64).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>
#include <optional>
#include <string>

#include "common/cuda_runtime.h"
#include "parallel/communicator.h"

namespace cpb {

namespace detail {
[[noreturn]] void raise_nccl_error(ncclResult_t res, const char* call, const char* file, int line);
}  // namespace detail

// "2.28.9" from the library actually loaded (not the header).
std::string nccl_version();

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap`: rank r of bootstrap becomes NCCL rank r on CUDA
  // device `device` (-1: this rank's index among the ranks on its host). NCCL
  // needs one GPU per rank: ranks sharing a GPU get an InputError that says to
  // use the mpi backend (it stages device buffers) instead.
  NcclCommunicator(Communicator& bootstrap, int device = -1);
  // World of one on `device`, no other communicator needed (ncclCommInitAll).
  explicit NcclCommunicator(int device);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  std::string backend() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const { return device_; }
  int bound_gpu() const override { return device_; }
  std::string device_transport() const override { return "nccl"; }
  cudaStream_t stream() const { return stream_->get(); }
  // Work that produces send buffers runs here; every op waits for it on the device.
  void set_compute_stream(cudaStream_t s) { compute_stream_ = s; }
  // Keeps the bootstrap communicator alive as long as this one (the world of
  // make_world_communicator: MPI must stay initialised until NCCL is destroyed).
  void own_bootstrap(std::unique_ptr<Communicator> c) { bootstrap_ = std::move(c); }

  std::unique_ptr<CommRequest> start_p2p(std::span<const P2POp> ops) override;
  void all_to_all(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  void all_gather(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  void reduce_scatter_sum(const float* send, float* recv, std::size_t count_per_rank,
                          Device dev) override;
  void all_reduce(double* data, std::size_t count, ReduceOp op) override;
  void barrier() override;
  // Color < 0 opts out (NCCL_SPLIT_NOCOLOR) and returns nullptr.
  std::unique_ptr<Communicator> split(int color, int key) override;

  // Seconds a wait may block before the communicator is aborted and an error
  // thrown (a stuck peer must not hang a sweep). CPB_COMM_TIMEOUT_S, default 600.
  double timeout_seconds() const { return timeout_s_; }

 private:
  NcclCommunicator(ncclComm_t comm, int device, double timeout_s);
  void init_from(ncclComm_t comm);
  // Comm stream waits (on the device) for everything queued on the compute stream.
  void order_after_compute();
  // Host blocks until `event` completes, polling NCCL's async error and the timeout.
  void wait_event(const CudaEvent& event, CommOp op);
  // Device scratch reused by the (synchronous) collectives, grown on demand: a
  // cudaFree per call would synchronise the whole device and kill overlap.
  void* scratch(std::size_t bytes);
  friend class NcclRequest;

  ncclComm_t comm_ = nullptr;
  int device_ = 0;
  int rank_ = 0;
  int size_ = 1;
  double timeout_s_ = 600;
  bool aborted_ = false;
  // Created after cudaSetDevice(device_): streams and events belong to a device.
  std::optional<CudaStream> stream_;
  std::optional<CudaEvent> ready_;  // recorded on the compute stream before each op
  cudaStream_t compute_stream_ = nullptr;
  void* scratch_ = nullptr;
  std::size_t scratch_bytes_ = 0;
  // Declared last, so destroyed after the destructor body has torn NCCL down.
  std::unique_ptr<Communicator> bootstrap_;
};

}  // namespace cpb

#define CPB_NCCL_CHECK(call)                                                     \
  do {                                                                           \
    const ncclResult_t cpb_nccl_res_ = (call);                                   \
    if (cpb_nccl_res_ != ncclSuccess)                                            \
      ::cpb::detail::raise_nccl_error(cpb_nccl_res_, #call, __FILE__, __LINE__); \
  } while (0)
