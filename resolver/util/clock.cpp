#include "resolver/util/clock.hpp"

namespace vnetdns::util {

namespace {
std::atomic<const Clock*> g_process_clock{nullptr};
}  // namespace

const Clock& process_clock() noexcept {
  const Clock* c = g_process_clock.load(std::memory_order_acquire);
  return c != nullptr ? *c : RealClock::instance();
}

bool process_clock_is_real() noexcept {
  return g_process_clock.load(std::memory_order_acquire) == nullptr;
}

void set_process_clock(const Clock* clock) noexcept {
  g_process_clock.store(clock, std::memory_order_release);
}

}  // namespace vnetdns::util
