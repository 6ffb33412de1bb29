// TsigKey: one TSIG key (RFC 8945) as ldns wants it, and the signing and checking of the
// messages of a zone transfer or NOTIFY with it. A transfer is a chain: the first answer's
// MAC covers the request's MAC, each later message covers the MAC before it and only the
// TSIG timers (RFC 8945 section 5.3.1); `prior_mac` carries that chain.
// Invariants: name ends with a dot, algorithm is an ldns algorithm name ("hmac-sha256."),
// secret is the base64 text from the config (checked at load).
// Thread safety: immutable; the functions touch only the packet they are given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "resolver/settings/settings.hpp"

struct ldns_struct_pkt;  // ldns's ldns_pkt

namespace vnetdns::xfr {

class TsigKey {
 public:
  explicit TsigKey(const settings::TsigKeySettings& s);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  // Adds a TSIG record to `pkt`. `prior_mac` empty: a request (or a reply to an unsigned
  // request, which we never sign). Returns false when ldns cannot sign.
  bool sign(ldns_struct_pkt* pkt, const std::vector<std::uint8_t>& prior_mac,
            bool timers_only) const;

  // Checks the TSIG of `pkt` (parsed from `wire`): made with this key's name and algorithm,
  // MAC right, and (with `check_time`) time within the fudge. False when absent or wrong.
  bool verify(ldns_struct_pkt* pkt, const std::uint8_t* wire, std::size_t len,
              const std::vector<std::uint8_t>& prior_mac, bool timers_only,
              bool check_time = true) const;
  // True when the TSIG of `pkt` was signed within its fudge of our clock (RFC 8945 5.2.3).
  static bool time_ok(ldns_struct_pkt* pkt);

  // The key name of the TSIG record of `pkt` ("" when it has none), lowered, with a dot.
  static std::string key_name_of(ldns_struct_pkt* pkt);
  // The MAC of the TSIG record of `pkt` (empty when it has none), as the next link.
  static std::vector<std::uint8_t> mac_of(ldns_struct_pkt* pkt);

 private:
  std::string name_;
  std::string algorithm_;
  std::string secret_;
};

}  // namespace vnetdns::xfr
