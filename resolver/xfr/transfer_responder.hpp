// Transfer responder: vnetdns as a primary. Answers AXFR (RFC 5936) and IXFR (RFC 1995) for
// the local zones whose [[zone]] allow_transfer lists the client, and NOTIFY (RFC 1996) for
// the secondary zones whose allow_notify lists the sender.
// - AXFR over TCP: the whole zone, SOA first and last, in messages of at most ~16 KiB, the
//   question in the first only. Over UDP: NOTIMP (RFC 5936 section 4.2 leaves it undefined).
// - IXFR: the client's serial is current or newer -> one message with our SOA (over UDP
//   too); older -> the whole zone in AXFR form (RFC 1995 section 4 allows it: vnetdns keeps
//   no change history), over TCP; over UDP the SOA alone tells the client to use TCP.
// - A zone with `key`: the request must carry a valid TSIG with that key (else NOTAUTH,
//   RFC 8945 section 5.2); signed requests get signed answers, the chain of section 5.3.1.
// - Not a zone we serve -> NOTAUTH; client not allowed -> REFUSED.
// The query's access rules are separate: [acl] allow does not apply to transfers and NOTIFY.
// Thread safety: pure functions over immutable settings and zones; any worker may call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "resolver/settings/settings.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zone/zone_set.hpp"

namespace vnetdns::xfr {

struct TransferRequest {
  const std::uint8_t* query = nullptr;
  std::size_t len = 0;
  util::Endpoint client;
  bool tcp = true;
};

// Every message to send back, in order (at least one).
std::vector<std::vector<std::uint8_t>> answer_transfer(const settings::Settings& settings,
                                                       const zone::ZoneSet& zones,
                                                       const TransferRequest& request);

struct NotifyOutcome {
  std::vector<std::uint8_t> reply;  // empty: send nothing
  bool accepted = false;            // the zone should be refreshed now
  wire::Name zone;
};

// Answers a NOTIFY request (opcode 4, QR=0) addressed to us as a secondary.
NotifyOutcome answer_notify(const settings::Settings& settings, const TransferRequest& request);

}  // namespace vnetdns::xfr
