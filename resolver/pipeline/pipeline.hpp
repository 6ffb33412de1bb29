// Pipeline: the ordered stages every query goes through, and the one place that decides
// which RCODE a client gets. The stages and their numbers are docs/design.md's one map
// ("The query's way"); the code labels each `// Stage N:`:
//   handle() (pipeline.cpp), synchronous, in the receive loop, never allocating:
//     1 answer memo (UDP)  2 NOTIFY  3 sanitize  4 zone transfers  5 TSIG  6 ACL  7 cookies
//     8 rate limit  9 loop guard and refusals  10 route  11 local zone  12 cache
//   resolve() (resolve.cpp), the asynchronous rest:
//     13 coalesce  14 forward (15 validate, in upstream/)  16 scrub, DNSSEC-validate
//     (validation.cpp) and splice  17 cache insert
//   18 finalize (finalize.hpp) at the transport edge, for every answer the stages build.
// handle() yields bytes to send, a drop, kTransfer, or kAsync with the parsed query left in a
// PendingQuery for resolve(). One Pipeline per worker thread: its in-flight table, answer
// memo and counters belong to that worker.
// Thread safety: not thread safe; call from the owning worker's io_context thread only.
// The cache and the snapshot it reads are shared and safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/dnssec/key_cache.hpp"
#include "resolver/dnssec/signature_cache.hpp"
#include "resolver/dnssec/signed_message.hpp"
#include "resolver/dnssec/verdict.hpp"
#include "resolver/pipeline/answer_memo.hpp"
#include "resolver/pipeline/builder_pool.hpp"
#include "resolver/pipeline/counters.hpp"
#include "resolver/pipeline/finalize.hpp"
#include "resolver/pipeline/query_log_record.hpp"
#include "resolver/pipeline/response_scrubber.hpp"
#include "resolver/pipeline/snapshot.hpp"
#include "resolver/policy/rate_limiter.hpp"
#include "resolver/util/clock.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/util/timer.hpp"
#include "resolver/wire/query_view.hpp"
#include "resolver/xfr/notify_sink.hpp"

namespace vnetdns::pipeline {

// kTransfer: an AXFR/IXFR over TCP; the connection answers it with xfr::answer_transfer()
// (several messages) from snapshot().
enum class StepKind : std::uint8_t { kSend, kDrop, kAsync, kTransfer };
struct Step {
  StepKind kind = StepKind::kDrop;
  std::size_t len = 0;
  // With kSend: the answer came from a cache entry near its expiry; the caller should run
  // prefetch() with the PendingQuery (Unbound's rule: hit in the last tenth of the TTL).
  bool prefetch = false;
  // With kSend from the cache or local data, for a query with nothing client-specific in it:
  // handle() may keep the answer in the worker's memo (stage 1), stamped with this.
  struct Memo {
    bool ok = false;
    bool from_cache = false;
    cache::CacheVersion version;  // of the cache entry it came from
  } memo;
};

// A query that left the synchronous path: everything resolve() needs, owned.
struct PendingQuery {
  wire::QueryView view;
  std::array<std::uint8_t, wire::kMaxNameLength> qname_raw{};
  Transport transport = Transport::kUdp;
  util::Endpoint client;
  std::shared_ptr<const Snapshot> snapshot;
  bool local_first = false;               // a local CNAME chain leaves local data
  bool cache_missed = false;              // handle() found no fresh answer for the question itself
  util::TimePoint received{};             // set when a query log is active
  std::array<std::uint8_t, 24> cookie{};  // COOKIE option to answer with
  std::uint8_t cookie_len = 0;
  std::vector<std::uint8_t> stale;  // an expired cached answer to fall back on (RFC 8767)
  bool stale_splice = false;
  wire::Name stale_splice_target;
};

class Pipeline {
 public:
  Pipeline(const SnapshotHolder& snapshots, cache::PacketCache& cache, const util::Clock& clock);

  // Picks up a newly published snapshot; call once per receive batch.
  void refresh_snapshot();
  [[nodiscard]] const std::shared_ptr<const Snapshot>& snapshot() const noexcept { return snap_; }

  Step handle(const std::uint8_t* query, std::size_t len, const util::Endpoint& client,
              Transport transport, std::uint8_t* out, std::size_t cap, PendingQuery& pending);

  // Resolves a query handle() returned kAsync for; writes the answer into `out` and returns
  // its length (0: nothing to send).
  boost::asio::awaitable<std::size_t> resolve(PendingQuery& pending, std::uint8_t* out,
                                              std::size_t cap);

