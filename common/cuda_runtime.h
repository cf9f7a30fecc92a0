// CUDA runtime pieces every GPU path shares: error macros that name the failing
// call as `[rank R@host] file:line: 'call' -> error`, a tracking allocator whose
// peak is the device-memory figure of a report (the driver's view beside it), and
// an event timer. The rank in messages comes from the launcher's environment
// (OMPI_COMM_WORLD_RANK, PMI_RANK, ...), so common/ stays below parallel/ and a
// failure before any communicator exists still says which rank it was.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/errors.h"

namespace cpb {

// "[rank R@host]" for messages; R is -1 when no launcher variable is set.
std::string process_tag();

namespace detail {
// Prints the message to stderr (so it survives a rank that dies before anyone
// catches) and throws InternalError: a failed CUDA/NCCL call is never bad input.
[[noreturn]] void raise_call_error(std::string_view error, const char* call, const char* file,
                                   int line);
[[noreturn]] void raise_cuda_error(cudaError_t err, const char* call, const char* file, int line);
}  // namespace detail

// Number of usable CUDA devices; 0 (not an error) where there is no driver or GPU,
// so tests can skip and benchmarks can record "unsupported".
int cuda_device_count();

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  int64_t total_bytes = 0;
  int driver_version = 0;   // e.g. 13000 for 13.0
  int runtime_version = 0;  // the cudart this binary loaded
};
CudaDeviceInfo cuda_device_info(int device);

// The driver's view of one device (cudaMemGetInfo): everything on it, ours and
// every other process's and library's, which the tracking allocator cannot see.
struct DriverMemoryView {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
  int64_t used_bytes() const { return total_bytes - free_bytes; }
};
DriverMemoryView driver_memory_view();  // current device

struct DeviceMemoryStats {
  int64_t current_bytes = 0;           // live tracked allocations
  int64_t peak_bytes = 0;              // high-water mark of current_bytes since reset_peak()
  int64_t allocations = 0;             // cudaMalloc calls made through this allocator
  int64_t driver_peak_used_bytes = 0;  // max driver used bytes sampled at each allocation
};

// cudaMalloc found no room: a bad_alloc (so a case records status "oom" on every
// rank, like a host allocation failure) carrying the driver's view in what().
class DeviceOutOfMemory : public std::bad_alloc {
 public:
  explicit DeviceOutOfMemory(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

// Tracking allocator: plain cudaMalloc/cudaFree (no caching, so the peak is what
// the algorithm needs), counting live bytes. One per rank, passed by reference;
// thread-safe. Frees on destruction whatever is still live.
class DeviceAllocator {
 public:
  DeviceAllocator() = default;
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;
  ~DeviceAllocator();

  // Throws DeviceOutOfMemory (driver view in the message) when out of memory,
  // InternalError for any other failure.
  void* allocate(std::size_t bytes);
  void deallocate(void* ptr);  // nullptr is a no-op; unknown pointers are an InternalError

  DeviceMemoryStats stats() const;
  void reset_peak();  // peak <- current: measure one case at a time

 private:
  mutable std::mutex mutex_;
  std::unordered_map<void*, std::size_t> live_;
  DeviceMemoryStats stats_;
};

// Owning device buffer from a DeviceAllocator; movable, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceAllocator& alloc, std::size_t bytes)
      : alloc_(&alloc), data_(bytes ? alloc.allocate(bytes) : nullptr), bytes_(bytes) {}
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::size_t bytes() const { return bytes_; }
  void reset();

 private:
  DeviceAllocator* alloc_ = nullptr;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// Owning stream (non-blocking with respect to the legacy default stream).
class CudaStream {
 public:
  CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream();
  cudaStream_t get() const { return stream_; }
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

// Owning event; `timing` false makes a cheaper event used only for ordering.
class CudaEvent {
 public:
  explicit CudaEvent(bool timing = true);
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  ~CudaEvent();
  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  bool done() const;  // cudaEventQuery: true once the recorded work completed
  void synchronize() const;

 private:
  cudaEvent_t event_ = nullptr;
};

// Elapsed device time between two events on a stream: start(s), work on s,
// stop(s), then seconds() waits for the stop event. Resolution about 0.5 us.
class CudaEventTimer {
 public:
  void start(cudaStream_t stream) { start_.record(stream); }
  void stop(cudaStream_t stream) { stop_.record(stream); }
  double seconds() const;

 private:
  CudaEvent start_{true};
  CudaEvent stop_{true};
};

}  // namespace cpb

#define CPB_CUDA_CHECK(call)                                                     \
  do {                                                                           \
    const cudaError_t cpb_cuda_err_ = (call);                                    \
    if (cpb_cuda_err_ != cudaSuccess)                                            \
      ::cpb::detail::raise_cuda_error(cpb_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors show up here, not at the <<<>>>.
#define CPB_CUDA_CHECK_LAUNCH() CPB_CUDA_CHECK(cudaGetLastError())
