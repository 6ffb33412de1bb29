// Pipeline, the synchronous half (pipeline.hpp): handle() with the answer memo in front,
// the stages it runs inline (sanitize, ACL, cookies, rate limit, route, local answer, cache
// hit), NOTIFY and TSIG-signed queries, and the shared helpers (send, error, splice
// completion, cookies, query log). resolve() and the in-flight table are in resolve.cpp.
#include "resolver/pipeline/pipeline.hpp"

#include <cstring>
#include <ctime>
#include <vector>

#include "resolver/pipeline/finalize.hpp"
#include "resolver/pipeline/loop_guard.hpp"
#include "resolver/pipeline/route.hpp"
#include "resolver/policy/server_cookie.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/xfr/request_signature.hpp"
#include "resolver/xfr/transfer_responder.hpp"
#include "resolver/zone/local_answer.hpp"

namespace vnetdns::pipeline {

using wire::QueryError;
using wire::Rcode;

namespace {

// One server-cookie secret per process (RFC 9018): random at startup, the same on every worker.
const policy::ServerCookie& server_cookie() {
  static const policy::ServerCookie cookie;
  return cookie;
}

std::int64_t now_ms(const util::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch())
      .count();
}

// RFC 8482 section 4.2: the HINFO answer to ANY ("RFC8482", empty OS) instead of everything.
constexpr std::uint8_t kRfc8482Hinfo[] = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};

std::uint32_t seconds(settings::Millis ms) {
  return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(ms).count());
}

// A query whose answer may be repeated to any client that sends the same bytes: no COOKIE
// (the server cookie is per client) and no TSIG (answer_signed() also clears the step's memo.ok
// after its inner run), and not HINFO (the loop guard looks at those before anything else).
bool memoisable(const wire::QueryView& q) {
  return !q.has_cookie && !q.has_tsig && q.qtype != wire::type::kHINFO;
}

}  // namespace

Pipeline::Pipeline(const SnapshotHolder& snapshots, cache::PacketCache& cache,
                   const util::Clock& clock)
    : snapshots_(snapshots),
      cache_(cache),
      clock_(clock),
      unix_offset_(static_cast<std::uint32_t>(std::time(nullptr)) - clock.now_seconds()) {
  refresh_snapshot();
}

void Pipeline::refresh_snapshot() {
  const auto g = snapshots_.generation();
  if (g == generation_) return;
  snap_ = snapshots_.get();
  generation_ = g;
  const auto& rl = snap_->settings.rate_limit;
  if (!rl.enabled) {
    limiter_.reset();
    return;
  }
  const policy::RateLimitOptions o{rl.qps, rl.burst, rl.slip, rl.ipv4_prefix, rl.ipv6_prefix};
  const auto& cur = limiter_ ? limiter_->options() : policy::RateLimitOptions{};
  if (!limiter_ || cur.qps != o.qps || cur.burst != o.burst || cur.slip != o.slip ||
      cur.ipv4_prefix != o.ipv4_prefix || cur.ipv6_prefix != o.ipv6_prefix) {
    limiter_ = std::make_unique<policy::RateLimiter>(o);
  }
}

bool Pipeline::answer_cookie(PendingQuery& p, const util::Endpoint& client) {
  p.cookie_len = 0;
  if (!p.view.has_cookie) return false;
  const auto& c = server_cookie();
  // RFC 9018 section 4.3: the timestamp is Unix time (serial-number arithmetic on 32 bits),
  // read off the pipeline's clock (Unix time at start + the clock's seconds since), so the
  // cookie's hour of validity is under a test's manual clock too.
  const auto now = clock_.now_seconds() + unix_offset_;
  const bool ok = c.valid(p.view.cookie, p.view.cookie_len, client, now);
  // RFC 7873 section 5.2: echo the client cookie with a fresh server cookie.
  std::memcpy(p.cookie.data(), p.view.cookie, 8);
  c.make(p.view.cookie, client, now, p.cookie.data() + 8);
  p.cookie_len = 8 + policy::ServerCookie::kServerCookieSize;
  return ok;
}

ClientInfo Pipeline::client_info(const PendingQuery& p, const std::uint8_t* qname_raw,
                                 Transport transport) const {
  return ClientInfo{&p.view, qname_raw, transport, p.cookie_len > 0 ? p.cookie.data() : nullptr,
                    p.cookie_len};
}

