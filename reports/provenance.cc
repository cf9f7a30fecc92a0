#include "reports/provenance.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "reports/build_version.h"  // generated at build time by gen_version.cmake

extern char** environ;

#ifndef CPB_VERSION
#define CPB_VERSION "unknown"
#endif
#ifndef CPB_SOURCE_DIR
#define CPB_SOURCE_DIR ""
#endif

namespace cpb::reports {
namespace {

// stdout of a shell command, trailing newline dropped; nullopt when it failed.
std::optional<std::string> run_capture(const std::string& cmd) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string out;
  std::array<char, 256> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int rc = pclose(pipe);
  if (rc != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string read_cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "unknown";
}

std::string compiler() {
#if defined(__clang__)
  return fmt::format("clang {}", __clang_version__);
#elif defined(__GNUC__)
  return fmt::format("gcc {}", __VERSION__);
#else
  return "unknown";
#endif
}

}  // namespace

std::string utc_now_iso8601() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string local_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string local_cpu_model() { return read_cpu_model(); }

bool is_relevant_env(const std::string& name) {
  // Launcher-internal keys and anything that looks like a credential stay out.
  for (const char* secret : {"precondition_transports", "KEY", "TOKEN", "SECRET", "PASSW"})
    if (name.find(secret) != std::string::npos) return false;
  for (const char* prefix : {"OMPI_", "NCCL_", "OMP_", "PMIX_RANK", "SLURM_JOB_ID", "SLURM_NNODES"})
    if (name.rfind(prefix, 0) == 0) return true;
  return name == "CUDA_VISIBLE_DEVICES";
}

Provenance collect_local_provenance(const std::vector<std::string>& command_line) {
  Provenance p;
  p.tool_version = CPB_VERSION;
  p.command_line = command_line;
  p.start_time_utc = utc_now_iso8601();
  // The commit is the one the binary was built from (baked in at build time); the
  // source tree may have moved on since, so git asked now is only a cross-check.
  p.git_commit = CPB_BUILD_GIT_COMMIT;
  if (CPB_BUILD_GIT_DIRTY >= 0) p.git_dirty = CPB_BUILD_GIT_DIRTY == 1;
  p.git_source = "build";
  std::string source_dir = CPB_SOURCE_DIR;
  if (!source_dir.empty() && access(source_dir.c_str(), R_OK) == 0) {
    auto commit = run_capture(fmt::format("git -C '{}' rev-parse HEAD 2>/dev/null", source_dir));
    if (commit && commit->size() == 40) p.git_commit_runtime = *commit;
  }
  p.cpu_model = read_cpu_model();
  p.cpu_cores = static_cast<int>(std::thread::hardware_concurrency());
  p.compiler = compiler();
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(0, eq);
    if (is_relevant_env(name)) p.env[name] = kv.substr(eq + 1);
  }
  p.hosts = {{.hostname = local_hostname(), .ranks = {0}, .cpu_model = p.cpu_model}};
  p.gpu.note = "not built with CUDA";  // bench/ overwrites this in a CUDA build
  return p;
}

void assign_hosts(Provenance& p, const std::vector<std::string>& hostname_per_rank,
                  const std::vector<std::string>& cpu_model_per_rank) {
  p.world_size = static_cast<int>(hostname_per_rank.size());
  p.hosts.clear();
  for (int r = 0; r < p.world_size; ++r) {
    auto it = std::find_if(p.hosts.begin(), p.hosts.end(),
                           [&](const HostInfo& h) { return h.hostname == hostname_per_rank[r]; });
    if (it == p.hosts.end()) {
      p.hosts.push_back({.hostname = hostname_per_rank[r], .ranks = {}, .cpu_model = {}});
      if (r < static_cast<int>(cpu_model_per_rank.size()))
        p.hosts.back().cpu_model = cpu_model_per_rank[r];
      else if (r == 0)
        p.hosts.back().cpu_model = p.cpu_model;  // rank 0's own, read locally
      it = p.hosts.end() - 1;
    }
    it->ranks.push_back(r);
  }
  p.ranks_per_host = 0;
  for (const auto& h : p.hosts)
    p.ranks_per_host = std::max(p.ranks_per_host, static_cast<int>(h.ranks.size()));
}

}  // namespace cpb::reports
