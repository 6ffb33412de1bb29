#include "resolver/admin/metrics.hpp"

#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "resolver/admin/metric_families.hpp"
#include "resolver/admin/query_log.hpp"
#include "resolver/dnssec/verdict.hpp"
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

  // The HELP and TYPE lines of a family of the one list (metric_families.hpp).
  void family(Family f) {
    const FamilyInfo& info = family_info(f);
    const char* name = info.name;
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += info.help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += info.type;
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

  w.family(Family::kBuildInfo);
  w.sample(1, {"version", VNETDNS_VERSION});
  w.family(Family::kWorkers);
  w.sample(workers.size());

  {
    const auto q = sum(workers, &Counters::queries);
    w.family(Family::kQueriesTotal);
    w.sample(q[0], {"transport", "udp"});
    w.sample(q[1], {"transport", "tcp"});
  }
  {
    const auto t = sum(workers, &Counters::qtypes);
    w.family(Family::kQueriesByTypeTotal);
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
    w.family(Family::kResponsesTotal);
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (r[i] > 0 || i <= 5) w.sample(r[i], {"rcode", rcode_label(i)});
    }
  }
  {
    const auto a = sum(workers, &Counters::answers);
    w.family(Family::kAnswersTotal);
    for (std::size_t i = 0; i < a.size(); ++i) w.sample(a[i], {"source", kSources[i]});
  }
  {
    const auto d = sum(workers, &Counters::drops);
    w.family(Family::kDroppedTotal);
    for (std::size_t i = 0; i < d.size(); ++i) w.sample(d[i], {"reason", kDropReasons[i]});
  }
  {
    const auto f = sum(workers, &Counters::formerr_reasons);
    w.family(Family::kMalformedQueriesTotal);
    for (std::size_t i = 1; i < static_cast<std::size_t>(wire::QueryError::kCount); ++i) {
      w.sample(f[i], {"reason", wire::to_string(static_cast<wire::QueryError>(i))});
    }
  }
  w.family(Family::kAnswerMemoHitsTotal);
  w.sample(sum(workers, &Counters::memo_hits));
  w.family(Family::kTruncatedAnswersTotal);
  w.sample(sum(workers, &Counters::truncated));
  w.family(Family::kForwardedTotal);
  w.sample(sum(workers, &Counters::upstream_queries));
  w.family(Family::kForwardFailuresTotal);
  w.sample(sum(workers, &Counters::upstream_failures));
  w.family(Family::kCoalescedTotal);
  w.sample(sum(workers, &Counters::coalesced));
  w.family(Family::kUpstreamReplyMismatchesTotal);
  w.sample(sum(workers, &Counters::reply_mismatches));
  {
    const auto e = sum(workers, &Counters::scrub_errors);
    w.family(Family::kUpstreamRepliesRejectedTotal);
    for (std::size_t i = 0; i < e.size(); ++i) {
      w.sample(e[i], {"reason", pipeline::to_string(static_cast<pipeline::ScrubError>(i))});
    }
  }
  w.family(Family::kUpstreamAllDownTotal);
  w.sample(sum(workers, &Counters::upstream_all_down));
  {
    const std::uint64_t accepted = sum(workers, &Counters::tcp_connections);
    const std::uint64_t closed = sum(workers, &Counters::tcp_closed);
    w.family(Family::kTcpConnectionsTotal);
    w.sample(accepted);
    w.family(Family::kTcpConnectionsOpen);
    w.sample(accepted >= closed ? accepted - closed : 0);
    w.family(Family::kTcpConnectionsRefusedTotal);
    w.sample(sum(workers, &Counters::tcp_refused));
  }
  w.family(Family::kForwardingLoopsDetectedTotal);
  w.sample(pipeline::LoopGuard::instance().detected());
  w.family(Family::kNotifyReceivedTotal);
  w.sample(sum(workers, &Counters::notifies));
  if (cx.transfers != nullptr) {
    const xfr::TransferStats& t = *cx.transfers;
    auto load = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    w.family(Family::kZoneTransfersTotal);
    w.sample(load(t.transfers));
    w.family(Family::kZoneTransferFailuresTotal);
    w.sample(load(t.transfer_failures));
    w.family(Family::kZoneRefreshCurrentTotal);
    w.sample(load(t.up_to_date));
    w.family(Family::kNotifySentTotal);
    w.sample(load(t.notifies_sent));
    w.family(Family::kNotifyFailuresTotal);
    w.sample(load(t.notify_failures));
  }

  if (cx.cache != nullptr) {
    const cache::CacheStats st = cx.cache->stats();
    w.family(Family::kCacheEntries);
    w.sample(st.entries);
    w.family(Family::kCacheBytes);
    w.sample(st.bytes);
    w.family(Family::kCacheHitsTotal);
    w.sample(st.hits + sum(workers, &Counters::memo_cache_hits));
    w.family(Family::kCacheMissesTotal);
    w.sample(st.misses);
    w.family(Family::kCacheInsertsTotal);
    w.sample(st.inserts);
    w.family(Family::kCacheEvictionsTotal);
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
    auto each = [&](Family f, auto value) {
      w.family(f);
      for (const Row& r : rows) {
        value(r, {"rule", r.rule, "upstream", r.upstream});
      }
    };
    each(Family::kUpstreamQueriesTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->queries.load(std::memory_order_relaxed), l);
         });
    each(Family::kUpstreamTimeoutsTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->timeouts.load(std::memory_order_relaxed), l);
         });
    each(Family::kUpstreamErrorsTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->errors.load(std::memory_order_relaxed), l);
         });
    each(Family::kUpstreamOutstanding,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           const auto v = r.h->outstanding.load(std::memory_order_relaxed);
           w.sample(v > 0 ? static_cast<std::uint64_t>(v) : 0, l);
         });
    each(Family::kUpstreamLateRepliesTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->late_replies.load(std::memory_order_relaxed), l);
         });
    each(Family::kUpstreamEdnsFallbacksTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->edns_fallbacks.load(std::memory_order_relaxed), l);
         });
    each(Family::kUpstreamCaseFallbacksTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->case_fallbacks.load(std::memory_order_relaxed), l);
         });
    each(Family::kUpstreamDownsTotal, [&](const Row& r, std::initializer_list<std::string_view> l) {
      w.sample(r.h->downs.load(std::memory_order_relaxed), l);
    });
    each(Family::kUpstreamProbesTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->probes.load(std::memory_order_relaxed), l);
         });
    each(Family::kUpstreamUp, [&](const Row& r, std::initializer_list<std::string_view> l) {
      w.sample(r.h->is_down() ? 0 : 1, l);
    });
    each(Family::kUpstreamSuspect, [&](const Row& r, std::initializer_list<std::string_view> l) {
      w.sample(r.h->is_suspect() ? 1 : 0, l);
    });
    const std::int64_t now_ms = util::process_ms();
    each(Family::kUpstreamEdns, [&](const Row& r, std::initializer_list<std::string_view> l) {
      w.sample(r.h->edns_allowed(now_ms) ? 1 : 0, l);
    });
    each(Family::kUpstream0x20, [&](const Row& r, std::initializer_list<std::string_view> l) {
      w.sample(r.h->case_allowed(now_ms) ? 1 : 0, l);
    });
    each(Family::kUpstreamSrttSeconds,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample_double(static_cast<double>(r.h->rtt.srtt().count()) / 1e6, l);
         });
    each(Family::kUpstreamRttvarSeconds,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample_double(static_cast<double>(r.h->rtt.rttvar().count()) / 1e6, l);
         });
    w.family(Family::kUpstreamPassthroughsTotal);
    for (const auto& g : snap->groups) {
      w.sample(g->passthroughs(), {"rule", g->settings().zone.to_text()});
    }
    {
      w.family(Family::kUpstreamTryTimeoutSeconds);
      for (const auto& g : snap->groups) {
        const auto& fs = g->settings();
        for (std::size_t i = 0; i < fs.upstreams.size(); ++i) {
          w.sample_double(static_cast<double>(g->health(i).rtt.rto(fs.timeout).count()) / 1e3,
                          {"rule", fs.zone.to_text(), "upstream", fs.upstreams[i].to_string()});
        }
      }
    }
    w.family(Family::kUpstreamLatencySeconds);
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
    each(Family::kUpstreamDnssec, [&](const Row& r, std::initializer_list<std::string_view> l) {
      w.sample_double(r.h->dnssec.load(std::memory_order_relaxed), l);
    });
    each(Family::kUpstreamDnssecStripsTotal,
         [&](const Row& r, std::initializer_list<std::string_view> l) {
           w.sample(r.h->dnssec_strips.load(std::memory_order_relaxed), l);
         });
    {
      const auto states = sum(workers, &Counters::dnssec_answers);
      w.family(Family::kDnssecAnswersTotal);
      for (std::size_t i = 0; i < states.size(); ++i) {
        w.sample(states[i], {"state", dnssec::to_string(static_cast<dnssec::Security>(i))});
      }
      const auto bogus = sum(workers, &Counters::dnssec_bogus);
      w.family(Family::kDnssecBogusTotal);
      for (std::size_t i = 1; i < bogus.size(); ++i) {  // 0 is kNone
        w.sample(bogus[i], {"reason", dnssec::to_string(static_cast<dnssec::BogusReason>(i))});
      }
      w.family(Family::kDnssecSubqueriesTotal);
      w.sample(sum(workers, &Counters::dnssec_subqueries));
    }
    w.family(Family::kZoneSerial);
    if (snap->zones) {
      for (const auto& z : snap->zones->zones()) {
        w.sample(z->serial(), {"zone", z->origin().to_text()});
      }
    }
  }

  w.family(Family::kReloadsTotal);
  w.sample(cx.reloads ? cx.reloads->load() : 0);
  w.family(Family::kReloadFailuresTotal);
  w.sample(cx.reload_failures ? cx.reload_failures->load() : 0);

  w.family(Family::kQueryLogLinesTotal);
  w.sample(cx.query_log ? cx.query_log->written() : 0);
  w.family(Family::kQueryLogDroppedTotal);
  w.sample(cx.query_log ? cx.query_log->dropped() : 0);
  return out;
}

namespace {
Readiness base_readiness(const pipeline::Snapshot& s) {
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

// [dnssec] mode = "validate": the upstreams found stripping DNSSEC data ("" when none).
std::string dnssec_readiness(const pipeline::Snapshot& s) {
  if (!s.validate) return {};
  std::string out;
  for (const auto& g : s.groups) {
    for (std::size_t i = 0; i < g->size(); ++i) {
      if (g->health(i).dnssec.load(std::memory_order_relaxed) !=
          upstream::ServerHealth::kDnssecStrips) {
        continue;
      }
      out += (out.empty() ? "" : ", ") + g->settings().upstreams[i].to_string() + " (rule " +
             g->settings().zone.to_text() + ")";
    }
  }
  if (out.empty()) return {};
  return "; DNSSEC: upstream " + out +
         " returned no signatures with the root DNSKEY: signed names it answers are SERVFAIL";
}

}  // namespace

Readiness check_readiness(const pipeline::Snapshot& s) {
  Readiness r = base_readiness(s);
  r.reason += dnssec_readiness(s);  // reported, not a reason to be unready: the rule answers
  return r;
}

}  // namespace vnetdns::admin