TtlPolicy Pipeline::ttl_policy(const Snapshot& snap) const {
  const auto& c = snap.settings.cache;
  return TtlPolicy{seconds(c.min_ttl), seconds(c.max_ttl), seconds(c.max_negative_ttl)};
}

void Pipeline::log_query(const PendingQuery& p, const std::uint8_t* answer, AnswerSource source,
                         const util::Endpoint* upstream) {
  if (!qlog_->want()) return;
  QueryLogRecord r;
  r.time_us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  r.client = p.client;
  r.transport = p.transport;
  r.qname = p.view.qname;
  r.qtype = p.view.qtype;
  r.rcode = wire::header_rcode(answer);
  r.source = source;
  if (upstream != nullptr) r.upstream = *upstream;
  const auto elapsed = clock_.now() - p.received;
  r.latency_us = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  qlog_->try_log(r);
}

Step Pipeline::send(std::uint8_t* out, std::size_t len, AnswerSource source,
                    const PendingQuery* query) {
  if (qlog_ != nullptr && query != nullptr) log_query(*query, out, source, nullptr);
  counters_.answers[static_cast<std::size_t>(source)].add();
  counters_.count_rcode(wire::header_rcode(out));
  if ((wire::header_flags(out) & wire::kFlagTC) != 0) counters_.truncated.add();
  return Step{StepKind::kSend, len};
}

Step Pipeline::error(std::uint8_t* out, std::size_t cap, const std::uint8_t* query,
                     const PendingQuery& pending, Rcode rcode, ErrorAnswer how) {
  if (pending.cookie_len > 0) {
    how.cookie = pending.cookie.data();
    how.cookie_len = pending.cookie_len;
  }
  const std::size_t n =
      write_error(out, cap, query, pending.view, static_cast<std::uint16_t>(rcode), how);
  counters_.count_rcode(static_cast<std::uint16_t>(rcode));
  counters_.answers[static_cast<std::size_t>(AnswerSource::kSynthesized)].add();
  if (qlog_ != nullptr) log_query(pending, out, AnswerSource::kSynthesized, nullptr);
  return Step{StepKind::kSend, n};
}

bool Pipeline::complete_splice(const Snapshot& snap, std::uint8_t* out, std::size_t& len,
                               std::size_t cap, const wire::Name& target, std::uint16_t qtype) {
  const zone::Zone* z = snap.zones ? snap.zones->find(target) : nullptr;
  if (z == nullptr) return false;
  wire::MessageBuilder b(out, cap);
  b.resume(len, wire::Section::kAnswer);
  const zone::LocalResult r =
      zone::answer_local(*snap.zones, *z, target, qtype, b, b.count(wire::Section::kAnswer));
  if (r.status != zone::LocalStatus::kAnswered) return false;
  b.set_rcode(r.rcode);
  b.set_flags(static_cast<std::uint16_t>(b.flags() & ~wire::kFlagAA));
  len = b.size();
  return true;
}

Step Pipeline::answer_notify(const std::uint8_t* query, std::size_t len,
                             const util::Endpoint& client, Transport transport, std::uint8_t* out,
                             std::size_t cap, const PendingQuery& pending) {
  counters_.notifies.add();
  const xfr::NotifyOutcome o =
      xfr::answer_notify(snap_->settings, {query, len, client, transport == Transport::kTcp});
  if (o.accepted && notify_sink_ != nullptr) notify_sink_->notified(o.zone);
  if (o.reply.empty() || o.reply.size() > cap) return Step{StepKind::kDrop, 0};
  std::memcpy(out, o.reply.data(), o.reply.size());
  return send(out, o.reply.size(), AnswerSource::kLocal, &pending);
}

