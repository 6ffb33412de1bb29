#include "resolver/cache/packet_cache.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "resolver/wire/types.hpp"

namespace vnetdns::cache {

PacketCache::PacketCache(const CacheOptions& options)
    : max_entries_(options.max_entries),
      shard_count_(std::max<std::size_t>(1, std::min(kShards, options.max_entries))),
      stale_window_(options.stale_window) {
  static_assert(sizeof(Entry) <= 56, "the entry header is part of every cached answer's cost");
  // Exactly max_entries in all, spread over at most max_entries shards (a tiny cache still
  // caches every key); the remainder goes one each to the first shards.
  for (std::size_t i = 0; i < shard_count_; ++i) {
    shards_[i].max_entries =
        max_entries_ / shard_count_ + (i < max_entries_ % shard_count_ ? 1 : 0);
  }
}

PacketCache::~PacketCache() {
  for (Shard& s : shards_) free_all(s);
}

namespace {
constexpr std::size_t kFirstBuckets = 64;
// The shard takes the hash's low bits (modulo the shard count); entries keep bits 8..39,
// and buckets take theirs from those.
std::uint32_t entry_hash(std::uint64_t hash) { return static_cast<std::uint32_t>(hash >> 8); }
std::size_t bucket_of(std::uint32_t hash, std::size_t buckets) { return hash & (buckets - 1); }
std::uint16_t ttl_offset(const std::uint8_t* offsets, std::size_t i) {
  std::uint16_t v;
  std::memcpy(&v, offsets + 2 * i, 2);
  return v;
}
}  // namespace

bool PacketCache::Entry::matches(const CacheKey& k, std::uint64_t h) const noexcept {
  return hash == entry_hash(h) && qtype == k.qtype && qclass == k.qclass &&
         dnssec_ok == k.dnssec_ok && checking_disabled == k.checking_disabled &&
         qname_len == k.qname.size() && std::memcmp(qname(), k.qname.data(), qname_len) == 0;
}

PacketCache::Entry* PacketCache::find(Shard& s, const CacheKey& key, std::uint64_t hash) {
  if (s.buckets.empty()) return nullptr;
  for (Entry* e = s.buckets[bucket_of(entry_hash(hash), s.buckets.size())]; e != nullptr;
       e = e->chain) {
    if (e->matches(key, hash)) return e;
  }
  return nullptr;
}

void PacketCache::grow(Shard& s) {
  std::vector<Entry*> next(s.buckets.empty() ? kFirstBuckets : s.buckets.size() * 2, nullptr);
  for (Entry* e = s.head; e != nullptr; e = e->next) {
    Entry*& b = next[bucket_of(e->hash, next.size())];
    e->chain = b;
    b = e;
  }
  s.buckets.swap(next);
}

void PacketCache::link(Shard& s, Entry* e) {
  if (s.count + 1 > s.buckets.size()) grow(s);  // load factor at most 1
  Entry*& b = s.buckets[bucket_of(e->hash, s.buckets.size())];
  e->chain = b;
  b = e;
  e->prev = nullptr;
  e->next = s.head;
  if (s.head != nullptr) s.head->prev = e;
  s.head = e;
  if (s.tail == nullptr) s.tail = e;
  ++s.count;
  s.bytes += e->len;
}

void PacketCache::to_front(Shard& s, Entry* e) {
  if (s.head == e) return;
  e->prev->next = e->next;  // not the head, so it has a prev
  if (e->next != nullptr) {
    e->next->prev = e->prev;
  } else {
    s.tail = e->prev;
  }
  e->prev = nullptr;
  e->next = s.head;
  s.head->prev = e;
  s.head = e;
}

void PacketCache::drop(Shard& s, Entry* e) {
  Entry** link = &s.buckets[bucket_of(e->hash, s.buckets.size())];
  while (*link != e) link = &(*link)->chain;
  *link = e->chain;
  if (e->prev != nullptr) {
    e->prev->next = e->next;
  } else {
    s.head = e->next;
  }
  if (e->next != nullptr) {
    e->next->prev = e->prev;
  } else {
    s.tail = e->prev;
  }
  --s.count;
  s.bytes -= e->len;
  std::free(e);
}

void PacketCache::free_all(Shard& s) {
  for (Entry* e = s.head; e != nullptr;) {
    Entry* next = e->next;
    std::free(e);
    e = next;
  }
  s.head = s.tail = nullptr;
  s.buckets.clear();
  s.buckets.shrink_to_fit();
  s.count = 0;
  s.bytes = 0;
}

HitInfo PacketCache::lookup(const CacheKey& key, std::uint32_t now, std::uint8_t* out,
                            std::size_t cap, const LookupOptions& options) {
  const bool allow_stale = options.allow_stale;
  const std::uint32_t stale_ttl = options.stale_ttl;
  HitInfo info;
  const std::uint64_t hash = key.hash();
  Shard& s = shard_for(hash);
  if (s.max_entries == 0) return info;
  // Read before the lock: a change that lands after it shows as a newer value later.
  info.version.stripe = stripe_of(hash);
  info.version.epoch = epoch_.load(std::memory_order_acquire);
  info.version.value = stripes_[info.version.stripe].load(std::memory_order_acquire);
  std::lock_guard lock(s.mu);
  Entry* found = find(s, key, hash);
  if (found == nullptr) {
    ++s.misses;
    return info;
  }
  Entry& e = *found;
  const std::uint32_t age = now >= e.inserted ? now - e.inserted : 0;
  const bool stale = age >= e.ttl;
  if (stale && (age - e.ttl >= stale_window_ || !allow_stale || e.kind == EntryKind::kFailure)) {
    if (age - e.ttl >= stale_window_) drop(s, found);  // past its serve-stale window: gone
    ++s.misses;
    return info;
  }
  if (e.len > cap) {
    ++s.misses;
    return info;
  }
  to_front(s, found);
  std::memcpy(out, e.wire(), e.len);
  const std::uint8_t* offsets = e.ttl_offsets();
  // Age every TTL (RFC 1035 section 7.3 / RFC 8767 section 4: stale answers get a short TTL).
  for (std::size_t i = 0; i < e.ttl_count; ++i) {
    std::uint8_t* p = out + ttl_offset(offsets, i);
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
  info.ede = static_cast<int>(e.ede_plus_one) - 1;
  info.remaining_ttl = stale ? 0 : e.ttl - age;
  info.splice = e.splice_len != 0;
  if (info.splice) info.splice_target.assign_wire(e.splice_target(), e.splice_len);
  // Prefetch when a hit lands in the last tenth of the TTL (Unbound's rule).
  info.prefetch_due = !stale && e.ttl >= 10 && info.remaining_ttl * 10 <= e.ttl;
  info.refresh_blocked = stale && e.refresh_failed != 0 && now - e.refresh_failed < kRefreshRetry;
  return info;
}

void PacketCache::insert(const CacheKey& key, const InsertRequest& r, std::uint32_t now) {
  if (r.len == 0 || r.len > wire::kMaxMessageSize || r.ttl_offset_count > 0xffff) return;
  // lookup() ages each TTL by writing 4 bytes at its offset: one past the answer would write
  // out of bounds on every hit. Checked here, on the miss path, once per entry.
  for (std::size_t i = 0; i < r.ttl_offset_count; ++i) {
    if (static_cast<std::size_t>(r.ttl_offsets[i]) + 4 > r.len) return;
  }
  const std::uint64_t hash = key.hash();
  Shard& s = shard_for(hash);
  if (s.max_entries == 0) return;
  const std::size_t splice_len = r.splice ? r.splice_target.size() : 0;
  const std::size_t payload = key.qname.size() + splice_len + 2 * r.ttl_offset_count + r.len;
  // Built outside the lock: one allocation, header and payload.
  auto* e = static_cast<Entry*>(std::malloc(sizeof(Entry) + payload));
  if (e == nullptr) return;  // out of memory: the answer is simply not cached
  e->prev = e->next = e->chain = nullptr;
  e->hash = entry_hash(hash);
  e->inserted = now;
  e->ttl = r.ttl;
  e->refresh_failed = 0;
  e->len = static_cast<std::uint16_t>(r.len);
  e->ttl_count = static_cast<std::uint16_t>(r.ttl_offset_count);
  e->qtype = key.qtype;
  e->qclass = key.qclass;
  e->qname_len = static_cast<std::uint8_t>(key.qname.size());
  e->splice_len = static_cast<std::uint8_t>(splice_len);
  e->kind = r.kind;
  e->ede_plus_one = r.ede >= 0 && r.ede < 0xffff ? static_cast<std::uint16_t>(r.ede + 1) : 0;
  e->dnssec_ok = key.dnssec_ok;
  e->checking_disabled = key.checking_disabled;
  std::uint8_t* p = e->payload();
  std::memcpy(p, key.qname.data(), key.qname.size());
  p += key.qname.size();
  if (splice_len > 0) std::memcpy(p, r.splice_target.data(), splice_len);
  p += splice_len;
  if (r.ttl_offset_count > 0) std::memcpy(p, r.ttl_offsets, 2 * r.ttl_offset_count);
  p += 2 * r.ttl_offset_count;
  std::memcpy(p, r.wire, r.len);

  std::lock_guard lock(s.mu);
  if (Entry* old = find(s, key, hash); old != nullptr) {
    const std::uint32_t age = now >= old->inserted ? now - old->inserted : 0;
    if (r.kind == EntryKind::kFailure && old->kind != EntryKind::kFailure && age >= old->ttl &&
        age - old->ttl < stale_window_) {
      old->refresh_failed = now;  // keep the good stale answer
      std::free(e);
      return;
    }
    // The same question failing again: back off (RFC 9520 section 3.2), doubling the time
    // the failure is remembered, up to kMaxFailureTtl.
    if (r.kind == EntryKind::kFailure && old->kind == EntryKind::kFailure) {
      e->ttl = std::min(kMaxFailureTtl, std::max(e->ttl, old->ttl * 2));
    }
    drop(s, old);
  }
  link(s, e);
  bump(hash);
  ++s.inserts;
  while (s.count > s.max_entries) {
    drop(s, s.tail);
    ++s.evictions;
  }
}

void PacketCache::erase(const CacheKey& key) {
  const std::uint64_t hash = key.hash();
  Shard& s = shard_for(hash);
  std::lock_guard lock(s.mu);
  if (Entry* found = find(s, key, hash); found != nullptr) {
    drop(s, found);
    bump(hash);
  }
}

std::size_t PacketCache::erase_below(const wire::Name& suffix) {
  std::size_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    epoch_.fetch_add(1, std::memory_order_release);  // in each shard's lock (see lookup())
    for (Entry* e = s.head; e != nullptr;) {
      Entry* next = e->next;
      wire::Name qname;
      wire::Name target;
      qname.assign_wire(e->qname(), e->qname_len);
      if (e->splice_len != 0) target.assign_wire(e->splice_target(), e->splice_len);
      // A spliced entry depends on local data at its target: flush it with that zone too.
      if (qname.is_subdomain_of(suffix) || (e->splice_len != 0 && target.is_subdomain_of(suffix))) {
        drop(s, e);
        ++n;
      }
      e = next;
    }
  }
  return n;
}

void PacketCache::clear() {
  for (Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    epoch_.fetch_add(1, std::memory_order_release);  // in each shard's lock (see lookup())
    free_all(s);
  }
}

CacheStats PacketCache::stats() const {
  CacheStats st;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    st.entries += s.count;
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
    for (const Entry* e = s.head; e != nullptr; e = e->next) {
      if (e->qname_len != name.size() || std::memcmp(e->qname(), name.data(), name.size()) != 0) {
        continue;
      }
      const std::int64_t age = static_cast<std::int64_t>(now) - e->inserted;
      rows.push_back({e->qtype, e->dnssec_ok, e->checking_disabled,
                      static_cast<std::int64_t>(e->ttl) - age, e->kind, e->len});
    }
  }
  return rows;
}

}  // namespace vnetdns::cache
