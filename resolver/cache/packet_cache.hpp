// PacketCache: answers kept as ready-to-send wire messages, sharded by key hash so workers
// rarely meet on a lock. A hit copies the stored bytes into the caller's buffer and ages
// every TTL in place (the offsets were recorded when the answer was built): no allocation.
// Entries may carry a splice point: the upstream part of a CNAME chain whose target is a
// local name; the pipeline completes those from local data on each hit (so zone edits show
// at once and local data is never cached).
// Bounds: at most max_entries entries in all (split exactly over min(16, max_entries)
// shards), least recently used evicted first within a shard. Expired entries stay for `stale_window` (RFC 8767) and are then dropped.
// Thread safety: every public method is safe from any thread (one mutex per shard).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "resolver/cache/cache_key.hpp"

namespace vnetdns::cache {

enum class EntryKind : std::uint8_t { kPositive, kNegative, kFailure };

struct InsertRequest {
  const std::uint8_t* wire = nullptr;  // header + question + records, no OPT
  std::size_t len = 0;
  const std::uint16_t* ttl_offsets = nullptr;
  std::size_t ttl_offset_count = 0;
  std::uint32_t ttl = 0;         // seconds this answer stays fresh
  EntryKind kind = EntryKind::kPositive;
  bool splice = false;           // complete from local data at `splice_target` on each hit
  wire::Name splice_target;
};

enum class Freshness : std::uint8_t { kMiss, kFresh, kStale };

struct HitInfo {
  Freshness freshness = Freshness::kMiss;
  std::size_t len = 0;
  EntryKind kind = EntryKind::kPositive;
  std::uint32_t remaining_ttl = 0;  // 0 when stale
  bool splice = false;
  wire::Name splice_target;
  bool prefetch_due = false;        // in the last tenth of its TTL
  bool refresh_blocked = false;     // stale, and a refresh failed less than kRefreshRetry ago
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

class PacketCache {
 public:
  explicit PacketCache(const CacheOptions& options);

  // Copies a live entry into `out` (capacity `cap`) with TTLs aged to `now` (seconds).
  // A stale entry is copied only when `allow_stale`, with every TTL set to `stale_ttl`.
  // Prefetch is due on a hit in the last tenth of the TTL; TTLs count in whole seconds, so
  // entries with a TTL under 10 s are never prefetched.
  HitInfo lookup(const CacheKey& key, std::uint32_t now, std::uint8_t* out, std::size_t cap,
                 bool allow_stale = false, std::uint32_t stale_ttl = 30);
  // A failure (kind kFailure) never replaces an entry that may still be served stale: the
  // stale entry is kept and its refresh marked failed instead (RFC 8767 section 4). A failure
  // that replaces an earlier failure of the same question is remembered twice as long as
  // that one, up to kMaxFailureTtl (RFC 9520 section 3.2 backoff); any answer resets it.
  void insert(const CacheKey& key, const InsertRequest& request, std::uint32_t now);
  // Marks a stale entry's refresh as failed at `now`: it is served stale without another
  // refresh attempt for kRefreshRetry seconds (RFC 8767 section 4, "failure recheck").
  void mark_refresh_failed(const CacheKey& key, std::uint32_t now);
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
  [[nodiscard]] bool enabled() const noexcept { return max_entries_ > 0; }

  // Remaining-TTL view of what is cached for a name (admin dump).
  struct DumpRow {
    std::uint16_t qtype;
    bool dnssec_ok;
    std::int64_t remaining_ttl;  // negative when stale
    EntryKind kind;
    std::size_t bytes;
  };
  std::vector<DumpRow> dump(const wire::Name& name, std::uint32_t now) const;

 private:
  struct Entry {
    CacheKey key;
    std::unique_ptr<std::uint8_t[]> wire;
    std::uint16_t len = 0;
    std::uint16_t ttl_count = 0;
    std::unique_ptr<std::uint16_t[]> ttl_offsets;
    std::uint32_t inserted = 0;
    std::uint32_t ttl = 0;
    EntryKind kind = EntryKind::kPositive;
    bool splice = false;
    std::uint32_t refresh_failed = 0;  // when a refresh of this stale entry last failed
    wire::Name splice_target;
  };
  using List = std::list<Entry>;
  struct alignas(64) Shard {
    mutable std::mutex mu;
    List lru;  // front = most recent
    std::unordered_map<CacheKey, List::iterator, CacheKeyHash> index;
    std::size_t bytes = 0;
    std::size_t max_entries = 0;  // this shard's share of max_entries (may be 0)
    std::uint64_t hits = 0, misses = 0, inserts = 0, evictions = 0;
  };
  static constexpr std::size_t kShards = 16;

  Shard& shard_for(const CacheKey& key) { return shards_[key.hash() % shard_count_]; }
  void drop(Shard& s, List::iterator it);

  std::size_t max_entries_;
  std::size_t shard_count_;
  std::uint32_t stale_window_;
  std::array<Shard, kShards> shards_;
};

}  // namespace vnetdns::cache
