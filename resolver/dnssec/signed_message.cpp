#include "resolver/dnssec/signed_message.hpp"

namespace vnetdns::dnssec {

namespace {

// Groups the records of one section into RRsets; false when a name cannot be held.
bool group(ldns_rr_list* section_rrs, wire::Section section, std::vector<RrSet>& out) {
  const std::size_t n = ldns_rr_list_rr_count(section_rrs);
  std::vector<std::pair<const ldns_rr*, wire::Name>> sigs;
  wire::Name owner;
  for (std::size_t i = 0; i < n; ++i) {
    ldns_rr* rr = ldns_rr_list_rr(section_rrs, i);
    if (!name_of(ldns_rr_owner(rr), owner)) return false;
    const auto type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
    if (type == wire::type::kRRSIG) {
      sigs.emplace_back(rr, owner);
      continue;
    }
    RrSet* set = nullptr;
    for (auto& s : out) {
      if (s.type == type && s.owner == owner) {
        set = &s;
        break;
      }
    }
    if (set == nullptr) {
      RrSet fresh;
      fresh.owner = owner;
      fresh.type = type;
      fresh.section = section;
      fresh.rrs = new_list();
      fresh.sigs = new_list();
      out.push_back(std::move(fresh));
      set = &out.back();
    }
    ldns_rr_list_push_rr(set->rrs.get(), rr);
  }
  for (const auto& [sig, sig_owner] : sigs) {
    const ldns_rdf* covered = ldns_rr_rrsig_typecovered(sig);
    if (covered == nullptr || ldns_rdf_size(covered) != 2) continue;
    const std::uint16_t type = ldns_rdf2native_int16(covered);
    for (auto& s : out) {
      if (s.type == type && s.owner == sig_owner) {
        ldns_rr_list_push_rr(s.sigs.get(), const_cast<ldns_rr*>(sig));
        break;
      }
    }
  }
  return true;
}

}  // namespace

bool name_of(const ldns_rdf* dname, wire::Name& out) noexcept {
  if (dname == nullptr || ldns_rdf_get_type(dname) != LDNS_RDF_TYPE_DNAME) return false;
  return out.assign_wire(ldns_rdf_data(dname), ldns_rdf_size(dname));
}

std::optional<SignedMessage> SignedMessage::parse(const std::uint8_t* wire, std::size_t len) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, wire, len) != LDNS_STATUS_OK || raw == nullptr) {
    if (raw != nullptr) ldns_pkt_free(raw);
    return std::nullopt;
  }
  SignedMessage m;
  m.pkt_.reset(raw);
  m.rcode_ = static_cast<std::uint16_t>(ldns_pkt_get_rcode(raw));
  if (!group(ldns_pkt_answer(raw), wire::Section::kAnswer, m.answer_) ||
      !group(ldns_pkt_authority(raw), wire::Section::kAuthority, m.authority_)) {
    return std::nullopt;
  }
  return m;
}

const RrSet* SignedMessage::find(wire::Section section, const wire::Name& owner,
                                 std::uint16_t type) const noexcept {
  const auto& sets = section == wire::Section::kAnswer ? answer_ : authority_;
  for (const auto& s : sets) {
    if (s.type == type && s.owner == owner) return &s;
  }
  return nullptr;
}

}  // namespace vnetdns::dnssec
