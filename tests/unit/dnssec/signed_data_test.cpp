// signed_data(): the bytes an RRSIG covers, compared with what ldns's own verifier builds
// (clone, original TTL, wildcard owner, ldns_rr2canonical, ldns_rr_list_sort, then
// ldns_rrsig2buffer_wire and ldns_rr_list2buffer_wire) for mixed-case owners and RDATA
// names, several records out of order, wildcard expansions and unknown types; then where the
// two differ on purpose (duplicates dropped, RFC 4034 section 6.3), the signer name signed
// lowered whatever case it came in (section 3.1.8.1), and the hostile input it refuses.
// verify_rrset checks signatures made over mixed-case data.
#include "resolver/dnssec/signed_data.hpp"

#include <algorithm>

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
using test::Zone;

// What ldns_verify_rrsig_keylist_time signs over, built the way it builds it.
std::vector<std::uint8_t> ldns_reference(const RrSet& set, const ldns_rr* sig) {
  LdnsRrListDeep c(ldns_rr_list_clone(set.rrs.get()));
  const std::uint32_t ttl = ldns_rdf2native_int32(ldns_rr_rrsig_origttl(sig));
  const std::uint8_t labels = ldns_rdf2native_int8(ldns_rr_rrsig_labels(sig));
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(c.get()); ++i) {
    ldns_rr* r = ldns_rr_list_rr(c.get(), i);
    if (labels < ldns_dname_label_count(ldns_rr_owner(r))) {
      ldns_rdf* chopped = ldns_rdf_clone(ldns_rr_owner(r));
      while (labels < ldns_dname_label_count(chopped)) {
        ldns_rdf* up = ldns_dname_left_chop(chopped);
        ldns_rdf_deep_free(chopped);
        chopped = up;
      }
      ldns_rdf* star = ldns_dname_new_frm_str("*");
      REQUIRE(ldns_dname_cat(star, chopped) == LDNS_STATUS_OK);
      ldns_rdf_deep_free(chopped);
      ldns_rdf_deep_free(ldns_rr_owner(r));
      ldns_rr_set_owner(r, star);
    }
    ldns_rr_set_ttl(r, ttl);
    ldns_rr2canonical(r);
  }
  ldns_rr_list_sort(c.get());
  ldns_buffer* b = ldns_buffer_new(512);
  REQUIRE(ldns_rrsig2buffer_wire(b, sig) == LDNS_STATUS_OK);
  REQUIRE(ldns_rr_list2buffer_wire(b, c.get()) == LDNS_STATUS_OK);
  std::vector<std::uint8_t> out(ldns_buffer_begin(b),
                                ldns_buffer_begin(b) + ldns_buffer_position(b));
  ldns_buffer_free(b);
  return out;
}

const ldns_rr* first_sig(const RrSet& set) { return ldns_rr_list_rr(set.sigs.get(), 0); }

void same_as_ldns(const Zone& z, const Records& records, const char* owner, std::uint16_t type) {
  OneSet s(z.signed_set(records), owner, type);
  std::vector<std::uint8_t> ours;
  REQUIRE(signed_data(*s.set, first_sig(*s.set), ours));
  CHECK(ours == ldns_reference(*s.set, first_sig(*s.set)));
  CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).ok);
}

TEST_CASE("signed_data matches ldns's canonical form", "[dnssec][signed_data]") {
  Zone z("example.");
  SECTION("several records, out of order, TTLs below the original") {
    same_as_ldns(z,
                 rrs({"www.example. 300 IN A 192.0.2.9", "www.example. 300 IN A 192.0.2.1",
                      "www.example. 300 IN A 10.0.0.1"}),
                 "www.example.", LDNS_RR_TYPE_A);
  }
  SECTION("mixed-case owner and names inside RDATA (NS, MX, SRV)") {
    same_as_ldns(
        z, rrs({"Sub.ExAmple. 300 IN NS Ns2.Sub.EXAMPLE.", "sub.example. 300 IN NS a.ns.Net."}),
        "sub.example.", LDNS_RR_TYPE_NS);
    same_as_ldns(
        z, rrs({"MX.example. 300 IN MX 20 Mail.Example.", "mx.example. 300 IN MX 10 B.example."}),
        "mx.example.", LDNS_RR_TYPE_MX);
    same_as_ldns(z, rrs({"_sip._tcp.example. 300 IN SRV 0 5 5060 SIP.Example."}),
                 "_sip._tcp.example.", LDNS_RR_TYPE_SRV);
  }
  SECTION("NSEC: the next name keeps its case (RFC 6840 section 5.1)") {
    same_as_ldns(z, rrs({"a.example. 300 IN NSEC Zz.Example. A RRSIG NSEC"}), "a.example.",
                 LDNS_RR_TYPE_NSEC);
  }
  SECTION("TXT and unknown types, RDATA of different lengths") {
    same_as_ldns(z,
                 rrs({"t.example. 300 IN TXT \"b\"", "t.example. 300 IN TXT \"ab\"",
                      "t.example. 300 IN TXT \"a\" \"b\""}),
                 "t.example.", LDNS_RR_TYPE_TXT);
    // RDATA 0x62 against 0x6162: octet order puts 0x6162 first, a length-first order not.
    same_as_ldns(
        z, rrs({"u.example. 300 IN TYPE65280 \\# 1 62", "u.example. 300 IN TYPE65280 \\# 2 6162"}),
        "u.example.", 65280);
  }
}

