// The chain of trust, one link at a time: check_ds on DS replies (a signed DS set, unusable
// algorithms and digests, signed NSEC denials of the DS, unsigned or wrongly signed ones,
// CNAME, failures) and check_dnskey on DNSKEY replies (DS or DNSKEY anchors, KSK/ZSK split,
// keys no anchor names, expired self-signatures, unsupported algorithms).
#include "resolver/dnssec/chain.hpp"

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
using test::operator+;

Records one(LdnsRr r) {
  Records out;
  out.push_back(std::move(r));
  return out;
}

// A DS reply for sub.example.
SignedMessage ds_reply(Records answer, Records authority = {}, std::uint8_t rcode = 0) {
  return Message{"sub.example.", wire::type::kDS, rcode, std::move(answer), std::move(authority)}
      .parse();
}

const char* kDigest = "2BB183AF5F22588179A53B0A98631FAD1A292118A4DB76A26F9C9E4D5E4B0AC0";

TEST_CASE("check_ds: a DS set signed by the parent is a zone cut", "[dnssec][chain]") {
  Zone parent("example.");
  Zone child("sub.example.");
  const auto reply = ds_reply(parent.signed_set(one(child.ds())));
  const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
  REQUIRE(r.kind == CutKind::kZone);
  REQUIRE(r.ds != nullptr);
  REQUIRE(ldns_rr_list_rr_count(r.ds.get()) == 1);
  CHECK(ldns_rr_compare_ds(ldns_rr_list_rr(r.ds.get(), 0), child.dnskey()));
  CHECK(r.ttl == 3600);

  SECTION("the TTL is the set's, at most kMaxKeyTtl") {
    LdnsRr ds = child.ds();
    ldns_rr_set_ttl(ds.get(), 120);
    const auto low = ds_reply(parent.signed_set(one(std::move(ds))));
    CHECK(check_ds(low, N("sub.example."), parent.secure(), kNow).ttl == 120);
    LdnsRr ds2 = child.ds();
    ldns_rr_set_ttl(ds2.get(), 86400);
    const auto high = ds_reply(parent.signed_set(one(std::move(ds2))));
    CHECK(check_ds(high, N("sub.example."), parent.secure(), kNow).ttl == kMaxKeyTtl);
  }
  SECTION("and at most what its signature has left (RFC 4035 section 5.3.3)") {
    const auto soon =
        ds_reply(parent.signed_set(one(child.ds()), test::Validity{kNow - test::kDay, kNow + 77}));
    CHECK(check_ds(soon, N("sub.example."), parent.secure(), kNow).ttl == 77);
  }
  SECTION("unusable records are dropped from the set") {
    const Records set =
        one(child.ds()) + rrs({std::string("sub.example. 3600 IN DS 1 200 2 ") + kDigest,
                               "sub.example. 3600 IN DS 2 13 200 AABBCCDD"});
    const auto mixed = ds_reply(parent.signed_set(set));
    const DsResult m = check_ds(mixed, N("sub.example."), parent.secure(), kNow);
    REQUIRE(m.kind == CutKind::kZone);
    CHECK(ldns_rr_list_rr_count(m.ds.get()) == 1);
  }
}

TEST_CASE("check_ds: a DS set that does not verify is bogus", "[dnssec][chain]") {
  Zone parent("example.");
  Zone child("sub.example.");
  SECTION("unsigned") {
    const DsResult r =
        check_ds(ds_reply(one(child.ds())), N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kEnd);
    CHECK(r.end.security == Security::kBogus);
    CHECK(r.end.reason == BogusReason::kRrsigsMissing);
  }
  SECTION("signed by the child") {
    const auto reply = ds_reply(child.signed_set(one(child.ds())));
    const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kEnd);
    CHECK(r.end.security == Security::kBogus);
  }
  SECTION("expired") {
    const auto reply = ds_reply(parent.signed_set(one(child.ds()), test::expired()));
    const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
    CHECK(r.end.security == Security::kBogus);
    CHECK(r.end.reason == BogusReason::kSignatureExpired);
  }
}

