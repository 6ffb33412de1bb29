// Pipeline, the asynchronous half (pipeline.hpp): resolve() and prefetch(), the in-flight
// table (fetch, start_flight, fly) and serve-stale answers. The synchronous stages are in
// pipeline.cpp.
#include <array>
#include <cstring>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "resolver/pipeline/finalize.hpp"
#include "resolver/pipeline/pipeline.hpp"
#include "resolver/pipeline/route.hpp"
#include "resolver/util/log.hpp"
#include "resolver/util/log_limiter.hpp"
#include "resolver/util/timer.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/zone/local_answer.hpp"

namespace vnetdns::pipeline {

namespace asio = boost::asio;
using wire::Rcode;

using namespace asio::experimental::awaitable_operators;

namespace {

util::LogLimiter g_scrub_log(10);

// Appends the records of an internal-format message (answer, then authority) to `b`.
bool append_records(const Processed& p, wire::MessageBuilder& b) {
  wire::MessageView view;
  if (wire::parse_message(p.wire.data(), p.wire.size(), view) != wire::MessageError::kNone) {
    return false;
  }
  thread_local std::array<std::uint8_t, wire::kMaxMessageSize> rdata;
  wire::Name owner;
  for (const auto& rr : view.rrs) {
    std::size_t n = 0;
    if (!view.owner(rr, owner) || !wire::copy_rdata(view, rr, rdata.data(), rdata.size(), &n)) {
      return false;
    }
    if (!b.add_rr(rr.section, owner, rr.type, rr.klass, rr.ttl, rdata.data(), n)) return false;
  }
  return true;
}

}  // namespace

std::size_t Pipeline::send_stale(PendingQuery& p, std::uint8_t* out, std::size_t cap) {
  if (p.stale.size() > cap) return 0;
  std::memcpy(out, p.stale.data(), p.stale.size());
  std::size_t n = p.stale.size();
  if (p.stale_splice &&
      !complete_splice(*p.snapshot, out, n, cap, p.stale_splice_target, p.view.qtype)) {
    return 0;
  }
  const bool nxdomain = wire::header_rcode(out) == static_cast<std::uint8_t>(Rcode::kNxDomain);
  const ClientInfo ci = client_info(p, p.qname_raw.data(), p.transport);
  // RFC 8914: EDE 3 "Stale Answer", 19 "Stale NXDOMAIN Answer".
  n = finalize_answer(out, n, cap, ci,
                      nxdomain ? wire::ede::kStaleNxDomain : wire::ede::kStaleAnswer);
  send(out, n, AnswerSource::kStale, &p);
  return n;
}

asio::awaitable<std::size_t> Pipeline::resolve(PendingQuery& p, std::uint8_t* out,
                                               std::size_t cap) {
  const Snapshot& s = *p.snapshot;
  const wire::QueryView& q = p.view;
  const ClientInfo ci = client_info(p, p.qname_raw.data(), p.transport);
  const BuilderPool::Lease lease = builders_.take(out, cap);  // not in this frame: 4.7 KiB
  wire::MessageBuilder& b = *lease;
  b.start(0, wire::kFlagQR | wire::kFlagAA);
  b.add_question(p.qname_raw.data(), q.qname_wire_len, q.qname, q.qtype, q.qclass);

  // Serve-stale (RFC 8767 section 5): race the refresh against stale_answer_timeout.
  std::shared_ptr<const Processed> first;
  if (!p.stale.empty() && !p.local_first) {
    const Route r = route(s, q.qname);
    if (r.group != nullptr) {
      const cache::CacheKey key{q.qname, q.qtype, q.qclass, q.dnssec_ok, q.cd()};
      auto flight =
          start_flight(co_await asio::this_coro::executor, p.snapshot, *r.group, key, q.cd());
      if (!flight->result) {
        util::Timer timer(co_await asio::this_coro::executor);
        timer.expires_after(s.settings.cache.stale_answer_timeout);
        co_await (flight->done.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      }
      if (!flight->result || flight->result->kind == cache::EntryKind::kFailure) {
        const std::size_t n = send_stale(p, out, cap);
        if (n > 0) co_return n;
      }
      first = flight->result;
    }
  }

  wire::Name name = q.qname;
  bool local = p.local_first;
  bool authoritative = true;
  util::Endpoint upstream;  // the server that answered, for the query log
  bool truncated = false;
  std::uint8_t rcode = 0;
  AnswerSource source = AnswerSource::kUpstream;
  bool secure = true;  // every part validated (DNSSEC): AD=1 for clients that want it
  bool from_upstream = false;
  int ede = -1;
  // Each round answers `name` from local data or from upstream; a CNAME that crosses from
  // one to the other starts another round. Bounded like any CNAME chain.
  for (std::size_t round = 0;; ++round) {
    if (round > zone::kMaxChain) {
      rcode = static_cast<std::uint8_t>(Rcode::kServFail);
      break;
    }
    const Route r = route(s, name);
    if (local && r.zone != nullptr) {
      const zone::LocalResult lr =
          zone::answer_local(*s.zones, *r.zone, name, q.qtype, b, b.count(wire::Section::kAnswer));
      secure = false;  // local data is never AD (docs/dnssec.md)
      if (lr.status == zone::LocalStatus::kAnswered) {
        rcode = lr.rcode;
        authoritative = authoritative && lr.authoritative;
        break;
      }
      if (lr.status == zone::LocalStatus::kLeavesLocal) {
        name = lr.next;
        local = false;
        continue;
      }
      if (lr.status != zone::LocalStatus::kMiss || round != 0) {
        rcode = static_cast<std::uint8_t>(Rcode::kServFail);
        break;
      }
      // kMiss on the question itself: forward it.
    }
    local = false;
    authoritative = false;
    if (r.group == nullptr) {
      // A local CNAME pointing where no rule forwards: the chain is all we can give.
      rcode = round == 0 ? static_cast<std::uint8_t>(Rcode::kRefused) : 0;
      break;
    }
    const cache::CacheKey key{name, q.qtype, q.qclass, q.dnssec_ok, q.cd()};
    // (No co_await inside a conditional expression: GCC 12 destroys its temporaries early.)
    std::shared_ptr<const Processed> got;
    if (round == 0 && first) {
      got = first;
    } else {
      // The question itself was just looked up by handle(); a name further down a chain not.
      auto flight = fetch(co_await asio::this_coro::executor, p.snapshot, *r.group, key, q.cd(),
                          round > 0 || !p.cache_missed);
      if (!flight->result) co_await flight->done.async_wait(asio::as_tuple(asio::use_awaitable));
      got = flight->result;
    }
    if (got->upstream.family() != 0) upstream = got->upstream;
    from_upstream = true;
    secure = secure && (wire::header_flags(got->wire.data()) & wire::kFlagAD) != 0;
    if (got->ede >= 0) ede = got->ede;
    if (got->kind == cache::EntryKind::kFailure) {
      rcode = static_cast<std::uint8_t>(Rcode::kServFail);
      // Drop a partial chain: a SERVFAIL carries no answer.
      b.start(0, wire::kFlagQR);
      b.add_question(p.qname_raw.data(), q.qname_wire_len, q.qname, q.qtype, q.qclass);
      break;
    }
    rcode = got->rcode;
    if (round == 0 && got->wire.size() <= cap) {
      // The common case: the whole answer is the upstream one; take its bytes as they are.
      std::memcpy(out, got->wire.data(), got->wire.size());
      b.resume(got->wire.size(), wire::Section::kAnswer);
    } else if (round == 0 || !append_records(*got, b)) {
      if (round == 0 || !b.fits()) {
        truncated = true;  // bigger than this client's buffer: TC=1, it asks again over TCP
      } else {
        rcode = static_cast<std::uint8_t>(Rcode::kServFail);
      }
      break;
    }
    if (!got->splice) break;
    name = got->splice_target;  // the chain continues in local data
    local = true;
  }
  std::size_t len = b.size();
  wire::store16(out + 2, static_cast<std::uint16_t>((authoritative ? wire::kFlagAA : 0) |
                                                    (secure && from_upstream ? wire::kFlagAD : 0) |
                                                    wire::kFlagQR | (rcode & 0x0f)));
  if (truncated) {
    len = keep_question_only(out, q.qname_wire_len);
    wire::store16(out + 2, static_cast<std::uint16_t>(wire::header_flags(out) | wire::kFlagTC));
  }
  if (rcode == static_cast<std::uint8_t>(Rcode::kServFail)) {
    counters_.upstream_failures.add();
    len = keep_question_only(out, q.qname_wire_len);
  }
  const bool servfail = rcode == static_cast<std::uint8_t>(Rcode::kServFail);
  if (servfail && ede < 0) ede = wire::ede::kNoReachableAuthority;
  len = finalize_answer(out, len, cap, ci, ede);  // Stage 18: finalize
  if (qlog_ != nullptr) log_query(p, out, source, upstream.family() != 0 ? &upstream : nullptr);
  send(out, len, source, nullptr);  // logged just above, with the upstream that answered
  co_return len;
}

std::shared_ptr<Pipeline::Flight> Pipeline::fetch(const asio::any_io_executor& executor,
                                                  std::shared_ptr<const Snapshot> snap,
                                                  std::size_t group, const cache::CacheKey& key,
                                                  bool cd, bool look_in_cache) {
  if (look_in_cache) {
    // A chained name may already be cached. (A scratch buffer per thread: no 64 KiB zero-fill
    // per miss.)
    thread_local std::array<std::uint8_t, wire::kMaxMessageSize> buf;
    const cache::HitInfo hit = cache_.lookup(key, clock_.now_seconds(), buf.data(), buf.size());
    if (hit.freshness == cache::Freshness::kFresh) {
      auto p = std::make_shared<Processed>();
      p->wire.assign(buf.data(), buf.data() + hit.len);
      p->kind = hit.kind;
      p->splice = hit.splice;
      p->splice_target = hit.splice_target;
      p->rcode = wire::header_rcode(p->wire.data());
      auto landed = std::make_shared<Flight>(executor);
      landed->result = std::move(p);
      return landed;
    }
  }
  return start_flight(executor, std::move(snap), group, key, cd);
}

asio::awaitable<void> Pipeline::prefetch(PendingQuery& p) {
  const Route r = route(*p.snapshot, p.view.qname);
  if (r.group == nullptr || r.zone != nullptr) co_return;
  const cache::CacheKey key{p.view.qname, p.view.qtype, p.view.qclass, p.view.dnssec_ok,
                            p.view.cd()};
  auto flight =
      start_flight(co_await asio::this_coro::executor, p.snapshot, *r.group, key, p.view.cd());
  if (!flight->result) co_await flight->done.async_wait(asio::as_tuple(asio::use_awaitable));
}

std::shared_ptr<Pipeline::Flight> Pipeline::start_flight(const asio::any_io_executor& executor,
                                                         std::shared_ptr<const Snapshot> snap,
                                                         std::size_t group,
                                                         const cache::CacheKey& key, bool cd) {
  // Stage 13: coalescing (RFC 5452 section 5): one upstream question per identical question
  // in flight.
  if (auto it = inflight_.find(key); it != inflight_.end()) {
    counters_.coalesced.add();
    return it->second;
  }
  if (inflight_.size() >= kMaxInflight) {
    // Bounded memory under a flood of random names: fail this one at once, uncached.
    auto failed = std::make_shared<Flight>(executor);
    failed->result = std::make_shared<Processed>(failure_answer(key, 0));
    return failed;
  }
  auto flight = std::make_shared<Flight>(executor);
  flight->done.expires_at(util::TimePoint::max());
  inflight_.emplace(key, flight);
  asio::co_spawn(executor, fly(flight, std::move(snap), group, key, cd), asio::detached);
  return flight;
}

asio::awaitable<void> Pipeline::fly(std::shared_ptr<Flight> flight,
                                    std::shared_ptr<const Snapshot> snap, std::size_t group,
                                    cache::CacheKey key, bool cd) {
  // DNSSEC validation (docs/dnssec.md) asks with DO=1 whatever the client asked.
  const bool validating = validates(*snap, key.qname, cd);
  // The DS/DNSKEY lookups of validation must land within the question's own deadline.
  const util::TimePoint deadline =
      validating ? clock_.now() + snap->groups[group]->settings().deadline : util::TimePoint{};
  upstream::UpstreamQuery uq;
  uq.qname = key.qname;
  uq.qtype = key.qtype;
  uq.qclass = key.qclass;
  uq.dnssec_ok = key.dnssec_ok || validating;
  uq.checking_disabled = cd;
  counters_.upstream_queries.add();
  // Stage 14: forward (stage 15, validating each reply, happens inside: sent_query.hpp).
  upstream::ForwardResult fr = co_await snap->groups[group]->resolve(uq);
  counters_.reply_mismatches.add(fr.mismatches);
  if (fr.mismatches > 0) {
    counters_.drops[static_cast<std::size_t>(DropReason::kMismatch)].add(fr.mismatches);
  }
  if (fr.all_down) counters_.upstream_all_down.add();
  std::shared_ptr<Processed> result;
  if (fr.status == upstream::ForwardStatus::kOk) {
    // Stage 16: scrub and splice (validating: with the DNSSEC records, judged, then
    // scrubbed again without them for a DO=0 client).
    cache::CacheKey full_key = key;
    full_key.dnssec_ok = key.dnssec_ok || validating;
    auto scrubbed =
        scrub_reply(fr.reply.data(), fr.reply.size(), full_key, *snap->zones, ttl_policy(*snap));
    if (scrubbed && validating) {
      result = co_await judge_answer(snap, fr.reply, key, scrubbed, deadline);
    }
    if (result) {
      // Judged bogus or indeterminate above: the failure stands.
    } else if (scrubbed) {
      result = std::make_shared<Processed>(std::move(scrubbed.value()));
      result->upstream = snap->groups[group]->settings().upstreams[fr.upstream_index];
    } else {
      // The reply answered our query but cannot be used: counted by reason, remembered as a
      // failure below.
      const auto reason = scrubbed.error();
      static_assert(std::tuple_size_v<decltype(counters_.scrub_errors)> ==
                    static_cast<std::size_t>(ScrubError::kCount));
      counters_.scrub_errors[static_cast<std::size_t>(reason)].add();
      std::uint64_t suppressed = 0;
      if (spdlog::should_log(spdlog::level::debug) && g_scrub_log.allow(suppressed)) {
        VLOG_DEBUG("reply from {} for {} rejected ({}): SERVFAIL{}",
                   snap->groups[group]->settings().upstreams[fr.upstream_index].to_string(),
                   key.qname.to_text(), to_string(reason),
                   suppressed > 0 ? " (and " + std::to_string(suppressed) + " more)" : "");
      }
    }
  }
  // A question that was never sent (every server down, or over its max_outstanding or
  // max_qps cap) is not a resolution failure to remember (RFC 9520): answer it, cache nothing.
  if (!result)
    result = std::make_shared<Processed>(failure_answer(key, fr.tries == 0 ? 0 : kFailureTtl));
  if (result->ttl > 0) {
    cache::InsertRequest ins;
    ins.wire = result->wire.data();
    ins.len = result->wire.size();
    ins.ttl_offsets = result->ttl_offsets.data();
    ins.ttl_offset_count = result->ttl_offsets.size();
    ins.ttl = result->ttl;
    ins.kind = result->kind;
    ins.splice = result->splice;
    ins.splice_target = result->splice_target;
    ins.ede = result->ede;
    cache_.insert(key, ins, clock_.now_seconds());  // Stage 17: cache insert
  }
  flight->result = result;
  inflight_.erase(key);
  flight->done.cancel();
}

}  // namespace vnetdns::pipeline
