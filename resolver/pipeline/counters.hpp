// Counters: one worker's tallies of what the pipeline did. Each worker owns one instance and
// is its only writer, so an increment is a relaxed load+store (no locked instruction on the
// hot path); readers (the admin endpoint) sum all workers with relaxed loads.
// Thread safety: single writer (the owning worker), any number of readers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vnetdns::pipeline {

class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

enum class Transport : std::uint8_t { kUdp = 0, kTcp = 1 };

// Why a query was answered without data or not answered at all.
enum class DropReason : std::uint8_t { kParse, kResponse, kAcl, kRateLimit, kMismatch, kCount };

enum class AnswerSource : std::uint8_t { kLocal, kCache, kUpstream, kStale, kSynthesized, kCount };

struct Counters {
  static constexpr std::size_t kRcodes = 24;
  std::array<Counter, 2> queries;  // by transport
  std::array<Counter, kRcodes> rcodes;
  std::array<Counter, static_cast<std::size_t>(AnswerSource::kCount)> answers;
  std::array<Counter, static_cast<std::size_t>(DropReason::kCount)> drops;
  std::array<Counter, 16> formerr_reasons;  // by wire::QueryError
  Counter truncated;                        // answers sent with TC=1
  Counter upstream_queries;                 // exchanges started (one per coalesced question)
  Counter upstream_failures;                // questions that ended in SERVFAIL from the forwarder
  Counter coalesced;                        // queries that joined an identical one in flight
  Counter reply_mismatches;                 // upstream replies dropped by the acceptance check
  std::array<Counter, 4> scrub_errors;      // accepted replies not used, by ScrubError
  Counter upstream_all_down;  // questions failed at once: every server of the rule down
  Counter tcp_connections;    // accepted
  Counter tcp_closed;
  Counter tcp_refused;      // connections closed at accept: over max_tcp_clients or per client
  Counter notifies;         // NOTIFY requests received (RFC 1996)
  Counter memo_hits;        // UDP answers repeated from the worker's AnswerMemo
  Counter memo_cache_hits;  // of those, answers that came from the cache
  std::array<Counter, 64> qtypes;  // qtype < 64; others in the last slot
  // DNSSEC (docs/dnssec.md): answers validated, by dnssec::Security; bogus ones by
  // dnssec::BogusReason; DS and DNSKEY questions the chain of trust asked (cache misses and
  // hits alike).
  std::array<Counter, 4> dnssec_answers;
  std::array<Counter, 7> dnssec_bogus;
  Counter dnssec_subqueries;

  void count_qtype(std::uint16_t qtype) noexcept { qtypes[qtype < 63 ? qtype : 63].add(); }
  void count_rcode(std::uint16_t rcode) noexcept {
    rcodes[rcode < kRcodes ? rcode : kRcodes - 1].add();
  }
};

}  // namespace vnetdns::pipeline