  // Refreshes the cache entry of a query handle() answered with Step::prefetch set. At most
  // one refresh per question is in flight (the in-flight table).
  boost::asio::awaitable<void> prefetch(PendingQuery& pending);

  // Queries are logged to `sink` when set (one in `sample`, decided by the sink); nullptr
  // turns logging off. Set before the worker starts.
  void set_query_log(QueryLogSink* sink) noexcept { qlog_ = sink; }
  // Accepted NOTIFYs are reported to `sink` (the transfer service); set before start.
  void set_notify_sink(xfr::NotifySink* sink) noexcept { notify_sink_ = sink; }

  [[nodiscard]] Counters& counters() noexcept { return counters_; }
  [[nodiscard]] const Counters& counters() const noexcept { return counters_; }

 private:
  // One upstream resolution in flight, shared by every query that asks the same question.
  struct Flight {
    explicit Flight(boost::asio::any_io_executor ex) : done(std::move(ex)) {}
    util::Timer done;  // cancelled when the result is in
    std::shared_ptr<const Processed> result;
  };

  // The stages of handle() behind the memo; `second` is Clock::now_seconds() for the query.
  Step run_stages(const std::uint8_t* query, std::size_t len, const util::Endpoint& client,
                  Transport transport, std::uint8_t* out, std::size_t cap, PendingQuery& pending,
                  std::uint32_t second);
  // Counts the answer in out[0..len) and logs it for `query` (null: not logged here).
  Step send(std::uint8_t* out, std::size_t len, AnswerSource source, const PendingQuery* query);
  void fill_pending(PendingQuery& p, const std::uint8_t* query, const util::Endpoint& client,
                    Transport transport);
  // A short answer (write_error) to `pending` (its parsed view of `query`) with `rcode`,
  // counted and logged; `how` without the cookie, which this adds from `pending`.
  Step error(std::uint8_t* out, std::size_t cap, const std::uint8_t* query,
             const PendingQuery& pending, wire::Rcode rcode, ErrorAnswer how = {});
  // Completes a spliced cached answer from local data; false if it leaves local data again.
  bool complete_splice(const Snapshot& snap, std::uint8_t* out, std::size_t& len, std::size_t cap,
                       const wire::Name& target, std::uint16_t qtype);
  // The flight that answers `key`: a finished one holding a fresh cached answer (when
  // `look_in_cache`), or the one in the air for it, or a new one. Await `done` unless
  // `result` is already set. (A plain function, not a coroutine: one frame less per miss.)
  std::shared_ptr<Flight> fetch(const boost::asio::any_io_executor& executor,
                                std::shared_ptr<const Snapshot> snap, std::size_t group,
                                const cache::CacheKey& key, bool cd, bool look_in_cache);
  // Joins the flight for `key` or starts one (running detached on `executor`, so it finishes
  // and fills the cache even when no one waits for it any more).
  std::shared_ptr<Flight> start_flight(const boost::asio::any_io_executor& executor,
                                       std::shared_ptr<const Snapshot> snap, std::size_t group,
                                       const cache::CacheKey& key, bool cd);
  boost::asio::awaitable<void> fly(std::shared_ptr<Flight> flight,
                                   std::shared_ptr<const Snapshot> snap, std::size_t group,
                                   cache::CacheKey key, bool cd);
  std::size_t send_stale(PendingQuery& p, std::uint8_t* out, std::size_t cap);

