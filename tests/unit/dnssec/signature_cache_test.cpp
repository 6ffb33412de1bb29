// SignatureCache through verify_rrset: a signature that verified is not checked again for the
// same RRset and key set (the second check is a hit, whatever the keys passed); it is checked
// again for other data, another key set, or a time outside its validity window; a wildcard
// RRset expanded under two names shares one entry; a forged signature is never remembered.
#include "resolver/dnssec/signature_cache.hpp"

#include <catch2/catch.hpp>

#include "resolver/dnssec/verifier.hpp"
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
using test::www;
using test::Zone;

}  // namespace

TEST_CASE("signature cache: a verified signature is not checked again", "[dnssec][sigcache]") {
  Zone z("example.");
  Zone other("example.");  // same zone name, other keys
  SignatureCache cache;
  const Records signed_www = z.signed_set(www());  // ECDSA: each signing differs; sign once
  Records sigs;
  for (const auto& r : signed_www) {
    if (ldns_rr_get_type(r.get()) == LDNS_RR_TYPE_RRSIG) {
      sigs.push_back(test::rr(test::to_text(r.get())));
    }
  }
  OneSet s(test::clone(signed_www));
  const VerifyOptions with_cache{nullptr, &cache, 7};
  REQUIRE(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow, with_cache).ok);
  CHECK(cache.hits() == 0);
  // The same RRset and signature again: a hit, even with keys that could not verify it (the
  // entry is tied to key set 7, which verified it).
  CHECK(verify_rrset(*s.set, z.name(), other.key_list().get(), kNow, with_cache).ok);
  CHECK(cache.hits() == 1);

  SECTION("another key set id is checked again") {
    const VerifyOptions other_id{nullptr, &cache, 8};
    CHECK_FALSE(verify_rrset(*s.set, z.name(), other.key_list().get(), kNow, other_id).ok);
    CHECK(cache.hits() == 1);
  }
  SECTION("other data under the same signature is checked again (and fails)") {
    Records forged = rrs({"www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 203.0.113.9"});
    OneSet f(forged + test::clone(sigs));
    CHECK_FALSE(verify_rrset(*f.set, z.name(), z.key_list().get(), kNow, with_cache).ok);
    CHECK(cache.hits() == 1);
  }
  SECTION("records in another order are the same RRset") {
    OneSet reordered(rrs({"www.example. 300 IN A 192.0.2.2", "www.example. 300 IN A 192.0.2.1"}) +
                     test::clone(sigs));
    CHECK(verify_rrset(*reordered.set, z.name(), z.key_list().get(), kNow, with_cache).ok);
    CHECK(cache.hits() == 2);
  }
  SECTION("outside the signature's validity window the entry is not used") {
    const SigCheck late =
        verify_rrset(*s.set, z.name(), z.key_list().get(), kNow + 31 * kDay, with_cache);
    CHECK_FALSE(late.ok);
    CHECK(late.reason == BogusReason::kSignatureExpired);
    CHECK(cache.hits() == 1);
  }
  SECTION("key set id 0 is never cached") {
    SignatureCache fresh;
    const VerifyOptions no_id{nullptr, &fresh, 0};
    REQUIRE(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow, no_id).ok);
    REQUIRE(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow, no_id).ok);
    CHECK(fresh.hits() == 0);
  }
}

TEST_CASE("signature cache: a wildcard RRset expanded under two names is one entry",
          "[dnssec][sigcache]") {
  Zone z("example.");
  SignatureCache cache;
  const VerifyOptions with_cache{nullptr, &cache, 3};
  const Records wild = rrs({"*.example. 300 IN TXT \"wild\""});
  const Records sigs = z.sign(wild);
  REQUIRE(sigs.size() == 1);
  for (const char* name : {"a.example.", "b.c.example."}) {
    Records sig;
    sig.push_back(test::rr(test::to_text(sigs[0].get())));
    test::set_owner(sig[0].get(), name);
    OneSet s(rrs({std::string(name) + " 300 IN TXT \"wild\""}) + sig, name, wire::type::kTXT);
    const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow, with_cache);
    REQUIRE(c.ok);
    CHECK(c.labels == 1);
  }
  CHECK(cache.hits() == 1);
}

TEST_CASE("signature cache: a signature that fails is not remembered", "[dnssec][sigcache]") {
  Zone z("example.");
  Zone forger("example.");
  SignatureCache cache;
  const VerifyOptions with_cache{nullptr, &cache, 5};
  OneSet s(forger.signed_set(www()));
  CHECK_FALSE(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow, with_cache).ok);
  CHECK_FALSE(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow, with_cache).ok);
  CHECK(cache.hits() == 0);
}

}  // namespace vnetdns::dnssec
