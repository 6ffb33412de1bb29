// verify_rrset: good signatures with ECDSA P-256, Ed25519 and RSA/SHA-256 keys made in the
// test; expired, not yet valid, tampered, wrong signer, wrong key, unsigned; the most telling
// failure wins; wildcard expansion reported through the labels field; a hostile labels field.
// SignedMessage: RRsets grouped by owner and type with their RRSIGs, names lowered. Also the
// algorithm and digest lists and the verdict's EDE codes.
#include "resolver/dnssec/verifier.hpp"

#include <algorithm>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/dnssec/verdict.hpp"
#include "resolver/wire/types.hpp"

#include "tests/unit/dnssec/signing.hpp"

namespace vnetdns::dnssec {
namespace {

using test::kDay;
using test::kNow;
using test::Message;
using test::N;
using test::OneSet;
using test::operator+;
using test::Records;
using test::rrs;
using test::Validity;
using test::www;
using test::Zone;

TEST_CASE("verify_rrset accepts a good signature of each algorithm", "[dnssec][verifier]") {
  const auto alg = GENERATE(LDNS_SIGN_ECDSAP256SHA256, LDNS_SIGN_ED25519, LDNS_SIGN_RSASHA256);
  CAPTURE(static_cast<int>(alg));
  Zone z("example.", alg);
  OneSet s(z.signed_set(www()));
  REQUIRE(s.set->size() == 2);
  REQUIRE(ldns_rr_list_rr_count(s.set->sigs.get()) == 1);
  const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
  CHECK(c.ok);
  CHECK(c.reason == BogusReason::kNone);
  CHECK(c.labels == 2);
}

TEST_CASE("verify_rrset: validity window", "[dnssec][verifier]") {
  Zone z("example.");
  SECTION("expired") {
    OneSet s(z.signed_set(www(), test::expired()));
    const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
    CHECK_FALSE(c.ok);
    CHECK(c.reason == BogusReason::kSignatureExpired);
  }
  SECTION("not yet valid") {
    OneSet s(z.signed_set(www(), test::not_yet_valid()));
    const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
    CHECK_FALSE(c.ok);
    CHECK(c.reason == BogusReason::kSignatureNotYetValid);
  }
  SECTION("the window is judged at `now`, not by the clock") {
    OneSet s(z.signed_set(www(), Validity{kNow + kDay, kNow + 2 * kDay}));
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow + kDay + 1).ok);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow + 3 * kDay).reason ==
          BogusReason::kSignatureExpired);
  }
}

TEST_CASE("verify_rrset: tampered data is a bad signature", "[dnssec][verifier]") {
  Zone z("example.");
  const Records sigs = z.sign(www());
  SECTION("changed rdata") {
    OneSet s(rrs({"www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.99"}) + sigs);
    const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
    CHECK_FALSE(c.ok);
    CHECK(c.reason == BogusReason::kBadSignature);
  }
  SECTION("a record dropped") {
    OneSet s(rrs({"www.example. 300 IN A 192.0.2.1"}) + sigs);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).reason ==
          BogusReason::kBadSignature);
  }
  SECTION("a lower TTL is not tampering (the RRSIG's original TTL is used)") {
    OneSet s(rrs({"www.example. 10 IN A 192.0.2.1", "www.example. 10 IN A 192.0.2.2"}) + sigs);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).ok);
  }
  SECTION("upper case owner in the message: names are canonical") {
    OneSet s(rrs({"WWW.Example. 300 IN A 192.0.2.1", "www.EXAMPLE. 300 IN A 192.0.2.2"}) + sigs);
    CHECK(s.set->size() == 2);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).ok);
  }
}

TEST_CASE("verify_rrset: the signer must be the zone of the keys", "[dnssec][verifier]") {
  Zone z("example.");
  Zone other("other.");
  SECTION("keys of another zone name") {
    OneSet s(z.signed_set(www()));
    const SigCheck c = verify_rrset(*s.set, other.name(), z.key_list().get(), kNow);
    CHECK_FALSE(c.ok);
    CHECK(c.reason == BogusReason::kBadSignature);
  }
  SECTION("a zone that does not enclose the owner signs it") {
    OneSet s(other.signed_set(www()));
    const SigCheck c = verify_rrset(*s.set, other.name(), other.key_list().get(), kNow);
    CHECK_FALSE(c.ok);
    CHECK(c.reason == BogusReason::kBadSignature);
  }
  SECTION("the right name but not its key") {
    Zone impostor("example.", z);
    OneSet s(impostor.signed_set(www()));
    const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
    CHECK_FALSE(c.ok);
    CHECK(c.reason == BogusReason::kDnskeyMissing);
  }
}

