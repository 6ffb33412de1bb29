// Choices not dictated by local_answer.hpp, in one place:
// - ANY (RFC 8482 section 4.1): the first RRset of the node in type order is written, one
//   RRset only; at a CNAME node that is the CNAME, which is not followed (RFC 1034 4.3.2).
// - A name error after following a CNAME into an on_miss = "forward" zone is kLeavesLocal
//   with `next` = that name: the zone declines to be authoritative for missing names, so the
//   pipeline resolves the rest of the chain upstream, as it would for the first link (kMiss).
// - Names at or below a delegation (NS below the apex) are answered from the zone's data as
//   they are: no referral is made, the zone is taken to be the only source of its names.
// - The header is not touched: the caller sets RCODE (from rcode) and AA (authoritative).
// - A qname outside `zone` is a caller error; it gets kMiss (nothing written).
#include "resolver/zone/local_answer.hpp"

#include <array>

namespace vnetdns::zone {
namespace {

constexpr auto kNxDomain = static_cast<std::uint8_t>(wire::Rcode::kNxDomain);

bool write_rrset(wire::MessageBuilder& builder, wire::Section section, const wire::Name& owner,
                 const Zone& zone, const RRset& set, std::uint32_t ttl) noexcept {
  for (std::size_t i = 0; i < set.rdata_count; ++i) {
    const RdataView rd = zone.rdata(set, i);
    if (!builder.add_rr(section, owner, set.type, set.klass, ttl, rd.data, rd.size)) {
      return false;
    }
  }
  return true;
}

// RFC 2308 section 3: the SOA in the authority section, TTL = min(SOA TTL, MINIMUM).
bool write_soa(wire::MessageBuilder& builder, const Zone& zone) noexcept {
  return write_rrset(builder, wire::Section::kAuthority, zone.origin(), zone, zone.soa(),
                     zone.negative_ttl());
}

// RFC 4592 section 3.3.1: `name` does not exist; find its closest encloser and return the
// node of "*.<closest encloser>" (the source of synthesis), or nullptr. An existing name
// between (an empty non-terminal included) is the closest encloser and so blocks wildcards
// further up (RFC 4592 section 2.2.2).
const Node* find_wildcard(const Zone& zone, const wire::Name& name) noexcept {
  const std::size_t zone_labels = zone.origin().label_count();
  const std::size_t labels = name.label_count();
  for (std::size_t up = 1; up <= labels - zone_labels; ++up) {
    const wire::Name encloser = name.parent(up);
    if (zone.find(encloser) == nullptr) continue;
    wire::Name wildcard;
    if (!wire::Name::prepend_label(encloser, "*", wildcard)) return nullptr;
    return zone.find(wildcard);
  }
  return nullptr;
}

LocalResult finish(LocalResult r, LocalStatus status) noexcept {
  r.status = status;
  if (status == LocalStatus::kMiss || status == LocalStatus::kLeavesLocal) {
    r.authoritative = false;
  }
  return r;
}

}  // namespace

LocalResult answer_local(const ZoneSet& zones, const Zone& zone, const wire::Name& qname,
                         std::uint16_t qtype, wire::MessageBuilder& builder,
                         std::size_t chain_start) noexcept {
  LocalResult r;
  r.chain_length = chain_start;
  if (!qname.is_subdomain_of(zone.origin())) return finish(r, LocalStatus::kMiss);

  // Names whose CNAME we wrote, to stop a loop at its first repetition.
  std::array<wire::Name, kMaxChain> seen;
  std::size_t seen_count = 0;
  const Zone* z = &zone;
  wire::Name name = qname;

  for (;;) {
    const Node* node = z->find(name);
    if (node == nullptr) node = find_wildcard(*z, name);  // owner stays `name` (RFC 4592 3.3.1)
    if (node == nullptr) {
      if (z->forward_on_miss()) {
        if (chain_start == 0 && seen_count == 0) return finish(r, LocalStatus::kMiss);
        r.next = name;
        return finish(r, LocalStatus::kLeavesLocal);
      }
      // RFC 6604 section 3: RCODE reflects the last name of the chain.
      r.rcode = kNxDomain;
      if (!write_soa(builder, *z)) return finish(r, LocalStatus::kOverflow);
      return finish(r, LocalStatus::kAnswered);
    }

    const RRset* cname = z->cname(*node);
    if (cname != nullptr && qtype != wire::type::kCNAME && qtype != wire::type::kANY) {
      // RFC 1034 section 4.3.2 step 3.a: write the CNAME, go on with its target.
      if (r.chain_length >= kMaxChain) return finish(r, LocalStatus::kChainTooLong);
      if (!write_rrset(builder, wire::Section::kAnswer, name, *z, *cname, cname->ttl)) {
        return finish(r, LocalStatus::kOverflow);
      }
      ++r.chain_length;
      seen[seen_count++] = name;
      const RdataView target_rdata = z->rdata(*cname, 0);
      wire::Name target;
      if (!target.assign_wire(target_rdata.data, target_rdata.size)) {
        return finish(r, LocalStatus::kChainTooLong);  // impossible after Zone::build
      }
      for (std::size_t i = 0; i < seen_count; ++i) {
        if (seen[i] == target) return finish(r, LocalStatus::kChainTooLong);
      }
      const Zone* next_zone = zones.find(target);
      if (next_zone == nullptr) {
        r.next = target;
        return finish(r, LocalStatus::kLeavesLocal);
      }
      z = next_zone;
      name = target;
      continue;
    }

    const RRset* set = nullptr;
    if (qtype == wire::type::kANY) {
      if (node->rrset_count > 0) set = &z->rrsets(*node)[0];  // RFC 8482 section 4.1
    } else {
      set = z->find_rrset(*node, qtype);
    }
    if (set != nullptr) {
      if (!write_rrset(builder, wire::Section::kAnswer, name, *z, *set, set->ttl)) {
        return finish(r, LocalStatus::kOverflow);
      }
      return finish(r, LocalStatus::kAnswered);
    }
    // NODATA (RFC 2308 section 2.2): NOERROR, SOA in authority.
    if (!write_soa(builder, *z)) return finish(r, LocalStatus::kOverflow);
    return finish(r, LocalStatus::kAnswered);
  }
}

}  // namespace vnetdns::zone