Step Pipeline::answer_signed(const std::uint8_t* query, std::size_t len,
                             const util::Endpoint& client, Transport transport, std::uint8_t* out,
                             std::size_t cap, PendingQuery& pending) {
  xfr::Packet request = xfr::Packet::parse(query, len);
  if (!request.valid()) {
    return error(out, cap, query, pending, Rcode::kFormErr);
  }
  const xfr::RequestSignature sig =
      xfr::RequestSignature::check(snap_->settings, nullptr, request, query, len);
  if (!sig.ok) {
    // RFC 8945 section 5.2: NOTAUTH, with a TSIG record that names the error (BADKEY, BADSIG,
    // BADTIME) and carries no MAC.
    Step st = error(out, cap, query, pending, Rcode::kNotAuth);
    if (st.kind == StepKind::kSend) st.len = sig.append_error_tsig(out, st.len, cap);
    return st;
  }
  // The same query without its TSIG record (the last one: ARCOUNT - 1).
  std::vector<std::uint8_t> plain(query, query + pending.view.tsig_offset);
  wire::store16(plain.data() + 10, static_cast<std::uint16_t>(wire::header_arcount(query) - 1));
  Step st = run_stages(plain.data(), plain.size(), client, transport, out, cap, pending,
                       clock_.now_seconds());
  st.memo.ok = false;  // a signed answer is never repeated
  if (st.kind == StepKind::kAsync || st.kind == StepKind::kTransfer) {
    st = error(out, cap, plain.data(), pending, Rcode::kRefused);
  }
  if (st.kind == StepKind::kSend) {
    const std::size_t limit =
        std::min<std::size_t>(cap, transport == Transport::kUdp ? pending.view.udp_size : cap);
    st.prefetch = false;
    std::size_t n = sig.sign_answer(out, st.len, limit);
    if (n == 0 && transport == Transport::kUdp) {
      // The signature does not fit: an empty signed TC=1 answer sends the client to TCP
      // (RFC 8945 section 5.3).
      st = error(out, cap, plain.data(), pending, Rcode::kNoError);
      wire::store16(out + 2, static_cast<std::uint16_t>(wire::header_flags(out) | wire::kFlagTC));
      n = sig.sign_answer(out, st.len, limit);
    }
    st.len = n;
    if (st.len == 0) st.kind = StepKind::kDrop;
  }
  return st;
}

Step Pipeline::handle(const std::uint8_t* query, std::size_t len, const util::Endpoint& client,
                      Transport transport, std::uint8_t* out, std::size_t cap,
                      PendingQuery& pending) {
  // The memo sees neither TCP (no truncation, other sizes) nor a rate limiter (per client) nor
  // a query log (one record per query, with the client).
  const bool memo = transport == Transport::kUdp && !limiter_ && qlog_ == nullptr;
  // One clock read per query: the memo's probe, the cache's TTL ageing and the memo's stamp
  // all see the same second.
  const std::uint32_t second = clock_.now_seconds();
  if (!memo) return run_stages(query, len, client, transport, out, cap, pending, second);
  // Stage 1 (docs/design.md): the answer memo, behind the ACL's verdict.
  AnswerMemo::Hit hit;
  if (memo_.find(query, len, second, generation_, cache_, out, cap, hit) &&
      snap_->settings.acl.allow.contains(client)) {
    // What run_stages() counts for the same answer.
    counters_.queries[static_cast<std::size_t>(transport)].add();
    counters_.count_qtype(hit.qtype);
    counters_.memo_hits.add();
    if (hit.from_cache) counters_.memo_cache_hits.add();
    return send(out, hit.len, hit.source, nullptr);  // no query log while the memo is on
  }
  const Step step = run_stages(query, len, client, transport, out, cap, pending, second);
  if (step.memo.ok && step.kind == StepKind::kSend && !step.prefetch) {
    const AnswerMemo::Stamp stamp{second, generation_, step.memo.from_cache, step.memo.version};
    memo_.store(query, len, out, step.len, pending.view.qtype,
                step.memo.from_cache ? AnswerSource::kCache : AnswerSource::kLocal, stamp);
  }
  return step;
}

