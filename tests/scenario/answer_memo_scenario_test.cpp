// Scenarios of the answer memo (pipeline/answer_memo.hpp) through the whole pipeline: a
// repeated UDP query is answered from it with the asker's ID and counted as the pipeline
// counts it; a second later, a cache flush, a zone edit, another client outside the ACL, a
// TCP query, a query with a COOKIE, a prefetch due, or another letter case all go through
// the stages again.
#include <catch2/catch.hpp>

#include "scenario_harness.hpp"

namespace vnetdns::scenario {
namespace {

using namespace std::chrono_literals;
namespace t = wire::type;
using pipeline::AnswerSource;

Script guide_public_view() {
  Script s;
  s.rrs = {CNAME("myregistry.azurecr.io", 1783, "myregistry.privatelink.azurecr.io"),
           CNAME("myregistry.privatelink.azurecr.io", 300, "weu.trafficmanager.example"),
           A("weu.trafficmanager.example", 300, "20.45.122.144")};
  return s;
}

std::uint64_t memo_hits(const Harness& h) { return h.pipe->counters().memo_hits.get(); }
std::uint64_t answers(const Harness& h, AnswerSource s) {
  return h.pipe->counters().answers[static_cast<std::size_t>(s)].get();
}

// The answer's bytes after the ID (what two answers to one question share).
Bytes body(const Answer& a) { return Bytes(a.wire.begin() + 2, a.wire.end()); }

TEST_CASE("answer memo: a repeated query gets the same answer with its own ID, counted alike",
          "[scenario]") {
  Harness h;
  h.upstream.respond([](const Received&) { return guide_public_view(); });
  h.ask("myregistry.azurecr.io", t::kA, 0x0101);  // upstream
  REQUIRE(h.upstream.count() == 1);
  const Answer second = h.ask("myregistry.azurecr.io", t::kA, 0x0102);  // cache, then memoised
  CHECK(memo_hits(h) == 0);
  const auto cache_answers = answers(h, AnswerSource::kCache);
  const auto a_queries = h.pipe->counters().qtypes[t::kA].get();
  const auto udp_queries = h.pipe->counters().queries[0].get();

  const Answer third = h.ask("myregistry.azurecr.io", t::kA, 0x0103);
  CHECK_FALSE(h.last_was_async);
  CHECK(memo_hits(h) == 1);
  CHECK(h.pipe->counters().memo_cache_hits.get() == 1);
  CHECK(third.id == 0x0103);
  CHECK(body(third) == body(second));
  CHECK(third.answer == std::vector<std::string>{
                            "myregistry.azurecr.io. 1783 CNAME myregistry.privatelink.azurecr.io.",
                            "myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"});
  CHECK(answers(h, AnswerSource::kCache) == cache_answers + 1);
  CHECK(h.pipe->counters().qtypes[t::kA].get() == a_queries + 1);
  CHECK(h.pipe->counters().queries[0].get() == udp_queries + 1);
  CHECK(h.upstream.count() == 1);

  // A second later the TTLs have aged: the stages run again (and memoise the new answer).
  h.clock.advance(1s);
  const Answer later = h.ask("myregistry.azurecr.io", t::kA, 0x0104);
  CHECK(memo_hits(h) == 1);
  CHECK(later.answer.front() ==
        "myregistry.azurecr.io. 1782 CNAME myregistry.privatelink.azurecr.io.");
  CHECK(body(h.ask("myregistry.azurecr.io", t::kA, 0x0105)) == body(later));
  CHECK(memo_hits(h) == 2);
}

TEST_CASE("answer memo: a cache flush or a zone edit shows on the very next query", "[scenario]") {
  Harness h;
  h.upstream.respond([](const Received&) { return guide_public_view(); });
  h.ask("myregistry.azurecr.io", t::kA, 1);
  h.ask("myregistry.azurecr.io", t::kA, 2);
  h.ask("myregistry.azurecr.io", t::kA, 3);
  REQUIRE(memo_hits(h) == 1);

  // The admin API's flush of one name: the memo does not answer from the flushed entry.
  h.cache.erase(cache::CacheKey{N("myregistry.azurecr.io"), t::kA, wire::klass::kIN, false});
  h.ask("myregistry.azurecr.io", t::kA, 4);
  CHECK(h.last_was_async);
  CHECK(h.upstream.count() == 2);
  h.ask("myregistry.azurecr.io", t::kA, 5);  // cache hit, memoised again
  h.cache.erase_below(N("azurecr.io"));
  h.ask("myregistry.azurecr.io", t::kA, 6);
  CHECK(h.upstream.count() == 3);
  h.ask("myregistry.azurecr.io", t::kA, 7);
  h.cache.clear();
  h.ask("myregistry.azurecr.io", t::kA, 8);
  CHECK(h.upstream.count() == 4);
  CHECK(memo_hits(h) == 1);

  // A local answer, memoised, then the zone changes in the same second.
  const Answer local = h.ask("myregistry.privatelink.azurecr.io", t::kA, 9);
  CHECK(local.answer ==
        std::vector<std::string>{"myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"});
  h.ask("myregistry.privatelink.azurecr.io", t::kA, 10);
  CHECK(memo_hits(h) == 2);
  CHECK(answers(h, AnswerSource::kLocal) == 2);
  settings::Settings next = h.settings();
  next.zones[0].file = h.dir.write("privatelink-v2.zone", privatelink_zone("10.0.0.8"));
  h.publish(next);
  CHECK(h.ask("myregistry.privatelink.azurecr.io", t::kA, 11).answer ==
        std::vector<std::string>{"myregistry.privatelink.azurecr.io. 10 A 10.0.0.8"});
  CHECK(h.ask("myregistry.azurecr.io", t::kA, 12).answer.back() ==
        "myregistry.privatelink.azurecr.io. 10 A 10.0.0.8");  // the splice too
  CHECK(memo_hits(h) == 2);
}

TEST_CASE("answer memo: the ACL is checked on every hit", "[scenario]") {
  Harness h;
  const Bytes q = make_query("myregistry.privatelink.azurecr.io", t::kA, 0x0201);
  h.ask(q);
  h.ask(q);
  REQUIRE(memo_hits(h) == 1);
  const auto outsider = *util::Endpoint::parse("192.0.2.1:5353", 53);
  const Answer refused = h.ask(q, outsider);
  CHECK(refused.rcode == static_cast<std::uint16_t>(wire::Rcode::kRefused));
  CHECK(h.pipe->counters().drops[static_cast<std::size_t>(pipeline::DropReason::kAcl)].get() == 1);
  CHECK(memo_hits(h) == 1);
  CHECK(h.ask(q).answer ==
        std::vector<std::string>{"myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"});
  CHECK(memo_hits(h) == 2);
}

TEST_CASE("answer memo: not for TCP, COOKIE, other letter case, or a prefetch due", "[scenario]") {
  HarnessOptions o;
  o.customize = [](settings::Settings& s, const util::Endpoint&) { s.cache.prefetch = true; };
  Harness h(o);
  const Bytes q = make_query("myregistry.privatelink.azurecr.io", t::kA, 0x0301);
  for (int i = 0; i < 3; ++i) h.ask(q, Harness::loopback_client(), pipeline::Transport::kTcp);
  CHECK(memo_hits(h) == 0);

  // A COOKIE option: the server cookie is made for each client, so never repeated.
  Bytes with_cookie(512);
  {
    wire::MessageBuilder b(with_cookie.data(), with_cookie.size());
    b.start(0x0302, wire::kFlagRD);
    b.add_question(N("myregistry.privatelink.azurecr.io"), t::kA, wire::klass::kIN);
    const std::uint8_t client_cookie[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    wire::OptOptions opt;
    opt.cookie = client_cookie;
    opt.cookie_len = 8;
    REQUIRE(b.add_opt(opt));
    with_cookie.resize(b.size());
  }
  const Answer c1 = h.ask(with_cookie);
  const Answer c2 = h.ask(with_cookie, *util::Endpoint::parse("127.0.0.2:40000", 53));
  CHECK(memo_hits(h) == 0);
  CHECK(c1.answer == c2.answer);
  CHECK(body(c1) != body(c2));  // each client its own server cookie

  // The client's letter case is part of the key (and echoed).
  h.ask("myregistry.privatelink.azurecr.io", t::kA, 0x0303);
  const Answer upper = h.ask("MYREGISTRY.privatelink.azurecr.io", t::kA, 0x0304);
  CHECK(memo_hits(h) == 0);
  CHECK(upper.question[1] == 'M');

  // A hit in the last tenth of the TTL asks for a prefetch: not memoised, so every such
  // query reaches the cache (and the prefetch logic) until the entry is refreshed.
  h.upstream.respond([](const Received&) {
    Script s;
    s.rrs = {A("www.example.com", 100, "192.0.2.10")};
    return s;
  });
  h.ask("www.example.com", t::kA, 1);
  h.clock.advance(95s);
  const Bytes late = make_query("www.example.com", t::kA, 2);
  for (int i = 0; i < 3; ++i) {
    pipeline::PendingQuery pending;
    std::array<std::uint8_t, 4096> out{};
    const pipeline::Step st =
        h.pipe->handle(late.data(), late.size(), Harness::loopback_client(),
                       pipeline::Transport::kUdp, out.data(), out.size(), pending);
    CHECK(st.kind == pipeline::StepKind::kSend);
    CHECK(st.prefetch);
  }
  CHECK(memo_hits(h) == 0);
}

}  // namespace
}  // namespace vnetdns::scenario
