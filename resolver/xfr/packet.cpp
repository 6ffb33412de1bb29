#include "resolver/xfr/packet.hpp"

#include <cstdlib>

#include <ldns/ldns.h>

#include "resolver/zone/ldns_record.hpp"

namespace vnetdns::xfr {

void Packet::Free::operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }

Packet Packet::make(std::uint16_t id, std::uint16_t flags) {
  Packet p;
  p.pkt_.reset(ldns_pkt_new());
  if (!p.valid()) return p;
  ldns_pkt* k = p.get();
  ldns_pkt_set_id(k, id);
  ldns_pkt_set_qr(k, (flags & wire::kFlagQR) != 0);
  ldns_pkt_set_aa(k, (flags & wire::kFlagAA) != 0);
  ldns_pkt_set_rd(k, (flags & wire::kFlagRD) != 0);
  ldns_pkt_set_opcode(k, static_cast<ldns_pkt_opcode>((flags >> 11) & 0xf));
  ldns_pkt_set_rcode(k, static_cast<std::uint8_t>(flags & 0xf));
  return p;
}

namespace {

// RFC 8945 section 5.1: at most one TSIG, the last record. ldns keeps only the last TSIG it
// sees and leaks the others (found by fuzz_xfr_request), so such messages never reach it.
bool tsig_placement_ok(const std::uint8_t* msg, std::size_t len) {
  if (len < wire::kHeaderSize) return false;
  std::size_t p = wire::kHeaderSize;
  for (std::size_t i = 0; i < wire::header_qdcount(msg); ++i) {
    p = wire::skip_name(msg, len, p);
    if (p == 0 || p + 4 > len) return false;
    p += 4;
  }
  const std::size_t records = static_cast<std::size_t>(wire::header_ancount(msg)) +
                              wire::header_nscount(msg) + wire::header_arcount(msg);
  for (std::size_t i = 0; i < records; ++i) {
    p = wire::skip_name(msg, len, p);
    if (p == 0 || p + 10 > len) return false;
    if (wire::load16(msg + p) == wire::type::kTSIG && i + 1 != records) return false;
    p += 10 + wire::load16(msg + p + 8);
    if (p > len) return false;
  }
  return true;
}

}  // namespace

Packet Packet::parse(const std::uint8_t* wire, std::size_t len) {
  Packet p;
  if (!tsig_placement_ok(wire, len)) return p;
  ldns_pkt* k = nullptr;
  if (ldns_wire2pkt(&k, wire, len) == LDNS_STATUS_OK) p.pkt_.reset(k);
  return p;
}

std::uint16_t Packet::id() const { return ldns_pkt_id(get()); }
std::uint8_t Packet::opcode() const {
  return static_cast<std::uint8_t>(ldns_pkt_get_opcode(get()));
}
bool Packet::response() const { return ldns_pkt_qr(get()); }
std::uint16_t Packet::rcode() const { return ldns_pkt_get_rcode(get()); }

std::optional<Packet::Question> Packet::question() const {
  const ldns_rr_list* q = ldns_pkt_question(get());
  if (q == nullptr || ldns_rr_list_rr_count(q) != 1) return std::nullopt;
  const ldns_rr* rr = ldns_rr_list_rr(q, 0);
  const ldns_rdf* owner = ldns_rr_owner(rr);
  Question out;
  if (owner == nullptr) return std::nullopt;
  ldns_rdf* lowered = ldns_rdf_clone(owner);
  if (lowered == nullptr) return std::nullopt;
  ldns_dname2canonical(lowered);
  const bool ok = out.name.assign_wire(ldns_rdf_data(lowered), ldns_rdf_size(lowered));
  ldns_rdf_deep_free(lowered);
  if (!ok) return std::nullopt;
  out.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
  out.klass = static_cast<std::uint16_t>(ldns_rr_get_class(rr));
  return out;
}

std::size_t Packet::answer_count() const { return ldns_rr_list_rr_count(ldns_pkt_answer(get())); }

bool Packet::answer(std::size_t i, zone::ZoneRecord& out) const {
  ldns_rr* rr = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_answer(get()), i));
  if (rr == nullptr) return false;
  std::string why;
  const bool ok = zone::record_from_ldns(rr, out, why);
  ldns_rr_free(rr);
  return ok;
}

std::optional<std::uint32_t> Packet::authority_soa_serial() const {
  const ldns_rr_list* auth = ldns_pkt_authority(get());
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(auth); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(auth, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && ldns_rr_rd_count(rr) == 7) {
      return ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
    }
  }
  return std::nullopt;
}

void Packet::add_question(const wire::Name& name, std::uint16_t type, std::uint16_t klass) {
  ldns_rr* q = ldns_rr_new();
  ldns_rr_set_owner(q,
                    ldns_dname_new_frm_data(static_cast<std::uint16_t>(name.size()), name.data()));
  ldns_rr_set_type(q, static_cast<ldns_rr_type>(type));
  ldns_rr_set_class(q, static_cast<ldns_rr_class>(klass));
  ldns_rr_set_question(q, true);
  ldns_pkt_push_rr(get(), LDNS_SECTION_QUESTION, q);
}

bool Packet::add_answer(const zone::ZoneRecord& record) {
  ldns_rr* rr = zone::record_to_ldns(record);
  return rr != nullptr && ldns_pkt_push_rr(get(), LDNS_SECTION_ANSWER, rr);
}

bool Packet::add_authority(const zone::ZoneRecord& record) {
  ldns_rr* rr = zone::record_to_ldns(record);
  return rr != nullptr && ldns_pkt_push_rr(get(), LDNS_SECTION_AUTHORITY, rr);
}

std::vector<std::uint8_t> Packet::to_wire() const {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&data, get(), &size) != LDNS_STATUS_OK || data == nullptr) return {};
  std::vector<std::uint8_t> out(data, data + size);
  std::free(data);
  return out;
}

std::optional<SoaTimers> soa_timers(const std::vector<std::uint8_t>& rdata) {
  if (rdata.size() < 22) return std::nullopt;  // two names of at least one byte, 20 bytes
  const std::uint8_t* end = rdata.data() + rdata.size();
  return SoaTimers{wire::load32(end - 20), wire::load32(end - 16), wire::load32(end - 12),
                   wire::load32(end - 8), wire::load32(end - 4)};
}

std::vector<std::uint8_t> bare_reply(const std::uint8_t* request, std::size_t len,
                                     wire::Rcode rcode) {
  std::vector<std::uint8_t> out(wire::kHeaderSize, 0);
  if (len >= 2) {
    out[0] = request[0];
    out[1] = request[1];
  }
  const std::uint16_t opcode = len >= 4 ? (wire::load16(request + 2) & 0x7800) : 0;
  wire::store16(out.data() + 2,
                static_cast<std::uint16_t>(wire::kFlagQR | opcode |
                                           (static_cast<std::uint16_t>(rcode) & 0xf)));
  return out;
}

}  // namespace vnetdns::xfr
