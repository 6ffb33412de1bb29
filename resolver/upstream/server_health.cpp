#include "resolver/upstream/server_health.hpp"

#include <algorithm>

namespace vnetdns::upstream {

namespace {
constexpr std::uint64_t kMaxSampleUs = 60'000'000;  // a minute: more is not a round trip
constexpr std::chrono::milliseconds kGranularity{10};
}  // namespace

void RttEstimator::sample(std::chrono::microseconds rtt) noexcept {
  const std::uint64_t r = std::clamp<std::uint64_t>(
      static_cast<std::uint64_t>(std::max<std::int64_t>(rtt.count(), 1)), 1, kMaxSampleUs);
  std::uint64_t old = word_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t srtt = 0;
    std::uint64_t var = 0;
    if (old == 0) {
      // RFC 6298 section 2.2: the first measurement R: SRTT = R, RTTVAR = R/2.
      srtt = r;
      var = r / 2;
    } else {
      // Section 2.3: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, then SRTT = 7/8 SRTT + 1/8 R.
      const std::uint64_t s = old >> 32;
      const std::uint64_t v = old & 0xffffffffU;
      const std::uint64_t diff = s > r ? s - r : r - s;
      var = (3 * v + diff) / 4;
      srtt = (7 * s + r) / 8;
    }
    srtt = std::max<std::uint64_t>(srtt, 1);  // 0 means unmeasured
    const std::uint64_t word = srtt << 32 | std::min<std::uint64_t>(var, 0xffffffffU);
    if (word_.compare_exchange_weak(old, word, std::memory_order_relaxed)) return;
  }
}

std::chrono::microseconds RttEstimator::srtt() const noexcept {
  return std::chrono::microseconds(word_.load(std::memory_order_relaxed) >> 32);
}

std::chrono::microseconds RttEstimator::rttvar() const noexcept {
  return std::chrono::microseconds(word_.load(std::memory_order_relaxed) & 0xffffffffU);
}

std::chrono::milliseconds RttEstimator::rto(std::chrono::milliseconds ceiling) const noexcept {
  const std::uint64_t w = word_.load(std::memory_order_relaxed);
  std::chrono::milliseconds t = ServerHealth::kInitialTryTimeout;
  if (w != 0) {
    // RFC 6298 section 2.3: RTO = SRTT + max(G, K * RTTVAR), K = 4; rounded up to a ms.
    const auto srtt = std::chrono::microseconds(w >> 32);
    const auto var4 = std::chrono::microseconds(4 * (w & 0xffffffffU));
    const auto sum = srtt + std::max<std::chrono::microseconds>(kGranularity, var4);
    t = std::chrono::ceil<std::chrono::milliseconds>(sum);
  }
  return std::clamp(t, std::min(ServerHealth::kMinTryTimeout, ceiling), ceiling);
}

void ServerHealth::observe_latency(std::chrono::microseconds rtt) noexcept {
  std::size_t i = 0;
  while (i < kLatencyBoundsUs.size() && rtt.count() > kLatencyBoundsUs[i]) ++i;
  latency[i].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(rtt.count(), 0)),
                           std::memory_order_relaxed);
}

ServerHealth::Change ServerHealth::on_answer(std::chrono::microseconds rtt_sample) noexcept {
  observe_latency(rtt_sample);
  rtt.sample(rtt_sample);
  strikes_.store(0, std::memory_order_relaxed);
  const bool was_suspect = suspect_.exchange(false, std::memory_order_relaxed);
  const bool was_down = down_.exchange(false, std::memory_order_relaxed);
  if (was_down) return Change::kUp;
  return was_suspect ? Change::kHealthy : Change::kNone;
}

ServerHealth::Change ServerHealth::on_try_timeout() noexcept {
  return suspect_.exchange(true, std::memory_order_relaxed) ? Change::kNone : Change::kSuspect;
}

ServerHealth::Change ServerHealth::on_failure(std::int64_t now_ms) noexcept {
  if (strikes_.fetch_add(1, std::memory_order_relaxed) + 1 < kStrikesBeforeDown) {
    return Change::kNone;
  }
  if (down_.exchange(true, std::memory_order_relaxed)) return Change::kNone;
  downs.fetch_add(1, std::memory_order_relaxed);
  next_probe_ms_.store(now_ms + kProbeIntervalMs, std::memory_order_relaxed);
  return Change::kDown;
}

bool ServerHealth::claim_probe(std::int64_t now_ms) noexcept {
  if (!is_down() && !is_suspect()) return false;
  std::int64_t due = next_probe_ms_.load(std::memory_order_relaxed);
  if (now_ms < due) return false;
  // One prober at a time: the claim moves the due time on by an interval.
  return next_probe_ms_.compare_exchange_strong(due, now_ms + kProbeIntervalMs,
                                                std::memory_order_relaxed);
}

ServerHealth::Change ServerHealth::note_edns_failure(std::int64_t now_ms,
                                                     std::uint64_t name_hash) noexcept {
  edns_fallbacks.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(edns_mutex_);
  EdnsFailure* slot = nullptr;
  EdnsFailure* oldest = &edns_failures_[0];
  for (auto& f : edns_failures_) {
    if (f.at_ms != 0 && f.name_hash == name_hash) slot = &f;
    if (f.at_ms < oldest->at_ms) oldest = &f;
  }
  if (slot == nullptr) slot = oldest;
  slot->name_hash = name_hash;
  slot->at_ms = now_ms;
  std::size_t distinct = 0;
  for (const auto& f : edns_failures_) {
    if (f.at_ms != 0 && now_ms - f.at_ms <= kEdnsWindowMs) ++distinct;
  }
  if (distinct < kEdnsFailNames || !edns_allowed(now_ms)) return Change::kNone;
  no_edns_until_ms_.store(now_ms + kNoEdnsMemoryMs, std::memory_order_relaxed);
  edns_failures_ = {};  // after the memory expires, the count starts again
  return Change::kMarked;
}

ServerHealth::Change ServerHealth::note_case_failure(std::int64_t now_ms) noexcept {
  case_fallbacks.fetch_add(1, std::memory_order_relaxed);
  if (case_failures_.fetch_add(1, std::memory_order_relaxed) + 1 < kCaseFailures) {
    return Change::kNone;
  }
  case_failures_.store(0, std::memory_order_relaxed);
  if (!case_allowed(now_ms)) return Change::kNone;
  no_0x20_until_ms_.store(now_ms + kNo0x20MemoryMs, std::memory_order_relaxed);
  return Change::kMarked;
}

bool ServerHealth::take_qps(std::int64_t now_ms, std::uint32_t max_qps) noexcept {
  const std::int64_t second = now_ms / 1000;
  if (qps_second_.load(std::memory_order_relaxed) != second) {
    qps_second_.store(second, std::memory_order_relaxed);
    qps_count_.store(0, std::memory_order_relaxed);
  }
  return qps_count_.fetch_add(1, std::memory_order_relaxed) < max_qps;
}

}  // namespace vnetdns::upstream
