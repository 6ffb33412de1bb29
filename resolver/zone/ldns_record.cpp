#include "resolver/zone/ldns_record.hpp"

#include <cstdlib>
#include <vector>

#include <ldns/ldns.h>

#include "resolver/wire/types.hpp"

namespace vnetdns::zone {

bool record_from_ldns(ldns_rr* rr, ZoneRecord& out, std::string& why) {
  ldns_rr2canonical(rr);
  const ldns_rdf* owner = ldns_rr_owner(rr);
  if (owner == nullptr || ldns_rdf_size(owner) > wire::kMaxNameLength ||
      !out.owner.assign_wire(ldns_rdf_data(owner), ldns_rdf_size(owner))) {
    why = "bad owner name";
    return false;
  }
  out.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
  out.klass = static_cast<std::uint16_t>(ldns_rr_get_class(rr));
  out.ttl = ldns_rr_ttl(rr);
  ldns_buffer* buf = ldns_buffer_new(256);
  if (buf == nullptr) {
    why = "out of memory";
    return false;
  }
  const ldns_status s = ldns_rr_rdata2buffer_wire(buf, rr);
  const bool ok = s == LDNS_STATUS_OK && ldns_buffer_status_ok(buf);
  if (ok) {
    const std::uint8_t* begin = ldns_buffer_begin(buf);
    out.rdata.assign(begin, begin + ldns_buffer_position(buf));
  } else {
    why = s != LDNS_STATUS_OK ? ldns_get_errorstr_by_id(s) : "cannot encode rdata";
  }
  ldns_buffer_free(buf);
  return ok;
}

ldns_rr* record_to_ldns(const ZoneRecord& record) {
  // The record as it would sit in a message, uncompressed, for ldns's wire parser.
  std::vector<std::uint8_t> w(record.owner.data(), record.owner.data() + record.owner.size());
  const std::size_t at = w.size();
  w.resize(at + 10 + record.rdata.size());
  wire::store16(w.data() + at, record.type);
  wire::store16(w.data() + at + 2, record.klass);
  wire::store32(w.data() + at + 4, record.ttl);
  wire::store16(w.data() + at + 8, static_cast<std::uint16_t>(record.rdata.size()));
  if (!record.rdata.empty()) {
    std::copy(record.rdata.begin(), record.rdata.end(), w.begin() + static_cast<long>(at + 10));
  }
  ldns_rr* rr = nullptr;
  std::size_t pos = 0;
  if (ldns_wire2rr(&rr, w.data(), w.size(), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
    return nullptr;
  }
  return rr;
}

std::string record_to_text(const ZoneRecord& record) {
  ldns_rr* rr = record_to_ldns(record);
  if (rr == nullptr) return {};
  char* text = ldns_rr2str(rr);
  ldns_rr_free(rr);
  if (text == nullptr) return {};
  std::string out(text);
  std::free(text);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace vnetdns::zone