TEST_CASE("check_ds: only unusable DS records make the child insecure", "[dnssec][chain]") {
  Zone parent("example.");
  SECTION("unknown algorithm: EDE 1") {
    const auto reply = ds_reply(
        parent.signed_set(rrs({std::string("sub.example. 3600 IN DS 1 200 2 ") + kDigest})));
    const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kEnd);
    CHECK(r.end.security == Security::kInsecure);
    CHECK(r.end.info_ede == wire::ede::kUnsupportedDnskeyAlgorithm);
    CHECK(r.end.ede() == 1);
    CHECK(r.ttl == 3600);
  }
  SECTION("unknown digest type: EDE 2") {
    const auto reply =
        ds_reply(parent.signed_set(rrs({"sub.example. 3600 IN DS 1 13 200 AABBCCDD"})));
    const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
    CHECK(r.end.security == Security::kInsecure);
    CHECK(r.end.info_ede == wire::ede::kUnsupportedDsDigestType);
  }
  SECTION("but not unsigned ones") {
    const auto reply = ds_reply(rrs({std::string("sub.example. 3600 IN DS 1 200 2 ") + kDigest}));
    const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
    CHECK(r.end.security == Security::kBogus);
  }
}

TEST_CASE("check_ds: NSEC denials of the DS", "[dnssec][chain]") {
  Zone parent("example.");
  Zone child("sub.example.");
  const Records soa = parent.signed_set(rrs({"example. 300 IN SOA ns. host. 1 2 3 4 300"}));
  SECTION("a signed delegation without DS: insecure") {
    const Records nsec =
        parent.signed_set(rrs({"sub.example. 600 IN NSEC zzz.example. NS RRSIG NSEC"}));
    const DsResult r = check_ds(ds_reply({}, soa + nsec), N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kEnd);
    CHECK(r.end.security == Security::kInsecure);
    CHECK(r.end.ede() == -1);
    CHECK(r.ttl == 600);
  }
  SECTION("no NS bit: not a cut") {
    const Records nsec =
        parent.signed_set(rrs({"sub.example. 600 IN NSEC zzz.example. A RRSIG NSEC"}));
    const DsResult r = check_ds(ds_reply({}, soa + nsec), N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kNotCut);
  }
  SECTION("the name does not exist") {
    const Records nsec =
        parent.signed_set(rrs({"example. 600 IN NSEC zzz.example. NS SOA RRSIG NSEC DNSKEY"}));
    const DsResult r =
        check_ds(ds_reply({}, soa + nsec, 3), N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kNoName);
  }
  SECTION("an unsigned denial proves nothing") {
    const Records nsec = rrs({"sub.example. 600 IN NSEC zzz.example. NS RRSIG NSEC"});
    const DsResult r = check_ds(ds_reply({}, soa + nsec), N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kEnd);
    CHECK(r.end.security == Security::kBogus);
    CHECK(r.end.reason == BogusReason::kNsecMissing);
    CHECK(r.ttl == 0);
  }
  SECTION("the child's apex NSEC (signed by the child) proves nothing") {
    const Records nsec =
        child.signed_set(rrs({"sub.example. 600 IN NSEC a.sub.example. NS SOA RRSIG NSEC DNSKEY"}));
    const DsResult r =
        check_ds(ds_reply({}, test::clone(nsec)), N("sub.example."), parent.secure(), kNow);
    CHECK(r.end.security == Security::kBogus);
    CHECK(r.end.reason == BogusReason::kNsecMissing);
  }
  SECTION("no denial at all") {
    const DsResult r =
        check_ds(ds_reply({}, test::clone(soa)), N("sub.example."), parent.secure(), kNow);
    CHECK(r.end.security == Security::kBogus);
    CHECK(r.end.reason == BogusReason::kNsecMissing);
  }
}

