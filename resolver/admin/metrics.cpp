#include "resolver/admin/metrics.hpp"

#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "resolver/admin/query_log.hpp"
#include "resolver/pipeline/loop_guard.hpp"
#include "resolver/pipeline/response_scrubber.hpp"
#include "resolver/util/clock.hpp"
#include "resolver/wire/query_view.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::admin {

namespace {

using pipeline::Counter;
using pipeline::Counters;

// Writes one metric family at a time: HELP and TYPE once, then its samples.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: "key1", "value1", "key2", "value2", ... (values escaped here).
  void sample(std::uint64_t value, std::initializer_list<std::string_view> labels = {}) {
    head(labels);
    char buf[24];
    std::snprintf(buf, sizeof(buf), "%" PRIu64 "\n", value);
    out_ += buf;
  }
  void sample_double(double value, std::initializer_list<std::string_view> labels = {}) {
    head(labels);
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.9g\n", value);
    out_ += buf;
  }
  // A sample under another name of the current family (histogram _bucket, _sum, _count).
  void sample_as(const char* name, std::uint64_t value,
                 std::initializer_list<std::string_view> labels) {
    const char* family = name_;
    name_ = name;
    sample(value, labels);
    name_ = family;
  }
  void sample_double_as(const char* name, double value,
                        std::initializer_list<std::string_view> labels) {
    const char* family = name_;
    name_ = name;
    sample_double(value, labels);
    name_ = family;
  }

 private:
  void head(std::initializer_list<std::string_view> labels) {
    out_ += name_;
    if (labels.size() > 0) {
      out_ += '{';
      bool key = true;
      bool first = true;
      for (std::string_view s : labels) {
        if (key) {
          if (!first) out_ += ',';
          out_ += s;
          out_ += "=\"";
        } else {
          escape(s);
          out_ += '"';
        }
        key = !key;
        first = false;
      }
      out_ += '}';
    }
    out_ += ' ';
  }
  // Text format 0.0.4: label values escape backslash, double quote and line feed.
  void escape(std::string_view s) {
    for (char c : s) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '"') {
        out_ += "\\\"";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
  }

  std::string& out_;
  const char* name_ = "";
};

template <std::size_t N>
std::array<std::uint64_t, N> sum(const std::vector<const Counters*>& workers,
                                 const std::array<Counter, N> Counters::*member) {
  std::array<std::uint64_t, N> total{};
  for (const Counters* c : workers) {
    for (std::size_t i = 0; i < N; ++i) total[i] += ((*c).*member)[i].get();
  }
  return total;
}

std::uint64_t sum(const std::vector<const Counters*>& workers, const Counter Counters::*member) {
  std::uint64_t total = 0;
  for (const Counters* c : workers) total += ((*c).*member).get();
  return total;
}

const char* kSources[] = {"local", "cache", "upstream", "stale", "synthesized"};
const char* kDropReasons[] = {"parse", "response", "acl", "rate_limit", "mismatch"};
static_assert(std::size(kSources) == static_cast<std::size_t>(pipeline::AnswerSource::kCount));
static_assert(std::size(kDropReasons) == static_cast<std::size_t>(pipeline::DropReason::kCount));

// Types always shown (so that dashboards see zeros); others appear once seen.
bool always_shown_type(std::size_t t) {
  switch (t) {
    case wire::type::kA:
    case wire::type::kAAAA:
    case wire::type::kCNAME:
    case wire::type::kNS:
    case wire::type::kSOA:
    case wire::type::kPTR:
    case wire::type::kMX:
    case wire::type::kTXT:
    case wire::type::kSRV: return true;
    default: return false;
  }
}

std::string rcode_label(std::size_t rcode) {
  if (rcode == Counters::kRcodes - 1) return "other";  // the last slot also holds larger codes
  const char* n = wire::rcode_name(static_cast<std::uint16_t>(rcode));
  if (std::strcmp(n, "OTHER") == 0) return "RCODE" + std::to_string(rcode);
  return n;
}

}  // namespace

