#include "resolver/admin/cache_admin.hpp"

#include "resolver/admin/json_text.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::admin {

namespace {

const char* kind_name(cache::EntryKind k) {
  switch (k) {
    case cache::EntryKind::kPositive: return "positive";
    case cache::EntryKind::kNegative: return "negative";
    case cache::EntryKind::kFailure: return "failure";
  }
  return "unknown";
}

}  // namespace

std::size_t flush_name(cache::PacketCache& cache, const wire::Name& name, std::uint32_t now) {
  std::size_t n = 0;
  for (const auto& row : cache.dump(name, now)) {
    // Only class IN is ever cached (other classes are REFUSED before the cache).
    cache.erase(
        cache::CacheKey{name, row.qtype, wire::klass::kIN, row.dnssec_ok, row.checking_disabled});
    ++n;
  }
  return n;
}

std::size_t flush_zone(cache::PacketCache& cache, const wire::Name& zone) {
  return cache.erase_below(zone);
}

std::string dump_json(const cache::PacketCache& cache, const wire::Name& name, std::uint32_t now) {
  std::string out = "{\"name\":";
  append_json_string(out, name.to_text());
  out += ",\"entries\":[";
  bool first = true;
  char scratch[16];
  for (const auto& row : cache.dump(name, now)) {
    if (!first) out += ',';
    first = false;
    out += "{\"type\":\"";
    out += wire::type_name(row.qtype, scratch);
    out += "\",\"dnssec_ok\":";
    out += row.dnssec_ok ? "true" : "false";
    out += ",\"checking_disabled\":";
    out += row.checking_disabled ? "true" : "false";
    out += ",\"kind\":\"";
    out += kind_name(row.kind);
    out += "\",\"ttl\":";
    out += std::to_string(row.remaining_ttl > 0 ? row.remaining_ttl : 0);
    out += ",\"stale\":";
    out += row.remaining_ttl <= 0 ? "true" : "false";
    out += ",\"bytes\":";
    out += std::to_string(row.bytes);
    out += '}';
  }
  out += "]}\n";
  return out;
}

}  // namespace vnetdns::admin
