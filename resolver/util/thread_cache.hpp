// ThreadCache: a per-thread cache of freed heap blocks up to 4 KiB, in 64-byte size classes,
// in front of malloc/free. vnetdns's global operator new/delete (resolver/thread_cache_new.cpp)
// go through it.
// Why: an event loop allocates and frees in bursts: a batch of 20-100 queries that miss the
// cache each allocate the same dozen objects (coroutine frames, timers' handlers, flight
// state), and free them when the answers come. glibc's per-thread cache holds 7 blocks per
// size and none above 1,032 bytes, so most of those allocations fell through to the arena's
// slow path: callgrind counted 27% of a miss's user-space instructions in malloc and free.
// Here a burst is served from the blocks the previous burst freed.
// Invariants: a cached block came from malloc() with at least class * 64 usable bytes (its
// class is taken from malloc_usable_size(), so any block of ours can be filed on free, also
// one allocated by another thread); a class holds at most kMaxBlocksPerClass blocks and a
// thread at most kMaxBytes, the rest goes back to free(). A thread's blocks are freed when it
// exits; after that its allocations go straight to malloc/free.
// Thread safety: each thread uses only its own cache (thread_local); no locks.
#pragma once

#include <cstddef>

namespace vnetdns::util {

class ThreadCache {
 public:
  static constexpr std::size_t kGranule = 64;
  static constexpr std::size_t kClasses = 64;  // blocks up to kClasses * kGranule = 4 KiB
  static constexpr std::size_t kMaxBlocksPerClass = 512;
  static constexpr std::size_t kMaxBytes = std::size_t{2} << 20;  // per thread

  // A block of at least `size` bytes (aligned like malloc's), or nullptr when out of memory.
  static void* allocate(std::size_t size) noexcept;
  // Takes back a block from allocate() (of this thread or another one); null is ignored.
  static void deallocate(void* block) noexcept;
  // Blocks and bytes held by the calling thread's cache (for tests and diagnostics).
  static std::size_t cached_blocks() noexcept;
  static std::size_t cached_bytes() noexcept;
  // Gives every block the calling thread holds back to free().
  static void release() noexcept;
};

}  // namespace vnetdns::util