std::string render_metrics(const AdminContext& cx) {
  std::string out;
  out.reserve(16384);
  Writer w(out);
  const auto& workers = cx.workers;
  const auto snap = cx.snapshots ? cx.snapshots->get() : nullptr;

  w.family("vnetdns_build_info", "gauge", "Always 1; the version label says which build runs.");
  w.sample(1, {"version", VNETDNS_VERSION});
  w.family("vnetdns_workers", "gauge", "Worker threads answering queries.");
  w.sample(workers.size());

  {
    const auto q = sum(workers, &Counters::queries);
    w.family("vnetdns_queries_total", "counter", "Queries received, by transport.");
    w.sample(q[0], {"transport", "udp"});
    w.sample(q[1], {"transport", "tcp"});
  }
  {
    const auto t = sum(workers, &Counters::qtypes);
    w.family("vnetdns_queries_by_type_total", "counter",
             "Queries that passed the ACL, by question type (types >= 63 as \"other\").");
    char scratch[16];
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (i == t.size() - 1) {
        w.sample(t[i], {"qtype", "other"});
      } else if (t[i] > 0 || always_shown_type(i)) {
        w.sample(t[i], {"qtype", wire::type_name(static_cast<std::uint16_t>(i), scratch)});
      }
    }
  }
  {
    const auto r = sum(workers, &Counters::rcodes);
    w.family("vnetdns_responses_total", "counter", "Responses sent, by RCODE.");
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (r[i] > 0 || i <= 5) w.sample(r[i], {"rcode", rcode_label(i)});
    }
  }
  {
    const auto a = sum(workers, &Counters::answers);
    w.family("vnetdns_answers_total", "counter",
             "Responses sent, by where the answer came from (synthesized: errors such as "
             "REFUSED, FORMERR, NOTIMP made by vnetdns itself).");
    for (std::size_t i = 0; i < a.size(); ++i) w.sample(a[i], {"source", kSources[i]});
  }
  {
    const auto d = sum(workers, &Counters::drops);
    w.family("vnetdns_dropped_total", "counter",
             "Packets not served, by reason: parse (shorter than a header), response (QR=1), "
             "acl (client outside [acl] allow; refused or dropped), rate_limit, mismatch "
             "(upstream replies failing the acceptance check).");
    for (std::size_t i = 0; i < d.size(); ++i) w.sample(d[i], {"reason", kDropReasons[i]});
  }
  {
    const auto f = sum(workers, &Counters::formerr_reasons);
    w.family("vnetdns_malformed_queries_total", "counter",
             "Queries rejected by the parser, by reason.");
    for (std::size_t i = 1; i < static_cast<std::size_t>(wire::QueryError::kCount); ++i) {
      w.sample(f[i], {"reason", wire::to_string(static_cast<wire::QueryError>(i))});
    }
  }
  w.family("vnetdns_answer_memo_hits_total", "counter",
           "UDP answers repeated from a worker's answer memo (same query bytes, same second, "
           "nothing changed since; counted in the answers by source as well).");
  w.sample(sum(workers, &Counters::memo_hits));
  w.family("vnetdns_truncated_answers_total", "counter", "UDP answers sent with TC=1.");
  w.sample(sum(workers, &Counters::truncated));
  w.family("vnetdns_forwarded_total", "counter",
           "Questions resolved upstream (one per distinct question in flight).");
  w.sample(sum(workers, &Counters::upstream_queries));
  w.family("vnetdns_forward_failures_total", "counter",
           "Questions that ended in SERVFAIL after trying the upstreams.");
  w.sample(sum(workers, &Counters::upstream_failures));
  w.family("vnetdns_coalesced_total", "counter",
           "Queries that joined an identical question already in flight upstream.");
  w.sample(sum(workers, &Counters::coalesced));
  w.family("vnetdns_upstream_reply_mismatches_total", "counter",
           "Upstream replies dropped: wrong ID, question or source (never cached).");
  w.sample(sum(workers, &Counters::reply_mismatches));
  {
    const auto e = sum(workers, &Counters::scrub_errors);
    w.family("vnetdns_upstream_replies_rejected_total", "counter",
             "Upstream replies that answered our query but could not be used (answered "
             "SERVFAIL, remembered as a failure), by reason: malformed, rcode (not NOERROR or "
             "NXDOMAIN), chain_too_long, too_big.");
    for (std::size_t i = 0; i < e.size(); ++i) {
      w.sample(e[i], {"reason", pipeline::to_string(static_cast<pipeline::ScrubError>(i))});
    }
  }
  w.family("vnetdns_upstream_all_down_total", "counter",
           "Questions failed (or answered stale) at once because every server of their rule "
           "was marked down.");
  w.sample(sum(workers, &Counters::upstream_all_down));
  {
    const std::uint64_t accepted = sum(workers, &Counters::tcp_connections);
    const std::uint64_t closed = sum(workers, &Counters::tcp_closed);
    w.family("vnetdns_tcp_connections_total", "counter", "TCP connections accepted.");
    w.sample(accepted);
    w.family("vnetdns_tcp_connections_open", "gauge", "TCP connections open now.");
    w.sample(accepted >= closed ? accepted - closed : 0);
    w.family("vnetdns_tcp_connections_refused_total", "counter",
             "TCP connections closed at accept: over max_tcp_clients or max_tcp_per_client.");
    w.sample(sum(workers, &Counters::tcp_refused));
  }
  w.family("vnetdns_forwarding_loops_detected_total", "counter",
           "Our start-up loop probes that an upstream forwarded back to us (refused).");
  w.sample(pipeline::LoopGuard::instance().detected());
  w.family("vnetdns_notify_received_total", "counter", "NOTIFY requests received (RFC 1996).");
  w.sample(sum(workers, &Counters::notifies));
  if (cx.transfers != nullptr) {
    const xfr::TransferStats& t = *cx.transfers;
    auto load = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    w.family("vnetdns_zone_transfers_total", "counter",
             "New copies of secondary zones taken from a primary (AXFR or IXFR).");
    w.sample(load(t.transfers));
    w.family("vnetdns_zone_transfer_failures_total", "counter",
             "Secondary zone refreshes where no primary gave an answer.");
    w.sample(load(t.transfer_failures));
    w.family("vnetdns_zone_refresh_current_total", "counter",
             "Secondary zone refreshes that found our copy current.");
    w.sample(load(t.up_to_date));
    w.family("vnetdns_notify_sent_total", "counter", "NOTIFYs we sent that were answered.");
    w.sample(load(t.notifies_sent));
    w.family("vnetdns_notify_failures_total", "counter",
             "NOTIFY targets that did not answer after every try.");
    w.sample(load(t.notify_failures));
  }

  if (cx.cache != nullptr) {
    const cache::CacheStats st = cx.cache->stats();
    w.family("vnetdns_cache_entries", "gauge", "Answers in the cache.");
    w.sample(st.entries);
    w.family("vnetdns_cache_bytes", "gauge", "Bytes of wire data held by the cache.");
    w.sample(st.bytes);
    w.family("vnetdns_cache_hits_total", "counter",
             "Answers served from the cache: lookups that found an entry, and repeats of a "
             "cached answer from a worker's answer memo.");
    w.sample(st.hits + sum(workers, &Counters::memo_cache_hits));
    w.family("vnetdns_cache_misses_total", "counter",
             "Cache lookups that found nothing usable (a forwarded query may look twice).");
    w.sample(st.misses);
    w.family("vnetdns_cache_inserts_total", "counter", "Answers stored in the cache.");
    w.sample(st.inserts);
    w.family("vnetdns_cache_evictions_total", "counter",
             "Entries evicted to stay within [cache] max_entries.");
    w.sample(st.evictions);
  }

  if (snap) {
    struct Row {
      std::string rule, upstream;
      const upstream::ServerHealth* h;
    };
    std::vector<Row> rows;
    for (const auto& g : snap->groups) {
      const auto& fs = g->settings();
      for (std::size_t i = 0; i < fs.upstreams.size(); ++i) {
        rows.push_back({fs.zone.to_text(), fs.upstreams[i].to_string(), &g->health(i)});
      }
    }
    auto each = [&](const char* name, const char* type, const char* help, auto value) {
      w.family(name, type, help);
      for (const Row& r : rows) {
        value(r, {"rule", r.rule, "upstream", r.upstream});
      }
    };
    each("vnetdns_upstream_queries_total", "counter",
         "Queries sent to each upstream server (since the rule last changed).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->queries.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_timeouts_total", "counter",
         "Tries that timed out, per upstream server (since the rule last changed).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->timeouts.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_errors_total", "counter",
         "Tries that failed (network error, SERVFAIL, REFUSED), per upstream server.",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->errors.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_outstanding", "gauge",
         "Queries waiting for an answer from each upstream server now.",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           const auto v = r.h->outstanding.load(std::memory_order_relaxed);
           w.sample(v > 0 ? static_cast<std::uint64_t>(v) : 0, l);
         });
    each("vnetdns_upstream_late_replies_total", "counter",
         "Answers accepted after their try's timeout (a slow, not a dead, server).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->late_replies.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_edns_fallbacks_total", "counter",
         "Questions answered after a retry without EDNS (FORMERR to EDNS).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->edns_fallbacks.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_case_fallbacks_total", "counter",
         "Questions answered after a retry without 0x20 (a reply in another letter case).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->case_fallbacks.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_downs_total", "counter", "Times the upstream server was marked down.",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->downs.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_probes_total", "counter",
         "Health probes sent to the upstream server while it was suspect or down.",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->probes.load(std::memory_order_relaxed), l);
         });
    each("vnetdns_upstream_up", "gauge",
         "1 when the upstream server is considered up, 0 while it is marked down.",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->is_down() ? 0 : 1, l);
         });
    each("vnetdns_upstream_suspect", "gauge",
         "1 while a try to the server timed out and no answer came since (others go first).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->is_suspect() ? 1 : 0, l);
         });
    const std::int64_t now_ms = util::process_ms();
    each("vnetdns_upstream_edns", "gauge",
         "0 while the server is asked without EDNS (after several names failed with it).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->edns_allowed(now_ms) ? 1 : 0, l);
         });
    each("vnetdns_upstream_0x20", "gauge",
         "0 while the server is asked without 0x20 case randomisation (it does not keep case).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->case_allowed(now_ms) ? 1 : 0, l);
         });
    each("vnetdns_upstream_srtt_seconds", "gauge",
         "Smoothed round-trip time of each upstream server (RFC 6298; 0 until measured).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample_double(static_cast<double>(r.h->rtt.srtt().count()) / 1e6, l);
         });
    each("vnetdns_upstream_rttvar_seconds", "gauge",
         "Round-trip time variation of each upstream server (RFC 6298 RTTVAR).",
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample_double(static_cast<double>(r.h->rtt.rttvar().count()) / 1e6, l);
         });
    w.family("vnetdns_upstream_passthroughs_total", "counter",
             "Client questions let through to a rule whose servers were all down (one a "
             "second, so that recovery is seen at once).");
    for (const auto& g : snap->groups) {
      w.sample(g->passthroughs(), {"rule", g->settings().zone.to_text()});
    }
    {
      w.family("vnetdns_upstream_try_timeout_seconds", "gauge",
               "The first try's timeout each server gets now: RTO from SRTT and RTTVAR, "
               "clamped between 0.1 s and the rule's timeout.");
      for (const auto& g : snap->groups) {
        const auto& fs = g->settings();
        for (std::size_t i = 0; i < fs.upstreams.size(); ++i) {
          w.sample_double(static_cast<double>(g->health(i).rtt.rto(fs.timeout).count()) / 1e3,
                          {"rule", fs.zone.to_text(), "upstream", fs.upstreams[i].to_string()});
        }
      }
    }
    w.family(
        "vnetdns_upstream_latency_seconds", "histogram",
        "Round-trip time of answered tries, per upstream server (since the rule last changed).");
    for (const Row& r : rows) {
      using H = upstream::ServerHealth;
      std::uint64_t cumulative = 0;
      char le[24];
      for (std::size_t i = 0; i <= H::kLatencyBoundsUs.size(); ++i) {
        cumulative += r.h->latency[i].load(std::memory_order_relaxed);
        if (i < H::kLatencyBoundsUs.size()) {
          std::snprintf(le, sizeof(le), "%g", H::kLatencyBoundsUs[i] / 1e6);
        } else {
          std::snprintf(le, sizeof(le), "+Inf");
        }
        w.sample_as("vnetdns_upstream_latency_seconds_bucket", cumulative,
                    {"rule", r.rule, "upstream", r.upstream, "le", le});
      }
      w.sample_double_as("vnetdns_upstream_latency_seconds_sum",
                         r.h->latency_sum_us.load(std::memory_order_relaxed) / 1e6,
                         {"rule", r.rule, "upstream", r.upstream});
      w.sample_as("vnetdns_upstream_latency_seconds_count", cumulative,
                  {"rule", r.rule, "upstream", r.upstream});
    }
    w.family("vnetdns_zone_serial", "gauge", "SOA serial of each local zone loaded.");
    if (snap->zones) {
      for (const auto& z : snap->zones->zones()) {
        w.sample(z->serial(), {"zone", z->origin().to_text()});
      }
    }
  }

  w.family("vnetdns_reloads_total", "counter",
           "Successful reloads (SIGHUP, POST /reload, or a file change).");
  w.sample(cx.reloads ? cx.reloads->load() : 0);
  w.family("vnetdns_reload_failures_total", "counter",
           "Reloads that failed and kept the running configuration.");
  w.sample(cx.reload_failures ? cx.reload_failures->load() : 0);

  w.family("vnetdns_query_log_lines_total", "counter", "Query log lines written.");
  w.sample(cx.query_log ? cx.query_log->written() : 0);
  w.family("vnetdns_query_log_dropped_total", "counter",
           "Query log lines dropped because the queue was full.");
  w.sample(cx.query_log ? cx.query_log->dropped() : 0);
  return out;
}