TEST_CASE("verify_rrset: no RRSIG", "[dnssec][verifier]") {
  Zone z("example.");
  OneSet s(www());
  CHECK_FALSE(s.set->signed_());
  const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
  CHECK_FALSE(c.ok);
  CHECK(c.reason == BogusReason::kRrsigsMissing);
}

TEST_CASE("verify_rrset: one good signature among bad ones suffices; else the most telling",
          "[dnssec][verifier]") {
  Zone z("example.");
  Zone impostor("example.", z);
  SECTION("an expired and a good one") {
    OneSet s(www() + z.sign(www(), test::expired()) + z.sign(www()));
    REQUIRE(ldns_rr_list_rr_count(s.set->sigs.get()) == 2);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).ok);
  }
  SECTION("expired beats a bad signature and an unknown key, in either order") {
    const Records tampered = rrs({"www.example. 300 IN A 192.0.2.7"});
    const Records bad = z.sign(tampered);  // right key, other data
    const Records late = z.sign(www(), test::expired());
    const Records unknown = impostor.sign(www());
    OneSet a(www() + bad + unknown + late);
    OneSet b(www() + late + bad + unknown);
    CHECK(verify_rrset(*a.set, z.name(), z.key_list().get(), kNow).reason ==
          BogusReason::kSignatureExpired);
    CHECK(verify_rrset(*b.set, z.name(), z.key_list().get(), kNow).reason ==
          BogusReason::kSignatureExpired);
  }
  SECTION("a bad signature beats an unknown key") {
    const Records bad = z.sign(rrs({"www.example. 300 IN A 192.0.2.7"}));
    OneSet s(www() + impostor.sign(www()) + bad);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).reason ==
          BogusReason::kBadSignature);
  }
}

TEST_CASE("verify_rrset reports a wildcard expansion through the labels field",
          "[dnssec][verifier]") {
  Zone z("example.");
  // Signed as *.example. (labels 1), served as the expanded name a.b.example.
  const Records wild = rrs({"*.example. 300 IN TXT \"wild\""});
  Records sigs = z.sign(wild);
  REQUIRE(sigs.size() == 1);
  REQUIRE(ldns_rdf2native_int8(ldns_rr_rrsig_labels(sigs[0].get())) == 1);
  test::set_owner(sigs[0].get(), "a.b.example.");
  OneSet s(rrs({"a.b.example. 300 IN TXT \"wild\""}) + sigs, "a.b.example.", wire::type::kTXT);
  const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
  REQUIRE(c.ok);
  CHECK(c.labels == 1);
  CHECK(c.labels < s.set->owner.label_count());

  SECTION("the wildcard owner itself counts its labels without the *") {
    OneSet w(z.signed_set(wild), "*.example.", wire::type::kTXT);
    const SigCheck cw = verify_rrset(*w.set, z.name(), z.key_list().get(), kNow);
    REQUIRE(cw.ok);
    CHECK(cw.labels == 1);
    CHECK(w.set->owner.label_count() == 2);
  }
}

TEST_CASE("verify_rrset: a labels field above the owner's label count is refused",
          "[dnssec][verifier]") {
  Zone z("example.");
  Records sigs = z.sign(www());
  ldns_rdf_deep_free(
      ldns_rr_set_rdf(sigs[0].get(), ldns_native2rdf_int8(LDNS_RDF_TYPE_INT8, 3), 2));
  OneSet s(www() + sigs);
  const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
  CHECK_FALSE(c.ok);
  CHECK(c.reason == BogusReason::kBadSignature);
}