TEST_CASE("check_ds: other replies", "[dnssec][chain]") {
  Zone parent("example.");
  SECTION("SERVFAIL and REFUSED are indeterminate") {
    for (std::uint8_t rcode : {2, 5}) {
      const DsResult r =
          check_ds(ds_reply({}, {}, rcode), N("sub.example."), parent.secure(), kNow);
      CHECK(r.kind == CutKind::kEnd);
      CHECK(r.end.security == Security::kIndeterminate);
    }
  }
  SECTION("a CNAME owner is no cut") {
    const auto reply = ds_reply(parent.signed_set(rrs({"sub.example. 300 IN CNAME www.example."})));
    const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
    CHECK(r.kind == CutKind::kNotCut);
  }
  SECTION("a DS set of another name is no answer") {
    Zone other("other.example.");
    const auto reply = ds_reply(parent.signed_set(one(other.ds())));
    const DsResult r = check_ds(reply, N("sub.example."), parent.secure(), kNow);
    CHECK(r.end.security == Security::kBogus);
    CHECK(r.end.reason == BogusReason::kNsecMissing);
  }
}

// A DNSKEY reply for `zone`.
SignedMessage dnskey_reply(const std::string& zone, Records answer, std::uint8_t rcode = 0) {
  return Message{zone, wire::type::kDNSKEY, rcode, std::move(answer), {}}.parse();
}

LdnsRrListDeep anchors(Records recs) {
  LdnsRrListDeep l(ldns_rr_list_new());
  for (auto& r : recs) ldns_rr_list_push_rr(l.get(), r.release());
  return l;
}

TEST_CASE("check_dnskey: a DS that names a key signing the set", "[dnssec][chain]") {
  const auto alg = GENERATE(LDNS_SIGN_ECDSAP256SHA256, LDNS_SIGN_ED25519, LDNS_SIGN_RSASHA256);
  CAPTURE(static_cast<int>(alg));
  // KSK (index 0) and ZSK (index 1); the DNSKEY set is signed by the KSK only.
  Zone child("sub.example.", alg, 257);
  child.add_key(alg, 256);
  const auto reply = dnskey_reply("sub.example.", child.signed_set(child.dnskey_records(), {}, 0));
  SECTION("DS of the KSK: secure, with the whole key set") {
    const auto ds = anchors(one(child.ds(0)));
    const ZoneKeys k = check_dnskey(reply, N("sub.example."), ds.get(), kNow);
    CHECK(k.verdict.security == Security::kSecure);
    CHECK(k.zone == N("sub.example."));
    REQUIRE(k.keys != nullptr);
    CHECK(k.keys->size() == 2);
    CHECK(k.ttl == 3600);
  }
  SECTION("a key set whose signature expires first lives only that long (RFC 4035 5.3.3)") {
    const auto soon = dnskey_reply(
        "sub.example.",
        child.signed_set(child.dnskey_records(), test::Validity{kNow - test::kDay, kNow + 99}, 0));
    const ZoneKeys k = check_dnskey(soon, N("sub.example."), anchors(one(child.ds(0))).get(), kNow);
    CHECK(k.verdict.security == Security::kSecure);
    CHECK(k.ttl == 99);
  }
  SECTION("SHA-1 and SHA-384 digests too") {
    for (ldns_hash h : {LDNS_SHA1, LDNS_SHA384}) {
      const auto ds = anchors(one(child.ds(0, h)));
      CHECK(check_dnskey(reply, N("sub.example."), ds.get(), kNow).verdict.security ==
            Security::kSecure);
    }
  }
  SECTION("DS of the ZSK, which does not sign the set: bogus") {
    const auto ds = anchors(one(child.ds(1)));
    const ZoneKeys k = check_dnskey(reply, N("sub.example."), ds.get(), kNow);
    CHECK(k.verdict.security == Security::kBogus);
    CHECK(k.verdict.reason == BogusReason::kDnskeyMissing);
    CHECK(k.keys == nullptr);
  }
}

