// Byte copies and pinned staging for buffers that may live on a CUDA device.
// Compiled in every build: without CUDA (CPB_HAVE_CUDA unset) a Device::kCuda
// buffer is a broken invariant and fails loudly instead of being read as host memory.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "common/dtype.h"

namespace cpb {

// True when this build can touch device memory (CUDA runtime linked in).
bool device_copy_available();

// dst <- src, `bytes` bytes; either side may be host or device (cudaMemcpyDefault
// under unified addressing). Synchronous: the data is in place on return.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, std::size_t bytes);

// Page-locked host buffers reused across calls: cudaMallocHost costs milliseconds,
// far more than the copies it speeds up, so buffers go back to the pool, not the OS.
class PinnedPool {
 public:
  class Buffer {
   public:
    Buffer() = default;
    Buffer(PinnedPool* pool, void* data, std::size_t capacity)
        : pool_(pool), data_(data), capacity_(capacity) {}
    Buffer(Buffer&& o) noexcept { *this = std::move(o); }
    Buffer& operator=(Buffer&& o) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    ~Buffer();
    void* data() const { return data_; }

   private:
    PinnedPool* pool_ = nullptr;
    void* data_ = nullptr;
    std::size_t capacity_ = 0;
  };

  PinnedPool() = default;
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;
  ~PinnedPool();

  // A buffer of at least `bytes`; returned to the pool when the Buffer dies.
  Buffer acquire(std::size_t bytes);

 private:
  void release(void* data, std::size_t capacity);
  struct Free {
    void* data;
    std::size_t capacity;
  };
  std::mutex mutex_;
  std::vector<Free> free_;
};

}  // namespace cpb
