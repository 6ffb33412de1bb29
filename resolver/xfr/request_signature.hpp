// RequestSignature: the TSIG (RFC 8945) state of one request we answer: which of our keys
// signed it and its MAC, so the answer can be signed in turn (section 5.3). Used for
// transfers, NOTIFY and ordinary queries that carry a TSIG (a BIND secondary signs its SOA
// refresh queries and insists on signed answers).
// A request signed with an unknown key, a wrong MAC or a key other than the one its zone
// requires is !ok: answer NOTAUTH, unsigned (section 5.2).
// Thread safety: values; the functions have no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "resolver/settings/settings.hpp"
#include "resolver/xfr/packet.hpp"
#include "resolver/xfr/tsig_key.hpp"

namespace vnetdns::xfr {

struct RequestSignature {
  bool ok = true;
  std::optional<TsigKey> key;     // set when the request was validly signed
  std::vector<std::uint8_t> mac;  // the request's MAC, the first link of the answer's chain

  // Checks `request` (parsed from wire[0..len)). `zone`: when it has a key, that key is
  // required; nullptr or a zone without a key accepts any [[key]] or none.
  static RequestSignature check(const settings::Settings& settings,
                                const settings::ZoneSettings* zone, Packet& request,
                                const std::uint8_t* wire, std::size_t len);

  // Signs the answer in out[0..len) in place when the request was signed; returns its new
  // length (unchanged when unsigned; 0 when it cannot be signed within `cap`).
  std::size_t sign_answer(std::uint8_t* out, std::size_t len, std::size_t cap) const;
};

}  // namespace vnetdns::xfr
