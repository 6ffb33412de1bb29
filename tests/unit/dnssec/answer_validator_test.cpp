// AnswerValidator: the zones an answer needs (signed, unsigned, negative, spliced, DNAME),
// and the verdict judge() gives: secure answers, a CNAME chain across two zones, insecure and
// bogus zones, unsigned or tampered RRsets in a secure zone, signers the chain does not reach,
// NXDOMAIN/NODATA with and without their NSEC proofs, wildcard answers, spliced answers,
// unknown zones (indeterminate).
#include "resolver/dnssec/answer_validator.hpp"

#include <catch2/catch.hpp>

#include "resolver/wire/types.hpp"

#include "tests/unit/dnssec/signing.hpp"

namespace vnetdns::dnssec {
namespace {

using test::kNow;
using test::Message;
using test::N;
using test::Records;
using test::rrs;
using test::Zone;
using test::Zones;
using test::operator+;

AnswerQuestion question(const char* qname, std::uint16_t qtype = wire::type::kA,
                        bool spliced = false) {
  return AnswerQuestion{N(qname), qtype, spliced};
}

std::vector<std::string> texts(const std::vector<wire::Name>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back(n.to_text());
  return out;
}

using Strings = std::vector<std::string>;

// Two secure zones, example. and other.
struct Fixture {
  Zone ex{"example."};
  Zone other{"other.", LDNS_SIGN_ED25519};
  Zones zones;
  Fixture() {
    zones.add(ex.secure());
    zones.add(other.secure());
  }
  Records soa() const {
    return ex.signed_set(rrs({"example. 300 IN SOA ns.example. host.example. 1 2 3 4 300"}));
  }
};

TEST_CASE("needed_zones", "[dnssec][answer]") {
  Fixture f;
  SECTION("a signed answer needs its signer") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN A 192.0.2.1"}),
        {}}.parse();
    CHECK(texts(needed_zones(m, question("www.example."))) == Strings{"example."});
  }
  SECTION("an unsigned answer needs its owner") {
    const auto m =
        Message{"www.example.", wire::type::kA, 0, rrs({"www.example. 300 IN A 192.0.2.1"}), {}}
            .parse();
    CHECK(texts(needed_zones(m, question("www.example."))) == Strings{"www.example."});
  }
  SECTION("a CNAME chain: each signer once, in order") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN CNAME a.example."}) +
            f.ex.signed_set({"a.example. 300 IN CNAME www.other."}) +
            f.other.signed_set({"www.other. 300 IN A 192.0.2.1"}),
        {}}.parse();
    CHECK(texts(needed_zones(m, question("www.example."))) == Strings{"example.", "other."});
  }
  SECTION("a negative answer with a signed denial needs the denial's signer") {
    const auto m =
        Message{"nope.other.",
                wire::type::kA,
                3,
                {},
                f.other.signed_set({"other. 300 IN NSEC www.other. NS SOA RRSIG NSEC DNSKEY"})}
            .parse();
    CHECK(texts(needed_zones(m, question("nope.other."))) == Strings{"other."});
  }
  SECTION("a negative answer without a signed denial needs the name's zone") {
    const auto m = Message{"nope.example.", wire::type::kA, 3, {}, f.soa()}.parse();
    CHECK(texts(needed_zones(m, question("nope.example."))) == Strings{"nope.example."});
    // The chain's end, behind a CNAME.
    const auto c = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN CNAME gone.other."}),
        {}}.parse();
    CHECK(texts(needed_zones(c, question("www.example."))) == Strings{"example.", "gone.other."});
    // Spliced: the chain's end was answered locally.
    CHECK(texts(needed_zones(c, question("www.example.", wire::type::kA, true))) ==
          Strings{"example."});
  }
  SECTION("a CNAME synthesised from a DNAME needs nothing of its own") {
    const auto m = Message{
        "www.d.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"d.example. 300 IN DNAME other."}) +
            rrs({"www.d.example. 300 IN CNAME www.other."}) +
            f.other.signed_set({"www.other. 300 IN A 192.0.2.1"}),
        {}}.parse();
    CHECK(texts(needed_zones(m, question("www.d.example."))) == Strings{"example.", "other."});
  }
}

