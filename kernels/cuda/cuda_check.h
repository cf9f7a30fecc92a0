// CPB_CUDA_CORE_CHECK(call): the fmt-free twin of common/cuda_runtime.h's
// CPB_CUDA_CHECK for the nvcc-only kernel core (kernels/cuda/*.cu), which must
// build without fmt. It prints "file:line: 'call' -> error" to stderr in every
// build type and throws std::runtime_error with the same text.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace cpb::cuda {

[[noreturn]] inline void cuda_fail(cudaError_t err, const char* call, const char* file, int line) {
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": '" + call + "' -> " +
                    cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  std::fprintf(stderr, "%s\n", msg.c_str());
  throw std::runtime_error(msg);
}

}  // namespace cpb::cuda

#define CPB_CUDA_CORE_CHECK(call)                                       \
  do {                                                                  \
    cudaError_t cpb_cuda_err_ = (call);                                 \
    if (cpb_cuda_err_ != cudaSuccess)                                   \
      ::cpb::cuda::cuda_fail(cpb_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a <<<...>>> launch: catches bad configurations immediately.
#define CPB_CUDA_CORE_CHECK_LAUNCH() CPB_CUDA_CORE_CHECK(cudaGetLastError())
