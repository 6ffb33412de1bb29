// DNS constants: header layout, flags, opcodes, RCODEs, RR types and classes we name in code.
// Values from RFC 1035 section 4.1.1, RFC 6891 (OPT), RFC 8914 (EDE), RFC 7873 (COOKIE).
// Thread safety: constants only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vnetdns::wire {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameLength = 255;  // RFC 1035 section 2.3.4
inline constexpr std::size_t kMaxLabelLength = 63;
inline constexpr std::size_t kMaxMessageSize = 65535;
inline constexpr std::uint16_t kClassicUdpSize = 512;  // RFC 1035 section 4.2.1
inline constexpr std::uint16_t kEdnsUdpSize = 1232;    // DNS Flag Day 2020

// Header flag bits within the 16-bit flags word (bytes 2-3).
inline constexpr std::uint16_t kFlagQR = 0x8000;
inline constexpr std::uint16_t kFlagAA = 0x0400;
inline constexpr std::uint16_t kFlagTC = 0x0200;
inline constexpr std::uint16_t kFlagRD = 0x0100;
inline constexpr std::uint16_t kFlagRA = 0x0080;
inline constexpr std::uint16_t kFlagAD = 0x0020;
inline constexpr std::uint16_t kFlagCD = 0x0010;
inline constexpr std::uint16_t kOpcodeMask = 0x7800;
inline constexpr std::uint16_t kRcodeMask = 0x000f;

enum class Opcode : std::uint8_t { kQuery = 0, kIQuery = 1, kStatus = 2, kNotify = 4, kUpdate = 5 };

enum class Rcode : std::uint16_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kNotAuth = 9,   // RFC 2136; RFC 8945 for TSIG failures, RFC 5936 for transfers
  kBadVers = 16,  // extended RCODE, needs OPT (RFC 6891 section 6.1.3)
  kBadCookie = 23,
};

namespace type {
inline constexpr std::uint16_t kA = 1;
inline constexpr std::uint16_t kNS = 2;
inline constexpr std::uint16_t kMD = 3;
inline constexpr std::uint16_t kMF = 4;
inline constexpr std::uint16_t kCNAME = 5;
inline constexpr std::uint16_t kSOA = 6;
inline constexpr std::uint16_t kMB = 7;
inline constexpr std::uint16_t kMG = 8;
inline constexpr std::uint16_t kMR = 9;
inline constexpr std::uint16_t kPTR = 12;
inline constexpr std::uint16_t kHINFO = 13;
inline constexpr std::uint16_t kMINFO = 14;
inline constexpr std::uint16_t kMX = 15;
inline constexpr std::uint16_t kTXT = 16;
inline constexpr std::uint16_t kRP = 17;
inline constexpr std::uint16_t kAFSDB = 18;
inline constexpr std::uint16_t kRT = 21;
inline constexpr std::uint16_t kAAAA = 28;
inline constexpr std::uint16_t kSRV = 33;
inline constexpr std::uint16_t kNAPTR = 35;
inline constexpr std::uint16_t kKX = 36;
inline constexpr std::uint16_t kDNAME = 39;
inline constexpr std::uint16_t kOPT = 41;
inline constexpr std::uint16_t kTSIG = 250;
inline constexpr std::uint16_t kDS = 43;
inline constexpr std::uint16_t kRRSIG = 46;
inline constexpr std::uint16_t kNSEC = 47;
inline constexpr std::uint16_t kDNSKEY = 48;
inline constexpr std::uint16_t kNSEC3 = 50;
inline constexpr std::uint16_t kIXFR = 251;
inline constexpr std::uint16_t kAXFR = 252;
inline constexpr std::uint16_t kMAILB = 253;
inline constexpr std::uint16_t kMAILA = 254;
inline constexpr std::uint16_t kANY = 255;
}  // namespace type

namespace klass {
inline constexpr std::uint16_t kIN = 1;
inline constexpr std::uint16_t kCH = 3;
inline constexpr std::uint16_t kANY = 255;
}  // namespace klass

namespace edns {
inline constexpr std::uint16_t kOptionCookie = 10;  // RFC 7873
inline constexpr std::uint16_t kOptionEde = 15;     // RFC 8914
inline constexpr std::uint16_t kFlagDO = 0x8000;
}  // namespace edns

// Extended DNS Error info codes we send (RFC 8914 section 4).
namespace ede {
// RFC 8914 section 4 info codes.
inline constexpr std::uint16_t kUnsupportedDnskeyAlgorithm = 1;
inline constexpr std::uint16_t kUnsupportedDsDigestType = 2;
inline constexpr std::uint16_t kStaleAnswer = 3;
inline constexpr std::uint16_t kDnssecIndeterminate = 5;
inline constexpr std::uint16_t kDnssecBogus = 6;
inline constexpr std::uint16_t kSignatureExpired = 7;
inline constexpr std::uint16_t kSignatureNotYetValid = 8;
inline constexpr std::uint16_t kDnskeyMissing = 9;
inline constexpr std::uint16_t kRrsigsMissing = 10;
inline constexpr std::uint16_t kNsecMissing = 12;
inline constexpr std::uint16_t kUnsupportedNsec3Iterations = 27;
inline constexpr std::uint16_t kProhibited = 18;
inline constexpr std::uint16_t kStaleNxDomain = 19;
inline constexpr std::uint16_t kNotReady = 14;
inline constexpr std::uint16_t kNoReachableAuthority = 22;
}  // namespace ede

enum class Section : std::uint8_t { kAnswer = 0, kAuthority = 1, kAdditional = 2 };

inline std::uint16_t load16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load32(const std::uint8_t* p) noexcept {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
}
inline void store16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void store32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Header accessors over a raw message of at least kHeaderSize bytes.
inline std::uint16_t header_id(const std::uint8_t* m) noexcept { return load16(m); }
inline std::uint16_t header_flags(const std::uint8_t* m) noexcept { return load16(m + 2); }
inline std::uint16_t header_qdcount(const std::uint8_t* m) noexcept { return load16(m + 4); }
inline std::uint16_t header_ancount(const std::uint8_t* m) noexcept { return load16(m + 6); }
inline std::uint16_t header_nscount(const std::uint8_t* m) noexcept { return load16(m + 8); }
inline std::uint16_t header_arcount(const std::uint8_t* m) noexcept { return load16(m + 10); }
inline std::uint8_t header_rcode(const std::uint8_t* m) noexcept { return m[3] & 0x0f; }

const char* type_name(std::uint16_t type, char* scratch16) noexcept;  // "A", "TYPE65280"
const char* rcode_name(std::uint16_t rcode) noexcept;                 // "NOERROR", ...

}  // namespace vnetdns::wire
