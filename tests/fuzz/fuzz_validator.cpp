// libFuzzer target: DNSSEC validation of an upstream answer (hostile wire bytes). The input is
// parsed with SignedMessage::parse; the question is read from its question section (root/A
// when there is none; bit 0 of the ID says "spliced"). Then, on the same message:
//   - needed_zones() and judge(), with a lookup that answers every name with a secure ZoneKeys
//     of that name holding one fixed Ed25519 key, so signatures are really checked (seeds made
//     with this key get past the signatures to the proofs); again with a lookup that calls every
//     zone insecure;
//   - check_ds() for the question's name below a secure parent, and check_dnskey() with the
//     fixed key's DS and DNSKEY as anchors and with the message's own DS records as anchors;
//   - a Denial over every NSEC and NSEC3 RRset of both sections, asked every question about the
//     question's name and the names of the message.
// Checks: verdicts are well formed (a reason exactly when bogus); judge() asks its lookup only
// for names needed_zones() listed (the pipeline knows no others); with every zone insecure the
// verdict is never secure once a zone was consulted; check_ds's kZone carries a DS set and a
// secure check_dnskey a key set.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "resolver/dnssec/answer_validator.hpp"
#include "resolver/dnssec/chain.hpp"
#include "resolver/dnssec/denial.hpp"
#include "resolver/dnssec/signed_message.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"

#include "fuzz_check.hpp"

namespace dnssec = vnetdns::dnssec;
namespace wire = vnetdns::wire;

namespace {

// The validation time (2023-11-14): seeds are signed for a window around it.
constexpr std::uint32_t kNow = 1700000000;

// A test key, used for nothing but this target and its seeds: every zone's key here. Seeds are
// signed with it (RRSIG inception kNow - 1 day, expiration kNow + 30 days, signer = the zone).
constexpr char kTestKey[] =
    "Private-key-format: v1.2\n"
    "Algorithm: 15 (ED25519)\n"
    "PrivateKey: 2PuTQxGK1a+i9A21V+9H2eKqW2WPh1VeL1xigLa6g2M=\n";

// The fixed key's DNSKEY record (owner root; flags 257), made once.
const ldns_rr* fixed_dnskey() {
  static const ldns_rr* rr = [] {
    std::vector<char> text(kTestKey, kTestKey + sizeof kTestKey - 1);
    std::FILE* f = fmemopen(text.data(), text.size(), "r");
    FUZZ_CHECK(f != nullptr);
    ldns_key* key = nullptr;
    FUZZ_CHECK(ldns_key_new_frm_fp(&key, f) == LDNS_STATUS_OK);
    std::fclose(f);
    ldns_key_set_pubkey_owner(key, ldns_dname_new_frm_str("."));
    ldns_key_set_flags(key, 257);
    ldns_rr* out = ldns_key2rr(key);
    FUZZ_CHECK(out != nullptr);
    ldns_rr_set_ttl(out, 3600);
    ldns_key_deep_free(key);
    return out;
  }();
  return rr;
}

// The fixed DNSKEY with owner `zone`.
dnssec::LdnsRr dnskey_at(const wire::Name& zone) {
  dnssec::LdnsRr rr(ldns_rr_clone(fixed_dnskey()));
  ldns_rdf* owner = ldns_dname_new_frm_data(static_cast<std::uint16_t>(zone.size()), zone.data());
  FUZZ_CHECK(owner != nullptr);
  ldns_rdf_deep_free(ldns_rr_owner(rr.get()));
  ldns_rr_set_owner(rr.get(), owner);
  return rr;
}

// Secure ZoneKeys for any zone asked, holding the fixed key (made per input: no state carried
// from one input to the next).
class SecureEverywhere {
 public:
  const dnssec::ZoneKeys* get(const wire::Name& zone) {
    auto it = zones_.find(zone.to_text());
    if (it != zones_.end()) return &it->second;
    dnssec::LdnsRrList one = dnssec::new_list();
    dnssec::LdnsRr key = dnskey_at(zone);
    ldns_rr_list_push_rr(one.get(), key.get());
    dnssec::ZoneKeys z{dnssec::Verdict::secure(), zone, dnssec::share_keys(one.get()), 3600};
    return &zones_.emplace(zone.to_text(), std::move(z)).first->second;
  }

