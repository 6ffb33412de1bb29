// Denial with NSEC (RFC 4035 section 5.4, RFC 4592 wildcards, RFC 6840 section 4.1): NXDOMAIN
// with and without the wildcard proof, NODATA (plain, type present, CNAME present, empty
// non-terminal, wildcard), the proof behind a wildcard-synthesised answer, what a DS denial
// says about a cut, and NSEC records at a delegation point proving nothing below it.
#include <catch2/catch.hpp>

#include "resolver/dnssec/denial.hpp"
#include "resolver/wire/types.hpp"

#include "tests/unit/dnssec/signing.hpp"

namespace vnetdns::dnssec {
namespace {

using test::N;
using test::Proofs;
using test::Records;
using test::rrs;
using test::operator+;

// The NSEC chain of zone example., in canonical order:
//   example.        apex
//   a.example.      A
//   (c.example.)    empty non-terminal above b.c.example.
//   b.c.example.    A
//   d.example.      delegation without DS
//   e.example.      CNAME
//   s.example.      delegation with DS
//   (w.example.)    empty non-terminal above the wildcard
//   *.w.example.    wildcard with TXT
//   x.w.example.    A
Records apex() { return rrs({"example. 3600 IN NSEC a.example. NS SOA RRSIG NSEC DNSKEY"}); }
Records at_a() { return rrs({"a.example. 3600 IN NSEC b.c.example. A RRSIG NSEC"}); }
Records at_bc() { return rrs({"b.c.example. 3600 IN NSEC d.example. A RRSIG NSEC"}); }
Records at_d() { return rrs({"d.example. 3600 IN NSEC e.example. NS RRSIG NSEC"}); }
Records at_e() { return rrs({"e.example. 3600 IN NSEC s.example. CNAME RRSIG NSEC"}); }
Records at_s() { return rrs({"s.example. 3600 IN NSEC *.w.example. NS DS RRSIG NSEC"}); }
Records at_wild() { return rrs({"*.w.example. 3600 IN NSEC x.w.example. TXT RRSIG NSEC"}); }
Records at_x() { return rrs({"x.w.example. 3600 IN NSEC example. A RRSIG NSEC"}); }

TEST_CASE("NSEC NXDOMAIN: the name and the wildcard at its closest encloser",
          "[dnssec][denial][nsec]") {
  // dd.example. lies between d.example. and e.example.; *.example. between the apex and
  // a.example.
  SECTION("proven") {
    Proofs p(at_d() + apex());
    CHECK(p.denial.nxdomain(N("dd.example.")) == Proof::kProven);
  }
  SECTION("closest encloser from the next name's side") {
    // b.example. lies between a.example. and b.c.example.; *.example. before a.example.
    Proofs p(apex() + at_a());
    CHECK(p.denial.nxdomain(N("b.example.")) == Proof::kProven);
  }
  SECTION("closest encloser from the owner's side") {
    // zz.b.c.example. and *.b.c.example. both lie between b.c.example. and d.example.
    Proofs p(at_bc());
    CHECK(p.denial.nxdomain(N("zz.b.c.example.")) == Proof::kProven);
  }
  SECTION("the wildcard proof missing") {
    Proofs p(at_d());
    CHECK(p.denial.nxdomain(N("dd.example.")) == Proof::kMissing);
  }
  SECTION("the name's proof missing") {
    Proofs p(apex());
    CHECK(p.denial.nxdomain(N("dd.example.")) == Proof::kMissing);
  }
  SECTION("a wildcard that exists answers instead") {
    // q.w.example.: covered by *.w.example. -> x.w.example., but *.w.example. exists.
    Proofs p(at_wild() + at_x());
    CHECK(p.denial.nxdomain(N("q.w.example.")) == Proof::kMissing);
  }
  SECTION("a name that exists is not denied") {
    Proofs p(at_a() + apex() + at_d());
    CHECK(p.denial.nxdomain(N("a.example.")) == Proof::kMissing);
    CHECK(p.denial.nxdomain(N("d.example.")) == Proof::kMissing);
  }
  SECTION("the last NSEC of the zone covers names after it, not outside the zone") {
    // zzz.example. sorts after x.w.example.; x.w.example.'s next name is the apex.
    Proofs p(at_x() + apex());
    CHECK(p.denial.nxdomain(N("zzz.example.")) == Proof::kProven);
    CHECK(p.denial.nxdomain(N("zzz.other.")) == Proof::kMissing);
  }
  SECTION("no records") {
    Proofs p({});
    CHECK(p.denial.empty());
    CHECK(p.denial.nxdomain(N("dd.example.")) == Proof::kMissing);
  }
}

TEST_CASE("NSEC NODATA", "[dnssec][denial][nsec]") {
  SECTION("the name exists without the type") {
    Proofs p(at_a());
    CHECK(p.denial.nodata(N("a.example."), wire::type::kTXT) == Proof::kProven);
    CHECK(p.denial.nodata(N("a.example."), wire::type::kAAAA) == Proof::kProven);
  }
  SECTION("the type is in the bitmap") {
    Proofs p(at_a());
    CHECK(p.denial.nodata(N("a.example."), wire::type::kA) == Proof::kMissing);
  }
  SECTION("a CNAME at the name answers every type") {
    Proofs p(at_e());
    CHECK(p.denial.nodata(N("e.example."), wire::type::kA) == Proof::kMissing);
  }
  SECTION("an NSEC of another name proves nothing") {
    Proofs p(at_a());
    CHECK(p.denial.nodata(N("x.w.example."), wire::type::kTXT) == Proof::kMissing);
  }
  SECTION("empty non-terminal: the next name lies below the name") {
    Proofs p(at_a());
    CHECK(p.denial.nodata(N("c.example."), wire::type::kA) == Proof::kProven);
    // b.example. is covered too, but nothing lies below it: that is an NXDOMAIN proof.
    CHECK(p.denial.nodata(N("b.example."), wire::type::kA) == Proof::kMissing);
  }
  SECTION("wildcard NODATA: the wildcard exists without the type") {
    // q.w.example. is covered by *.w.example. -> x.w.example.: the wildcard would answer.
    Proofs p(at_wild());
    CHECK(p.denial.nodata(N("q.w.example."), wire::type::kMX) == Proof::kProven);
    CHECK(p.denial.nodata(N("q.w.example."), wire::type::kTXT) == Proof::kMissing);
  }
  SECTION("DS at a delegation without DS") {
    Proofs p(at_d());
    CHECK(p.denial.nodata(N("d.example."), wire::type::kDS) == Proof::kProven);
    Proofs q(at_s());
    CHECK(q.denial.nodata(N("s.example."), wire::type::kDS) == Proof::kMissing);
  }
}

TEST_CASE("NSEC proof behind a wildcard-synthesised answer", "[dnssec][denial][nsec]") {
  // q.w.example. TXT synthesised from *.w.example. (RRSIG labels 2).
  SECTION("proven") {
    Proofs p(at_wild());
    CHECK(p.denial.wildcard_answer(N("q.w.example."), 2) == Proof::kProven);
  }
  SECTION("missing") {
    Proofs p(at_a() + apex());
    CHECK(p.denial.wildcard_answer(N("q.w.example."), 2) == Proof::kMissing);
  }
  SECTION("the name exists: no NSEC covers it") {
    Proofs p(at_x() + at_wild());
    CHECK(p.denial.wildcard_answer(N("x.w.example."), 2) == Proof::kMissing);
  }
}

TEST_CASE("NSEC DS denial: what it says about a cut", "[dnssec][denial][nsec]") {
  SECTION("a delegation without DS") {
    Proofs p(at_d());
    CHECK(p.denial.ds_absent(N("d.example.")) == CutProof::kDelegation);
  }
  SECTION("a name without NS is not a cut") {
    Proofs p(at_a());
    CHECK(p.denial.ds_absent(N("a.example.")) == CutProof::kNotCut);
  }
  SECTION("an empty non-terminal is not a cut") {
    Proofs p(at_a());
    CHECK(p.denial.ds_absent(N("c.example.")) == CutProof::kNotCut);
  }
  SECTION("a name that does not exist") {
    Proofs p(at_d());
    CHECK(p.denial.ds_absent(N("dd.example.")) == CutProof::kNoName);
  }
  SECTION("a bitmap with DS, or the child's apex (SOA), proves nothing") {
    Proofs p(at_s());
    CHECK(p.denial.ds_absent(N("s.example.")) == CutProof::kMissing);
    Proofs q(apex());
    CHECK(q.denial.ds_absent(N("example.")) == CutProof::kMissing);
  }
  SECTION("nothing about the name") {
    Proofs p(at_a());
    CHECK(p.denial.ds_absent(N("x.w.example.")) == CutProof::kMissing);
  }
}

TEST_CASE("NSEC at a delegation point proves nothing below it", "[dnssec][denial][nsec]") {
  // d.example. NSEC e.example. NS: sub.d.example. sorts between them, but the NSEC is the
  // parent's; the child zone holds sub.d.example.
  Proofs p(at_d() + apex());
  CHECK(p.denial.nxdomain(N("sub.d.example.")) == Proof::kMissing);
  CHECK(p.denial.nodata(N("sub.d.example."), wire::type::kA) == Proof::kMissing);
  CHECK(p.denial.wildcard_answer(N("sub.d.example."), 2) == Proof::kMissing);
  CHECK(p.denial.ds_absent(N("sub.d.example.")) == CutProof::kMissing);
  // The same span without the NS bit does cover it.
  Proofs plain(rrs({"d.example. 3600 IN NSEC e.example. A RRSIG NSEC"}) + apex());
  CHECK(plain.denial.nxdomain(N("sub.d.example.")) == Proof::kProven);

  SECTION("the apex NSEC (NS and SOA) does cover names below it") {
    Proofs a(apex());
    CHECK(a.denial.wildcard_answer(N("0.example."), 1) == Proof::kProven);
  }
  SECTION("nor does an NSEC at a DNAME") {
    Proofs d(rrs({"d.example. 3600 IN NSEC e.example. DNAME RRSIG NSEC"}) + apex());
    CHECK(d.denial.nxdomain(N("sub.d.example.")) == Proof::kMissing);
  }
}

TEST_CASE("Denial ignores records that are not NSEC or NSEC3", "[dnssec][denial]") {
  Proofs p(
      rrs({"example. 3600 IN SOA ns. host. 1 2 3 4 5", "a.example. 3600 IN TXT \"b.c.example.\""}));
  CHECK(p.denial.empty());
  CHECK(p.denial.nxdomain(N("b.example.")) == Proof::kMissing);
  CHECK(p.denial.ds_absent(N("b.example.")) == CutProof::kMissing);
}

}  // namespace
}  // namespace vnetdns::dnssec
