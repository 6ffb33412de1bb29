#include "resolver/cache/packet_cache.hpp"

#include <algorithm>
#include <cstring>

#include "resolver/wire/types.hpp"

namespace vnetdns::cache {

PacketCache::PacketCache(const CacheOptions& options)
    : max_entries_(options.max_entries),
      shard_count_(std::max<std::size_t>(1, std::min(kShards, options.max_entries))),
      stale_window_(options.stale_window) {
  // Exactly max_entries in all, spread over at most max_entries shards (a tiny cache still
  // caches every key); the remainder goes one each to the first shards.
  for (std::size_t i = 0; i < shard_count_; ++i) {
    shards_[i].max_entries =
        max_entries_ / shard_count_ + (i < max_entries_ % shard_count_ ? 1 : 0);
  }
}

HitInfo PacketCache::lookup(const CacheKey& key, std::uint32_t now, std::uint8_t* out,
                            std::size_t cap, bool allow_stale, std::uint32_t stale_ttl) {
  HitInfo info;
  Shard& s = shard_for(key);
  if (s.max_entries == 0) return info;
  std::lock_guard lock(s.mu);
  auto found = s.index.find(key);
  if (found == s.index.end()) {
    ++s.misses;
    return info;
  }
  auto it = found->second;
  Entry& e = *it;
  const std::uint32_t age = now >= e.inserted ? now - e.inserted : 0;
  const bool stale = age >= e.ttl;
  if (stale && (age - e.ttl >= stale_window_ || !allow_stale || e.kind == EntryKind::kFailure)) {
    if (age - e.ttl >= stale_window_) drop(s, it);  // past its serve-stale window: gone
    ++s.misses;
    return info;
  }
  if (e.len > cap) {
    ++s.misses;
    return info;
  }
  s.lru.splice(s.lru.begin(), s.lru, it);  // most recently used
  std::memcpy(out, e.wire.get(), e.len);
  // Age every TTL (RFC 1035 section 7.3 / RFC 8767 section 4: stale answers get a short TTL).
  for (std::size_t i = 0; i < e.ttl_count; ++i) {
    std::uint8_t* p = out + e.ttl_offsets[i];
    const std::uint32_t orig = wire::load32(p);
    std::uint32_t t;
    if (stale) {
      t = stale_ttl;  // RFC 8767 section 4: stale answers go out with a short fixed TTL
    } else {
      t = orig > age ? orig - age : 0;
      t = std::min(t, e.ttl - age);
    }
    wire::store32(p, t);
  }
  ++s.hits;
  info.freshness = stale ? Freshness::kStale : Freshness::kFresh;
  info.len = e.len;
  info.kind = e.kind;
  info.remaining_ttl = stale ? 0 : e.ttl - age;
  info.splice = e.splice;
  if (e.splice) info.splice_target = e.splice_target;
  // Prefetch when a hit lands in the last tenth of the TTL (Unbound's rule).
  info.prefetch_due = !stale && e.ttl >= 10 && info.remaining_ttl * 10 <= e.ttl;
  info.refresh_blocked = stale && e.refresh_failed != 0 && now - e.refresh_failed < kRefreshRetry;
  return info;
}

void PacketCache::insert(const CacheKey& key, const InsertRequest& r, std::uint32_t now) {
  if (r.len == 0 || r.len > wire::kMaxMessageSize) return;
  Shard& s = shard_for(key);
  if (s.max_entries == 0) return;
  Entry e;
  e.key = key;
  e.wire = std::make_unique<std::uint8_t[]>(r.len);
  std::memcpy(e.wire.get(), r.wire, r.len);
  e.len = static_cast<std::uint16_t>(r.len);
  e.ttl_count = static_cast<std::uint16_t>(r.ttl_offset_count);
  if (r.ttl_offset_count > 0) {
    e.ttl_offsets = std::make_unique<std::uint16_t[]>(r.ttl_offset_count);
    std::memcpy(e.ttl_offsets.get(), r.ttl_offsets, r.ttl_offset_count * sizeof(std::uint16_t));
  }
  e.inserted = now;
  e.ttl = r.ttl;
  e.kind = r.kind;
  e.splice = r.splice;
  if (r.splice) e.splice_target = r.splice_target;

  std::lock_guard lock(s.mu);
  if (auto found = s.index.find(key); found != s.index.end()) {
    Entry& old = *found->second;
    const std::uint32_t age = now >= old.inserted ? now - old.inserted : 0;
    if (r.kind == EntryKind::kFailure && old.kind != EntryKind::kFailure && age >= old.ttl &&
        age - old.ttl < stale_window_) {
      old.refresh_failed = now;  // keep the good stale answer
      return;
    }
    // The same question failing again: back off (RFC 9520 section 3.2), doubling the time
    // the failure is remembered, up to kMaxFailureTtl.
    if (r.kind == EntryKind::kFailure && old.kind == EntryKind::kFailure) {
      e.ttl = std::min(kMaxFailureTtl, std::max(e.ttl, old.ttl * 2));
    }
    drop(s, found->second);
  }
  s.bytes += r.len;
  s.lru.push_front(std::move(e));
  s.index.emplace(key, s.lru.begin());
  ++s.inserts;
  while (s.index.size() > s.max_entries) {
    drop(s, std::prev(s.lru.end()));
    ++s.evictions;
  }
}

void PacketCache::mark_refresh_failed(const CacheKey& key, std::uint32_t now) {
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  if (auto found = s.index.find(key); found != s.index.end()) found->second->refresh_failed = now;
}

void PacketCache::drop(Shard& s, List::iterator it) {
  s.bytes -= it->len;
  s.index.erase(it->key);
  s.lru.erase(it);
}

void PacketCache::erase(const CacheKey& key) {
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  if (auto found = s.index.find(key); found != s.index.end()) drop(s, found->second);
}

std::size_t PacketCache::erase_below(const wire::Name& suffix) {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto it = s.lru.begin(); it != s.lru.end();) {
      auto next = std::next(it);
      // A spliced entry depends on local data at its target: flush it with that zone too.
      if (it->key.qname.is_subdomain_of(suffix) ||
          (it->splice && it->splice_target.is_subdomain_of(suffix))) {
        drop(s, it);
        ++n;
      }
      it = next;
    }
  }
  return n;
}

void PacketCache::clear() {
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    s.index.clear();
    s.lru.clear();
    s.bytes = 0;
  }
}

CacheStats PacketCache::stats() const {
  CacheStats st;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    st.entries += s.index.size();
    st.bytes += s.bytes;
    st.hits += s.hits;
    st.misses += s.misses;
    st.inserts += s.inserts;
    st.evictions += s.evictions;
  }
  return st;
}

std::vector<PacketCache::DumpRow> PacketCache::dump(const wire::Name& name,
                                                    std::uint32_t now) const {
  std::vector<DumpRow> rows;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    for (const Entry& e : s.lru) {
      if (e.key.qname != name) continue;
      const std::int64_t age = static_cast<std::int64_t>(now) - e.inserted;
      rows.push_back({e.key.qtype, e.key.dnssec_ok, static_cast<std::int64_t>(e.ttl) - age, e.kind,
                      e.len});
    }
  }
  return rows;
}

}  // namespace vnetdns::cache