 private:
  std::map<std::string, dnssec::ZoneKeys> zones_;
};

void check_verdict(const dnssec::Verdict& v) {
  FUZZ_CHECK(v.security < dnssec::Security::kCount);
  FUZZ_CHECK(v.reason < dnssec::BogusReason::kCount);
  FUZZ_CHECK((v.security == dnssec::Security::kBogus) == (v.reason != dnssec::BogusReason::kNone));
  const int ede = v.ede();
  FUZZ_CHECK(ede >= -1 && ede < 65536);
  if (v.security == dnssec::Security::kSecure) FUZZ_CHECK(ede == -1);
}

bool contains(const std::vector<wire::Name>& names, const wire::Name& n) {
  for (const auto& x : names) {
    if (x == n) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Copy into an exactly sized heap buffer so ASan sees any read past the message.
  std::vector<std::uint8_t> msg(data, data + size);
  std::optional<dnssec::SignedMessage> parsed = dnssec::SignedMessage::parse(msg.data(), size);
  if (!parsed) return 0;
  const dnssec::SignedMessage& m = *parsed;
  FUZZ_CHECK(size >= wire::kHeaderSize);

  // The question.
  dnssec::AnswerQuestion q{wire::Name(), wire::type::kA, (msg[1] & 1) != 0};
  if (((msg[4] << 8) | msg[5]) > 0) {
    std::size_t end = 0;
    if (wire::read_name(msg.data(), size, wire::kHeaderSize, q.qname, &end) ==
            wire::NameError::kNone &&
        end + 2 <= size) {
      q.qtype = static_cast<std::uint16_t>((msg[end] << 8) | msg[end + 1]);
    }
  }

  // The answer's verdict.
  const std::vector<wire::Name> needed = dnssec::needed_zones(m, q);
  for (std::size_t i = 0; i < needed.size(); ++i) {
    for (std::size_t j = i + 1; j < needed.size(); ++j) FUZZ_CHECK(needed[i] != needed[j]);
  }
  SecureEverywhere secure;
  const dnssec::ZoneLookup secure_lookup = [&](const wire::Name& n) {
    FUZZ_CHECK(contains(needed, n));
    return secure.get(n);
  };
  check_verdict(dnssec::judge(m, q, secure_lookup, kNow));

  int asked = 0;
  std::map<std::string, dnssec::ZoneKeys> insecure_zones;
  const dnssec::ZoneLookup insecure_lookup = [&](const wire::Name& n) {
    FUZZ_CHECK(contains(needed, n));
    ++asked;
    auto& z = insecure_zones[n.to_text()];
    z = dnssec::ZoneKeys{dnssec::Verdict::insecure(), n, nullptr, 3600};
    return &z;
  };
  const dnssec::Verdict all_insecure = dnssec::judge(m, q, insecure_lookup, kNow);
  check_verdict(all_insecure);
  if (asked > 0) FUZZ_CHECK(all_insecure.security != dnssec::Security::kSecure);

  // The chain of trust, the message read as a DS reply and as a DNSKEY reply for the qname.
  const wire::Name parent = q.qname.is_root() ? q.qname : q.qname.parent(1);
  const dnssec::DsResult ds = dnssec::check_ds(m, q.qname, *secure.get(parent), kNow);
  if (ds.kind == dnssec::CutKind::kZone) {
    FUZZ_CHECK(ds.ds != nullptr && ldns_rr_list_rr_count(ds.ds.get()) > 0);
  } else if (ds.kind == dnssec::CutKind::kEnd) {
    check_verdict(ds.end);
  }
  FUZZ_CHECK(ds.ttl <= dnssec::kMaxKeyTtl);

  dnssec::LdnsRrListDeep anchors(ldns_rr_list_new());
  {
    dnssec::LdnsRr key = dnskey_at(q.qname);
    ldns_rr* digest = ldns_key_rr2ds(key.get(), LDNS_SHA256);
    if (digest != nullptr) ldns_rr_list_push_rr(anchors.get(), digest);
    ldns_rr_list_push_rr(anchors.get(), key.release());
  }
  dnssec::LdnsRrList message_ds = dnssec::new_list();
  for (const auto* sets : {&m.answer(), &m.authority()}) {
    for (const auto& s : *sets) {
      if (s.type != wire::type::kDS) continue;
      for (std::size_t i = 0; i < s.size(); ++i) {
        ldns_rr_list_push_rr(message_ds.get(), const_cast<ldns_rr*>(s.rr(i)));
      }
    }
  }
  for (const ldns_rr_list* a : {static_cast<const ldns_rr_list*>(anchors.get()),
                                static_cast<const ldns_rr_list*>(message_ds.get())}) {
    const dnssec::ZoneKeys k = dnssec::check_dnskey(m, q.qname, a, kNow);
    check_verdict(k.verdict);
    FUZZ_CHECK(k.zone == q.qname);
    if (k.verdict.security == dnssec::Security::kSecure) {
      FUZZ_CHECK(k.keys != nullptr && k.keys->size() > 0);
    }
  }

  // The proofs, whoever signed them.
  dnssec::Denial denial;
  std::vector<wire::Name> names{q.qname};
  for (const auto* sets : {&m.answer(), &m.authority()}) {
    for (const auto& s : *sets) {
      denial.add(s);
      if (names.size() < 8 && !contains(names, s.owner)) names.push_back(s.owner);
    }
  }
  if (denial.empty()) return 0;
  for (const auto& n : names) {
    (void)denial.nxdomain(n);
    (void)denial.nodata(n, q.qtype);
    (void)denial.nodata(n, wire::type::kDS);
    (void)denial.ds_absent(n);
    const std::size_t labels = n.label_count();
    if (labels > 0) (void)denial.wildcard_answer(n, static_cast<std::uint8_t>(labels - 1));
    (void)denial.wildcard_answer(n, 0);
  }
  return 0;
}