TEST_CASE("check_dnskey: failures", "[dnssec][chain]") {
  Zone child("sub.example.");
  Zone stranger("sub.example.", child);
  SECTION("the DS names no key of the set") {
    const auto reply = dnskey_reply("sub.example.", child.signed_set(child.dnskey_records()));
    const auto ds = anchors(one(stranger.ds()));
    const ZoneKeys k = check_dnskey(reply, N("sub.example."), ds.get(), kNow);
    CHECK(k.verdict.security == Security::kBogus);
    CHECK(k.verdict.reason == BogusReason::kDnskeyMissing);
    CHECK(k.verdict.ede() == 9);
  }
  SECTION("the key's self-signature expired") {
    const auto reply =
        dnskey_reply("sub.example.", child.signed_set(child.dnskey_records(), test::expired()));
    const auto ds = anchors(one(child.ds()));
    const ZoneKeys k = check_dnskey(reply, N("sub.example."), ds.get(), kNow);
    CHECK(k.verdict.security == Security::kBogus);
    CHECK(k.verdict.reason == BogusReason::kSignatureExpired);
  }
  SECTION("the set signed by another key only") {
    Records set = child.dnskey_records() + stranger.dnskey_records();
    const auto reply = dnskey_reply("sub.example.", set + stranger.sign(set));
    const auto ds = anchors(one(child.ds()));
    CHECK(check_dnskey(reply, N("sub.example."), ds.get(), kNow).verdict.security ==
          Security::kBogus);
  }
  SECTION("no DNSKEY set in the reply") {
    const auto reply = dnskey_reply("sub.example.", {});
    const auto ds = anchors(one(child.ds()));
    const ZoneKeys k = check_dnskey(reply, N("sub.example."), ds.get(), kNow);
    CHECK(k.verdict.security == Security::kBogus);
    CHECK(k.verdict.reason == BogusReason::kDnskeyMissing);
  }
  SECTION("a DNSKEY set of another name") {
    const auto reply = dnskey_reply("sub.example.", child.signed_set(child.dnskey_records()));
    const auto ds = anchors(one(child.ds()));
    CHECK(check_dnskey(reply, N("other.example."), ds.get(), kNow).verdict.security ==
          Security::kBogus);
  }
  SECTION("SERVFAIL") {
    const auto reply = dnskey_reply("sub.example.", {}, 2);
    const auto ds = anchors(one(child.ds()));
    CHECK(check_dnskey(reply, N("sub.example."), ds.get(), kNow).verdict.security ==
          Security::kIndeterminate);
  }
  SECTION("anchors of unsupported algorithms only: insecure, EDE 1") {
    const auto reply = dnskey_reply("sub.example.", child.signed_set(child.dnskey_records()));
    const auto ds = anchors(
        rrs({std::string("sub.example. 3600 IN DS 1 200 2 ") + kDigest,
             "sub.example. 3600 IN DNSKEY 257 3 200 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvk"}));
    const ZoneKeys k = check_dnskey(reply, N("sub.example."), ds.get(), kNow);
    CHECK(k.verdict.security == Security::kInsecure);
    CHECK(k.verdict.info_ede == wire::ede::kUnsupportedDnskeyAlgorithm);
  }
}

TEST_CASE("check_dnskey: a DNSKEY trust anchor", "[dnssec][chain]") {
  Zone root(".");
  const auto reply = dnskey_reply(".", root.signed_set(root.dnskey_records()));
  SECTION("the key itself") {
    const auto a = anchors(root.dnskey_records());
    const ZoneKeys k = check_dnskey(reply, N("."), a.get(), kNow);
    CHECK(k.verdict.security == Security::kSecure);
    CHECK(k.zone.is_root());
  }
  SECTION("another key") {
    Zone other(".");
    const auto a = anchors(other.dnskey_records());
    const ZoneKeys k = check_dnskey(reply, N("."), a.get(), kNow);
    CHECK(k.verdict.security == Security::kBogus);
    CHECK(k.verdict.reason == BogusReason::kDnskeyMissing);
  }
  SECTION("the same key with other flags is another key") {
    Records flags = root.dnskey_records();
    ldns_rdf_deep_free(
        ldns_rr_set_rdf(flags[0].get(), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 256), 0));
    const auto a = anchors(std::move(flags));
    CHECK(check_dnskey(reply, N("."), a.get(), kNow).verdict.security == Security::kBogus);
  }
}

}  // namespace
}  // namespace vnetdns::dnssec
