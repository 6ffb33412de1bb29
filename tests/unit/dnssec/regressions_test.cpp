// Regressions: one TEST_CASE per bug a review of resolver/dnssec found (the letters are the
// review's): signers that do not enclose the owner (A), proofs signed by another zone (B,
// B2), NXDOMAIN for an empty non-terminal (C), NODATA from the wrong side of a zone cut (D),
// a CNAME below a DNAME that is not its synthesis (E), the wildcard an NSEC proof is tied to
// (H), trust anchor error lines (G). Each failed before its fix.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <catch2/catch.hpp>

#include "resolver/dnssec/answer_validator.hpp"
#include "resolver/dnssec/denial.hpp"
#include "resolver/dnssec/trust_anchor.hpp"
#include "resolver/wire/types.hpp"

#include "tests/unit/dnssec/signing.hpp"

namespace vnetdns::dnssec {
namespace {

using test::kNow;
using test::Message;
using test::N;
using test::Proofs;
using test::Records;
using test::rrs;
using test::Zone;
using test::Zones;
using test::operator+;

// BUG A (answer_validator.cpp Judge::check / zone_name_for): the zone an RRset is judged in
// is its first RRSIG's signer, which need not enclose the owner. A forged RRset of a secure
// zone with an RRSIG naming any insecure zone is judged insecure (served, no SERVFAIL).
TEST_CASE("BUG A: an RRSIG signer that does not enclose the owner", "[dnssec][bug]") {
  Zone ex("example.");
  Zone forger("unsigned.");
  Zones zones;
  zones.add(ex.secure());
  zones.add_insecure("unsigned.");
  const Records forged = rrs({"www.example. 300 IN A 203.0.113.66"});
  const auto m =
      Message{"www.example.", wire::type::kA, 0, forged + forger.sign(forged), {}}.parse();
  const AnswerQuestion q{N("www.example."), wire::type::kA, false};
  const Verdict v = judge(m, q, zones.lookup(), kNow);
  CHECK(v.security == Security::kBogus);  // got kInsecure
}

// BUG B (answer_validator.cpp judge -> denial.cpp nsec_cover): an NSEC is used for any name
// it spans, whatever zone signed it: an attacker's own signed zone "proves" NXDOMAIN for
// names of another secure zone.
TEST_CASE("BUG B: an NSEC of another zone proves NXDOMAIN", "[dnssec][bug]") {
  Zone ex("example.");
  Zone evil("evil.");
  Zones zones;
  zones.add(ex.secure());
  zones.add(evil.secure());
  const auto m = Message{"www.example.",
                         wire::type::kA,
                         3,
                         {},
                         evil.signed_set({"evil. 300 IN NSEC zzz.example. NS SOA RRSIG NSEC"})}
                     .parse();
  const AnswerQuestion q{N("www.example."), wire::type::kA, false};
  const Verdict v = judge(m, q, zones.lookup(), kNow);
  CHECK(v.security == Security::kBogus);  // got kSecure
  // What judge() then asks about (the name itself: is its zone signed?) is among the names
  // needed_zones() lists, so the pipeline has looked it up (found by fuzz_validator:
  // tests/fuzz/regressions/fuzz_validator/crash-denial-of-another-zone).
  const auto needed = needed_zones(m, q);
  CHECK(std::find(needed.begin(), needed.end(), N("www.example.")) != needed.end());
}

// BUG B, second form (denial.cpp Denial::nsec3_usable and hash3 use the first NSEC3 record's
// parameters only): one signed NSEC3 of any zone with more than 150 iterations, placed first,
// turns a forged NXDOMAIN of a secure zone into "insecure" (EDE 27).
TEST_CASE("BUG B2: an NSEC3 of another zone with 151 iterations downgrades NXDOMAIN",
          "[dnssec][bug]") {
  Zone ex("example.");
  Zone evil("evil.");
  Zones zones;
  zones.add(ex.secure());
  zones.add(evil.secure());
  const std::string h = test::nsec3_hash("evil.", test::Nsec3Params{151, "-", false});
  const auto m =
      Message{"www.example.",
              wire::type::kA,
              3,
              {},
              evil.signed_set(rrs({h + ".evil. 3600 IN NSEC3 1 0 151 - " + h + " A RRSIG"}))}
          .parse();
  const AnswerQuestion q{N("www.example."), wire::type::kA, false};
  const Verdict v = judge(m, q, zones.lookup(), kNow);
  CHECK(v.security == Security::kBogus);  // got kInsecure, EDE 27
}

// BUG C (denial.cpp Denial::nsec_nxdomain): an empty non-terminal (the NSEC's next name lies
// below the name) is "proven" not to exist.
TEST_CASE("BUG C: NSEC NXDOMAIN for an empty non-terminal", "[dnssec][bug]") {
  Proofs p(rrs({"a.example. 3600 IN NSEC b.c.example. A RRSIG NSEC",
                "example. 3600 IN NSEC a.example. NS SOA RRSIG NSEC DNSKEY"}));
  CHECK(p.denial.nxdomain(N("c.example.")) == Proof::kMissing);  // got kProven
}

// BUG D (denial.cpp Denial::nodata): the parent's NSEC/NSEC3 at a delegation (NS without SOA)
// proves NODATA for any type of the child, and the child's apex NSEC (SOA) proves the absence
// of the DS, which only the parent can prove.
TEST_CASE("BUG D: NODATA from the wrong side of a zone cut", "[dnssec][bug]") {
  Proofs parent_side(rrs({"sub.example. 3600 IN NSEC zzz.example. NS RRSIG NSEC"}));
  CHECK(parent_side.denial.nodata(N("sub.example."), wire::type::kA) == Proof::kMissing);
  Proofs child_apex(rrs({"sub.example. 3600 IN NSEC a.sub.example. NS SOA RRSIG NSEC DNSKEY"}));
  CHECK(child_apex.denial.nodata(N("sub.example."), wire::type::kDS) == Proof::kMissing);

  const test::Nsec3Chain c(
      "example.", {{"example.", "NS SOA RRSIG DNSKEY NSEC3PARAM"}, {"sub.example.", "NS"}});
  Proofs nsec3(c.match("sub.example."));
  CHECK(nsec3.denial.nodata(N("sub.example."), wire::type::kA) == Proof::kMissing);

  // Through judge(): the parent's delegation NSEC denies the child's A record.
  Zone ex("example.");
  Zones zones;
  zones.add(ex.secure());
  const auto m = Message{"sub.example.",
                         wire::type::kA,
                         0,
                         {},
                         ex.signed_set({"sub.example. 300 IN NSEC zzz.example. NS RRSIG NSEC"})}
                     .parse();
  const AnswerQuestion q{N("sub.example."), wire::type::kA, false};
  CHECK(judge(m, q, zones.lookup(), kNow).security == Security::kBogus);  // got kSecure
}

// BUG E (answer_validator.cpp synthesised_cname): an unsigned CNAME below a DNAME is skipped
// without checking that it is the DNAME's substitution: any target is accepted.
TEST_CASE("BUG E: a CNAME below a DNAME that is not its synthesis", "[dnssec][bug]") {
  Zone ex("example.");
  Zone attacker("attacker.");
  Zones zones;
  zones.add(ex.secure());
  zones.add(attacker.secure());
  const auto m = Message{
      "www.d.example.",
      wire::type::kA,
      0,
      ex.signed_set({"d.example. 300 IN DNAME other."}) +
          rrs({"www.d.example. 300 IN CNAME www.attacker."}) +
          attacker.signed_set({"www.attacker. 300 IN A 203.0.113.66"}),
      {}}.parse();
  const AnswerQuestion q{N("www.d.example."), wire::type::kA, false};
  CHECK(judge(m, q, zones.lookup(), kNow).security == Security::kBogus);  // got kSecure
}

// BUG H (denial.cpp Denial::wildcard_answer, NSEC branch): any NSEC covering the owner is
// accepted, without checking that the wildcard the RRSIG labels name is the one at the
// closest encloser: the RRset of *.example. may be served for x.w.example. where
// *.w.example. applies.
TEST_CASE("BUG H: NSEC wildcard proof for the wrong wildcard", "[dnssec][bug]") {
  Proofs p(rrs({"*.w.example. 3600 IN NSEC z.w.example. TXT RRSIG NSEC"}));
  CHECK(p.denial.wildcard_answer(N("x.w.example."), 2) == Proof::kProven);
  CHECK(p.denial.wildcard_answer(N("x.w.example."), 1) == Proof::kMissing);  // got kProven
}

// BUG G (trust_anchor.cpp load_trust_anchors): the line in errors. Before e9594ef it was one
// past the record's; e9594ef subtracts one, which is right after a newline but wrong for a
// record on a last line without one (ldns counted no newline there): ":1:" for line 2.
TEST_CASE("BUG G: trust anchor errors name the record's line", "[dnssec][bug]") {
  char tmpl[] = "/tmp/vnetdns-anchor-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string path = std::string(tmpl) + "/anchors";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(
        "; anchors\n. IN DS 20326 8 2 "
        "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
        "example. IN A 192.0.2.1\n",
        f);
    std::fclose(f);
  }
  auto r = load_trust_anchors(path);
  REQUIRE_FALSE(r);
  CHECK(r.error() == path + ":3: a trust anchor is a DS or DNSKEY record");  // got :4:

  // The last line without a newline: ldns has not counted a newline after it.
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(
        ". IN DS 20326 8 2 "
        "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
        "example. IN A 192.0.2.1",
        f);
    std::fclose(f);
  }
  auto last = load_trust_anchors(path);
  std::remove(path.c_str());
  ::rmdir(tmpl);
  REQUIRE_FALSE(last);
  CHECK(last.error() == path + ":2: a trust anchor is a DS or DNSKEY record");
}

}  // namespace
}  // namespace vnetdns::dnssec
