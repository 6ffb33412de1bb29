// KeyCache: what the chain of trust found for each possible zone cut (ChainStep), kept per
// worker so that a validation after the first costs hash lookups, not DS/DNSKEY queries or
// signature checks on the key sets. Entries expire with the TTLs of the records they came
// from (at most kMaxKeyTtl); bogus and indeterminate steps are kept kBogusTtl seconds (RFC
// 9520: remember failures briefly). Bounded: past kMaxEntries the cache starts over.
// Thread safety: none; one per worker, used on its thread only.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "resolver/dnssec/zone_keys.hpp"

namespace vnetdns::dnssec {

class KeyCache {
 public:
  static constexpr std::size_t kMaxEntries = 20000;
  static constexpr std::uint32_t kBogusTtl = 5;

  // The step for `name` if cached and not expired at `now` (seconds, any monotonic clock).
  [[nodiscard]] const ChainStep* find(const wire::Name& name, std::uint32_t now) const;
  void put(const wire::Name& name, ChainStep step, std::uint32_t now);
  void clear() { map_.clear(); }
  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }

 private:
  struct Entry {
    ChainStep step;
    std::uint32_t expires;
  };
  struct Hash {
    std::size_t operator()(const wire::Name& n) const noexcept { return n.hash(); }
  };
  std::unordered_map<wire::Name, Entry, Hash> map_;
};

}  // namespace vnetdns::dnssec
