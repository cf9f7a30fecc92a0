#include "common/cuda_runtime.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace cpb {

std::string process_tag() {
  // Launchers export the rank before main(): Open MPI, MPICH/PMI, PMIx, Slurm, torchrun.
  int rank = -1;
  for (const char* var :
       {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID", "RANK"}) {
    if (const char* v = std::getenv(var)) {
      rank = std::atoi(v);
      break;
    }
  }
  char host[256] = "?";
  if (gethostname(host, sizeof(host)) != 0) host[0] = '?', host[1] = '\0';
  host[sizeof(host) - 1] = '\0';
  return fmt::format("[rank {}@{}]", rank, host);
}

namespace detail {

void raise_call_error(std::string_view error, const char* call, const char* file, int line) {
  std::string msg = fmt::format("{} {}:{}: '{}' -> {}", process_tag(), file, line, call, error);
  std::fprintf(stderr, "%s\n", msg.c_str());
  std::fflush(stderr);
  throw InternalError(msg);
}

void raise_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  raise_call_error(fmt::format("{} ({})", cudaGetErrorName(err), cudaGetErrorString(err)), call,
                   file, line);
}

}  // namespace detail

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" error for later callers
    return 0;
  }
  return n;
}

CudaDeviceInfo cuda_device_info(int device) {
  cudaDeviceProp prop{};
  CPB_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  CudaDeviceInfo info{.index = device,
                      .name = prop.name,
                      .cc_major = prop.major,
                      .cc_minor = prop.minor,
                      .multiprocessors = prop.multiProcessorCount,
                      .total_bytes = static_cast<int64_t>(prop.totalGlobalMem)};
  CPB_CUDA_CHECK(cudaDriverGetVersion(&info.driver_version));
  CPB_CUDA_CHECK(cudaRuntimeGetVersion(&info.runtime_version));
  return info;
}

DriverMemoryView driver_memory_view() {
  std::size_t free_b = 0, total_b = 0;
  CPB_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return {.free_bytes = static_cast<int64_t>(free_b), .total_bytes = static_cast<int64_t>(total_b)};
}

DeviceAllocator::~DeviceAllocator() {
  // No throwing from a destructor: a failed free here only leaks.
  for (auto& [ptr, bytes] : live_) (void)cudaFree(ptr);
}

void* DeviceAllocator::allocate(std::size_t bytes) {
  void* ptr = nullptr;
  cudaError_t err = cudaMalloc(&ptr, bytes);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    std::size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    std::lock_guard lock(mutex_);
    std::string what =
        fmt::format("{} ({}); asked {} bytes with {} tracked live, driver: {} free of {}",
                    cudaGetErrorName(err), cudaGetErrorString(err), bytes, stats_.current_bytes,
                    free_b, total_b);
    if (err == cudaErrorMemoryAllocation)
      throw DeviceOutOfMemory(fmt::format("{} cudaMalloc: {}", process_tag(), what));
    detail::raise_call_error(what, "cudaMalloc", __FILE__, __LINE__);
  }
  DriverMemoryView view = driver_memory_view();
  std::lock_guard lock(mutex_);
  live_[ptr] = bytes;
  stats_.current_bytes += static_cast<int64_t>(bytes);
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.current_bytes);
  stats_.driver_peak_used_bytes = std::max(stats_.driver_peak_used_bytes, view.used_bytes());
  ++stats_.allocations;
  return ptr;
}

void DeviceAllocator::deallocate(void* ptr) {
  if (!ptr) return;
  std::size_t bytes = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = live_.find(ptr);
    CPB_CHECK(it != live_.end(), "pointer {} was not allocated by this DeviceAllocator", ptr);
    bytes = it->second;
    live_.erase(it);
    stats_.current_bytes -= static_cast<int64_t>(bytes);
  }
  CPB_CUDA_CHECK(cudaFree(ptr));
}

DeviceMemoryStats DeviceAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void DeviceAllocator::reset_peak() {
  DriverMemoryView view = driver_memory_view();
  std::lock_guard lock(mutex_);
  stats_.peak_bytes = stats_.current_bytes;
  stats_.driver_peak_used_bytes = view.used_bytes();
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    alloc_ = std::exchange(o.alloc_, nullptr);
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (alloc_ && data_) alloc_->deallocate(data_);
  alloc_ = nullptr;
  data_ = nullptr;
  bytes_ = 0;
}

CudaStream::CudaStream() {
  CPB_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}
CudaStream::~CudaStream() {
  if (stream_) (void)cudaStreamDestroy(stream_);
}
void CudaStream::synchronize() const { CPB_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

CudaEvent::CudaEvent(bool timing) {
  CPB_CUDA_CHECK(
      cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}
CudaEvent::~CudaEvent() {
  if (event_) (void)cudaEventDestroy(event_);
}
void CudaEvent::record(cudaStream_t stream) { CPB_CUDA_CHECK(cudaEventRecord(event_, stream)); }
bool CudaEvent::done() const {
  cudaError_t err = cudaEventQuery(event_);
  if (err == cudaErrorNotReady) return false;
  CPB_CUDA_CHECK(err);
  return true;
}
void CudaEvent::synchronize() const { CPB_CUDA_CHECK(cudaEventSynchronize(event_)); }

double CudaEventTimer::seconds() const {
  stop_.synchronize();
  float ms = 0;
  CPB_CUDA_CHECK(cudaEventElapsedTime(&ms, start_.get(), stop_.get()));
  return ms * 1e-3;
}

}  // namespace cpb
