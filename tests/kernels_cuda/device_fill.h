// Device-side random fill for benchmark inputs: hundreds of MB of bf16/fp16
// would take seconds to draw on the host. Values are uniform in [-sqrt(3),
// sqrt(3)] (unit variance) from a counter hash, so a seed fixes them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cpb::testing {

void device_fill_random(void* data, int64_t count, bool bf16, uint64_t seed, cudaStream_t stream);

}  // namespace cpb::testing
