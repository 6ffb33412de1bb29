// Packet: an owned ldns packet, for the zone-transfer and NOTIFY messages (rare, off the
// query path: allocation is fine here, and ldns does the RR parsing and TSIG). Also the
// serial arithmetic of RFC 1982 and the SOA fields every part of xfr reads.
// Invariant: holds a packet or nothing (parse() failed). Thread safety: not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"
#include "resolver/zone/zone.hpp"

struct ldns_struct_pkt;

namespace vnetdns::xfr {

class Packet {
 public:
  Packet() = default;
  // A new empty packet with `id` and header `flags` (QR, AA, opcode, RCODE bits).
  static Packet make(std::uint16_t id, std::uint16_t flags);
  // Parses a whole message; empty on any error.
  static Packet parse(const std::uint8_t* wire, std::size_t len);

  [[nodiscard]] bool valid() const noexcept { return pkt_ != nullptr; }
  [[nodiscard]] ldns_struct_pkt* get() const noexcept { return pkt_.get(); }

  [[nodiscard]] std::uint16_t id() const;
  [[nodiscard]] std::uint8_t opcode() const;
  [[nodiscard]] bool response() const;
  [[nodiscard]] std::uint16_t rcode() const;  // the header's 4 bits
  // The single question; nullopt when QDCOUNT != 1.
  struct Question {
    wire::Name name;
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
  };
  [[nodiscard]] std::optional<Question> question() const;
  [[nodiscard]] std::size_t answer_count() const;
  // Answer record `i` in the zone's form; false when it cannot be encoded.
  bool answer(std::size_t i, zone::ZoneRecord& out) const;
  // The first SOA of the authority section (an IXFR request's version), if any.
  [[nodiscard]] std::optional<std::uint32_t> authority_soa_serial() const;

  void add_question(const wire::Name& name, std::uint16_t type, std::uint16_t klass);
  bool add_answer(const zone::ZoneRecord& record);
  bool add_authority(const zone::ZoneRecord& record);
  // The message in wire form (empty when ldns cannot encode it).
  [[nodiscard]] std::vector<std::uint8_t> to_wire() const;

 private:
  struct Free {
    void operator()(ldns_struct_pkt* p) const noexcept;
  };
  std::unique_ptr<ldns_struct_pkt, Free> pkt_;
};

// RFC 1982 serial arithmetic: a is newer than b.
[[nodiscard]] constexpr bool serial_newer(std::uint32_t a, std::uint32_t b) noexcept {
  return a != b && static_cast<std::uint32_t>(a - b) < 0x80000000U;
}

// The five numbers at the end of SOA rdata (RFC 1035 section 3.3.13).
struct SoaTimers {
  std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};
[[nodiscard]] std::optional<SoaTimers> soa_timers(const std::vector<std::uint8_t>& rdata);

// A header-only reply (no question) with `rcode`, for requests ldns cannot parse.
std::vector<std::uint8_t> bare_reply(const std::uint8_t* request, std::size_t len,
                                     wire::Rcode rcode);

}  // namespace vnetdns::xfr
