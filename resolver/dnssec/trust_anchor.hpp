// TrustAnchor: the keys validation starts from, read from a file of DS or DNSKEY lines in
// master-file format (Debian's dns-root-data /usr/share/dns/root.key is DNSKEY lines;
// root.ds is DS lines). One anchor per owner name; the file may hold several names.
// Thread safety: immutable once loaded; shared read-only by every worker.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "resolver/dnssec/ldns_ptr.hpp"
#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::dnssec {

struct TrustAnchor {
  wire::Name zone;
  std::shared_ptr<const ldns_rr_list> records;  // DS and/or DNSKEY records for `zone`
};

// Reads `path`; errors are "PATH:LINE: why" (or "PATH: why").
util::Result<std::vector<TrustAnchor>, std::string> load_trust_anchors(const std::string& path);

// The anchor whose zone is the closest enclosing `name`, or nullptr.
const TrustAnchor* closest_anchor(const std::vector<TrustAnchor>& anchors, const wire::Name& name);

}  // namespace vnetdns::dnssec
