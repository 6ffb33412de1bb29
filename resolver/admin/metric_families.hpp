// The metric families of /metrics, in one list: the exposition (metrics.cpp) writes each
// family's HELP and TYPE from it, and the table of docs/operations.md is produced from it
// (metrics_doc_table(); tests/unit/admin/metric_families_test.cpp checks that the docs and
// the exposition agree with the list). To add a metric, add its line here, sample it in
// render_metrics(), and paste the new metrics_doc_table() into the docs.
// X(id, name, type, labels, help)
// Thread safety: constants.
#pragma once

#include <cstddef>
#include <string>

namespace vnetdns::admin {

// clang-format off
#define VNETDNS_METRIC_FAMILIES(X) \
  X(kBuildInfo, "vnetdns_build_info", "gauge", "version", \
    "Always 1; the version label says which build runs.") \
  X(kWorkers, "vnetdns_workers", "gauge", "", \
    "Worker threads answering queries.") \
  X(kQueriesTotal, "vnetdns_queries_total", "counter", "transport", \
    "Queries received, by transport.") \
  X(kQueriesByTypeTotal, "vnetdns_queries_by_type_total", "counter", "qtype", \
    "Queries that passed the ACL, by question type (types >= 63 as \"other\").") \
  X(kResponsesTotal, "vnetdns_responses_total", "counter", "rcode", \
    "Responses sent, by RCODE.") \
  X(kAnswersTotal, "vnetdns_answers_total", "counter", "source", \
    "Responses sent, by where the answer came from (synthesized: errors such as REFUSED, FORMERR, NOTIMP made by vnetdns itself).") \
  X(kDroppedTotal, "vnetdns_dropped_total", "counter", "reason", \
    "Packets not served, by reason: parse (shorter than a header), response (QR=1), acl (client outside [acl] allow; refused or dropped), rate_limit, mismatch (upstream replies failing the acceptance check).") \
  X(kMalformedQueriesTotal, "vnetdns_malformed_queries_total", "counter", "reason", \
    "Queries rejected by the parser, by reason.") \
  X(kAnswerMemoHitsTotal, "vnetdns_answer_memo_hits_total", "counter", "", \
    "UDP answers repeated from a worker's answer memo (same query bytes, same second, nothing changed since; counted in the answers by source as well).") \
  X(kTruncatedAnswersTotal, "vnetdns_truncated_answers_total", "counter", "", \
    "UDP answers sent with TC=1.") \
  X(kForwardedTotal, "vnetdns_forwarded_total", "counter", "", \
    "Questions resolved upstream (one per distinct question in flight).") \
  X(kForwardFailuresTotal, "vnetdns_forward_failures_total", "counter", "", \
    "Questions that ended in SERVFAIL after trying the upstreams.") \
  X(kCoalescedTotal, "vnetdns_coalesced_total", "counter", "", \
    "Queries that joined an identical question already in flight upstream.") \
  X(kUpstreamReplyMismatchesTotal, "vnetdns_upstream_reply_mismatches_total", "counter", "", \
    "Upstream replies dropped: wrong ID, question or source (never cached).") \
  X(kUpstreamRepliesRejectedTotal, "vnetdns_upstream_replies_rejected_total", "counter", "reason", \
    "Upstream replies that answered our query but could not be used (answered SERVFAIL, remembered as a failure), by reason: malformed, rcode (not NOERROR or NXDOMAIN), chain_too_long, too_big.") \
  X(kUpstreamAllDownTotal, "vnetdns_upstream_all_down_total", "counter", "", \
    "Questions failed (or answered stale) at once because every server of their rule was marked down.") \
  X(kTcpConnectionsTotal, "vnetdns_tcp_connections_total", "counter", "", \
    "TCP connections accepted.") \
  X(kTcpConnectionsOpen, "vnetdns_tcp_connections_open", "gauge", "", \
    "TCP connections open now.") \
  X(kTcpConnectionsRefusedTotal, "vnetdns_tcp_connections_refused_total", "counter", "", \
    "TCP connections closed at accept: over max_tcp_clients or max_tcp_per_client.") \
  X(kForwardingLoopsDetectedTotal, "vnetdns_forwarding_loops_detected_total", "counter", "", \
    "Our start-up loop probes that an upstream forwarded back to us (refused).") \
  X(kNotifyReceivedTotal, "vnetdns_notify_received_total", "counter", "", \
    "NOTIFY requests received (RFC 1996).") \
  X(kZoneTransfersTotal, "vnetdns_zone_transfers_total", "counter", "", \
    "New copies of secondary zones taken from a primary (AXFR or IXFR).") \
  X(kZoneTransferFailuresTotal, "vnetdns_zone_transfer_failures_total", "counter", "", \
    "Secondary zone refreshes where no primary gave an answer.") \
  X(kZoneRefreshCurrentTotal, "vnetdns_zone_refresh_current_total", "counter", "", \
    "Secondary zone refreshes that found our copy current.") \
  X(kNotifySentTotal, "vnetdns_notify_sent_total", "counter", "", \
    "NOTIFYs we sent that were answered.") \
  X(kNotifyFailuresTotal, "vnetdns_notify_failures_total", "counter", "", \
    "NOTIFY targets that did not answer after every try.") \
  X(kCacheEntries, "vnetdns_cache_entries", "gauge", "", \
    "Answers in the cache.") \
  X(kCacheBytes, "vnetdns_cache_bytes", "gauge", "", \
    "Bytes of wire data held by the cache.") \
  X(kCacheHitsTotal, "vnetdns_cache_hits_total", "counter", "", \
    "Answers served from the cache: lookups that found an entry, and repeats of a cached answer from a worker's answer memo.") \
  X(kCacheMissesTotal, "vnetdns_cache_misses_total", "counter", "", \
    "Cache lookups that found nothing usable (a forwarded query may look twice).") \
  X(kCacheInsertsTotal, "vnetdns_cache_inserts_total", "counter", "", \
    "Answers stored in the cache.") \
  X(kCacheEvictionsTotal, "vnetdns_cache_evictions_total", "counter", "", \
    "Entries evicted to stay within [cache] max_entries.") \
  X(kUpstreamQueriesTotal, "vnetdns_upstream_queries_total", "counter", "rule, upstream", \
    "Queries sent to each upstream server (since the rule last changed).") \
  X(kUpstreamTimeoutsTotal, "vnetdns_upstream_timeouts_total", "counter", "rule, upstream", \
    "Tries that timed out, per upstream server (since the rule last changed).") \
  X(kUpstreamErrorsTotal, "vnetdns_upstream_errors_total", "counter", "rule, upstream", \
    "Tries that failed (network error, SERVFAIL, REFUSED), per upstream server.") \
  X(kUpstreamOutstanding, "vnetdns_upstream_outstanding", "gauge", "rule, upstream", \
    "Queries waiting for an answer from each upstream server now.") \
  X(kUpstreamLateRepliesTotal, "vnetdns_upstream_late_replies_total", "counter", "rule, upstream", \
    "Answers accepted after their try's timeout (a slow, not a dead, server).") \
  X(kUpstreamEdnsFallbacksTotal, "vnetdns_upstream_edns_fallbacks_total", "counter", "rule, upstream", \
    "Questions answered after a retry without EDNS (FORMERR to EDNS).") \
  X(kUpstreamCaseFallbacksTotal, "vnetdns_upstream_case_fallbacks_total", "counter", "rule, upstream", \
    "Questions answered after a retry without 0x20 (a reply in another letter case).") \
  X(kUpstreamDownsTotal, "vnetdns_upstream_downs_total", "counter", "rule, upstream", \
    "Times the upstream server was marked down.") \
  X(kUpstreamProbesTotal, "vnetdns_upstream_probes_total", "counter", "rule, upstream", \
    "Health probes sent to the upstream server while it was suspect or down.") \
  X(kUpstreamUp, "vnetdns_upstream_up", "gauge", "rule, upstream", \
    "1 when the upstream server is considered up, 0 while it is marked down.") \
  X(kUpstreamSuspect, "vnetdns_upstream_suspect", "gauge", "rule, upstream", \
    "1 while a try to the server timed out and no answer came since (others go first).") \
  X(kUpstreamEdns, "vnetdns_upstream_edns", "gauge", "rule, upstream", \
    "0 while the server is asked without EDNS (after several names failed with it).") \
  X(kUpstream0x20, "vnetdns_upstream_0x20", "gauge", "rule, upstream", \
    "0 while the server is asked without 0x20 case randomisation (it does not keep case).") \
  X(kUpstreamSrttSeconds, "vnetdns_upstream_srtt_seconds", "gauge", "rule, upstream", \
    "Smoothed round-trip time of each upstream server (RFC 6298; 0 until measured).") \
  X(kUpstreamRttvarSeconds, "vnetdns_upstream_rttvar_seconds", "gauge", "rule, upstream", \
    "Round-trip time variation of each upstream server (RFC 6298 RTTVAR).") \
  X(kUpstreamPassthroughsTotal, "vnetdns_upstream_passthroughs_total", "counter", "rule", \
    "Client questions let through to a rule whose servers were all down (one a second, so that recovery is seen at once).") \
  X(kUpstreamTryTimeoutSeconds, "vnetdns_upstream_try_timeout_seconds", "gauge", "rule, upstream", \
    "The first try's timeout each server gets now: RTO from SRTT and RTTVAR, clamped between 0.1 s and the rule's timeout.") \
  X(kUpstreamLatencySeconds, "vnetdns_upstream_latency_seconds", "histogram", "rule, upstream, le", \
    "Round-trip time of answered tries, per upstream server (since the rule last changed).") \
  X(kUpstreamDnssec, "vnetdns_upstream_dnssec", "gauge", "rule, upstream", \
    "[dnssec] mode = \"validate\": 1 when the server returned the root DNSKEY with its RRSIG at its last check (at start, on reload, then every 5 minutes), 0 when it stripped them or sent FORMERR to the EDNS query (signed names it answers are SERVFAIL), -1 while it has not answered a check (down, or SERVFAIL/REFUSED: asked again up to every 30 s).") \
  X(kUpstreamDnssecStripsTotal, "vnetdns_upstream_dnssec_strips_total", "counter", "rule, upstream", \
    "Checks (at start, on reload, every 5 minutes) that found the server stripping DNSSEC data. A check with no answer is not counted.") \
  X(kDnssecAnswersTotal, "vnetdns_dnssec_answers_total", "counter", "state", \
    "Forwarded answers validated, by outcome: secure, insecure, bogus (answered SERVFAIL), indeterminate (the chain of trust could not be fetched: SERVFAIL).") \
  X(kDnssecBogusTotal, "vnetdns_dnssec_bogus_total", "counter", "reason", \
    "Bogus answers by reason (the EDE each gets): bad_signature (6), signature_expired (7), signature_not_yet_valid (8), dnskey_missing (9), rrsigs_missing (10), nsec_missing (12).") \
  X(kDnssecSubqueriesTotal, "vnetdns_dnssec_subqueries_total", "counter", "", \
    "DS and DNSKEY questions the chain of trust asked (answered from the cache or upstream).") \
  X(kZoneSerial, "vnetdns_zone_serial", "gauge", "zone", \
    "SOA serial of each local zone loaded.") \
  X(kReloadsTotal, "vnetdns_reloads_total", "counter", "", \
    "Successful reloads (SIGHUP, POST /reload, or a file change).") \
  X(kReloadFailuresTotal, "vnetdns_reload_failures_total", "counter", "", \
    "Reloads that failed and kept the running configuration.") \
  X(kQueryLogLinesTotal, "vnetdns_query_log_lines_total", "counter", "", \
    "Query log lines written.") \
  X(kQueryLogDroppedTotal, "vnetdns_query_log_dropped_total", "counter", "", \
    "Query log lines dropped because the queue was full.")

enum class Family : std::size_t {
#define VNETDNS_METRIC_ID(id, name, type, labels, help) id,
  VNETDNS_METRIC_FAMILIES(VNETDNS_METRIC_ID)
#undef VNETDNS_METRIC_ID
  kCount
};
// clang-format on

struct FamilyInfo {
  const char* name;
  const char* type;    // counter, gauge, histogram
  const char* labels;  // "" or "rule, upstream"
  const char* help;
};

const FamilyInfo& family_info(Family f) noexcept;

// The Markdown table of every family (name, type, labels, meaning), as docs/operations.md
// carries it between its "metrics table" markers.
std::string metrics_doc_table();

}  // namespace vnetdns::admin
