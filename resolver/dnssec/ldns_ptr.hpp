// Owning handles for the ldns objects the validator holds: ldns is C, and these make every
// exit path free what it allocated. LdnsRrList owns its list only (the records belong to a
// packet or are freed separately); LdnsRrListDeep owns the records too.
// Thread safety: plain owning values; an ldns object is not shared between threads unless it
// is immutable (a validated key set is read concurrently, never written).
#pragma once

#include <memory>

// Before ldns: without __bool_true_false_are_defined, ldns/common.h #defines bool, true and
// false, which breaks every standard header included after it.
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)

#include <ldns/ldns.h>

namespace vnetdns::dnssec {

struct PktFree {
  void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
struct RrFree {
  void operator()(ldns_rr* r) const noexcept { ldns_rr_free(r); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const noexcept { ldns_rdf_deep_free(r); }
};
struct RrListShallowFree {
  void operator()(ldns_rr_list* l) const noexcept { ldns_rr_list_free(l); }
};
struct RrListDeepFree {
  void operator()(ldns_rr_list* l) const noexcept { ldns_rr_list_deep_free(l); }
};

using LdnsPkt = std::unique_ptr<ldns_pkt, PktFree>;
using LdnsRr = std::unique_ptr<ldns_rr, RrFree>;
using LdnsRdf = std::unique_ptr<ldns_rdf, RdfFree>;
using LdnsRrList = std::unique_ptr<ldns_rr_list, RrListShallowFree>;
using LdnsRrListDeep = std::unique_ptr<ldns_rr_list, RrListDeepFree>;

inline LdnsRrList new_list() { return LdnsRrList(ldns_rr_list_new()); }

}  // namespace vnetdns::dnssec
