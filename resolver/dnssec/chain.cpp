#include "resolver/dnssec/chain.hpp"

#include <algorithm>
#include <atomic>

#include "resolver/dnssec/denial.hpp"
#include "resolver/dnssec/verifier.hpp"

namespace vnetdns::dnssec {

namespace {

using wire::Name;

std::uint32_t set_ttl(const RrSet& s) {
  std::uint32_t ttl = kMaxKeyTtl;
  for (std::size_t i = 0; i < s.size(); ++i) ttl = std::min(ttl, ldns_rr_ttl(s.rr(i)));
  return ttl;
}

// True when DNSKEY `key` is the key that `anchor` (a DS, or a DNSKEY) names.
bool vouches(const ldns_rr* anchor, const ldns_rr* key) {
  if (ldns_rr_get_type(anchor) == LDNS_RR_TYPE_DS) {
    return ldns_rr_compare_ds(anchor, key);
  }
  if (ldns_rr_get_type(anchor) != LDNS_RR_TYPE_DNSKEY) return false;
  if (ldns_rr_rd_count(anchor) != ldns_rr_rd_count(key)) return false;
  for (std::size_t i = 0; i < ldns_rr_rd_count(key); ++i) {
    if (ldns_rdf_compare(ldns_rr_rdf(anchor, i), ldns_rr_rdf(key, i)) != 0) return false;
  }
  return true;
}

std::uint8_t anchor_algorithm(const ldns_rr* a) {
  // DS: key tag, algorithm, digest type, digest; DNSKEY: flags, protocol, algorithm, key.
  const std::size_t field = ldns_rr_get_type(a) == LDNS_RR_TYPE_DS ? 1 : 2;
  const ldns_rdf* f = ldns_rr_rdf(a, field);
  return f != nullptr && ldns_rdf_size(f) == 1 ? ldns_rdf2native_int8(f) : 0;
}

std::uint8_t ds_digest_type(const ldns_rr* a) {
  if (ldns_rr_get_type(a) != LDNS_RR_TYPE_DS) return LDNS_SHA256;  // a DNSKEY anchor: n/a
  const ldns_rdf* f = ldns_rr_rdf(a, 2);
  return f != nullptr && ldns_rdf_size(f) == 1 ? ldns_rdf2native_int8(f) : 0;
}

}  // namespace

DsResult check_ds(const SignedMessage& reply, const Name& child, const ZoneKeys& parent,
                  std::uint32_t now) {
  DsResult out;
  if (reply.rcode() != 0 && reply.rcode() != 3) {
    out.end = Verdict::indeterminate();
    return out;
  }
  if (const RrSet* ds = reply.find(wire::Section::kAnswer, child, wire::type::kDS)) {
    const SigCheck sc = verify_rrset(*ds, parent.zone, parent.keys.get(), now);
    if (!sc.ok) {
      out.end = Verdict::bogus(sc.reason);
      return out;
    }
    // RFC 6840 section 5.2 / RFC 4509 section 3: only DS records we can use count; with none
    // left the zone is treated as unsigned.
    auto usable = std::shared_ptr<ldns_rr_list>(ldns_rr_list_new(), RrListDeepFree());
    bool unknown_algorithm = false;
    for (std::size_t i = 0; i < ds->size(); ++i) {
      const ldns_rr* rr = ds->rr(i);
      if (ldns_rr_rd_count(rr) < 4) continue;
      if (!verifiable_algorithm(anchor_algorithm(rr))) {
        unknown_algorithm = true;
        continue;
      }
      if (!supported_digest(ds_digest_type(rr))) continue;
      ldns_rr_list_push_rr(usable.get(), ldns_rr_clone(rr));
    }
    if (ldns_rr_list_rr_count(usable.get()) == 0) {
      out.end = Verdict::insecure(unknown_algorithm ? wire::ede::kUnsupportedDnskeyAlgorithm
                                                    : wire::ede::kUnsupportedDsDigestType);
      out.ttl = std::min(set_ttl(*ds), sc.ttl_cap);
      return out;
    }
    out.kind = CutKind::kZone;
    out.ds = std::move(usable);
    out.ttl = std::min(set_ttl(*ds), sc.ttl_cap);  // RFC 4035 section 5.3.3
    return out;
  }
  if (reply.find(wire::Section::kAnswer, child, wire::type::kCNAME) != nullptr) {
    // A CNAME owner is never a zone cut. (Were the CNAME forged, the data below would need
    // keys this walk never finds: bogus, never insecure.)
    out.kind = CutKind::kNotCut;
    out.ttl = 0;
    return out;
  }
  Denial denial;
  std::uint32_t ttl = kMaxKeyTtl;
  for (const auto& set : reply.authority()) {
    if (set.type != wire::type::kNSEC && set.type != wire::type::kNSEC3) continue;
    // The denial must come from the parent side: signed by the zone we hold keys for.
    const SigCheck sc = verify_rrset(set, parent.zone, parent.keys.get(), now);
    if (!sc.ok) continue;
    denial.add(set);
    ttl = std::min({ttl, set_ttl(set), sc.ttl_cap});
  }
  out.ttl = ttl;
  switch (denial.ds_absent(child)) {
    case CutProof::kDelegation:
    case CutProof::kOptOut: out.end = Verdict::insecure(); break;
    case CutProof::kNotCut: out.kind = CutKind::kNotCut; break;
    case CutProof::kNoName: out.kind = CutKind::kNoName; break;
    case CutProof::kUnsupported:
      out.end = Verdict::insecure(wire::ede::kUnsupportedNsec3Iterations);
      break;
    case CutProof::kMissing:
      out.end = Verdict::bogus(BogusReason::kNsecMissing);
      out.ttl = 0;
      break;
  }
  return out;
}

ZoneKeys check_dnskey(const SignedMessage& reply, const Name& zone, const ldns_rr_list* anchors,
                      std::uint32_t now) {
  ZoneKeys out;
  out.zone = zone;
  if (reply.rcode() != 0 && reply.rcode() != 3) {
    out.verdict = Verdict::indeterminate();
    return out;
  }
  const RrSet* keys = reply.find(wire::Section::kAnswer, zone, wire::type::kDNSKEY);
  if (keys == nullptr) {
    out.verdict = Verdict::bogus(BogusReason::kDnskeyMissing);
    return out;
  }
  BogusReason worst = BogusReason::kDnskeyMissing;  // no key an anchor names
  bool any_supported = false;
  for (std::size_t a = 0; a < ldns_rr_list_rr_count(anchors); ++a) {
    const ldns_rr* anchor = ldns_rr_list_rr(anchors, a);
    if (!verifiable_algorithm(anchor_algorithm(anchor))) continue;
    any_supported = true;
    for (std::size_t k = 0; k < keys->size(); ++k) {
      const ldns_rr* key = keys->rr(k);
      if (!vouches(anchor, key)) continue;
      LdnsRrList one = new_list();
      ldns_rr_list_push_rr(one.get(), const_cast<ldns_rr*>(key));
      const SigCheck sc = verify_rrset(*keys, zone, one.get(), now);
      if (sc.ok) {
        out.verdict = Verdict::secure();
        out.keys = share_keys(keys->rrs.get());
        out.id = next_key_set_id();
        out.ttl = std::min(set_ttl(*keys), sc.ttl_cap);
        return out;
      }
      worst = sc.reason;
    }
  }
  out.verdict = any_supported ? Verdict::bogus(worst)
                              : Verdict::insecure(wire::ede::kUnsupportedDnskeyAlgorithm);
  return out;
}

std::uint64_t next_key_set_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<const KeySet> share_keys(const ldns_rr_list* dnskeys) {
  if (dnskeys == nullptr) return nullptr;
  return std::make_shared<const KeySet>(dnskeys);
}

}  // namespace vnetdns::dnssec
