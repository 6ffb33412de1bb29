// RequestSignature: the TSIG (RFC 8945) state of one request we answer: which of our keys
// signed it and its MAC, so the answer can be signed in turn (section 5.3). Used for
// transfers, NOTIFY and ordinary queries that carry a TSIG (a BIND secondary signs its SOA
// refresh queries and insists on signed answers).
// A request that is unsigned where its zone requires a key is !ok with no TSIG error: plain
// NOTAUTH. A request whose TSIG fails is !ok with `error` set (section 5.2): BADKEY (17) for
// a key we do not have (or not the one its zone requires), BADSIG (16) for a wrong MAC,
// BADTIME (18) for a right MAC signed outside the fudge; the NOTAUTH answer then carries a
// TSIG record with that error and an empty MAC (append_error_tsig, section 5.3.2), so the
// client can tell the three apart. RFC 8945 section 5.2.3 wants a BADTIME answer signed
// (the request's MAC was good); ours is unsigned like the other two, with our time as other
// data: ldns's signer takes no TSIG error or other data to cover. Clients (dig, kdig,
// dnspython) still report BADTIME.
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
  static constexpr std::uint16_t kBadSig = 16;
  static constexpr std::uint16_t kBadKey = 17;
  static constexpr std::uint16_t kBadTime = 18;

  bool ok = true;
  std::optional<TsigKey> key;     // set when the request was validly signed
  std::vector<std::uint8_t> mac;  // the request's MAC, the first link of the answer's chain
  std::uint16_t error = 0;        // the TSIG error of a failed TSIG (0: none)
  // Of the request's TSIG record, for the error record: owner (key name) and algorithm name
  // in uncompressed wire form, and the original ID.
  std::vector<std::uint8_t> key_wire;
  std::vector<std::uint8_t> algorithm_wire;
  std::uint16_t original_id = 0;

  // Checks `request` (parsed from wire[0..len)). `zone`: when it has a key, that key is
  // required; nullptr or a zone without a key accepts any [[key]] or none.
  static RequestSignature check(const settings::Settings& settings,
                                const settings::ZoneSettings* zone, Packet& request,
                                const std::uint8_t* wire, std::size_t len);

  // Signs the answer in out[0..len) in place when the request was signed; returns its new
  // length (unchanged when unsigned; 0 when it cannot be signed within `cap`).
  std::size_t sign_answer(std::uint8_t* out, std::size_t len, std::size_t cap) const;

  // With `error` set: appends to the answer in out[0..len) the TSIG error record (class ANY,
  // TTL 0, the request's key and algorithm names, our time, fudge 300, empty MAC, the
  // original ID, the error; for BADTIME our time as other data) and counts it in ARCOUNT.
  // Returns the new length; `len` unchanged when there is no error or no room.
  std::size_t append_error_tsig(std::uint8_t* out, std::size_t len, std::size_t cap) const;
  void append_error_tsig(std::vector<std::uint8_t>& answer) const;
};

}  // namespace vnetdns::xfr
