#include "resolver/dnssec/key_cache.hpp"

#include <algorithm>

namespace vnetdns::dnssec {

const ChainStep* KeyCache::find(const wire::Name& name, std::uint32_t now) const {
  auto it = map_.find(name);
  if (it == map_.end() || it->second.expires <= now) return nullptr;
  return &it->second.step;
}

void KeyCache::put(const wire::Name& name, ChainStep step, std::uint32_t now) {
  std::uint32_t ttl = step.keys.ttl;
  const Security s = step.keys.verdict.security;
  if (step.kind == CutKind::kEnd && (s == Security::kBogus || s == Security::kIndeterminate)) {
    ttl = kBogusTtl;
  }
  ttl = std::min(ttl, kMaxKeyTtl);
  if (ttl == 0) return;
  if (map_.size() >= kMaxEntries) map_.clear();
  map_[name] = Entry{std::move(step), now + ttl};
}

}  // namespace vnetdns::dnssec
