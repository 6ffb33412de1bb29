#include "resolver/util/thread_cache.hpp"

#include <malloc.h>

#include <cstdint>
#include <cstdlib>

namespace vnetdns::util {
namespace {

struct FreeBlock {
  FreeBlock* next;
};

struct Lists {
  FreeBlock* head[ThreadCache::kClasses + 1] = {};
  std::uint32_t count[ThreadCache::kClasses + 1] = {};
  std::size_t bytes = 0;

  void drain() noexcept {
    for (std::size_t c = 1; c <= ThreadCache::kClasses; ++c) {
      while (FreeBlock* b = head[c]) {
        head[c] = b->next;
        std::free(b);
      }
      count[c] = 0;
    }
    bytes = 0;
  }
};

// Trivially destructible, so reachable at any time, also while other thread-local objects
// are being destroyed; the Reaper below drains it at thread exit and marks it closed.
thread_local Lists tl_lists;
thread_local bool tl_closed = false;

struct Reaper {
  bool armed = false;
  ~Reaper() {
    tl_closed = true;
    tl_lists.drain();
  }
};
thread_local Reaper tl_reaper;

Lists* lists() noexcept {
  if (tl_closed) return nullptr;
  if (!tl_reaper.armed) tl_reaper.armed = true;  // first touch registers the destructor
  return &tl_lists;
}

}  // namespace

void* ThreadCache::allocate(std::size_t size) noexcept {
  const std::size_t c = size == 0 ? 1 : (size + kGranule - 1) / kGranule;
  if (c > kClasses) return std::malloc(size);
  if (Lists* l = lists(); l != nullptr && l->head[c] != nullptr) {
    FreeBlock* b = l->head[c];
    l->head[c] = b->next;
    --l->count[c];
    l->bytes -= c * kGranule;
    return b;
  }
  return std::malloc(c * kGranule);
}

void ThreadCache::deallocate(void* block) noexcept {
  if (block == nullptr) return;
  // At least c * 64 usable bytes, so it can serve any request of class c.
  const std::size_t c = malloc_usable_size(block) / kGranule;
  Lists* l = c >= 1 && c <= kClasses ? lists() : nullptr;
  if (l == nullptr || l->count[c] >= kMaxBlocksPerClass || l->bytes + c * kGranule > kMaxBytes) {
    std::free(block);
    return;
  }
  auto* b = static_cast<FreeBlock*>(block);
  b->next = l->head[c];
  l->head[c] = b;
  ++l->count[c];
  l->bytes += c * kGranule;
}

std::size_t ThreadCache::cached_blocks() noexcept {
  std::size_t n = 0;
  for (std::size_t c = 1; c <= kClasses; ++c) n += tl_lists.count[c];
  return n;
}

std::size_t ThreadCache::cached_bytes() noexcept { return tl_lists.bytes; }

void ThreadCache::release() noexcept { tl_lists.drain(); }

}  // namespace vnetdns::util
