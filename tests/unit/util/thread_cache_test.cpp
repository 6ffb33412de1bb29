// ThreadCache: a freed block serves the next request of its size class on the same thread,
// sizes above 4 KiB and blocks past the caps go back to free(), a block freed on another
// thread is filed there, and a thread's blocks are given back when it ends (ASan's leak
// check would see them otherwise).
#include "resolver/util/thread_cache.hpp"

#include <malloc.h>

#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace vnetdns::util {
namespace {

TEST_CASE("ThreadCache: a freed block serves the next request of its class", "[unit][util]") {
  ThreadCache::release();
  void* a = ThreadCache::allocate(100);  // class 2: 65..128 bytes
  REQUIRE(a != nullptr);
  CHECK(malloc_usable_size(a) >= 128);
  ThreadCache::deallocate(a);
  CHECK(ThreadCache::cached_blocks() == 1);
  CHECK(ThreadCache::cached_bytes() == 128);
  void* b = ThreadCache::allocate(128);  // same class
  CHECK(b == a);
  CHECK(ThreadCache::cached_blocks() == 0);
  void* c = ThreadCache::allocate(129);  // next class: not that block
  ThreadCache::deallocate(b);
  void* d = ThreadCache::allocate(64);  // a smaller class does not take it either
  CHECK(d != b);
  CHECK(ThreadCache::cached_blocks() == 1);
  ThreadCache::deallocate(c);
  ThreadCache::deallocate(d);
  ThreadCache::deallocate(nullptr);  // ignored
  CHECK(ThreadCache::cached_blocks() == 3);
  void* zero = ThreadCache::allocate(0);
  CHECK(zero != nullptr);
  ThreadCache::deallocate(zero);
  ThreadCache::release();
  CHECK(ThreadCache::cached_blocks() == 0);
  CHECK(ThreadCache::cached_bytes() == 0);
}

TEST_CASE("ThreadCache: big blocks and blocks past the caps go back to free()", "[unit][util]") {
  ThreadCache::release();
  void* big = ThreadCache::allocate(2 * ThreadCache::kClasses * ThreadCache::kGranule);
  REQUIRE(big != nullptr);
  ThreadCache::deallocate(big);
  CHECK(ThreadCache::cached_blocks() == 0);

  std::vector<void*> blocks;
  for (std::size_t i = 0; i < ThreadCache::kMaxBlocksPerClass + 10; ++i) {
    blocks.push_back(ThreadCache::allocate(40));
  }
  for (void* p : blocks) ThreadCache::deallocate(p);
  CHECK(ThreadCache::cached_blocks() == ThreadCache::kMaxBlocksPerClass);
  ThreadCache::release();

  // The byte cap: a thread full of 4 KiB blocks takes no more of any size.
  const std::size_t size = ThreadCache::kClasses * ThreadCache::kGranule;
  const std::size_t fill = ThreadCache::kMaxBytes / size;
  blocks.clear();
  for (std::size_t i = 0; i < fill + 10; ++i) blocks.push_back(ThreadCache::allocate(size));
  for (std::size_t i = 0; i < 10; ++i) blocks.push_back(ThreadCache::allocate(size / 2));
  for (void* p : blocks) ThreadCache::deallocate(p);
  CHECK(ThreadCache::cached_bytes() == fill * size);
  CHECK(ThreadCache::cached_blocks() == fill);
  ThreadCache::release();
}

TEST_CASE("ThreadCache: a block freed by another thread is filed there", "[unit][util]") {
  ThreadCache::release();
  void* mine = ThreadCache::allocate(300);
  std::size_t there = 0;
  void* reused = nullptr;
  std::thread other([&] {
    ThreadCache::deallocate(mine);
    there = ThreadCache::cached_blocks();
    reused = ThreadCache::allocate(300);
    ThreadCache::deallocate(reused);
    // The thread ends holding one block: its exit frees it.
  });
  other.join();
  CHECK(there == 1);
  CHECK(reused == mine);
  CHECK(ThreadCache::cached_blocks() == 0);  // nothing came to this thread
}

}  // namespace
}  // namespace vnetdns::util