TEST_CASE("judge: secure answers", "[dnssec][answer]") {
  Fixture f;
  SECTION("one signed RRset") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN A 192.0.2.1"}),
        {}}.parse();
    const Verdict v = judge(m, question("www.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kSecure);
    CHECK(v.ede() == -1);
  }
  SECTION("a CNAME chain across two zones") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN CNAME www.other."}) +
            f.other.signed_set({"www.other. 300 IN A 192.0.2.1"}),
        {}}.parse();
    CHECK(judge(m, question("www.example."), f.zones.lookup(), kNow).security == Security::kSecure);
  }
  SECTION("a DNAME and the CNAME it synthesises") {
    const auto m = Message{
        "www.d.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"d.example. 300 IN DNAME other."}) +
            rrs({"www.d.example. 300 IN CNAME www.other."}) +
            f.other.signed_set({"www.other. 300 IN A 192.0.2.1"}),
        {}}.parse();
    CHECK(judge(m, question("www.d.example."), f.zones.lookup(), kNow).security ==
          Security::kSecure);
  }
  SECTION("time is the caller's") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN A 192.0.2.1"}),
        {}}.parse();
    const Verdict v = judge(m, question("www.example."), f.zones.lookup(), kNow + 40 * test::kDay);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kSignatureExpired);
  }
}

TEST_CASE("judge: the verdict's TTL cap is the least of its signatures' (RFC 4035 5.3.3)",
          "[dnssec][answer]") {
  Fixture f;
  SECTION("a CNAME chain: the link whose signature expires first") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 3600 IN CNAME www.other."}) +
            f.other.signed_set(rrs({"www.other. 600 IN A 192.0.2.1"}),
                               test::Validity{kNow - test::kDay, kNow + 90}),
        {}}.parse();
    const Verdict v = judge(m, question("www.example."), f.zones.lookup(), kNow);
    REQUIRE(v.security == Security::kSecure);
    CHECK(v.ttl_cap == 90);
  }
  SECTION("the Original TTLs, when every signature lasts longer") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 3600 IN CNAME www.other."}) +
            f.other.signed_set({"www.other. 600 IN A 192.0.2.1"}),
        {}}.parse();
    CHECK(judge(m, question("www.example."), f.zones.lookup(), kNow).ttl_cap == 600);
  }
  SECTION("a negative answer: its proofs count") {
    const auto m =
        Message{"nope.example.",
                wire::type::kA,
                3,
                {},
                f.soa() + f.ex.signed_set(
                              rrs({"example. 300 IN NSEC www.example. SOA NS RRSIG NSEC DNSKEY"}),
                              test::Validity{kNow - test::kDay, kNow + 42})}
            .parse();
    const Verdict v = judge(m, question("nope.example."), f.zones.lookup(), kNow);
    REQUIRE(v.security == Security::kSecure);
    CHECK(v.ttl_cap == 42);
  }
}

