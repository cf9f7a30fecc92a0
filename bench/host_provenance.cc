#include "bench/host_provenance.h"

#ifdef CPB_HAVE_MPI
#include <mpi.h>
#endif

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "parallel/world.h"

#ifdef CPB_HAVE_CUDA
#include "common/cuda_runtime.h"
#endif
#ifdef CPB_HAVE_NCCL
#include "parallel/nccl_communicator.h"
#endif

namespace cpb {

int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(name); v && *v) return std::atoi(v);
  return 0;
}

std::string mpi_library_version() {
#ifdef CPB_HAVE_MPI
  char buf[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<size_t>(len));
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ',' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
#else
  return "none";
#endif
}

std::vector<std::string> gather_strings(Communicator& world, const std::string& mine) {
  constexpr size_t kLen = 256;
  std::vector<char> buf(kLen, '\0');
  std::copy_n(mine.data(), std::min(mine.size(), kLen - 1), buf.begin());
  std::vector<char> all(kLen * static_cast<size_t>(world.size()));
  world.all_gather(buf.data(), all.data(), kLen, Device::kCpu);
  std::vector<std::string> out;
  for (int r = 0; r < world.size(); ++r)
    out.emplace_back(all.data() + kLen * static_cast<size_t>(r));
  world.reset_stats();  // bookkeeping traffic, not a case's
  return out;
}

reports::GpuProvenance local_gpu_provenance() {
  reports::GpuProvenance g;
#ifdef CPB_HAVE_CUDA
  // CUDA's versions are encoded as 1000 * major + 10 * minor.
  auto cuda_ver = [](int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); };
  const int n = cuda_device_count();
  for (int d = 0; d < n; ++d) {
    CudaDeviceInfo info = cuda_device_info(d);
    g.models.push_back(info.name);
    g.driver_version = cuda_ver(info.driver_version);
    g.runtime_version = cuda_ver(info.runtime_version);
  }
  if (n == 0) g.note = "built with CUDA; no usable CUDA device";
#ifdef CPB_HAVE_NCCL
  if (built_with_nccl()) g.nccl_version = nccl_version();
#else
  g.note += std::string(g.note.empty() ? "" : "; ") + "not built with NCCL";
#endif
#else
  g.note = "not built with CUDA";
#endif
  return g;
}

}  // namespace cpb
