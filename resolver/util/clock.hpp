// Clock: the one source of "now" for the core (cache expiry, timeouts, rate limits).
// RealClock reads CLOCK_MONOTONIC (and CLOCK_REALTIME for log stamps); ManualClock is
// advanced by tests so that expiry is tested without sleeping.
// process_clock(): the clock behind every timer of the process (util::Timer, timer.hpp) and
// the upstream side's health and RTT figures, which live in objects shared by all workers
// and have no Clock& of their own. It is RealClock unless a test installs a ManualClock
// with set_process_clock() (the scenario harness does, so per-try timeouts, deadlines,
// probes and back-off run on the manual clock); production never changes it.
// Invariant: now() never goes backwards. Thread safety: RealClock is stateless;
// ManualClock uses an atomic so workers may read it while a test advances it; the process
// clock pointer is atomic (install it before the threads that read it start).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace vnetdns::util {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual TimePoint now() const noexcept = 0;
  // Whole seconds since an arbitrary epoch; what TTL arithmetic uses.
  [[nodiscard]] std::uint32_t now_seconds() const noexcept {
    return static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count());
  }
};

class RealClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const noexcept override {
    return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
  }
  static const RealClock& instance() {
    static const RealClock clock;
    return clock;
  }
};

class ManualClock final : public Clock {
 public:
  // Starts at a non-zero time so that "0" is never a valid timestamp by accident.
  explicit ManualClock(Duration start = std::chrono::hours(1)) : ns_(start.count()) {}
  [[nodiscard]] TimePoint now() const noexcept override {
    return TimePoint(Duration(ns_.load(std::memory_order_acquire)));
  }
  void advance(Duration d) noexcept { ns_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<std::int64_t> ns_;
};

// The clock timers and upstream state read (RealClock::instance() unless a test set one).
[[nodiscard]] const Clock& process_clock() noexcept;
[[nodiscard]] bool process_clock_is_real() noexcept;
// Installs `clock` (nullptr: back to RealClock). It must outlive every reader.
void set_process_clock(const Clock* clock) noexcept;

// Milliseconds on the process clock: the unit of the upstream side's atomic time stamps.
[[nodiscard]] inline std::int64_t process_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             process_clock().now().time_since_epoch())
      .count();
}

}  // namespace vnetdns::util