TEST_CASE("verify_rrset: fields of the RRSIG that make it unusable", "[dnssec][verifier]") {
  Zone z("example.");
  SECTION("type covered is not the RRset's type") {
    Records sigs = z.sign(www());
    ldns_rdf_deep_free(ldns_rr_set_rdf(
        sigs.front().get(), ldns_native2rdf_int16(LDNS_RDF_TYPE_TYPE, LDNS_RR_TYPE_TXT), 0));
    // Grouped under the type it covers (TXT) the A RRset has no RRSIG; checked against the A
    // RRset directly, the signature is refused before any crypto.
    OneSet s(www() + sigs);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).reason ==
          BogusReason::kRrsigsMissing);
  }
  SECTION("expiration before inception") {
    OneSet s(z.signed_set(www(), Validity{kNow + kDay, kNow - kDay}));
    const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
    CHECK_FALSE(c.ok);
    CHECK(c.reason == BogusReason::kBadSignature);
  }
  SECTION("an ECDSA signature of the wrong length (zero-padded r and s)") {
    Records sigs = z.sign(www());
    const ldns_rdf* sig = ldns_rr_rrsig_sig(sigs.front().get());
    REQUIRE(ldns_rdf_size(sig) == 64);
    std::vector<std::uint8_t> padded(66, 0);
    std::copy(ldns_rdf_data(sig), ldns_rdf_data(sig) + 32, padded.begin() + 1);
    std::copy(ldns_rdf_data(sig) + 32, ldns_rdf_data(sig) + 64, padded.begin() + 34);
    ldns_rdf_deep_free(
        ldns_rr_set_rdf(sigs.front().get(),
                        ldns_rdf_new_frm_data(LDNS_RDF_TYPE_B64, padded.size(), padded.data()), 8));
    OneSet s(www() + sigs);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).reason ==
          BogusReason::kBadSignature);
  }
  SECTION("a record of another class in the RRset") {
    const Records sigs = z.sign(www());
    OneSet s(rrs({"www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.2",
                  "www.example. 300 CH A 192.0.2.2"}) +
             sigs);
    REQUIRE(s.set->size() == 3);
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).reason ==
          BogusReason::kBadSignature);
  }
}

TEST_CASE("verify_rrset: the validity window across the 2^32 wrap (RFC 4034 section 3.1.5)",
          "[dnssec][verifier]") {
  Zone z("example.");
  // Inception just before the 32-bit counter wraps, expiration just after.
  const Validity v{0xFFFF0000U, 0x00010000U};
  OneSet s(z.signed_set(www(), v));
  const auto keys = z.key_list();
  CHECK(verify_rrset(*s.set, z.name(), keys.get(), 0xFFFFFF00U).ok);
  CHECK(verify_rrset(*s.set, z.name(), keys.get(), 0x00000100U).ok);
  CHECK(verify_rrset(*s.set, z.name(), keys.get(), 0xFFFE0000U).reason ==
        BogusReason::kSignatureNotYetValid);
  CHECK(verify_rrset(*s.set, z.name(), keys.get(), 0x00020000U).reason ==
        BogusReason::kSignatureExpired);
}

TEST_CASE("verify_rrset: how long the RRset may live (RFC 4035 section 5.3.3)",
          "[dnssec][verifier]") {
  Zone z("example.");
  const auto keys = z.key_list();
  SECTION("the Original TTL, when the signature lasts longer") {
    OneSet s(z.signed_set(www()));  // TTL 300, expires in 30 days
    const SigCheck c = verify_rrset(*s.set, z.name(), keys.get(), kNow);
    REQUIRE(c.ok);
    CHECK(c.ttl_cap == 300);
  }
  SECTION("an upstream that stretches the TTL does not stretch the cap") {
    Records signed_www = z.signed_set(www());
    for (auto& r : signed_www) ldns_rr_set_ttl(r.get(), 86400);  // the RRSIG's TTL too
    OneSet s(signed_www);
    const SigCheck c = verify_rrset(*s.set, z.name(), keys.get(), kNow);
    REQUIRE(c.ok);  // the Original TTL is what was signed (RFC 4034 section 6.2)
    CHECK(c.ttl_cap == 300);
  }
  SECTION("the time left to the expiration, when it is shorter") {
    OneSet s(z.signed_set(www(), Validity{kNow - kDay, kNow + 120}));
    const SigCheck c = verify_rrset(*s.set, z.name(), keys.get(), kNow);
    REQUIRE(c.ok);
    CHECK(c.ttl_cap == 120);
    // The same from the signature cache (no crypto the second time).
    SignatureCache cache;
    CryptoBudget budget;
    REQUIRE(verify_rrset(*s.set, z.name(), keys.get(), kNow, {&budget, &cache, 1}).ok);
    const std::size_t left = budget.left;
    const SigCheck again =
        verify_rrset(*s.set, z.name(), keys.get(), kNow + 20, {&budget, &cache, 1});
    REQUIRE(again.ok);
    CHECK(budget.left == left);
    CHECK(again.ttl_cap == 100);
  }
}

