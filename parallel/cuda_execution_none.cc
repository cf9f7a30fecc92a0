// make_cuda_execution in a build without CUDA: there is none, and it says why.
#include "parallel/execution.h"

namespace cpb {

std::unique_ptr<Execution> make_cuda_execution(int, std::string* why) {
  if (why) *why = "this cpbench was built without CUDA (no nvcc at configure time)";
  return nullptr;
}

int visible_gpus() { return 0; }

}  // namespace cpb