TEST_CASE("judge: insecure and bogus zones", "[dnssec][answer]") {
  Zone ex("example.");
  const Records chain = ex.signed_set({"www.example. 300 IN CNAME www.other."}) +
                        rrs({"www.other. 300 IN A 192.0.2.1"});
  const auto m = Message{"www.example.", wire::type::kA, 0, test::clone(chain), {}}.parse();
  Zones zones;
  zones.add(ex.secure());
  SECTION("the target's zone is insecure") {
    zones.add_insecure("other.");
    const Verdict v = judge(m, question("www.example."), zones.lookup(), kNow);
    CHECK(v.security == Security::kInsecure);
    CHECK(v.ede() == -1);
  }
  SECTION("insecure with an informational EDE") {
    zones.add_insecure("other.", wire::ede::kUnsupportedDnskeyAlgorithm);
    const Verdict v = judge(m, question("www.example."), zones.lookup(), kNow);
    CHECK(v.security == Security::kInsecure);
    CHECK(v.ede() == 1);
  }
  SECTION("the target's zone is bogus: its reason is the answer's") {
    zones.add_bogus("other.", BogusReason::kDnskeyMissing);
    const Verdict v = judge(m, question("www.example."), zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kDnskeyMissing);
    CHECK(v.ede() == 9);
  }
  SECTION("the target's zone is indeterminate") {
    zones.add(ZoneKeys{Verdict::indeterminate(), N("other."), nullptr, 0});
    CHECK(judge(m, question("www.example."), zones.lookup(), kNow).security ==
          Security::kIndeterminate);
  }
  SECTION("bogus after insecure is bogus") {
    zones.add_insecure("other.");
    const Records rev = rrs({"www.other. 300 IN CNAME www.example."}) +
                        rrs({"www.example. 300 IN A 192.0.2.66"}) +
                        ex.sign(rrs({"www.example. 300 IN A 192.0.2.1"}));
    const auto r = Message{"www.other.", wire::type::kA, 0, test::clone(rev), {}}.parse();
    const Verdict v = judge(r, question("www.other."), zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kBadSignature);
  }
}

