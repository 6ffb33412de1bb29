// Pipeline, DNSSEC validation (pipeline.hpp, docs/dnssec.md): the chain of trust walked from
// the trust anchor down to the zones an answer needs, with DS and DNSKEY answers fetched
// through this worker's own forwarding path (the cache, the in-flight table, the rule's
// upstreams: coalesced and cached like any question, asked with DO=1 CD=1 so a validating
// upstream hands over even what it would call bogus), and judged by resolver/dnssec.
// What each zone cut turned out to be is kept in keys_ (per worker), so a validation after
// the first costs lookups and the answer's own signature checks only.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "resolver/dnssec/answer_validator.hpp"
#include "resolver/dnssec/chain.hpp"
#include "resolver/pipeline/pipeline.hpp"
#include "resolver/pipeline/route.hpp"
#include "resolver/util/log.hpp"
#include "resolver/util/log_limiter.hpp"

namespace vnetdns::pipeline {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using dnssec::ChainStep;
using dnssec::CutKind;
using dnssec::Verdict;
using dnssec::ZoneKeys;

namespace {

util::LogLimiter g_bogus_log(10);

ZoneKeys ended(Verdict v, const wire::Name& zone, std::uint32_t ttl = 0) {
  ZoneKeys z;
  z.verdict = v;
  z.zone = zone;
  z.ttl = ttl;
  return z;
}

}  // namespace

bool Pipeline::validates(const Snapshot& snap, const wire::Name& name, bool cd) {
  return snap.validate && !cd && snap.anchors && snap.not_validated.find(name) == nullptr;
}

asio::awaitable<Pipeline::Fetched> Pipeline::fetch_dnssec(std::shared_ptr<const Snapshot> snap,
                                                          wire::Name name, std::uint16_t type,
                                                          util::TimePoint deadline,
                                                          dnssec::BogusReason unreadable) {
  Fetched out{std::nullopt, Verdict::indeterminate()};
  const Route r = route(*snap, name);
  if (r.group == nullptr) co_return out;
  counters_.dnssec_subqueries.add();
  const cache::CacheKey key{name, type, wire::klass::kIN, true, true};
  auto flight = fetch(co_await asio::this_coro::executor, snap, *r.group, key, true, true);
  if (!flight->result) {
    util::Timer timer(co_await asio::this_coro::executor);
    timer.expires_at(deadline);
    co_await (flight->done.async_wait(asio::as_tuple(asio::use_awaitable)) ||
              timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  }
  // Still null when the deadline came first.
  const std::shared_ptr<const Processed> got = flight->result;
  if (!got || got->kind == cache::EntryKind::kFailure) co_return out;
  out.msg = dnssec::SignedMessage::parse(got->wire.data(), got->wire.size());
  if (!out.msg) out.failure = Verdict::bogus(unreadable);
  co_return out;
}

asio::awaitable<ChainStep> Pipeline::chain_step(std::shared_ptr<const Snapshot> snap,
                                                wire::Name child, ZoneKeys parent,
                                                util::TimePoint deadline) {
  ChainStep step;
  const Fetched ds_reply = co_await fetch_dnssec(snap, child, wire::type::kDS, deadline,
                                                 dnssec::BogusReason::kBadSignature);
  if (!ds_reply.msg) {
    step.keys = ended(ds_reply.failure, child);
    co_return step;
  }
  const dnssec::DsResult ds = dnssec::check_ds(*ds_reply.msg, child, parent, unix_now());
  if (ds.kind != CutKind::kZone) {
    step.kind = ds.kind;
    step.keys = ended(ds.kind == CutKind::kEnd ? ds.end : parent.verdict, parent.zone, ds.ttl);
    if (ds.kind == CutKind::kEnd) step.keys.zone = child;
    co_return step;
  }
  const Fetched key_reply = co_await fetch_dnssec(snap, child, wire::type::kDNSKEY, deadline,
                                                  dnssec::BogusReason::kDnskeyMissing);
  if (!key_reply.msg) {
    step.keys = ended(key_reply.failure, child);
    co_return step;
  }
  step.keys = dnssec::check_dnskey(*key_reply.msg, child, ds.ds.get(), unix_now());
  step.keys.ttl = std::min(step.keys.ttl, ds.ttl);
  step.kind =
      step.keys.verdict.security == dnssec::Security::kSecure ? CutKind::kZone : CutKind::kEnd;
  co_return step;
}

asio::awaitable<ZoneKeys> Pipeline::zone_status(std::shared_ptr<const Snapshot> snap,
                                                wire::Name name, util::TimePoint deadline) {
  // Negative trust anchors (RFC 7646) and names no anchor covers: not validated.
  if (snap->not_validated.find(name) != nullptr) co_return ended(Verdict::insecure(), name);
  const dnssec::TrustAnchor* anchor = dnssec::closest_anchor(*snap->anchors, name);
  if (anchor == nullptr) co_return ended(Verdict::insecure(), name);
  if (keys_anchors_ != snap->anchors) {
    keys_.clear();  // a reload brought other anchors: start the chains again
    keys_anchors_ = snap->anchors;
  }
  const std::uint32_t now = clock_.now_seconds();
  ZoneKeys current;
  if (const ChainStep* c = keys_.find(anchor->zone, now)) {
    if (c->kind != CutKind::kZone) co_return c->keys;
    current = c->keys;
  } else {
    ChainStep top;
    const Fetched reply = co_await fetch_dnssec(snap, anchor->zone, wire::type::kDNSKEY, deadline,
                                                dnssec::BogusReason::kDnskeyMissing);
    top.keys = reply.msg ? dnssec::check_dnskey(*reply.msg, anchor->zone, anchor->records.get(),
                                                unix_now())
                         : ended(reply.failure, anchor->zone);
    top.kind =
        top.keys.verdict.security == dnssec::Security::kSecure ? CutKind::kZone : CutKind::kEnd;
    keys_.put(anchor->zone, top, clock_.now_seconds());
    if (top.kind != CutKind::kZone) co_return top.keys;
    current = top.keys;
  }
  const std::size_t labels = name.label_count();
  for (std::size_t depth = anchor->zone.label_count() + 1; depth <= labels; ++depth) {
    const wire::Name child = name.parent(labels - depth);
    ChainStep step;
    if (const ChainStep* c = keys_.find(child, clock_.now_seconds())) {
      step = *c;
    } else {
      step = co_await chain_step(snap, child, current, deadline);
      keys_.put(child, step, clock_.now_seconds());
    }
    switch (step.kind) {
      case CutKind::kZone: current = step.keys; break;
      case CutKind::kNotCut: break;
      case CutKind::kNoName: co_return current;
      case CutKind::kEnd: co_return step.keys;
    }
  }
  co_return current;
}

asio::awaitable<Verdict> Pipeline::validate(std::shared_ptr<const Snapshot> snap,
                                            std::vector<std::uint8_t> wire, cache::CacheKey key,
                                            bool spliced, util::TimePoint deadline) {
  auto msg = dnssec::SignedMessage::parse(wire.data(), wire.size());
  if (!msg) co_return Verdict::bogus(dnssec::BogusReason::kBadSignature);
  const dnssec::AnswerQuestion q{key.qname, key.qtype, spliced};
  // Pass 1: which zones the answer needs; their status, from the chain of trust.
  std::vector<std::pair<wire::Name, ZoneKeys>> found;
  for (const auto& name : dnssec::needed_zones(*msg, q)) {
    ZoneKeys z = co_await zone_status(snap, name, deadline);
    found.emplace_back(name, std::move(z));
  }
  // Pass 2: the signatures and proofs of the answer itself.
  const dnssec::ZoneLookup lookup = [&found](const wire::Name& n) -> const ZoneKeys* {
    for (const auto& [name, keys] : found) {
      if (name == n) return &keys;
    }
    return nullptr;
  };
  co_return dnssec::judge(*msg, q, lookup, unix_now(), &signatures_);
}

asio::awaitable<std::shared_ptr<Processed>> Pipeline::judge_answer(
    std::shared_ptr<const Snapshot> snap, const std::vector<std::uint8_t>& reply,
    cache::CacheKey key, util::Result<Processed, ScrubError>& scrubbed, util::TimePoint deadline) {
  const Verdict v =
      co_await validate(snap, scrubbed.value().wire, key, scrubbed.value().splice, deadline);
  counters_.dnssec_answers[static_cast<std::size_t>(v.security)].add();
  if (v.security == dnssec::Security::kSecure || v.security == dnssec::Security::kInsecure) {
    if (!key.dnssec_ok) {
      scrubbed = scrub_reply(reply.data(), reply.size(), key, *snap->zones, ttl_policy(*snap));
    }
    // RFC 4035 section 5.3.3: verified data is kept and handed on no longer than its
    // signatures' Original TTL and their expiry allow (an upstream cannot stretch a TTL).
    if (scrubbed && v.ttl_cap != dnssec::Verdict::kNoTtlCap) cap_ttls(scrubbed.value(), v.ttl_cap);
    // RFC 4035 section 3.2.3: AD only for data that validated; never for a spliced answer,
    // whose end is local data (resolve() also clears it for local rounds).
    if (scrubbed && v.security == dnssec::Security::kSecure && !scrubbed.value().splice) {
      auto& w = scrubbed.value().wire;
      wire::store16(w.data() + 2,
                    static_cast<std::uint16_t>(wire::header_flags(w.data()) | wire::kFlagAD));
    }
    if (scrubbed) scrubbed.value().ede = v.ede();
    co_return nullptr;
  }
  // Bogus or indeterminate: SERVFAIL with the reason (RFC 8914), remembered briefly (RFC
  // 9520), like any failure.
  if (v.security == dnssec::Security::kBogus) {
    counters_.dnssec_bogus[static_cast<std::size_t>(v.reason)].add();
  }
  auto failed = std::make_shared<Processed>(failure_answer(key, kFailureTtl));
  failed->ede = v.security == dnssec::Security::kBogus ? v.ede() : wire::ede::kDnssecIndeterminate;
  std::uint64_t suppressed = 0;
  if (spdlog::should_log(spdlog::level::debug) && g_bogus_log.allow(suppressed)) {
    VLOG_DEBUG("answer for {} {} is {} ({}): SERVFAIL{}", key.qname.to_text(), key.qtype,
               dnssec::to_string(v.security), dnssec::to_string(v.reason),
               suppressed > 0 ? " (and " + std::to_string(suppressed) + " more)" : "");
  }
  co_return failed;
}

}  // namespace vnetdns::pipeline
