// Timer: the Asio waitable timer every timer of the server uses (per-try timeouts, question
// deadlines, probes, back-off, stale_answer_timeout, TCP idle closes, socket renewal). Its
// clock is util::process_clock(), so a test that installs a ManualClock drives them all by
// advancing it, and nothing waits in real time.
// With a manual clock installed the event loop still blocks in epoll with the real timer fd:
// TimerWaitTraits caps a wait at 1 ms of real time then, so an advance is seen within 1 ms
// even when nothing else wakes the loop (kick() makes it at once).
// Thread safety: as any Asio timer (one io_context thread); the clock is thread safe.
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/wait_traits.hpp>

#include "resolver/util/clock.hpp"

namespace vnetdns::util {

struct TimerClock {
  using duration = Duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = TimePoint;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return process_clock().now(); }
};

struct TimerWaitTraits {
  static TimerClock::duration to_wait_duration(const TimerClock::duration& d) {
    if (process_clock_is_real() || d < std::chrono::milliseconds(1)) return d;
    return std::chrono::milliseconds(1);
  }
  static TimerClock::duration to_wait_duration(const TimerClock::time_point& t) {
    return to_wait_duration(t - TimerClock::now());
  }
};

using Timer = boost::asio::basic_waitable_timer<TimerClock, TimerWaitTraits>;

// Makes the event loop behind `executor` look at its timers now (after a test advanced the
// manual clock): a timer due at the start of time is the earliest of its queue, so adding it
// re-arms the loop's timer fd for "now".
inline void kick(const boost::asio::any_io_executor& executor) {
  auto t = std::make_shared<Timer>(executor);
  t->expires_at(TimePoint::min());
  t->async_wait([t](const boost::system::error_code&) {});
}

}  // namespace vnetdns::util
