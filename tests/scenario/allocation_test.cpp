// Zero heap allocations on the hot path (issue: "heap allocations per cache hit and per local
// answer: zero"): global operator new is replaced in this test binary by a counting version;
// handle() is then called for cache hits and local answers with counting switched on.
#include <atomic>
#include <cstdlib>
#include <new>

#include <catch2/catch.hpp>

#include "scenario_harness.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them): every form that
// frees with free() must allocate with malloc(), or ASan reports a mismatch.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace vnetdns::scenario;
namespace t = vnetdns::wire::type;
namespace pipeline = vnetdns::pipeline;
namespace util = vnetdns::util;

TEST_CASE("no heap allocation per cache hit and per local answer", "[scenario][alloc]") {
  Harness h;
  h.upstream.respond([](const Received& q) {
    Script s;
    s.rrs = {A(q.view.qname.to_text(), 300, "192.0.2.10")};
    return s;
  });
  // Warm the cache (this path may allocate: it is the miss).
  const Answer warm = h.ask("www.example.net", t::kA, 1);
  REQUIRE(warm.rcode == 0);
  REQUIRE(h.upstream.received().size() == 1);

  const Bytes hit = make_query("www.example.net", t::kA, 2);
  const Bytes hit_case = make_query("WWW.Example.NET", t::kA, 3);
  const Bytes local = make_query("myregistry.privatelink.azurecr.io", t::kA, 4);
  const Bytes nx = make_query("nope.privatelink.azurecr.io", t::kA, 5);
  std::vector<std::uint8_t> out(65535);
  pipeline::PendingQuery pending;
  const util::Endpoint client = Harness::loopback_client();
  auto run = [&](const Bytes& q) {
    return h.pipe->handle(q.data(), q.size(), client, pipeline::Transport::kUdp, out.data(),
                          out.size(), pending);
  };
  // One call of each outside the count: first-use costs (thread-local RNG buffers, lazily
  // built statics) are not per query.
  for (const Bytes* q : {&hit, &hit_case, &local, &nx})
    REQUIRE(run(*q).kind == pipeline::StepKind::kSend);

  g_allocations = 0;
  g_counting = true;
  std::size_t sent = 0;
  for (int i = 0; i < 1000; ++i) {
    for (const Bytes* q : {&hit, &hit_case, &local, &nx}) {
      sent += run(*q).kind == pipeline::StepKind::kSend ? 1 : 0;
    }
  }
  g_counting = false;
  CHECK(sent == 4000);
  CHECK(g_allocations.load() == 0);
  CHECK(h.upstream.received().size() == 1);  // every one of them was a hit or local
}
