// ServerHealth: what the forwarder knows of one upstream server of a forward rule, shared by
// every worker thread: its round-trip time estimate, whether it is up, suspect or down, what
// it has shown it cannot do (EDNS, 0x20 case), its per-second query budget and its counters.
//
// RTT (RFC 6298 section 2, as BIND and Unbound keep per server): SRTT and RTTVAR from every
// answered try (each try has its own ID, so a reply names the try it answers and every
// sample is unambiguous, Karn's problem does not arise). The per-try timeout is
// RTO = SRTT + max(10 ms, 4 * RTTVAR), clamped to [kMinTryTimeout, ceiling]; an unmeasured
// server gets min(kInitialTryTimeout, ceiling): 1 s, as RFC 6298 section 2.1 says (a first
// contact with a recursive upstream may take hundreds of milliseconds; retrying it sooner
// only doubles the load). The ceiling is the rule's `timeout`.
//
// States:
// - up: answered last (or never tried);
// - suspect: a try to it timed out (or failed) and no answer has come since. A suspect server
//   goes after the healthy ones in every policy, so the next question starts elsewhere at
//   once; it is probed once a second and its first answer (probe, late reply or question)
//   makes it up again, which gives a `sequential` first server its place back.
// - down: kStrikesBeforeDown questions in a row failed at it with evidence: no answer before
//   a try at the ceiling timed out or the question's deadline passed, a network error, or
//   SERVFAIL/REFUSED. A down server gets no questions while another is up or suspect; when
//   all are down the rule lets one client question through per second (ForwardGroup).
//
// Failure memories (both expire, so a server that was upgraded or had a bad minute is asked
// the normal way again):
// - EDNS: a FORMERR without OPT to an EDNS query is retried without EDNS for that question
//   only. The server is treated as EDNS-less only after kEdnsFailNames distinct names failed
//   with EDNS and then succeeded without it within kEdnsWindow; that lasts kNoEdnsMemory.
// - 0x20: a reply that matches a query in everything but the letter case of the name it
//   echoes is retried without 0x20 for that question; after kCaseFailures such questions
//   (with no correct-case answer between them) the server is asked without 0x20 for
//   kNo0x20Memory. One forged reply cannot do it: it needs the query's port and ID twice.
//
// Times are milliseconds of util::process_clock() (util::process_ms()).
// Thread safety: every field is atomic, except the EDNS name list (a small mutex, taken only
// on the fallback path); any worker may call any method at any time.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace vnetdns::upstream {

// SRTT and RTTVAR in microseconds, packed in one atomic word so that concurrent samples
// from several workers never mix one's SRTT with another's RTTVAR.
class RttEstimator {
 public:
  void sample(std::chrono::microseconds rtt) noexcept;
  [[nodiscard]] bool measured() const noexcept {
    return word_.load(std::memory_order_relaxed) != 0;
  }
  [[nodiscard]] std::chrono::microseconds srtt() const noexcept;
  [[nodiscard]] std::chrono::microseconds rttvar() const noexcept;
  // The per-try timeout (see the file comment).
  [[nodiscard]] std::chrono::milliseconds rto(std::chrono::milliseconds ceiling) const noexcept;

 private:
  std::atomic<std::uint64_t> word_{0};  // srtt_us << 32 | rttvar_us; 0 = unmeasured
};

class ServerHealth {
 public:
  static constexpr std::chrono::milliseconds kMinTryTimeout{100};
  static constexpr std::chrono::milliseconds kInitialTryTimeout{1000};  // RFC 6298 2.1
  static constexpr std::uint32_t kStrikesBeforeDown = 3;
  static constexpr std::int64_t kProbeIntervalMs = 1000;
  static constexpr std::size_t kEdnsFailNames = 3;
  static constexpr std::int64_t kEdnsWindowMs = 10 * 60 * 1000;
  static constexpr std::int64_t kNoEdnsMemoryMs = 5 * 60 * 1000;
  static constexpr std::uint32_t kCaseFailures = 2;
  static constexpr std::int64_t kNo0x20MemoryMs = 10 * 60 * 1000;

  // What a call changed, for the caller to log.
  // kUp: was down; kHealthy: was suspect; kMarked: an EDNS or 0x20 memory began.
  enum class Change : std::uint8_t { kNone, kUp, kHealthy, kDown, kMarked, kSuspect };

  RttEstimator rtt;

