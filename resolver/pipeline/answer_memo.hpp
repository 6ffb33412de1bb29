// AnswerMemo: one worker's memory of the UDP answers it built last from the cache or from
// local data, keyed on the query's bytes after the ID (flags, counts, question and OPT: the
// qname's letter case, the DO and CD bits, the UDP size all included), in the manner of
// dnsdist's packet cache. A query whose bytes match an entry gets that entry's answer under
// its own ID, without the parse, route, zone and cache stages (callgrind: ~1,600 instructions
// per cache hit through the pipeline).
// An entry answers only while all of these hold, each checked on every hit (else the query
// goes through the pipeline, whose answer replaces the entry):
//  - the same second of Clock::now_seconds() as when it was built: TTLs age in whole seconds,
//    so within that second the pipeline would build the very same bytes;
//  - the same snapshot generation (zones, settings, forward rules);
//  - for an answer from the cache: PacketCache::unchanged() for what its lookup saw.
// What depends on the client is Pipeline's to keep out: it checks the ACL on every hit, and
// memoises nothing over TCP, with a COOKIE option or TSIG, while a rate limiter or a query
// log is on, nor an answer that asked for a prefetch.
// Layout: kSets sets of kWays fixed 256-byte entries (a query and answer that do not fit one
// together are not memoised); 1 MiB per worker, allocated and touched once, at construction.
// The hash is wire::hash_name's, seeded per process from the kernel's random bytes; colliding
// queries cost a memcmp, and a flood of them only evicts entries (they take the pipeline).
// Thread safety: none; one per worker, owned by its Pipeline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/pipeline/counters.hpp"

namespace vnetdns::pipeline {

class AnswerMemo {
 public:
  // When and from what an answer was built: what decides whether it may be repeated.
  struct Stamp {
    std::uint32_t second = 0;      // Clock::now_seconds() the pipeline ran (and aged TTLs) at
    std::uint64_t generation = 0;  // of the snapshot the pipeline used
    bool from_cache = false;       // else local data (or synthesized), no cache version
    cache::CacheVersion version;   // with from_cache
  };
  // What a hit tells the caller for its counters.
  struct Hit {
    std::size_t len = 0;
    std::uint16_t qtype = 0;
    AnswerSource source = AnswerSource::kCache;
    bool from_cache = false;
  };

  AnswerMemo();

  // Copies the answer remembered for `query` into `out` with the query's ID when it is still
  // valid at `second` and `generation`; returns false (and writes nothing) otherwise.
  bool find(const std::uint8_t* query, std::size_t len, std::uint32_t second,
            std::uint64_t generation, const cache::PacketCache& cache, std::uint8_t* out,
            std::size_t cap, Hit& hit);
  // Remembers `answer` for `query` (replacing its earlier answer, else the set's oldest).
  void store(const std::uint8_t* query, std::size_t len, const std::uint8_t* answer,
             std::size_t answer_len, std::uint16_t qtype, AnswerSource source, const Stamp& stamp);

  static constexpr std::size_t kEntrySize = 256;
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kSets = 1024;

 private:
  struct Entry {
    Stamp stamp;
    std::uint16_t key_len;
    std::uint16_t answer_len;
    std::uint16_t qtype;
    AnswerSource source;
    // The key (the query from byte 2), then the answer (whole, ID included).
    std::uint8_t data[kEntrySize - sizeof(Stamp) - 8];
  };
  static_assert(sizeof(Entry) == kEntrySize);
  static constexpr std::size_t kData = sizeof(Entry::data);

  [[nodiscard]] static std::uint64_t hash(const std::uint8_t* key, std::size_t len) noexcept;
  // The way of `set` holding `key` (hashed to `h`), or kWays.
  [[nodiscard]] std::size_t way_of(std::size_t set, std::uint64_t h, const std::uint8_t* key,
                                   std::size_t len) const noexcept;

  // Per set, each way's key hash (0: empty; a real hash has its low bit set), apart from the
  // entries so that a probe reads one cache line before the entry it wants.
  std::unique_ptr<std::uint64_t[]> tags_;
  std::unique_ptr<Entry[]> entries_;
};

}  // namespace vnetdns::pipeline
