// check: the guide's validation step ("dig myregistry.azurecr.io" from inside the VNet) as a
// command. c-ares is the stub client (this is the one file that includes ares.h): an A and an
// AAAA query per name, sent with RD to one server, all names in parallel on one channel. The
// raw reply is read with wire::parse_message to follow the CNAME chain from the question
// name, so the chain is printed in order and the addresses are those at its end.
// A name passes when it has at least one address and every address is private (RFC 1918 or
// RFC 4193) and, when expected prefixes are given, inside them. Missing (NXDOMAIN, NODATA),
// public, outside and failed lookups are named. Thread safety: call from one thread.
#pragma once

#include <string>
#include <vector>

#include "resolver/policy/prefix.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/zonetool/ip_address.hpp"

namespace vnetdns::zonetool {

struct CheckTarget {
  std::string name;   // e.g. myregistry.westeurope.data.azurecr.io
  std::string label;  // e.g. "data endpoint of replica westeurope"; may be empty
};

enum class Verdict { kOk, kMissing, kPublic, kOutside, kFailed };
const char* to_string(Verdict v) noexcept;

struct CheckResult {
  CheckTarget target;
  Verdict verdict = Verdict::kFailed;
  std::vector<std::string> chain;  // "owner. CNAME target." lines, in order
  std::string final_name;          // where the chain ends
  std::vector<IpAddress> addresses;
  std::string detail;  // e.g. "NXDOMAIN", "timeout", "20.45.122.144 is public"
};

struct CheckOptions {
  util::Endpoint server;
  policy::PrefixList expect;  // empty: only "private" is required
  int timeout_ms = 2000;      // per try
  int tries = 2;
};

std::vector<CheckResult> check_names(const std::vector<CheckTarget>& targets,
                                     const CheckOptions& options);

// Targets for a registry: R.azurecr.io and R.REGION.data.azurecr.io for each region.
std::vector<CheckTarget> registry_targets(const std::string& registry,
                                          const std::vector<std::string>& regions);

}  // namespace vnetdns::zonetool
