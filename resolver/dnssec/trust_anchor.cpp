#include "resolver/dnssec/trust_anchor.hpp"

#include <cstdio>

#include "resolver/dnssec/signed_message.hpp"

namespace vnetdns::dnssec {

util::Result<std::vector<TrustAnchor>, std::string> load_trust_anchors(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return util::Err(path + ": cannot open the trust anchor file");
  std::vector<TrustAnchor> out;
  ldns_rdf* origin = nullptr;
  ldns_rdf* prev = nullptr;
  std::uint32_t ttl = 3600;
  int line = 1;
  std::string error;
  while (std::feof(f) == 0) {
    ldns_rr* rr = nullptr;
    const int at = line;  // the line the next record starts on
    const ldns_status st = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &line);
    if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
        st == LDNS_STATUS_SYNTAX_ORIGIN || st == LDNS_STATUS_SYNTAX_INCLUDE) {
      continue;  // a blank or comment line, or a directive
    }
    if (st != LDNS_STATUS_OK) {
      if (std::feof(f) != 0 && st == LDNS_STATUS_SYNTAX_ERR && rr == nullptr) break;
      error = path + ":" + std::to_string(at) + ": " + ldns_get_errorstr_by_id(st);
      break;
    }
    const ldns_rr_type type = ldns_rr_get_type(rr);
    if (type != LDNS_RR_TYPE_DS && type != LDNS_RR_TYPE_DNSKEY) {
      ldns_rr_free(rr);
      error = path + ":" + std::to_string(at) + ": a trust anchor is a DS or DNSKEY record";
      break;
    }
    wire::Name zone;
    if (!name_of(ldns_rr_owner(rr), zone)) {
      ldns_rr_free(rr);
      error = path + ":" + std::to_string(at) + ": bad owner name";
      break;
    }
    TrustAnchor* anchor = nullptr;
    for (auto& a : out) {
      if (a.zone == zone) anchor = &a;
    }
    if (anchor == nullptr) {
      out.push_back({zone, std::shared_ptr<ldns_rr_list>(ldns_rr_list_new(), RrListDeepFree())});
      anchor = &out.back();
    }
    ldns_rr_list_push_rr(const_cast<ldns_rr_list*>(anchor->records.get()), rr);
  }
  if (origin != nullptr) ldns_rdf_deep_free(origin);
  if (prev != nullptr) ldns_rdf_deep_free(prev);
  std::fclose(f);
  if (!error.empty()) return util::Err(error);
  if (out.empty()) return util::Err(path + ": no DS or DNSKEY record in the trust anchor file");
  return out;
}

const TrustAnchor* closest_anchor(const std::vector<TrustAnchor>& anchors, const wire::Name& name) {
  const TrustAnchor* best = nullptr;
  for (const auto& a : anchors) {
    if (name.is_subdomain_of(a.zone) &&
        (best == nullptr || a.zone.label_count() > best->zone.label_count())) {
      best = &a;
    }
  }
  return best;
}

}  // namespace vnetdns::dnssec