TEST_CASE("SignedMessage groups RRsets and attaches their RRSIGs", "[dnssec][message]") {
  Zone z("example.");
  const Records a = z.signed_set(www());
  const Records aaaa = z.signed_set(rrs({"www.example. 300 IN AAAA 2001:db8::1"}));
  const Records txt = rrs({"Mail.Example. 300 IN TXT \"x\""});  // unsigned
  // Records of one RRset need not be adjacent; an RRSIG of a type absent is dropped.
  Records mixed = test::clone(a);
  std::swap(mixed[1], mixed[2]);  // A, RRSIG(A), A
  const Records stray = z.sign(rrs({"www.example. 300 IN MX 10 mail.example."}));
  Message m{"www.example.", wire::type::kA, 0, mixed + aaaa + stray, test::clone(txt)};
  const SignedMessage msg = m.parse();
  CHECK(msg.rcode() == 0);
  REQUIRE(msg.answer().size() == 2);
  const RrSet* sa = msg.find(wire::Section::kAnswer, N("www.example."), wire::type::kA);
  REQUIRE(sa != nullptr);
  CHECK(sa->size() == 2);
  CHECK(ldns_rr_list_rr_count(sa->sigs.get()) == 1);
  const RrSet* s6 = msg.find(wire::Section::kAnswer, N("www.example."), wire::type::kAAAA);
  REQUIRE(s6 != nullptr);
  CHECK(ldns_rr_list_rr_count(s6->sigs.get()) == 1);
  CHECK(msg.find(wire::Section::kAnswer, N("www.example."), wire::type::kMX) == nullptr);
  REQUIRE(msg.authority().size() == 1);
  const RrSet* st = msg.find(wire::Section::kAuthority, N("mail.example."), wire::type::kTXT);
  REQUIRE(st != nullptr);
  CHECK(st->section == wire::Section::kAuthority);
  CHECK_FALSE(st->signed_());
  CHECK(msg.find(wire::Section::kAnswer, N("mail.example."), wire::type::kTXT) == nullptr);
  CHECK(verify_rrset(*sa, z.name(), z.key_list().get(), kNow).ok);

  SECTION("rcode") {
    Message nx{"x.example.", wire::type::kA, 3, {}, {}};
    CHECK(nx.parse().rcode() == 3);
  }
  SECTION("garbage is refused") {
    const std::uint8_t junk[] = {0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3, 'w', 'w'};
    CHECK_FALSE(SignedMessage::parse(junk, sizeof junk).has_value());
    CHECK_FALSE(SignedMessage::parse(junk, 0).has_value());
  }
}

TEST_CASE("supported algorithms and digests", "[dnssec][verifier]") {
  for (std::uint8_t a : {5, 7, 8, 10, 13, 14, 15, 16}) CHECK(verifiable_algorithm(a));
  for (std::uint8_t a : {0, 1, 3, 6, 12, 17, 200, 253, 255}) CHECK_FALSE(verifiable_algorithm(a));
  for (std::uint8_t d : {1, 2, 4}) CHECK(supported_digest(d));
  for (std::uint8_t d : {0, 3, 5, 255}) CHECK_FALSE(supported_digest(d));
}

TEST_CASE("verdict EDE codes (RFC 8914)", "[dnssec][verdict]") {
  CHECK(Verdict::bogus(BogusReason::kBadSignature).ede() == 6);
  CHECK(Verdict::bogus(BogusReason::kSignatureExpired).ede() == 7);
  CHECK(Verdict::bogus(BogusReason::kSignatureNotYetValid).ede() == 8);
  CHECK(Verdict::bogus(BogusReason::kDnskeyMissing).ede() == 9);
  CHECK(Verdict::bogus(BogusReason::kRrsigsMissing).ede() == 10);
  CHECK(Verdict::bogus(BogusReason::kNsecMissing).ede() == 12);
  CHECK(Verdict::secure().ede() == -1);
  CHECK(Verdict::insecure().ede() == -1);
  CHECK(Verdict::insecure(27).ede() == 27);
  CHECK(Verdict::indeterminate().ede() == -1);
  CHECK(std::string(to_string(Security::kBogus)) == "bogus");
  CHECK(std::string(to_string(BogusReason::kNsecMissing)) == "nsec_missing");
}

}  // namespace
}  // namespace vnetdns::dnssec
