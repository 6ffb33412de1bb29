#include "resolver/xfr/tsig_key.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

#include <ldns/ldns.h>

namespace vnetdns::xfr {
namespace {

constexpr std::uint16_t kFudge = 300;  // seconds of clock skew accepted (RFC 8945 section 10)

std::string lowered(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s.empty() || s.back() != '.') s.push_back('.');
  return s;
}

std::string rdf_text(const ldns_rdf* rdf) {
  if (rdf == nullptr) return {};
  char* t = ldns_rdf2str(rdf);
  if (t == nullptr) return {};
  std::string s(t);
  std::free(t);
  return lowered(s);
}

// An rdf holding a MAC the way ldns's TSIG functions expect it (2-byte size, then bytes).
struct MacRdf {
  explicit MacRdf(const std::vector<std::uint8_t>& mac) {
    if (mac.empty()) return;
    std::vector<std::uint8_t> data(mac.size() + 2);
    ldns_write_uint16(data.data(), static_cast<std::uint16_t>(mac.size()));
    std::copy(mac.begin(), mac.end(), data.begin() + 2);
    rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, data.size(), data.data());
  }
  ~MacRdf() {
    if (rdf != nullptr) ldns_rdf_deep_free(rdf);
  }
  MacRdf(const MacRdf&) = delete;
  MacRdf& operator=(const MacRdf&) = delete;
  ldns_rdf* rdf = nullptr;
};

// The algorithm's name on the wire (RFC 8945 section 6): HMAC-MD5 keeps its old long name.
std::string wire_algorithm(const std::string& configured) {
  const std::string a = lowered(configured);
  return a == "hmac-md5." ? "hmac-md5.sig-alg.reg.int." : a;
}

// RFC 8945 section 5.2.3: the signing time must be within the fudge of our clock.
bool signed_in_time(const ldns_rr* tsig) {
  const ldns_rdf* signed_at = ldns_rr_rdf(tsig, 1);
  const ldns_rdf* fudge = ldns_rr_rdf(tsig, 2);
  if (signed_at == nullptr || fudge == nullptr || ldns_rdf_size(signed_at) != 6 ||
      ldns_rdf_size(fudge) != 2) {
    return false;
  }
  std::uint64_t t = 0;
  for (std::size_t i = 0; i < 6; ++i) t = (t << 8) | ldns_rdf_data(signed_at)[i];
  const std::uint64_t f = ldns_rdf2native_int16(fudge);
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  return (now > t ? now - t : t - now) <= f;
}

}  // namespace

TsigKey::TsigKey(const settings::TsigKeySettings& s)
    : name_(s.name.to_text()), algorithm_(wire_algorithm(s.algorithm)), secret_(s.secret) {}

bool TsigKey::sign(ldns_pkt* pkt, const std::vector<std::uint8_t>& prior_mac,
                   bool timers_only) const {
  const MacRdf mac(prior_mac);
  if (!prior_mac.empty() && mac.rdf == nullptr) return false;
  // ldns replaces a TSIG record already there without freeing it (found by fuzz_xfr_request).
  if (ldns_rr* old = ldns_pkt_tsig(pkt)) {
    ldns_pkt_set_tsig(pkt, nullptr);
    ldns_rr_free(old);
  }
  return ldns_pkt_tsig_sign_next(pkt, name_.c_str(), secret_.c_str(), kFudge, algorithm_.c_str(),
                                 mac.rdf, timers_only ? 1 : 0) == LDNS_STATUS_OK;
}

bool TsigKey::time_ok(ldns_pkt* pkt) {
  const ldns_rr* tsig = ldns_pkt_tsig(pkt);
  return tsig != nullptr && ldns_rr_rd_count(tsig) >= 4 && signed_in_time(tsig);
}

bool TsigKey::verify(ldns_pkt* pkt, const std::uint8_t* wire, std::size_t len,
                     const std::vector<std::uint8_t>& prior_mac, bool timers_only,
                     bool check_time) const {
  const ldns_rr* tsig = ldns_pkt_tsig(pkt);
  if (tsig == nullptr || ldns_rr_rd_count(tsig) < 4) return false;
  if (key_name_of(pkt) != name_) return false;
  if (rdf_text(ldns_rr_rdf(tsig, 0)) != algorithm_) return false;
  if (check_time && !signed_in_time(tsig)) return false;
  const MacRdf mac(prior_mac);
  if (!prior_mac.empty() && mac.rdf == nullptr) return false;
  // When it cannot compute the MAC, ldns returns with the TSIG record detached from the
  // packet (leaked) and the ID changed to the TSIG's original ID: put both back.
  ldns_rr* const record = ldns_pkt_tsig(pkt);
  const std::uint16_t id = ldns_pkt_id(pkt);
  const bool ok = ldns_pkt_tsig_verify_next(pkt, wire, len, name_.c_str(), secret_.c_str(), mac.rdf,
                                            timers_only ? 1 : 0);
  if (ldns_pkt_tsig(pkt) != record) ldns_pkt_set_tsig(pkt, record);
  ldns_pkt_set_id(pkt, id);
  return ok;
}

std::string TsigKey::key_name_of(ldns_pkt* pkt) {
  const ldns_rr* tsig = ldns_pkt_tsig(pkt);
  return tsig == nullptr ? std::string() : rdf_text(ldns_rr_owner(tsig));
}

std::vector<std::uint8_t> TsigKey::mac_of(ldns_pkt* pkt) {
  const ldns_rr* tsig = ldns_pkt_tsig(pkt);
  if (tsig == nullptr || ldns_rr_rd_count(tsig) < 4) return {};
  const ldns_rdf* mac = ldns_rr_rdf(tsig, 3);
  if (mac == nullptr || ldns_rdf_size(mac) < 2) return {};
  const std::uint8_t* d = ldns_rdf_data(mac);
  return {d + 2, d + ldns_rdf_size(mac)};
}

}  // namespace vnetdns::xfr
