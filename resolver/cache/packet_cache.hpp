// PacketCache: answers kept as ready-to-send wire messages, sharded by key hash so workers
// rarely meet on a lock. A hit copies the stored bytes into the caller's buffer and ages
// every TTL in place (the offsets were recorded when the answer was built): no allocation.
// Entries may carry a splice point: the upstream part of a CNAME chain whose target is a
// local name; the pipeline completes those from local data on each hit (so zone edits show
// at once and local data is never cached).
// Memory: each entry is one allocation (a 56-byte header, then the lowered qname, the splice
// target, the TTL offsets and the wire bytes), linked into its shard's LRU list and hash
// chain in place: about 150 bytes for a typical A answer, where node-based containers with
// fixed-size names took 1.2 KiB.
// Bounds: at most max_entries entries in all (split exactly over min(16, max_entries)
// shards), least recently used evicted first within a shard. Expired entries stay for
// `stale_window` (RFC 8767) and are then dropped.
// Versions: every change to an entry is counted (per stripe of keys, and per whole cache), so
// a worker that remembers an answer it copied (pipeline/answer_memo.hpp) can check without a
// lock that the cache has not changed under it.
// Thread safety: every public method is safe from any thread (one mutex per shard).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "resolver/cache/cache_key.hpp"

namespace vnetdns::cache {

enum class EntryKind : std::uint8_t { kPositive, kNegative, kFailure };

struct InsertRequest {
  const std::uint8_t* wire = nullptr;  // header + question + records, no OPT
  std::size_t len = 0;
  const std::uint16_t* ttl_offsets = nullptr;
  std::size_t ttl_offset_count = 0;
  std::uint32_t ttl = 0;  // seconds this answer stays fresh
  EntryKind kind = EntryKind::kPositive;
  bool splice = false;  // complete from local data at `splice_target` on each hit
  wire::Name splice_target;
  // An RFC 8914 info code answered with every hit (why a kFailure failed: a DNSSEC-bogus
  // answer's reason, say), or -1 for none.
  int ede = -1;
};

enum class Freshness : std::uint8_t { kMiss, kFresh, kStale };

// What a lookup saw of the cache's state for its key; PacketCache::unchanged() tells later,
// without a lock, whether that key's entry may have changed since.
struct CacheVersion {
  std::uint32_t stripe = 0;  // which version stripe the key falls in
  std::uint32_t value = 0;   // that stripe's count of changes
  std::uint64_t epoch = 0;   // the count of whole-cache changes (clear, erase_below)
};

struct HitInfo {
  Freshness freshness = Freshness::kMiss;
  std::size_t len = 0;
  EntryKind kind = EntryKind::kPositive;
  std::uint32_t remaining_ttl = 0;  // 0 when stale
  bool splice = false;
  wire::Name splice_target;
  int ede = -1;                  // InsertRequest::ede
  bool prefetch_due = false;     // in the last tenth of its TTL
  bool refresh_blocked = false;  // stale, and a refresh failed less than kRefreshRetry ago
  CacheVersion version;          // read before the lookup (see unchanged())
};

struct CacheStats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t inserts = 0;
  std::uint64_t evictions = 0;
};

struct CacheOptions {
  std::size_t max_entries = 100000;
  std::uint32_t stale_window = 0;  // seconds past expiry an entry may be served stale
};

// How PacketCache::lookup treats an expired entry.
struct LookupOptions {
  bool allow_stale = false;      // serve an expired entry inside the stale window
  std::uint32_t stale_ttl = 30;  // the TTL a stale answer goes out with (RFC 8767)
};

class PacketCache {
 public:
  explicit PacketCache(const CacheOptions& options);
  ~PacketCache();
  PacketCache(const PacketCache&) = delete;
  PacketCache& operator=(const PacketCache&) = delete;

  // Copies a live entry into `out` (capacity `cap`) with TTLs aged to `now` (seconds).
  // A stale entry is copied only with `options.allow_stale`, every TTL set to its stale_ttl.
  // Prefetch is due on a hit in the last tenth of the TTL; TTLs count in whole seconds, so
  // entries with a TTL under 10 s are never prefetched.
  HitInfo lookup(const CacheKey& key, std::uint32_t now, std::uint8_t* out, std::size_t cap,
                 const LookupOptions& options = {});
  // A failure (kind kFailure) never replaces an entry that may still be served stale: the
  // stale entry is kept and its refresh marked failed instead (RFC 8767 section 4). A failure
  // that replaces an earlier failure of the same question is remembered twice as long as
  // that one, up to kMaxFailureTtl (RFC 9520 section 3.2 backoff); any answer resets it.
  void insert(const CacheKey& key, const InsertRequest& request, std::uint32_t now);
  static constexpr std::uint32_t kRefreshRetry = 30;
  // RFC 9520 allows up to five minutes; a forwarder's upstreams come back as a whole, and
  // every name that failed during an outage would stay failed that long after it, so the
  // backoff stops at one minute (5, 10, 20, 40, 60 s).
  static constexpr std::uint32_t kMaxFailureTtl = 60;
  void erase(const CacheKey& key);
  // Drops every entry whose name is `suffix` or below it (a zone flush).
  std::size_t erase_below(const wire::Name& suffix);
  void clear();
  [[nodiscard]] CacheStats stats() const;
  // True when, since the lookup that returned `v`, no insert or erase has touched its key (or
  // another key of its stripe: a false "changed" costs the caller a lookup, never a wrong
  // answer) and no clear() or erase_below() has run. An eviction does not count: an evicted
  // answer stays a correct one until its TTL runs out. Lock-free: two atomic loads.
  [[nodiscard]] bool unchanged(const CacheVersion& v) const noexcept {
    return epoch_.load(std::memory_order_acquire) == v.epoch &&
           stripes_[v.stripe].load(std::memory_order_acquire) == v.value;
  }
  [[nodiscard]] bool enabled() const noexcept { return max_entries_ > 0; }

