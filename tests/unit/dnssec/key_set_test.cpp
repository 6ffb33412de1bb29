// KeySet: each DNSKEY decoded once (P-256, P-384, Ed25519, RSA/SHA-256, RSA/SHA-512), a
// ready verification context for RSA and ECDSA only; an undecodable key and a key that is not
// a zone key (flags, protocol) verify nothing. verify_rrset with a KeySet gives the same verdicts
// on the thread that built it (the ready context) and on another thread (a context per check): good
// signatures pass, tampered data and a signature of another RRset fail, for every algorithm.
#include "resolver/dnssec/key_set.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include "resolver/dnssec/verifier.hpp"

#include "tests/unit/dnssec/signing.hpp"

namespace vnetdns::dnssec {
namespace {

using test::kNow;
using test::OneSet;
using test::operator+;
using test::Records;
using test::rrs;
using test::www;
using test::Zone;

// verify_rrset on another thread than the one that built `keys`.
SigCheck elsewhere(const RrSet& set, const Zone& z, const KeySet* keys) {
  SigCheck out;
  std::thread t([&] {
    CHECK_FALSE(keys->owned_here());
    out = verify_rrset(set, z.name(), keys, kNow);
  });
  t.join();
  return out;
}

TEST_CASE("KeySet decodes every key once; RSA and ECDSA get a ready context", "[dnssec][key_set]") {
  const auto alg = GENERATE(LDNS_SIGN_ECDSAP256SHA256, LDNS_SIGN_ECDSAP384SHA384, LDNS_SIGN_ED25519,
                            LDNS_SIGN_ED448, LDNS_SIGN_RSASHA1, LDNS_SIGN_RSASHA1_NSEC3,
                            LDNS_SIGN_RSASHA256, LDNS_SIGN_RSASHA512);
  CAPTURE(static_cast<int>(alg));
  Zone z("example.", alg);
  const auto keys = z.key_list();
  REQUIRE(keys->size() == 1);
  const KeySet::Key& k = keys->keys().front();
  CHECK(k.pkey != nullptr);
  CHECK(k.algorithm == static_cast<std::uint8_t>(alg));
  CHECK(k.tag == z.keytag());
  CHECK(k.usable);
  CHECK_FALSE(k.revoked);
  CHECK((k.verify_ctx != nullptr) == (alg != LDNS_SIGN_ED25519 && alg != LDNS_SIGN_ED448));
  CHECK(keys->owned_here());

  OneSet good(z.signed_set(www()));
  OneSet tampered(rrs({"www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.99"}) +
                  z.sign(www()));
  const Records other = rrs({"www.example. 300 IN A 198.51.100.7"});
  OneSet swapped(www() + z.sign(other));
  for (int round = 0; round < 2; ++round) {  // the ready context is used again
    CHECK(verify_rrset(*good.set, z.name(), keys.get(), kNow).ok);
    CHECK(verify_rrset(*tampered.set, z.name(), keys.get(), kNow).reason ==
          BogusReason::kBadSignature);
    CHECK(verify_rrset(*swapped.set, z.name(), keys.get(), kNow).reason ==
          BogusReason::kBadSignature);
    CHECK(verify_rrset(*good.set, z.name(), keys.get(), kNow).ok);
  }
  CHECK(elsewhere(*good.set, z, keys.get()).ok);
  CHECK(elsewhere(*tampered.set, z, keys.get()).reason == BogusReason::kBadSignature);
  CHECK(elsewhere(*swapped.set, z, keys.get()).reason == BogusReason::kBadSignature);
}

TEST_CASE("KeySet: a key that does not decode verifies nothing", "[dnssec][key_set]") {
  Zone z("example.");
  // The zone's key with its public key data cut short.
  LdnsRr broken(ldns_rr_clone(z.dnskey()));
  const ldns_rdf* data = ldns_rr_dnskey_key(broken.get());
  ldns_rdf* shorter = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_B64, 10, ldns_rdf_data(data));
  ldns_rdf_deep_free(ldns_rr_set_rdf(broken.get(), shorter, 3));
  LdnsRrList list = new_list();
  ldns_rr_list_push_rr(list.get(), broken.get());
  const KeySet keys(list.get());
  REQUIRE(keys.size() == 1);
  const KeySet::Key& k = keys.keys().front();
  CHECK(k.pkey == nullptr);
  CHECK(k.verify_ctx == nullptr);
  CHECK(k.tag == ldns_calc_keytag(broken.get()));
  // A signature that names the broken key (its tag and algorithm): tried, and bad.
  Records sigs = z.sign(www());
  ldns_rdf_deep_free(
      ldns_rr_set_rdf(sigs.front().get(), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, k.tag), 6));
  OneSet s(www() + sigs);
  const SigCheck c = verify_rrset(*s.set, z.name(), &keys, kNow);
  CHECK_FALSE(c.ok);
  CHECK(c.reason == BogusReason::kBadSignature);
}

