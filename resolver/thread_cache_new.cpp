// vnetdns's global operator new and delete: through util::ThreadCache (see its header for
// why). Linked into the vnetdns program only, as an object of its own (a replacement must
// not depend on which archive members the linker happens to pull). Left out under
// AddressSanitizer, whose own allocator must see every block to find use-after-free.
// The aligned forms are not replaced: the library's versions pair with each other.
#include <new>

#include "resolver/util/thread_cache.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang's spelling
#define VNETDNS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)  // GCC's
#define VNETDNS_ASAN 1
#endif

#if !defined(VNETDNS_ASAN)

namespace {

void* allocate_or_throw(std::size_t n) {
  void* p = vnetdns::util::ThreadCache::allocate(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return allocate_or_throw(n); }
void* operator new[](std::size_t n) { return allocate_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return vnetdns::util::ThreadCache::allocate(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return vnetdns::util::ThreadCache::allocate(n);
}
void operator delete(void* p) noexcept { vnetdns::util::ThreadCache::deallocate(p); }
void operator delete[](void* p) noexcept { vnetdns::util::ThreadCache::deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { vnetdns::util::ThreadCache::deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { vnetdns::util::ThreadCache::deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept {
  vnetdns::util::ThreadCache::deallocate(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  vnetdns::util::ThreadCache::deallocate(p);
}

#endif