  // Remaining-TTL view of what is cached for a name (admin dump).
  struct DumpRow {
    std::uint16_t qtype;
    bool dnssec_ok;
    bool checking_disabled;
    std::int64_t remaining_ttl;  // negative when stale
    EntryKind kind;
    std::size_t bytes;
  };
  std::vector<DumpRow> dump(const wire::Name& name, std::uint32_t now) const;

 private:
  // The header of one entry's allocation; the variable part follows it (see payload()).
  struct Entry {
    Entry* prev;  // LRU neighbours, front = most recent
    Entry* next;
    Entry* chain;        // next entry in the same hash bucket
    std::uint32_t hash;  // bits 8..39 of the key's hash (the low bits pick the shard)
    std::uint32_t inserted;
    std::uint32_t ttl;
    std::uint32_t refresh_failed;  // when a refresh of this stale entry last failed
    std::uint16_t len;             // wire bytes
    std::uint16_t ttl_count;
    std::uint16_t qtype;
    std::uint16_t qclass;
    std::uint8_t qname_len;
    std::uint8_t splice_len;  // 0: no splice (a name is at least one byte)
    EntryKind kind;
    bool dnssec_ok;
    bool checking_disabled;
    std::uint16_t ede_plus_one;  // InsertRequest::ede + 1 (0: none)

    // qname (qname_len bytes), splice target (splice_len), TTL offsets (2 * ttl_count,
    // unaligned), wire (len).
    [[nodiscard]] std::uint8_t* payload() noexcept {
      return reinterpret_cast<std::uint8_t*>(this + 1);
    }
    [[nodiscard]] const std::uint8_t* payload() const noexcept {
      return reinterpret_cast<const std::uint8_t*>(this + 1);
    }
    [[nodiscard]] const std::uint8_t* qname() const noexcept { return payload(); }
    [[nodiscard]] const std::uint8_t* splice_target() const noexcept {
      return payload() + qname_len;
    }
    [[nodiscard]] const std::uint8_t* ttl_offsets() const noexcept {
      return splice_target() + splice_len;
    }
    [[nodiscard]] const std::uint8_t* wire() const noexcept {
      return ttl_offsets() + 2 * ttl_count;
    }
    [[nodiscard]] bool matches(const CacheKey& k, std::uint64_t h) const noexcept;
  };
  struct alignas(64) Shard {
    mutable std::mutex mu;
    Entry* head = nullptr;        // LRU: most recent
    Entry* tail = nullptr;        // LRU: next to evict
    std::vector<Entry*> buckets;  // a power of two in size, grown to keep chains short
    std::size_t count = 0;
    std::size_t bytes = 0;
    std::size_t max_entries = 0;  // this shard's share of max_entries (may be 0)
    std::uint64_t hits = 0, misses = 0, inserts = 0, evictions = 0;
  };
  static constexpr std::size_t kShards = 16;
  // Version stripes: a change to a key's entry bumps the stripe its hash (bits 40..49) picks,
  // inside the shard lock; lookup() reads the stripe before taking the lock, so a version it
  // returns is never newer than the entry it copied.
  static constexpr std::size_t kStripes = 1024;
  static std::uint32_t stripe_of(std::uint64_t hash) {
    return static_cast<std::uint32_t>((hash >> 40) & (kStripes - 1));
  }
  void bump(std::uint64_t hash) noexcept {
    stripes_[stripe_of(hash)].fetch_add(1, std::memory_order_release);
  }

  Shard& shard_for(std::uint64_t hash) { return shards_[hash % shard_count_]; }
  static Entry* find(Shard& s, const CacheKey& key, std::uint64_t hash);
  static void link(Shard& s, Entry* e);      // into its bucket and at the LRU front
  static void drop(Shard& s, Entry* e);      // unlinks and frees
  static void to_front(Shard& s, Entry* e);  // most recently used
  static void grow(Shard& s);
  static void free_all(Shard& s);

  std::size_t max_entries_;
  std::size_t shard_count_;
  std::uint32_t stale_window_;
  std::array<Shard, kShards> shards_;
  std::array<std::atomic<std::uint32_t>, kStripes> stripes_{};
  std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace vnetdns::cache