TEST_CASE("judge: RRsets of a secure zone", "[dnssec][answer]") {
  Fixture f;
  SECTION("unsigned: RRSIGs missing") {
    const auto m =
        Message{"www.example.", wire::type::kA, 0, rrs({"www.example. 300 IN A 192.0.2.1"}), {}}
            .parse();
    const Verdict v = judge(m, question("www.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kRrsigsMissing);
    CHECK(v.ede() == 10);
  }
  SECTION("tampered: bad signature") {
    const Records sigs = f.ex.sign(rrs({"www.example. 300 IN A 192.0.2.1"}));
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        rrs({"www.example. 300 IN A 203.0.113.1"}) + sigs,
        {}}.parse();
    const Verdict v = judge(m, question("www.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kBadSignature);
    CHECK(v.ede() == 6);
  }
  SECTION("signed by a name the chain does not reach as a zone") {
    Zone sub("sub.example.");
    const auto m = Message{
        "www.sub.example.",
        wire::type::kA,
        0,
        sub.signed_set({"www.sub.example. 300 IN A 192.0.2.1"}),
        {}}.parse();
    // The lookup knows example. only: sub.example. is no cut it found.
    const Verdict v = judge(m, question("www.sub.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kDnskeyMissing);
  }
  SECTION("a later part's failure after a good first part") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN CNAME www.other."}) +
            f.other.signed_set({"www.other. 300 IN A 192.0.2.1"}, test::not_yet_valid()),
        {}}.parse();
    const Verdict v = judge(m, question("www.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kSignatureNotYetValid);
  }
}

TEST_CASE("judge: negative answers need their proofs", "[dnssec][answer]") {
  Fixture f;
  // example.'s chain: example. -> a.example. -> example.
  const Records apex_nsec =
      f.ex.signed_set({"example. 300 IN NSEC a.example. NS SOA RRSIG NSEC DNSKEY"});
  const Records a_nsec = f.ex.signed_set({"a.example. 300 IN NSEC example. A RRSIG NSEC"});
  SECTION("NXDOMAIN proven") {
    // b.example. after a.example. (last NSEC); *.example. between the apex and a.example.
    const auto m =
        Message{"b.example.", wire::type::kA, 3, {}, f.soa() + a_nsec + apex_nsec}.parse();
    CHECK(judge(m, question("b.example."), f.zones.lookup(), kNow).security == Security::kSecure);
  }
  SECTION("NXDOMAIN without the wildcard proof") {
    const auto m = Message{"b.example.", wire::type::kA, 3, {}, f.soa() + a_nsec}.parse();
    const Verdict v = judge(m, question("b.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kNsecMissing);
    CHECK(v.ede() == 12);
  }
  SECTION("NXDOMAIN without any proof") {
    const auto m = Message{"b.example.", wire::type::kA, 3, {}, f.soa()}.parse();
    const Verdict v = judge(m, question("b.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kNsecMissing);
  }
  SECTION("NXDOMAIN with unsigned proofs") {
    const auto m = Message{"b.example.",
                           wire::type::kA,
                           3,
                           {},
                           f.soa() + rrs({"a.example. 300 IN NSEC example. A RRSIG NSEC",
                                          "example. 300 IN NSEC a.example. NS SOA RRSIG NSEC"})}
                       .parse();
    CHECK(judge(m, question("b.example."), f.zones.lookup(), kNow).reason ==
          BogusReason::kNsecMissing);
  }
  SECTION("NXDOMAIN with a tampered proof") {
    const Records sigs = f.ex.sign(rrs({"a.example. 300 IN NSEC example. A RRSIG NSEC"}));
    const auto m = Message{"b.example.",
                           wire::type::kA,
                           3,
                           {},
                           f.soa() + rrs({"a.example. 300 IN NSEC example. A TXT RRSIG NSEC"}) +
                               sigs + apex_nsec}
                       .parse();
    const Verdict v = judge(m, question("b.example."), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kBadSignature);
  }
  SECTION("NODATA proven, and not for a type that exists") {
    const auto m = Message{"a.example.", wire::type::kTXT, 0, {}, f.soa() + a_nsec}.parse();
    CHECK(judge(m, question("a.example.", wire::type::kTXT), f.zones.lookup(), kNow).security ==
          Security::kSecure);
    const auto n = Message{"a.example.", wire::type::kA, 0, {}, f.soa() + a_nsec}.parse();
    const Verdict v = judge(n, question("a.example.", wire::type::kA), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kNsecMissing);
  }
  SECTION("NODATA at the end of a CNAME chain") {
    const auto m =
        Message{"www.other.", wire::type::kTXT, 0,
                f.other.signed_set({"www.other. 300 IN CNAME a.example."}), f.soa() + a_nsec}
            .parse();
    CHECK(judge(m, question("www.other.", wire::type::kTXT), f.zones.lookup(), kNow).security ==
          Security::kSecure);
  }
  SECTION("a denial in an insecure zone needs no proof") {
    Zones zones;
    zones.add_insecure("example.");
    const auto m =
        Message{
            "b.example.", wire::type::kA, 3, {}, rrs({"example. 300 IN SOA ns. host. 1 2 3 4 300"})}
            .parse();
    CHECK(judge(m, question("b.example."), zones.lookup(), kNow).security == Security::kInsecure);
  }
  SECTION("a proof signed by an insecure zone makes the answer insecure") {
    Zones zones;
    zones.add_insecure("example.");
    const auto m = Message{"b.example.", wire::type::kA, 3, {}, f.soa() + a_nsec}.parse();
    CHECK(judge(m, question("b.example."), zones.lookup(), kNow).security == Security::kInsecure);
  }
}

TEST_CASE("judge: wildcard answers need the proof that the name does not exist",
          "[dnssec][answer]") {
  Fixture f;
  // x.w.example. TXT, synthesised from *.w.example.
  Records answer = f.ex.signed_set({"*.w.example. 300 IN TXT \"wild\""});
  for (auto& r : answer) test::set_owner(r.get(), "x.w.example.");
  const Records proof = f.ex.signed_set({"*.w.example. 300 IN NSEC z.w.example. TXT RRSIG NSEC"});
  SECTION("with the proof") {
    const auto m =
        Message{"x.w.example.", wire::type::kTXT, 0, test::clone(answer), test::clone(proof)}
            .parse();
    CHECK(judge(m, question("x.w.example.", wire::type::kTXT), f.zones.lookup(), kNow).security ==
          Security::kSecure);
  }
  SECTION("without") {
    const auto m = Message{"x.w.example.", wire::type::kTXT, 0, test::clone(answer), {}}.parse();
    const Verdict v = judge(m, question("x.w.example.", wire::type::kTXT), f.zones.lookup(), kNow);
    CHECK(v.security == Security::kBogus);
    CHECK(v.reason == BogusReason::kNsecMissing);
  }
  SECTION("the wildcard's own RRset needs none") {
    const auto m = Message{
        "*.w.example.",
        wire::type::kTXT,
        0,
        f.ex.signed_set({"*.w.example. 300 IN TXT \"wild\""}),
        {}}.parse();
    CHECK(judge(m, question("*.w.example.", wire::type::kTXT), f.zones.lookup(), kNow).security ==
          Security::kSecure);
  }
}

TEST_CASE("judge: a spliced answer needs no denial", "[dnssec][answer]") {
  Fixture f;
  const auto m = Message{
      "www.example.",
      wire::type::kA,
      0,
      f.ex.signed_set({"www.example. 300 IN CNAME app.privatelink.example."}),
      {}}.parse();
  CHECK(judge(m, question("www.example.", wire::type::kA, true), f.zones.lookup(), kNow).security ==
        Security::kSecure);
  // Not spliced, the missing data at the chain's end is a denial without proof.
  const Verdict v = judge(m, question("www.example."), f.zones.lookup(), kNow);
  CHECK(v.security == Security::kBogus);
  CHECK(v.reason == BogusReason::kNsecMissing);
}

TEST_CASE("judge: a CNAME or ANY question is answered by the first link", "[dnssec][answer]") {
  Fixture f;
  const auto m = Message{
      "www.example.",
      wire::type::kCNAME,
      0,
      f.ex.signed_set({"www.example. 300 IN CNAME gone.other."}),
      {}}.parse();
  const AnswerQuestion q = question("www.example.", wire::type::kCNAME);
  CHECK(texts(needed_zones(m, q)) == Strings{"example."});
  CHECK(judge(m, q, f.zones.lookup(), kNow).security == Security::kSecure);
  const AnswerQuestion any = question("www.example.", wire::type::kANY);
  CHECK(judge(m, any, f.zones.lookup(), kNow).security == Security::kSecure);
  // For an A question the chain goes on to gone.other., which needs a denial.
  CHECK(judge(m, question("www.example."), f.zones.lookup(), kNow).reason ==
        BogusReason::kNsecMissing);
}

TEST_CASE("judge: an unknown zone makes the verdict indeterminate", "[dnssec][answer]") {
  Fixture f;
  const ZoneLookup none = [](const wire::Name&) -> const ZoneKeys* { return nullptr; };
  SECTION("a signed answer") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN A 192.0.2.1"}),
        {}}.parse();
    CHECK(judge(m, question("www.example."), none, kNow).security == Security::kIndeterminate);
  }
  SECTION("a negative answer without proofs") {
    const auto m = Message{"b.example.", wire::type::kA, 3, {}, f.soa()}.parse();
    CHECK(judge(m, question("b.example."), none, kNow).security == Security::kIndeterminate);
  }
  SECTION("only the chain's end unknown") {
    const auto m = Message{
        "www.example.",
        wire::type::kA,
        0,
        f.ex.signed_set({"www.example. 300 IN CNAME www.elsewhere."}),
        {}}.parse();
    const ZoneLookup partial = [&f](const wire::Name& n) -> const ZoneKeys* {
      return n == N("elsewhere.") || n.is_subdomain_of(N("elsewhere.")) ? nullptr
                                                                        : f.zones.lookup()(n);
    };
    CHECK(judge(m, question("www.example."), partial, kNow).security == Security::kIndeterminate);
  }
}

}  // namespace
}  // namespace vnetdns::dnssec
