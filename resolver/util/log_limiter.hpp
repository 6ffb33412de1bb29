// LogLimiter: at most N log lines a second for one kind of event (upstream timeouts, late
// replies, mismatches, fallbacks), so that a flood of bad upstream replies cannot flood the
// log. Lines over the limit are counted; the next line allowed says how many were left out.
// Time: util::process_ms(). Thread safety: lock-free; any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "resolver/util/clock.hpp"

namespace vnetdns::util {

class LogLimiter {
 public:
  explicit constexpr LogLimiter(std::uint32_t per_second) noexcept : per_second_(per_second) {}

  // True when a line may be written now. `suppressed` gets the number of lines left out
  // since the last one allowed (to be mentioned in it).
  bool allow(std::uint64_t& suppressed) noexcept {
    const std::int64_t second = process_ms() / 1000;
    std::int64_t seen = second_.load(std::memory_order_relaxed);
    if (seen != second &&
        second_.compare_exchange_strong(seen, second, std::memory_order_relaxed)) {
      count_.store(0, std::memory_order_relaxed);
    }
    if (count_.fetch_add(1, std::memory_order_relaxed) >= per_second_) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }

 private:
  const std::uint32_t per_second_;
  std::atomic<std::int64_t> second_{0};
  std::atomic<std::uint32_t> count_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace vnetdns::util
