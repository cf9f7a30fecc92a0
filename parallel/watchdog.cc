#include "parallel/watchdog.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include "parallel/world.h"

namespace cpb {

void abort_job_bounded(int code, int grace_seconds) {
  try {
    std::thread([code, grace_seconds] {
      std::this_thread::sleep_for(std::chrono::seconds(grace_seconds));
      std::fprintf(stderr,
                   "%s MPI_Abort did not end this rank within %d s (launcher unreachable?); "
                   "exiting %d\n",
                   rank_tag().c_str(), grace_seconds, code);
      std::fflush(stderr);
      std::_Exit(code);
    }).detach();
  } catch (const std::system_error&) {
    // No thread to spare: abort unbounded rather than not at all.
  }
  abort_job(code);
}

Watchdog::Watchdog()
    : Watchdog([](const std::string& message) {
        std::fprintf(stderr, "%s\n", message.c_str());
        abort_job_bounded(kWatchdogExitCode, kAbortGraceSeconds);
      }) {}

Watchdog::Watchdog(OnExpire on_expire) : on_expire_(std::move(on_expire)) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(std::string label, double timeout_seconds) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    armed_ = timeout_seconds > 0;
    label_ = std::move(label);
    timeout_seconds_ = timeout_seconds;
    // Saturate at 10^9 s: the deadline in nanoseconds must fit int64 (1e10 s
    // overflowed into the past and fired at once); 31 years is never in practice.
    if (armed_)
      deadline_ = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(std::min(timeout_seconds, 1e9)));
  }
  cv_.notify_all();
}

void Watchdog::disarm() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    armed_ = false;
  }
  cv_.notify_all();
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    uint64_t generation = generation_;
    if (cv_.wait_until(lock, deadline_, [&] { return stop_ || generation_ != generation; }))
      continue;  // disarmed, re-armed or stopping
    std::string message =
        fmt::format("{} watchdog: case '{}' exceeded {:g} s", rank_tag(), label_, timeout_seconds_);
    armed_ = false;
    lock.unlock();  // the callback may arm again (tests) or never return (abort)
    on_expire_(message);
    lock.lock();
  }
}

}  // namespace cpb