  // DNSSEC validation (validation.cpp, docs/dnssec.md). The verdict on an answer in the
  // internal format with its DNSSEC records (`wire`), for `key`'s question; sub-queries for
  // DS and DNSKEY go through fetch() and must land before `deadline`.
  boost::asio::awaitable<dnssec::Verdict> validate(std::shared_ptr<const Snapshot> snap,
                                                   std::vector<std::uint8_t> wire,
                                                   cache::CacheKey key, bool spliced,
                                                   util::TimePoint deadline);
  // Stage 16 when validating: judges `scrubbed` (the reply scrubbed with its DNSSEC records)
  // for `key`. Secure or insecure: rewrites it for the client (scrubbed again from `reply`
  // without DNSSEC records for DO=0, AD when secure, the verdict's EDE) and returns null.
  // Bogus or indeterminate: returns the failure answer to cache and send.
  boost::asio::awaitable<std::shared_ptr<Processed>> judge_answer(
      std::shared_ptr<const Snapshot> snap, const std::vector<std::uint8_t>& reply,
      cache::CacheKey key, util::Result<Processed, ScrubError>& scrubbed, util::TimePoint deadline);
  // The status of the deepest zone at or above `name` the chain of trust reaches.
  boost::asio::awaitable<dnssec::ZoneKeys> zone_status(std::shared_ptr<const Snapshot> snap,
                                                       wire::Name name, util::TimePoint deadline);
  // One step of the walk below `parent`: what `child` is (cached in keys_).
  boost::asio::awaitable<dnssec::ChainStep> chain_step(std::shared_ptr<const Snapshot> snap,
                                                       wire::Name child, dnssec::ZoneKeys parent,
                                                       util::TimePoint deadline);
  // The answer to `name`/`type` (DS or DNSKEY), asked with DO=1 and CD=1 through the cache
  // and the in-flight table, parsed; or, without `msg`, why not: indeterminate (no route, a
  // failure, not back before `deadline`), or bogus with `unreadable` when it cannot be parsed.
  struct Fetched {
    std::optional<dnssec::SignedMessage> msg;
    dnssec::Verdict failure;
  };
  boost::asio::awaitable<Fetched> fetch_dnssec(std::shared_ptr<const Snapshot> snap,
                                               wire::Name name, std::uint16_t type,
                                               util::TimePoint deadline,
                                               dnssec::BogusReason unreadable);
  // True when answers for `name` are validated under `snap`.
  [[nodiscard]] static bool validates(const Snapshot& snap, const wire::Name& name, bool cd);
  [[nodiscard]] std::uint32_t unix_now() const noexcept {
    return clock_.now_seconds() + unix_offset_;
  }
  TtlPolicy ttl_policy(const Snapshot& snap) const;

  // Decides the COOKIE option of the answer; true when the client's server cookie is ours.
  bool answer_cookie(PendingQuery& p, const util::Endpoint& client);
  ClientInfo client_info(const PendingQuery& p, const std::uint8_t* qname_raw,
                         Transport transport) const;

  const SnapshotHolder& snapshots_;
  std::uint64_t generation_ = ~0ULL;
  std::shared_ptr<const Snapshot> snap_;
  cache::PacketCache& cache_;
  const util::Clock& clock_;
  // Unix time minus clock_.now_seconds() at construction (server cookie timestamps).
  std::uint32_t unix_offset_ = 0;
  Counters counters_;
  std::unordered_map<cache::CacheKey, std::shared_ptr<Flight>, cache::CacheKeyHash> inflight_;
  std::unique_ptr<policy::RateLimiter> limiter_;  // per worker, from [rate_limit]
  BuilderPool builders_;                          // for resolve()
  dnssec::KeyCache keys_;                         // the chain of trust, per worker
  dnssec::SignatureCache signatures_;             // signatures verified, per worker
  // The trust anchors keys_ was filled under (held, so a new set never takes its address).
  std::shared_ptr<const std::vector<dnssec::TrustAnchor>> keys_anchors_;
  QueryLogSink* qlog_ = nullptr;
  xfr::NotifySink* notify_sink_ = nullptr;
  Step answer_notify(const std::uint8_t* query, std::size_t len, const util::Endpoint& client,
                     Transport transport, std::uint8_t* out, std::size_t cap,
                     const PendingQuery& pending);
  // A query with a TSIG record: checked, answered without it, the answer signed (answers
  // that would need an upstream get REFUSED: only local data is answered signed).
  Step answer_signed(const std::uint8_t* query, std::size_t len, const util::Endpoint& client,
                     Transport transport, std::uint8_t* out, std::size_t cap,
                     PendingQuery& pending);
  void log_query(const PendingQuery& p, const std::uint8_t* answer, AnswerSource source,
                 const util::Endpoint* upstream);
  AnswerMemo memo_;

 public:
  // Questions in flight per worker: past this a new question is answered SERVFAIL at once
  // (a flood of random names cannot grow memory without bound).
  static constexpr std::size_t kMaxInflight = 20000;
  // RFC 8767 section 4: stale answers go out with a 30-second TTL.
  static constexpr std::uint32_t kStaleTtl = 30;
  // RFC 9520 section 3.2: a resolution failure is remembered at least 1 s; we start at 5.
  static constexpr std::uint32_t kFailureTtl = 5;
};

}  // namespace vnetdns::pipeline
