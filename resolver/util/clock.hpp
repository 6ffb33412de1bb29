// Clock: the one source of "now" for the core (cache expiry, timeouts, rate limits).
// RealClock reads CLOCK_MONOTONIC (and CLOCK_REALTIME for log stamps); ManualClock is
// advanced by tests so that expiry is tested without sleeping.
// Invariant: now() never goes backwards. Thread safety: RealClock is stateless;
// ManualClock uses an atomic so workers may read it while a test advances it.
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

}  // namespace vnetdns::util