TEST_CASE("signed_data rebuilds the wildcard owner from the labels field",
          "[dnssec][signed_data]") {
  Zone z("example.");
  // Sign *.example. and serve it as a.b.example. (two labels more than the RRSIG's 1).
  const Records wild = rrs({"*.example. 300 IN A 192.0.2.50"});
  Records sigs = z.sign(wild);
  Records served = rrs({"a.B.example. 300 IN A 192.0.2.50"});
  for (auto& sig : sigs) {
    ldns_rdf* old = ldns_rr_owner(sig.get());
    ldns_rr_set_owner(sig.get(), ldns_dname_new_frm_str("a.b.example."));
    ldns_rdf_deep_free(old);
  }
  OneSet s(served + sigs, "a.b.example.", LDNS_RR_TYPE_A);
  std::vector<std::uint8_t> ours;
  REQUIRE(signed_data(*s.set, first_sig(*s.set), ours));
  CHECK(ours == ldns_reference(*s.set, first_sig(*s.set)));
  const SigCheck c = verify_rrset(*s.set, z.name(), z.key_list().get(), kNow);
  CHECK(c.ok);
  CHECK(c.labels == 1);
}

TEST_CASE("signed_data drops duplicate records (RFC 4034 section 6.3)", "[dnssec][signed_data]") {
  Zone z("example.");
  const Records one = rrs({"www.example. 300 IN A 192.0.2.1"});
  const Records sigs = z.sign(one);
  // The same record twice, the second in other case: one record in canonical form.
  OneSet s(rrs({"www.example. 300 IN A 192.0.2.1", "WWW.example. 300 IN A 192.0.2.1"}) + sigs);
  std::vector<std::uint8_t> twice;
  REQUIRE(signed_data(*s.set, first_sig(*s.set), twice));
  OneSet single(one + sigs);
  std::vector<std::uint8_t> once;
  REQUIRE(signed_data(*single.set, first_sig(*single.set), once));
  CHECK(twice == once);
  CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).ok);
}

TEST_CASE("signed_data: the signer name is signed lowered", "[dnssec][signed_data]") {
  Zone z("example.");
  const Records set = rrs({"www.example. 300 IN A 192.0.2.1"});
  Records sigs = z.sign(set);
  // An upstream that wrote the signer name in upper case: the signature still covers it lowered.
  ldns_rdf* upper = ldns_dname_new_frm_str("EXAMPLE.");
  ldns_rdf_deep_free(ldns_rr_set_rdf(sigs.front().get(), upper, 7));
  OneSet s(set + sigs);
  std::vector<std::uint8_t> ours;
  REQUIRE(signed_data(*s.set, first_sig(*s.set), ours));
  CHECK(ours == ldns_reference(*s.set, first_sig(*s.set)));
  // After the 18 fixed octets of the RRSIG RDATA: the signer name, lowered.
  const std::vector<std::uint8_t> lowered{7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
  REQUIRE(ours.size() > 18 + lowered.size());
  CHECK(std::equal(lowered.begin(), lowered.end(), ours.begin() + 18));
  CHECK(verify_rrset(*s.set, z.name(), z.key_list().get(), kNow).ok);
}

TEST_CASE("signed_data refuses a labels field above the owner's label count",
          "[dnssec][signed_data]") {
  Zone z("example.");
  Records sigs = z.sign(rrs({"www.example. 300 IN A 192.0.2.1"}));
  ldns_rdf_deep_free(
      ldns_rr_set_rdf(sigs.front().get(), ldns_native2rdf_int8(LDNS_RDF_TYPE_INT8, 5), 2));
  OneSet s(rrs({"www.example. 300 IN A 192.0.2.1"}) + sigs);
  std::vector<std::uint8_t> out{1, 2, 3};
  CHECK_FALSE(signed_data(*s.set, first_sig(*s.set), out));
}

}  // namespace
}  // namespace vnetdns::dnssec
