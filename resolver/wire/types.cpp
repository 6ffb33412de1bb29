#include "resolver/wire/types.hpp"

#include <cstdio>

namespace vnetdns::wire {

const char* type_name(std::uint16_t t, char* scratch16) noexcept {
  switch (t) {
    case type::kA: return "A";
    case type::kNS: return "NS";
    case type::kCNAME: return "CNAME";
    case type::kSOA: return "SOA";
    case type::kPTR: return "PTR";
    case type::kMX: return "MX";
    case type::kTXT: return "TXT";
    case type::kAAAA: return "AAAA";
    case type::kSRV: return "SRV";
    case type::kDNAME: return "DNAME";
    case type::kOPT: return "OPT";
    case type::kDS: return "DS";
    case type::kRRSIG: return "RRSIG";
    case type::kDNSKEY: return "DNSKEY";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 257: return "CAA";
    case type::kANY: return "ANY";
    case type::kAXFR: return "AXFR";
    case type::kIXFR: return "IXFR";
    default: std::snprintf(scratch16, 16, "TYPE%u", t); return scratch16;
  }
}

const char* rcode_name(std::uint16_t rcode) noexcept {
  switch (rcode) {
    case 0: return "NOERROR";
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 3: return "NXDOMAIN";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    case 9: return "NOTAUTH";
    case 16: return "BADVERS";
    case 23: return "BADCOOKIE";
    default: return "OTHER";
  }
}

}  // namespace vnetdns::wire