// The zone's key with RDATA field `field` replaced, as a KeySet, and a signature by the zone's
// key that names the changed key's tag (flags and protocol are part of the tag). Unchecked,
// the changed key would verify it (its public key is the signer's); a key that is not a zone
// key is no candidate at all: no DNSKEY for the signature (EDE 9).
void changed_key_fails(std::size_t field, ldns_rdf* value, BogusReason why) {
  Zone z("example.");
  LdnsRr other(ldns_rr_clone(z.dnskey()));
  ldns_rdf_deep_free(ldns_rr_set_rdf(other.get(), value, field));
  LdnsRrList list = new_list();
  ldns_rr_list_push_rr(list.get(), other.get());
  const KeySet keys(list.get());
  REQUIRE(keys.size() == 1);
  CHECK(keys.keys().front().pkey == nullptr);
  Records sigs = z.sign(www());
  ldns_rdf_deep_free(ldns_rr_set_rdf(
      sigs.front().get(), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, keys.keys().front().tag), 6));
  OneSet s(www() + sigs);
  const SigCheck c = verify_rrset(*s.set, z.name(), &keys, kNow);
  CHECK_FALSE(c.ok);
  CHECK(c.reason == why);
}

TEST_CASE("KeySet: a DNSKEY without the Zone Key flag or with protocol 4 verifies nothing",
          "[dnssec][key_set]") {
  SECTION("flags 0 (RFC 4034 section 2.1.1: some other kind of key)") {
    changed_key_fails(0, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0),
                      BogusReason::kDnskeyMissing);
  }
  SECTION("flags 1 (SEP alone, no Zone Key flag)") {
    changed_key_fails(0, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 1),
                      BogusReason::kDnskeyMissing);
  }
  SECTION("protocol 4 (RFC 4034 section 2.1.2: must be 3)") {
    changed_key_fails(1, ldns_native2rdf_int8(LDNS_RDF_TYPE_INT8, 4), BogusReason::kDnskeyMissing);
  }
  SECTION("a ZSK (flags 256) and a KSK (257) are zone keys") {
    const auto flags = GENERATE(256, 257);
    Zone z("example.", LDNS_SIGN_ECDSAP256SHA256, static_cast<std::uint16_t>(flags));
    CHECK(z.key_list()->keys().front().pkey != nullptr);
    OneSet s(z.signed_set(www()));
    CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).ok);
  }
}

TEST_CASE("KeySet: a revoked key (RFC 5011) signs its DNSKEY RRset only", "[dnssec][key_set]") {
  Zone z("example.", LDNS_SIGN_ECDSAP256SHA256, 257 | 0x0080);
  const auto keys = z.key_list();
  REQUIRE(keys->size() == 1);
  CHECK(keys->keys().front().usable);
  CHECK(keys->keys().front().revoked);
  OneSet a(z.signed_set(www()));
  const SigCheck c = verify_rrset(*a.set, z.name(), keys.get(), kNow);
  CHECK_FALSE(c.ok);
  CHECK(c.reason == BogusReason::kDnskeyMissing);
  OneSet k(z.signed_set(z.dnskey_records()), "example.", LDNS_RR_TYPE_DNSKEY);
  CHECK(verify_rrset(*k.set, z.name(), keys.get(), kNow).ok);
}

TEST_CASE("KeySet: keys past the eagerly decoded ones are decoded per check", "[dnssec][key_set]") {
  Zone z("example.");
  for (std::size_t i = 1; i <= KeySet::kEagerKeys; ++i) z.add_key(LDNS_SIGN_ECDSAP256SHA256, 256);
  const auto keys = z.key_list();
  REQUIRE(keys->size() == KeySet::kEagerKeys + 1);
  const KeySet::Key& last = keys->keys().back();
  CHECK(last.usable);
  CHECK(last.pkey == nullptr);
  CHECK(last.verify_ctx == nullptr);
  CHECK(keys->keys().front().pkey != nullptr);
  // Signed by the last key only.
  const int only = static_cast<int>(KeySet::kEagerKeys);
  OneSet s(www() + z.sign(www(), {}, only));
  CHECK(verify_rrset(*s.set, z.name(), keys.get(), kNow).ok);
  CHECK(elsewhere(*s.set, z, keys.get()).ok);
  OneSet t(rrs({"www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.99"}) +
           z.sign(www(), {}, only));
  CHECK(verify_rrset(*t.set, z.name(), keys.get(), kNow).reason == BogusReason::kBadSignature);
}

TEST_CASE("KeySet of no list and of records that are not DNSKEYs", "[dnssec][key_set]") {
  const KeySet none(nullptr);
  CHECK(none.size() == 0);
  const Records a = rrs({"example. 300 IN A 192.0.2.1"});
  LdnsRrList list = new_list();
  ldns_rr_list_push_rr(list.get(), a.front().get());
  const KeySet not_keys(list.get());
  REQUIRE(not_keys.size() == 1);
  CHECK(not_keys.keys().front().pkey == nullptr);
}

}  // namespace
}  // namespace vnetdns::dnssec
