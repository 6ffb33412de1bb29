// Cache operations of the admin endpoint, over PacketCache's public API:
// flush_name() drops what is cached for exactly one name (every type, DO bit; found with
// dump() and erased key by key), flush_zone() drops a name and everything below it
// (erase_below), dump_json() lists what is cached for one name with remaining TTLs.
// Thread safety: PacketCache is thread safe; these hold each shard's lock only briefly
// (dump() scans a shard under its lock: O(entries) per call; an admin-only cost).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::admin {

// `now` is the clock the pipeline stamps entries with (RealClock::now_seconds()).
std::size_t flush_name(cache::PacketCache& cache, const wire::Name& name, std::uint32_t now);
std::size_t flush_zone(cache::PacketCache& cache, const wire::Name& zone);
// {"name":"x.","entries":[{"type":"A","dnssec_ok":false,"kind":"positive","ttl":42,
//   "stale":false,"bytes":61}, ...]}
std::string dump_json(const cache::PacketCache& cache, const wire::Name& name, std::uint32_t now);

}  // namespace vnetdns::admin
