// libFuzzer target: the response validator and splicer. Arbitrary bytes are taken as an
// upstream reply to "myregistry.azurecr.io A"; reply_matches() decides acceptance and
// scrub_reply() keeps the question's chain, splicing into a local privatelink zone. Whatever
// comes out must parse, carry exactly the question asked, and have TTL offsets inside it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "resolver/pipeline/response_scrubber.hpp"
#include "resolver/upstream/upstream_query.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/zone/zone_loader.hpp"

#include "fuzz_check.hpp"

namespace wire = vnetdns::wire;
namespace zone = vnetdns::zone;
namespace pipeline = vnetdns::pipeline;

namespace {
const zone::ZoneSet& zones() {
  static const std::shared_ptr<const zone::ZoneSet> set = [] {
    const wire::Name origin = wire::Name::from_text("privatelink.azurecr.io");
    auto z = zone::load_zone_from_text(origin,
                                       "$ORIGIN privatelink.azurecr.io.\n$TTL 10\n"
                                       "@ IN SOA @ h.invalid. 1 3600 300 2419200 10\n"
                                       "@ IN NS @\nmyregistry IN A 10.0.0.7\n"
                                       "loop IN CNAME loop2\nloop2 IN CNAME loop\n",
                                       {}, "fuzz.zone");
    if (!z) std::abort();
    return zone::ZoneSet::build({z.value()}).value();
  }();
  return *set;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vnetdns::cache::CacheKey key;
  key.qname = wire::Name::from_text("myregistry.azurecr.io");
  key.qtype = wire::type::kA;
  key.qclass = wire::klass::kIN;
  key.dnssec_ok = size > 0 && (data[0] & 1) != 0;
  // The reply's first 12+question bytes are taken as is; acceptance is checked like the
  // transport does, against a query with the reply's own ID.
  if (size >= wire::kHeaderSize) {
    std::array<std::uint8_t, 512> q{};
    vnetdns::upstream::UpstreamQuery uq;
    uq.qname = key.qname;
    uq.qtype = key.qtype;
    const std::size_t qlen =
        vnetdns::upstream::encode_query(uq, wire::header_id(data), q.data(), q.size(), true);
    (void)vnetdns::upstream::reply_matches(q.data(), qlen, data, size, false);
  }
  auto r = pipeline::scrub_reply(data, size, key, zones(), pipeline::TtlPolicy{});
  if (!r) return 0;
  const pipeline::Processed& p = r.value();
  wire::MessageView v;
  FUZZ_CHECK(wire::parse_message(p.wire.data(), p.wire.size(), v) == wire::MessageError::kNone);
  FUZZ_CHECK(v.qname == key.qname && v.qtype == key.qtype && v.qclass == key.qclass);
  for (const std::uint16_t off : p.ttl_offsets) FUZZ_CHECK(off + 4u <= p.wire.size());
  FUZZ_CHECK(v.rrs.size() == p.ttl_offsets.size());
  return 0;
}
