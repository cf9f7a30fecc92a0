#include "parallel/device_copy.h"

#include <cstring>

#include "common/errors.h"

#ifdef CPB_HAVE_CUDA
#include <cuda_runtime.h>
#define CPB_CUDA_RT_CHECK(call)                                                            \
  do {                                                                                     \
    cudaError_t cpb_err_ = (call);                                                         \
    CPB_CHECK(cpb_err_ == cudaSuccess, "'{}' -> {}", #call, cudaGetErrorString(cpb_err_)); \
  } while (0)
#endif

namespace cpb {

bool device_copy_available() {
#ifdef CPB_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::kCpu && src_dev == Device::kCpu) {
    std::memmove(dst, src, bytes);
    return;
  }
#ifdef CPB_HAVE_CUDA
  CPB_CUDA_RT_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
#else
  CPB_CHECK(false, "device buffer ({} bytes) in a build without CUDA", bytes);
#endif
}

PinnedPool::Buffer& PinnedPool::Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (pool_) pool_->release(data_, capacity_);
    pool_ = o.pool_;
    data_ = o.data_;
    capacity_ = o.capacity_;
    o.pool_ = nullptr;
    o.data_ = nullptr;
    o.capacity_ = 0;
  }
  return *this;
}

PinnedPool::Buffer::~Buffer() {
  if (pool_) pool_->release(data_, capacity_);
}

PinnedPool::Buffer PinnedPool::acquire(std::size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Smallest free buffer that fits, so one huge buffer is not spent on small messages.
    std::size_t best = free_.size();
    for (std::size_t i = 0; i < free_.size(); ++i)
      if (free_[i].capacity >= bytes &&
          (best == free_.size() || free_[i].capacity < free_[best].capacity))
        best = i;
    if (best != free_.size()) {
      Free f = free_[best];
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
      return Buffer(this, f.data, f.capacity);
    }
  }
#ifdef CPB_HAVE_CUDA
  void* p = nullptr;
  std::size_t capacity = bytes < 4096 ? 4096 : bytes;
  CPB_CUDA_RT_CHECK(cudaMallocHost(&p, capacity));
  return Buffer(this, p, capacity);
#else
  CPB_CHECK(false, "pinned staging buffer ({} bytes) requested in a build without CUDA", bytes);
#endif
}

void PinnedPool::release(void* data, std::size_t capacity) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back({data, capacity});
}

PinnedPool::~PinnedPool() {
#ifdef CPB_HAVE_CUDA
  for (const Free& f : free_) cudaFreeHost(f.data);  // no check: may run after the context died
#endif
}

}  // namespace cpb
