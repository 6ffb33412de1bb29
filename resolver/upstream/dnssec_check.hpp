// DnssecCheck: with [dnssec] mode = "validate" (docs/dnssec.md), does each validated forward
// rule's upstream return DNSSEC data? One loop per server, on the control loop, asks it for
// the root DNSKEY with DO=1 CD=1 (over TCP when the answer is truncated) and files the verdict
// in the server's ServerHealth::dnssec:
//  - signed (kDnssecOk): the DNSKEY RRset came with its RRSIG;
//  - strips (kDnssecStrips, counted in dnssec_strips): an answer without that RRSIG, or
//    FORMERR to the EDNS query; every signed name the server answers will be SERVFAIL;
//  - no verdict: no answer (timeout, network error), or SERVFAIL, REFUSED or NOTIMP. The
//    server could not be asked, which says nothing about stripping: the state stays as it was
//    (kDnssecUnchecked at start) and the check is asked again after `first_retry`, doubling up
//    to `max_retry`, so an upstream that was down when vnetdns started is checked once it
//    answers, not reported as a stripper until the next reload.
// A verdict is checked again every `recheck`, so a repaired (or newly stripping) path shows
// without a reload. Logs: an error when a server turns to stripping, info when it returns
// DNSSEC data (again), one warning per run of unanswered checks (debug for the rest).
// start() (at start and after each reload) and stop() end the loops of the previous start():
// their timers are cancelled and each ends without asking or filing anything more.
// Thread safety: start(), stop() and the loops run on the executor's single thread; verdicts
// are ServerHealth atomics, read by /readyz and /metrics from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "resolver/upstream/forward_group.hpp"
#include "resolver/upstream/transport.hpp"

namespace vnetdns::upstream {

enum class DnssecVerdict : std::uint8_t { kSigned, kStrips, kNone };

struct DnssecProbeOutcome {
  DnssecVerdict verdict = DnssecVerdict::kNone;
  std::string why;  // for the log: "no answer", "answered REFUSED", ...
};

// What one exchange of the check (the root DNSKEY, DO=1 CD=1) says about the server.
DnssecProbeOutcome classify_dnssec_probe(const ExchangeResult& r);

struct DnssecCheckOptions {
  std::chrono::milliseconds timeout{2000};       // per exchange
  std::chrono::milliseconds first_retry{1000};   // after the first check with no verdict
  std::chrono::milliseconds max_retry{30000};    // the retry interval doubles up to this
  std::chrono::milliseconds recheck{5 * 60000};  // after a verdict
};

class DnssecCheck {
 public:
  explicit DnssecCheck(boost::asio::any_io_executor executor, DnssecCheckOptions options = {});
  ~DnssecCheck();
  DnssecCheck(const DnssecCheck&) = delete;
  DnssecCheck& operator=(const DnssecCheck&) = delete;

  // Ends the loops of the previous start() and starts one per server of `groups`.
  void start(const std::vector<std::shared_ptr<ForwardGroup>>& groups);
  // Ends every loop.
  void stop();

  struct Loops;  // opaque: the state one start() shares with its loops (their timers)

 private:
  boost::asio::any_io_executor executor_;
  DnssecCheckOptions options_;
  std::shared_ptr<Loops> loops_;
};

}  // namespace vnetdns::upstream