  // A good answer (also a late one, a probe's, or NXDOMAIN/NODATA) after `rtt`.
  Change on_answer(std::chrono::microseconds rtt_sample) noexcept;
  // A try went unanswered past its timeout (or met a network error): suspect until the next
  // answer. (SERVFAIL and REFUSED are answers: the server is alive, it is not suspect.)
  Change on_try_timeout() noexcept;
  // A question failed here with evidence (see the file comment): a strike.
  Change on_failure(std::int64_t now_ms) noexcept;

  [[nodiscard]] bool is_down() const noexcept { return down_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool is_suspect() const noexcept {
    return suspect_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint32_t strikes() const noexcept {
    return strikes_.load(std::memory_order_relaxed);
  }
  // Claims the next probe of a suspect or down server: true for one caller per interval.
  bool claim_probe(std::int64_t now_ms) noexcept;

  [[nodiscard]] bool edns_allowed(std::int64_t now_ms) const noexcept {
    return now_ms >= no_edns_until_ms_.load(std::memory_order_relaxed);
  }
  // `name_hash` failed with EDNS and succeeded without; kMarked when that made the server
  // EDNS-less.
  Change note_edns_failure(std::int64_t now_ms, std::uint64_t name_hash) noexcept;

  [[nodiscard]] bool case_allowed(std::int64_t now_ms) const noexcept {
    return now_ms >= no_0x20_until_ms_.load(std::memory_order_relaxed);
  }
  // A question needed the retry without 0x20 (and it was answered); kMarked when that made
  // the server case-less.
  Change note_case_failure(std::int64_t now_ms) noexcept;
  // An answer with the exact case we sent: the server preserves case.
  void note_case_ok() noexcept { case_failures_.store(0, std::memory_order_relaxed); }

  // One unit of the server's per-second budget (max_qps); false when it is spent.
  bool take_qps(std::int64_t now_ms, std::uint32_t max_qps) noexcept;

  // Counters (since the rule last changed).
  std::atomic<std::uint64_t> queries{0};         // tries sent
  std::atomic<std::uint64_t> timeouts{0};        // tries unanswered past their timeout
  std::atomic<std::uint64_t> late_replies{0};    // answers to a try after its timeout
  std::atomic<std::uint64_t> errors{0};          // network errors, SERVFAIL, REFUSED
  std::atomic<std::uint64_t> edns_fallbacks{0};  // questions retried without EDNS
  std::atomic<std::uint64_t> case_fallbacks{0};  // questions retried without 0x20
  std::atomic<std::uint64_t> downs{0};           // times marked down
  std::atomic<std::uint64_t> probes{0};
  std::atomic<std::uint64_t> capped{0};
  std::atomic<std::int64_t> outstanding{0};  // tries waiting for an answer now
  // [dnssec] mode = "validate": what the start-up/reload check found (kDnssec*), and how
  // many checks found the server stripping DNSSEC data (docs/dnssec.md).
  static constexpr int kDnssecUnchecked = -1, kDnssecStrips = 0, kDnssecOk = 1;
  std::atomic<int> dnssec{kDnssecUnchecked};
  std::atomic<std::uint64_t> dnssec_strips{0};
  // Round-trip times of answered tries: counts per bucket (not cumulative) and their sum.
  static constexpr std::array<std::uint32_t, 12> kLatencyBoundsUs = {
      500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
  std::array<std::atomic<std::uint64_t>, kLatencyBoundsUs.size() + 1> latency{};
  std::atomic<std::uint64_t> latency_sum_us{0};

  [[nodiscard]] bool edns_marked(std::int64_t now_ms) const noexcept {
    return !edns_allowed(now_ms);
  }
  [[nodiscard]] bool case_marked(std::int64_t now_ms) const noexcept {
    return !case_allowed(now_ms);
  }

 private:
  void observe_latency(std::chrono::microseconds rtt) noexcept;

  std::atomic<bool> suspect_{false};
  std::atomic<bool> down_{false};
  std::atomic<std::uint32_t> strikes_{0};
  std::atomic<std::int64_t> next_probe_ms_{0};
  std::atomic<std::int64_t> qps_second_{0};
  std::atomic<std::uint32_t> qps_count_{0};
  std::atomic<std::int64_t> no_edns_until_ms_{0};
  std::atomic<std::int64_t> no_0x20_until_ms_{0};
  std::atomic<std::uint32_t> case_failures_{0};
  struct EdnsFailure {
    std::uint64_t name_hash = 0;
    std::int64_t at_ms = 0;
  };
  std::mutex edns_mutex_;
  std::array<EdnsFailure, 8> edns_failures_{};  // distinct names, oldest overwritten
};

}  // namespace vnetdns::upstream
