// Scenarios of the forwarding path against slow, lossy, dead and odd upstreams (issue 16),
// whole pipeline in process on the manual clock: every per-try timeout, deadline, probe and
// failure memory runs on simulated time, so "answered after 1.5 s" is measured on that clock
// and nothing sleeps. One test case per behaviour:
// slow upstream answered through late replies; failover at once after a timeout; the first
// server's place back once it answers; all servers down -> fail fast, one question a second
// through; back -> a fresh answer within a second; probes ask the rule's zone; EDNS fallback
// per question, a memory after several names that expires; 0x20 fallback per server; forged
// replies late in a question do not stretch its deadline.
#include <algorithm>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "resolver/upstream/forward_group.hpp"

#include "scenario_harness.hpp"

namespace vnetdns::scenario {
namespace {

using namespace std::chrono_literals;
namespace t = wire::type;
using upstream::ServerHealth;

// An upstream that answers every A question with 192.0.2.1 (REFUSED for other types but SOA,
// which gets NODATA-like NOERROR), after `delay`; `drop` makes it silent.
struct Behaviour {
  bool drop = false;
  std::chrono::milliseconds delay{0};
  bool swap_case = false;
  std::set<std::string> formerr_edns;  // names answered FORMERR (no OPT) when asked with EDNS
  std::string only_under;              // answer names under this zone only (REFUSED others)
  int forge = 0;
};

FakeUpstream::Responder responder(const Behaviour& b) {
  return [&b](const Received& r) {
    Script s;
    const std::string name = r.view.qname.to_text();
    if (b.drop) {
      s.mode = Script::Mode::kDrop;
      return s;
    }
    if (!b.only_under.empty() && !r.view.qname.is_subdomain_of(N(b.only_under))) {
      s.rcode = static_cast<std::uint8_t>(wire::Rcode::kRefused);
      return s;
    }
    if (b.formerr_edns.count(name) != 0 && r.view.has_opt) {
      s.rcode = static_cast<std::uint8_t>(wire::Rcode::kFormErr);
      s.no_opt = true;
      return s;
    }
    s.delay = b.delay;
    s.swap_case = b.swap_case;
    s.forge = b.forge;
    if (r.view.qtype == t::kA) s.rrs = {A(name, 300, "192.0.2.1")};
    return s;
  };
}

// Queries `up` received for `name` (lowered presentation form, e.g. "a.example.").
std::size_t count_for(const FakeUpstream& up, const std::string& name) {
  return static_cast<std::size_t>(
      std::count_if(up.received().begin(), up.received().end(),
                    [&](const Received& r) { return r.view.qname.to_text() == name; }));
}

// The rule "." with these servers, the production per-try ceiling (1 s) and deadline (4 s).
void use_servers(Harness& h, const std::vector<util::Endpoint>& servers,
                 const std::function<void(settings::ForwardSettings&)>& tweak = {}) {
  settings::Settings s = h.settings();
  s.forwards[0].upstreams = servers;
  s.forwards[0].timeout = 1000ms;
  s.forwards[0].deadline = 4000ms;
  if (tweak) tweak(s.forwards[0]);
  h.publish(std::move(s));
}

upstream::ForwardGroup& group(Harness& h) { return *h.pipe->snapshot()->groups[0]; }

std::chrono::milliseconds since(const Harness& h, util::TimePoint t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(h.clock.now() - t0);
}

TEST_CASE("slow upstream: answers after 1 to 3.5 s are taken as late replies, within the deadline",
          "[scenario][upstream]") {
  for (const auto delay : {1000ms, 1500ms, 2000ms, 3500ms}) {
    CAPTURE(delay.count());
    Behaviour b;
    Harness h;
    b.delay = delay;
    h.upstream.respond(responder(b));
    use_servers(h, {h.upstream.endpoint()});
    for (int i = 0; i < 4; ++i) {
      const std::string name = "slow" + std::to_string(i) + ".example";
      const auto t0 = h.clock.now();
      const Answer a = h.ask(name, t::kA, static_cast<std::uint16_t>(0x100 + i));
      REQUIRE(a.parsed);
      CHECK(a.rcode == 0);
      CHECK(a.answer == std::vector<std::string>{name + ". 300 A 192.0.2.1"});
      // Answered by the first try's reply, as soon as it came (the steps are 10 ms).
      CHECK(since(h, t0) >= delay);
      CHECK(since(h, t0) <= delay + 20ms);
      // Retries went out meanwhile (the first after 1 s, RFC 6298's initial RTO, or the
      // measured RTO), and their replies, also late, were not needed.
      if (delay > 1000ms) CHECK(count_for(h.upstream, name + ".") >= 2);
      CHECK_FALSE(group(h).health(0).is_down());
    }
    const ServerHealth& health = group(h).health(0);
    CHECK(health.late_replies.load() >= 4);
    CHECK(health.rtt.measured());
    CHECK(health.rtt.srtt() >= delay * 3 / 4);
    CHECK(h.pipe->counters().upstream_failures.get() == 0);
  }
}

TEST_CASE(
    "failover at once: after a timeout on the first server the next question starts on "
    "the second; sequential gives the first its place back when it answers",
    "[scenario][upstream]") {
  Behaviour first_b;
  Behaviour second_b;
  Harness h;
  FakeUpstream second(h.io);
  first_b.drop = true;
  h.upstream.respond(responder(first_b));
  second.respond(responder(second_b));
  use_servers(h, {h.upstream.endpoint(), second.endpoint()});

  auto t0 = h.clock.now();
  Answer a = h.ask("q1.example", t::kA, 1);
  CHECK(a.rcode == 0);
  // The first try waits out the initial timeout of an unmeasured server, then the second.
  CHECK(since(h, t0) >= ServerHealth::kInitialTryTimeout);
  CHECK(since(h, t0) <= ServerHealth::kInitialTryTimeout + 20ms);
  CHECK(count_for(h.upstream, "q1.example.") == 1);
  CHECK(count_for(second, "q1.example.") == 1);
  CHECK(group(h).health(0).is_suspect());

  // The next questions start on the healthy server: nobody waits for the dead one.
  for (int i = 2; i <= 5; ++i) {
    const std::string name = "q" + std::to_string(i) + ".example";
    t0 = h.clock.now();
    a = h.ask(name, t::kA, static_cast<std::uint16_t>(i));
    CHECK(a.rcode == 0);
    CHECK(since(h, t0) <= 10ms);
    CHECK(count_for(h.upstream, name + ".") == 0);
    CHECK(count_for(second, name + ".") == 1);
  }
  // The first server was probed (the rule's zone, SOA), not asked client questions.
  CHECK(count_for(h.upstream, ".") >= 1);

  // It comes back: a probe (at most a second later) finds it, and it is first again.
  first_b.drop = false;
  h.advance(1100ms);
  a = h.ask("q6.example", t::kA, 6);  // this question's plan starts the due probe
  CHECK(a.rcode == 0);
  REQUIRE(h.run_until([&] { return !group(h).health(0).is_suspect(); }));
  a = h.ask("q7.example", t::kA, 7);
  CHECK(a.rcode == 0);
  CHECK(count_for(h.upstream, "q7.example.") == 1);
  CHECK(count_for(second, "q7.example.") == 0);
}

TEST_CASE(
    "all servers down: fail fast but for one question a second; back: a fresh answer "
    "within a second",
    "[scenario][upstream]") {
  Behaviour b;
  Harness h;
  b.drop = true;
  h.upstream.respond(responder(b));
  use_servers(h, {h.upstream.endpoint()});
  // Questions that fail at the deadline are the evidence: three make the server down.
  for (std::uint32_t i = 0; i < ServerHealth::kStrikesBeforeDown; ++i) {
    const auto t0 = h.clock.now();
    const Answer a =
        h.ask("dead" + std::to_string(i) + ".example", t::kA, static_cast<std::uint16_t>(10 + i));
    CHECK(a.rcode == 2);
    CHECK(since(h, t0) >= 4000ms);
    CHECK(since(h, t0) <= 4010ms);
  }
  REQUIRE(group(h).health(0).is_down());

  // Two questions in the same second: one goes through (and waits), the other fails at once
  // without a packet.
  const std::size_t before = h.upstream.count();
  auto x1 = h.start(make_query("pass1.example", t::kA, 21), Harness::loopback_client());
  auto x2 = h.start(make_query("pass2.example", t::kA, 22), Harness::loopback_client());
  h.run_ready();
  CHECK(x1->done != x2->done);
  auto& fast = x1->done ? x1 : x2;
  CHECK(fast->answer().rcode == 2);
  CHECK(h.pipe->counters().upstream_all_down.get() == 1);
  CHECK(count_for(h.upstream, x1->done ? "pass1.example." : "pass2.example.") == 0);
  CHECK(h.upstream.count() > before);  // the other one went out
  REQUIRE(h.run_until([&] { return x1->done && x2->done; }));

  // The upstream comes back at `back`; a client asks a new name every 100 ms.
  b.drop = false;
  const auto back = h.clock.now();
  std::vector<std::shared_ptr<Harness::Exchange>> asked;
  std::optional<std::chrono::milliseconds> first_fresh;
  h.auto_advance = false;
  for (int i = 0; i < 30 && !first_fresh; ++i) {
    asked.push_back(h.start(make_query("back" + std::to_string(i) + ".example", t::kA,
                                       static_cast<std::uint16_t>(100 + i)),
                            Harness::loopback_client()));
    h.advance(100ms);
    for (const auto& x : asked) {
      if (x->done && x->answer().rcode == 0 && !first_fresh) first_fresh = since(h, back);
    }
  }
  REQUIRE(first_fresh.has_value());
  CHECK(*first_fresh <= 1100ms);
  CHECK_FALSE(group(h).health(0).is_down());
  // Probes asked the rule's own zone (SOA of "."), a name any resolver answers.
  const bool probed = std::any_of(
      h.upstream.received().begin(), h.upstream.received().end(),
      [](const Received& r) { return r.view.qname.is_root() && r.view.qtype == t::kSOA; });
  CHECK(probed);
  h.auto_advance = true;
  REQUIRE(h.run_until([&] {
    return std::all_of(asked.begin(), asked.end(), [](const auto& x) { return x->done; });
  }));
}

TEST_CASE("health probes ask the rule's zone: an upstream that serves only that zone comes back",
          "[scenario][upstream]") {
  Behaviour b;
  Harness h;
  FakeUpstream svc(h.io);
  b.drop = true;
  b.only_under = "svc.example";
  svc.respond(responder(b));
  settings::Settings s = h.settings();
  settings::ForwardSettings f = s.forwards[0];
  f.zone = N("svc.example");
  f.upstreams = {svc.endpoint()};
  f.timeout = 1000ms;
  f.deadline = 4000ms;
  s.forwards.push_back(f);
  h.publish(std::move(s));
  auto& g = *h.pipe->snapshot()->groups[1];
  for (std::uint32_t i = 0; i < ServerHealth::kStrikesBeforeDown; ++i) {
    CHECK(h.ask("h" + std::to_string(i) + ".svc.example", t::kA, 1).rcode == 2);
  }
  REQUIRE(g.health(0).is_down());
  b.drop = false;
  h.advance(1100ms);
  CHECK(h.ask("x.svc.example", t::kA, 2).rcode == 0);
  REQUIRE(h.run_until([&] { return !g.health(0).is_down(); }));
  const bool probed_zone =
      std::any_of(svc.received().begin(), svc.received().end(), [](const Received& r) {
        return r.view.qname == N("svc.example") && r.view.qtype == t::kSOA;
      });
  CHECK(probed_zone);
  CHECK(count_for(svc, ".") == 0);  // never `. NS` / `. SOA`: it would refuse that
}

TEST_CASE(
    "EDNS fallback per question; the server is taken for EDNS-less only after several "
    "names, and that memory expires",
    "[scenario][upstream]") {
  Behaviour b;
  Harness h;
  b.formerr_edns = {"old0.example.", "old1.example.", "old2.example."};
  h.upstream.respond(responder(b));
  use_servers(h, {h.upstream.endpoint()});
  auto last_has_opt = [&] { return h.upstream.received().back().view.has_opt; };

  auto t0 = h.clock.now();
  CHECK(h.ask("old0.example", t::kA, 1).rcode == 0);
  CHECK(since(h, t0) <= 10ms);  // retried at once, not after a timeout
  CHECK(count_for(h.upstream, "old0.example.") == 2);
  CHECK_FALSE(last_has_opt());
  // Another name keeps EDNS (and a DO=1 client keeps its DNSSEC records).
  QueryOptions dnssec;
  dnssec.dnssec_ok = true;
  CHECK(h.ask("fine.example", t::kA, 2, dnssec).rcode == 0);
  CHECK(last_has_opt());
  CHECK(h.upstream.received().back().view.dnssec_ok);

  for (const char* name : {"old1.example", "old2.example"}) {
    CHECK(h.ask(name, t::kA, 3).rcode == 0);
  }
  const std::int64_t marked_at = util::process_ms();
  CHECK(group(h).health(0).edns_fallbacks.load() == 3);
  CHECK_FALSE(group(h).health(0).edns_allowed(marked_at));
  CHECK(h.ask("later.example", t::kA, 4).rcode == 0);
  CHECK(count_for(h.upstream, "later.example.") == 1);
  CHECK_FALSE(last_has_opt());

  // Five minutes on, it is asked with EDNS again.
  h.clock.advance(std::chrono::milliseconds(ServerHealth::kNoEdnsMemoryMs) + 1s);
  CHECK(h.ask("again.example", t::kA, 5).rcode == 0);
  CHECK(count_for(h.upstream, "again.example.") == 1);
  CHECK(last_has_opt());
}

// The question name as the upstream received it (letter case kept).
std::string wire_case(const Received& r) {
  return std::string(r.wire.begin() + 12, r.wire.begin() + 12 + r.view.qname_wire_len);
}
bool has_upper(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

TEST_CASE(
    "0x20: a case-mangling upstream is answered at once without 0x20, and remembered; "
    "one that keeps case keeps the exact check",
    "[scenario][upstream]") {
  Behaviour mangle;
  Behaviour keep;
  Harness h;
  FakeUpstream keeper(h.io);
  mangle.swap_case = true;
  h.upstream.respond(responder(mangle));
  keeper.respond(responder(keep));
  use_servers(h, {h.upstream.endpoint()},
              [](settings::ForwardSettings& f) { f.randomize_case = true; });

  const std::string longname = "abcdefghijklmnopqrstuvwxyz";
  for (std::uint32_t i = 0; i < ServerHealth::kCaseFailures; ++i) {
    const std::string name = longname + std::to_string(i) + ".example";
    const auto t0 = h.clock.now();
    CHECK(h.ask(name, t::kA, static_cast<std::uint16_t>(i + 1)).rcode == 0);
    CHECK(since(h, t0) <= 10ms);
    REQUIRE(count_for(h.upstream, name + ".") == 2);
    CHECK(has_upper(wire_case(h.upstream.received()[h.upstream.count() - 2])));
    CHECK_FALSE(has_upper(wire_case(h.upstream.received().back())));
  }
  CHECK(group(h).health(0).case_fallbacks.load() == ServerHealth::kCaseFailures);
  CHECK(h.pipe->counters().reply_mismatches.get() == 0);  // not taken for forgeries
  CHECK(h.ask(longname + "x.example", t::kA, 9).rcode == 0);
  CHECK(count_for(h.upstream, longname + "x.example.") == 1);
  CHECK_FALSE(has_upper(wire_case(h.upstream.received().back())));

  // A server that keeps case: one query each, in mixed case (2^-26 odds of all lower).
  use_servers(h, {keeper.endpoint()},
              [](settings::ForwardSettings& f) { f.randomize_case = true; });
  CHECK(h.ask(longname + ".example", t::kA, 10).rcode == 0);
  REQUIRE(keeper.count() == 1);
  CHECK(has_upper(wire_case(keeper.received().back())));
  CHECK(group(h).health(0).case_fallbacks.load() == 0);
}

TEST_CASE("forged replies late in a question: counted, moved to TCP, and the deadline holds",
          "[scenario][upstream]") {
  Behaviour b;
  Harness h;
  b.forge = 3;       // three wrong-ID copies instead of each reply ...
  b.delay = 3900ms;  // ... 100 ms before the deadline of the first try's question
  h.upstream.respond(responder(b));
  use_servers(h, {h.upstream.endpoint()});
  const auto t0 = h.clock.now();
  const Answer a = h.ask("forged.example", t::kA, 1);
  CHECK(a.rcode == 2);
  CHECK(since(h, t0) >= 4000ms);
  CHECK(since(h, t0) <= 4010ms);
  CHECK(h.pipe->counters().reply_mismatches.get() >= 3);
  const bool over_tcp = std::any_of(h.upstream.received().begin(), h.upstream.received().end(),
                                    [](const Received& r) { return r.tcp; });
  CHECK(over_tcp);
}

TEST_CASE("a silent server: the tries back off, and no stub of a try goes out at the deadline",
          "[scenario][upstream]") {
  Behaviour b;
  Harness h;
  h.upstream.respond(responder(b));
  use_servers(h, {h.upstream.endpoint()},
              [](settings::ForwardSettings& f) { f.deadline = 2000ms; });
  REQUIRE(h.ask("warm.example", t::kA, 1).rcode == 0);  // measured: the RTO is the 100 ms floor
  b.drop = true;
  const auto t0 = h.clock.now();
  const Answer a = h.ask("silent.example", t::kA, 2);
  CHECK(a.rcode == 2);
  CHECK(since(h, t0) >= 2000ms);
  CHECK(since(h, t0) <= 2010ms);
  std::vector<std::chrono::milliseconds> sent;
  for (const Received& r : h.upstream.received()) {
    if (r.view.qname.to_text() == "silent.example.") {
      sent.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(r.at - t0));
    }
  }
  // 0, 100, 300, 700 ms (RTO doubled each time), then at 1.5 s the last try, given the rest.
  REQUIRE(sent.size() == 5);
  for (std::size_t i = 1; i < sent.size(); ++i) CHECK(sent[i] - sent[i - 1] >= 100ms);
  CHECK(sent.back() <= 2000ms - ServerHealth::kMinTryTimeout);
}

}  // namespace
}  // namespace vnetdns::scenario