Step Pipeline::run_stages(const std::uint8_t* query, std::size_t len, const util::Endpoint& client,
                          Transport transport, std::uint8_t* out, std::size_t cap,
                          PendingQuery& pending, std::uint32_t second) {
  counters_.queries[static_cast<std::size_t>(transport)].add();
  wire::QueryView& q = pending.view;
  pending.local_first = false;
  pending.cache_missed = false;
  pending.stale.clear();
  pending.cookie_len = 0;
  if (qlog_ != nullptr) {
    pending.client = client;
    pending.transport = transport;
    pending.received = clock_.now();
  }
  // Stage 2: NOTIFY (RFC 1996) to a secondary zone: its own access rule, not the query ACL.
  if (len >= wire::kHeaderSize && (wire::header_flags(query) & wire::kFlagQR) == 0 &&
      ((wire::header_flags(query) >> 11) & 0xf) == static_cast<unsigned>(wire::Opcode::kNotify)) {
    return answer_notify(query, len, client, transport, out, cap, pending);
  }
  // Stage 3: sanitize (RFC 1035 section 4.1.1; RFC 6891 section 6.1.3 for BADVERS).
  const QueryError e = wire::parse_query(query, len, q);
  if (e != QueryError::kNone) {
    counters_.formerr_reasons[static_cast<std::size_t>(e)].add();
    switch (e) {
      case QueryError::kShort:
        counters_.drops[static_cast<std::size_t>(DropReason::kParse)].add();
        return Step{StepKind::kDrop, 0};
      case QueryError::kResponse:  // never answer a response: no reflection loops
        counters_.drops[static_cast<std::size_t>(DropReason::kResponse)].add();
        return Step{StepKind::kDrop, 0};
      case QueryError::kNotQuery:
        return error(out, cap, query, pending, Rcode::kNotImp, {.with_question = false});
      case QueryError::kBadVersion: return error(out, cap, query, pending, Rcode::kBadVers);
      default: return error(out, cap, query, pending, Rcode::kFormErr, {.with_question = false});
    }
  }
  const Snapshot& s = *snap_;
  // Stage 4: zone transfers: allow_transfer and TSIG per zone decide
  // (xfr/transfer_responder.hpp).
  if ((q.qtype == wire::type::kAXFR || q.qtype == wire::type::kIXFR) &&
      q.qclass == wire::klass::kIN) {
    counters_.count_qtype(q.qtype);
    if (transport == Transport::kTcp) return Step{StepKind::kTransfer, 0};
    const auto msgs = xfr::answer_transfer(s.settings, *s.zones, {query, len, client, false});
    if (msgs.empty() || msgs.front().size() > std::min<std::size_t>(cap, q.udp_size)) {
      return Step{StepKind::kDrop, 0};
    }
    std::memcpy(out, msgs.front().data(), msgs.front().size());
    return send(out, msgs.front().size(), AnswerSource::kLocal, &pending);
  }
  // Stage 5: TSIG: checked, then stages 6-12 on the query without it, the answer signed.
  if (q.has_tsig) return answer_signed(query, len, client, transport, out, cap, pending);
  // Stage 6: ACL (RFC 8914 EDE 18 "Prohibited" with REFUSED).
  if (!s.settings.acl.allow.contains(client)) {
    counters_.drops[static_cast<std::size_t>(DropReason::kAcl)].add();
    if (s.settings.acl.action == settings::AclAction::kDrop) return Step{StepKind::kDrop, 0};
    return error(out, cap, query, pending, Rcode::kRefused, {.ede = wire::ede::kProhibited});
  }
  // Stage 7: DNS cookies (RFC 7873); a valid server cookie proves the source address.
  const bool cookie_ok = answer_cookie(pending, client);
  // Stage 8: rate limit per client prefix, UDP only: TCP and cookie-holding clients cannot be
  // spoofed.
  if (limiter_ && transport == Transport::kUdp && !cookie_ok) {
    switch (limiter_->check(client, now_ms(clock_))) {
      case policy::RateDecision::kAllow: break;
      case policy::RateDecision::kDrop:
        counters_.drops[static_cast<std::size_t>(DropReason::kRateLimit)].add();
        return Step{StepKind::kDrop, 0};
      case policy::RateDecision::kSlip: {
        // An empty TC=1 answer: a real client retries over TCP.
        counters_.drops[static_cast<std::size_t>(DropReason::kRateLimit)].add();
        Step st = error(out, cap, query, pending, Rcode::kNoError);
        wire::store16(out + 2, static_cast<std::uint16_t>(wire::header_flags(out) | wire::kFlagTC));
        counters_.truncated.add();
        return st;
      }
    }
  }
  counters_.count_qtype(q.qtype);
  // Stage 9: our own loop probe coming back, and what is refused here.
  if (q.qtype == wire::type::kHINFO && LoopGuard::instance().matches(q.qname)) {
    LoopGuard::instance().report(q.qname, client.to_string());
    return error(out, cap, query, pending, Rcode::kRefused);
  }
  if (q.qclass != wire::klass::kIN || q.qtype == wire::type::kAXFR ||
      q.qtype == wire::type::kIXFR || q.qtype == wire::type::kOPT) {
    return error(out, cap, query, pending, Rcode::kRefused);
  }
  const ClientInfo ci = client_info(pending, query + wire::kHeaderSize, transport);

  // Stage 10: route by longest suffix.
  const Route r = route(s, q.qname);
  std::size_t unready_labels = 0;
  if (s.unready.find(q.qname, &unready_labels) != nullptr &&
      (r.zone == nullptr || r.zone->origin().label_count() < unready_labels)) {
    return error(out, cap, query, pending, Rcode::kServFail, {.ede = wire::ede::kNotReady});
  }
  if (r.zone != nullptr) {
    // Stage 11: local zone.
    wire::MessageBuilder b(out, cap);
    b.start(0, wire::kFlagQR | wire::kFlagAA);
    b.add_question(query + wire::kHeaderSize, q.qname_wire_len, q.qname, q.qtype, q.qclass);
    const zone::LocalResult lr = zone::answer_local(*s.zones, *r.zone, q.qname, q.qtype, b);
    switch (lr.status) {
      case zone::LocalStatus::kAnswered: {
        b.set_rcode(lr.rcode);
        if (!lr.authoritative) b.set_flags(static_cast<std::uint16_t>(b.flags() & ~wire::kFlagAA));
        Step st =
            send(out, finalize_answer(out, b.size(), cap, ci), AnswerSource::kLocal, &pending);
        st.memo = {memoisable(q), false, {}};
        return st;
      }
      case zone::LocalStatus::kMiss:
        if (r.group == nullptr) return error(out, cap, query, pending, Rcode::kRefused);
        break;  // on_miss = "forward": resolve it upstream like any other name
      case zone::LocalStatus::kLeavesLocal: pending.local_first = true; break;
      default: return error(out, cap, query, pending, Rcode::kServFail);
    }
  } else if (r.group == nullptr) {
    return error(out, cap, query, pending, Rcode::kRefused);  // no rule matches
  } else if (q.qtype == wire::type::kANY) {
    // RFC 8482: no amplification through ANY; a forwarded ANY gets one synthesised HINFO.
    wire::MessageBuilder b(out, cap);
    b.start(0, wire::kFlagQR);
    b.add_question(query + wire::kHeaderSize, q.qname_wire_len, q.qname, q.qtype, q.qclass);
    b.add_rr(wire::Section::kAnswer, q.qname, wire::type::kHINFO, wire::klass::kIN, 3600,
             kRfc8482Hinfo, sizeof(kRfc8482Hinfo));
    return send(out, finalize_answer(out, b.size(), cap, ci), AnswerSource::kSynthesized, &pending);
  }

  // Stage 12: cache (the entry is copied with TTLs aged; no allocation).
  if (!pending.local_first) {
    const cache::CacheKey key{q.qname, q.qtype, q.qclass, q.dnssec_ok, q.cd()};
    const auto& cs = s.settings.cache;
    const bool serve_stale = cs.serve_stale.count() > 0;
    cache::HitInfo hit =
        cache_.lookup(key, second, out, cap, {.allow_stale = serve_stale, .stale_ttl = kStaleTtl});
    pending.cache_missed = hit.freshness != cache::Freshness::kFresh;
    if (hit.freshness == cache::Freshness::kFresh) {
      std::size_t n = hit.len;
      if (!hit.splice || complete_splice(s, out, n, cap, hit.splice_target, q.qtype)) {
        // A remembered failure (RFC 9520) says why, like a fresh one.
        const int ede = hit.ede >= 0                             ? hit.ede
                        : hit.kind == cache::EntryKind::kFailure ? wire::ede::kNoReachableAuthority
                                                                 : -1;
        Step step =
            send(out, finalize_answer(out, n, cap, ci, ede), AnswerSource::kCache, &pending);
        if (hit.prefetch_due && cs.prefetch) {
          step.prefetch = true;
          fill_pending(pending, query, client, transport);
        }
        step.memo = {memoisable(q), true, hit.version};
        return step;
      }
    } else if (hit.freshness == cache::Freshness::kStale) {
      // RFC 8767: keep the expired answer at hand; answer it at once when a refresh failed
      // recently, else only if the refresh fails or outlasts stale_answer_timeout.
      pending.stale.assign(out, out + hit.len);
      pending.stale_splice = hit.splice;
      pending.stale_splice_target = hit.splice_target;
      if (hit.refresh_blocked) {
        fill_pending(pending, query, client, transport);
        const std::size_t n = send_stale(pending, out, cap);
        if (n > 0) return Step{StepKind::kSend, n};
      }
    }
  }
  fill_pending(pending, query, client, transport);
  return Step{StepKind::kAsync, 0};
}

void Pipeline::fill_pending(PendingQuery& p, const std::uint8_t* query,
                            const util::Endpoint& client, Transport transport) {
  p.transport = transport;
  p.client = client;
  p.snapshot = snap_;
  std::memcpy(p.qname_raw.data(), query + wire::kHeaderSize, p.view.qname_wire_len);
}

}  // namespace vnetdns::pipeline
