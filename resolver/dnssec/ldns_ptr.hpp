// Owning handles for the ldns objects the validator holds: ldns is C, and these make every
// exit path free what it allocated. LdnsRrList owns its list only (the records belong to a
// packet or are freed separately); LdnsRrListDeep owns the records too.
// Thread safety: plain owning values; an ldns object is not shared between threads unless it
// is immutable (a validated key set is read concurrently, never written).
#pragma once

#include <cstddef>
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
struct BufferFree {
  void operator()(ldns_buffer* b) const noexcept { ldns_buffer_free(b); }
};

using LdnsPkt = std::unique_ptr<ldns_pkt, PktFree>;
using LdnsRr = std::unique_ptr<ldns_rr, RrFree>;
using LdnsRdf = std::unique_ptr<ldns_rdf, RdfFree>;
using LdnsRrList = std::unique_ptr<ldns_rr_list, RrListShallowFree>;
using LdnsRrListDeep = std::unique_ptr<ldns_rr_list, RrListDeepFree>;
using LdnsBuffer = std::unique_ptr<ldns_buffer, BufferFree>;

inline LdnsRrList new_list() { return LdnsRrList(ldns_rr_list_new()); }

// `buffer` emptied for reuse (a thread's scratch buffer), made first when it is missing or
// failed (an ldns buffer keeps its error status after a failed allocation); nullptr when
// memory is out.
inline ldns_buffer* reuse(LdnsBuffer& buffer, std::size_t capacity) {
  if (buffer == nullptr || ldns_buffer_status(buffer.get()) != LDNS_STATUS_OK) {
    buffer.reset(ldns_buffer_new(capacity));
  }
  if (buffer != nullptr) ldns_buffer_clear(buffer.get());
  return buffer.get();
}

}  // namespace vnetdns::dnssec