Readiness check_readiness(const pipeline::Snapshot& s) {
  Readiness r;
  if (!s.zones) {
    r.reason = "zones are not loaded";
    return r;
  }
  const upstream::ForwardGroup* root = nullptr;
  for (const auto& g : s.groups) {
    if (g->settings().zone.is_root()) root = g.get();
  }
  const std::string zones = std::to_string(s.zones->size()) + " zone(s) loaded";
  if (root != nullptr) {
    if (root->any_up()) {
      r.ready = true;
      r.reason = zones + ", an upstream of forward rule \".\" is up";
    } else {
      r.reason = "no upstream of forward rule \".\" is up (";
      for (std::size_t i = 0; i < root->settings().upstreams.size(); ++i) {
        r.reason += (i ? ", " : "") + root->settings().upstreams[i].to_string();
      }
      r.reason += " marked down after consecutive failures)";
    }
    return r;
  }
  if (s.groups.empty()) {
    r.ready = true;
    r.reason = zones + ", no forward rules";
    return r;
  }
  for (const auto& g : s.groups) {
    if (g->any_up()) {
      r.ready = true;
      r.reason =
          zones + ", an upstream of forward rule \"" + g->settings().zone.to_text() + "\" is up";
      return r;
    }
  }
  r.reason = "no upstream of any forward rule is up";
  return r;
}

}  // namespace vnetdns::admin
