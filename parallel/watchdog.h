// Watchdog: bounds how long one case may take on this rank. A driver arms it per
// case; if not disarmed in time its own thread prints
// `[rank R@host] watchdog: case '<label>' exceeded <T> s` and aborts the whole job
// (MPI_Abort via abort_job), because a rank stuck in a collective can only be
// stopped from outside that collective. Deadlines use the steady clock.
// MPI_Abort needs the launcher; when it cannot be reached (a partitioned host) the
// call may never return, so every abort from here is bounded: the rank _exit()s
// with the same code after a grace period (abort_job_bounded).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace cpb {

// Exit status of a job stopped by the watchdog (as coreutils `timeout`).
inline constexpr int kWatchdogExitCode = 124;

// Seconds a rank that stops the job waits for MPI_Abort before ending itself:
// MPI_Abort needs the launcher, which a partitioned host cannot reach.
inline constexpr int kAbortGraceSeconds = 5;

// abort_job(code), but if MPI_Abort has not ended this process after
// `grace_seconds`, a helper thread says so on stderr and _exit(code)s: a rank never
// outlives its abort by more than the grace, even when the launcher is unreachable.
[[noreturn]] void abort_job_bounded(int code, int grace_seconds);

class Watchdog {
 public:
  // Called on expiry with the message already built; the default prints it to
  // stderr and calls abort_job_bounded(kWatchdogExitCode, kAbortGraceSeconds).
  // Tests pass a recorder instead.
  using OnExpire = std::function<void(const std::string& message)>;

  Watchdog();
  explicit Watchdog(OnExpire on_expire);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Start (or restart) the countdown for `label`. timeout_seconds <= 0 disables it.
  void arm(std::string label, double timeout_seconds);
  void disarm();

  // Arms on construction, disarms on destruction (also when the case throws).
  class Scope {
   public:
    Scope(Watchdog& dog, std::string label, double timeout_seconds) : dog_(dog) {
      dog_.arm(std::move(label), timeout_seconds);
    }
    ~Scope() { dog_.disarm(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Watchdog& dog_;
  };

 private:
  void run();

  OnExpire on_expire_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool stop_ = false;
  uint64_t generation_ = 0;  // bumps on every arm/disarm so a stale expiry is ignored
  std::string label_;
  double timeout_seconds_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;  // last member: starts after everything it reads exists
};

}  // namespace cpb
