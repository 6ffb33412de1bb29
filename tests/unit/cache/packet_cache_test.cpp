// PacketCache: insert/lookup, TTL ageing through the recorded offsets, expiry and the
// serve-stale window, LRU eviction per shard and the overall bound, erase_below (zone flush,
// spliced entries included), max_entries = 0, the stats counters, and the versions a lookup
// reports (unchanged() turns false on a change to the key or to the whole cache).
#include "resolver/cache/packet_cache.hpp"

#include <arpa/inet.h>

#include <array>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"

namespace vnetdns::cache {
namespace {

using Bytes = std::vector<std::uint8_t>;
wire::Name N(const char* text) { return wire::Name::from_text(text); }

// An internal-format answer: header, question, one A record per TTL given.
struct Msg {
  Bytes wire;
  std::vector<std::uint16_t> offsets;
};
Msg make_answer(const wire::Name& qname, std::vector<std::uint32_t> ttls,
                std::uint16_t qtype = wire::type::kA) {
  Msg m;
  m.wire.resize(4096);
  wire::MessageBuilder b(m.wire.data(), m.wire.size());
  b.start(0, wire::kFlagQR | wire::kFlagRA);
  b.add_question(qname, qtype, wire::klass::kIN);
  std::uint8_t addr[4] = {192, 0, 2, 1};
  for (std::uint32_t t : ttls) {
    b.add_rr(wire::Section::kAnswer, qname, wire::type::kA, wire::klass::kIN, t, addr, 4);
    ++addr[3];
  }
  m.wire.resize(b.size());
  m.offsets.assign(b.ttl_offsets(), b.ttl_offsets() + b.ttl_offset_count());
  return m;
}

InsertRequest request(const Msg& m, std::uint32_t ttl, EntryKind kind = EntryKind::kPositive) {
  InsertRequest r;
  r.wire = m.wire.data();
  r.len = m.wire.size();
  r.ttl_offsets = m.offsets.data();
  r.ttl_offset_count = m.offsets.size();
  r.ttl = ttl;
  r.kind = kind;
  return r;
}

CacheKey key(const char* name, std::uint16_t qtype = wire::type::kA, bool dnssec_ok = false) {
  return CacheKey{N(name), qtype, wire::klass::kIN, dnssec_ok};
}

std::vector<std::uint32_t> ttls_of(const std::uint8_t* p, std::size_t len) {
  wire::MessageView v;
  REQUIRE(wire::parse_message(p, len, v) == wire::MessageError::kNone);
  std::vector<std::uint32_t> out;
  for (const auto& rr : v.rrs) out.push_back(rr.ttl);
  return out;
}

// Names whose keys fall into the same shard as `first` (shards are picked by hash % 16).
std::vector<CacheKey> same_shard_keys(std::size_t n) {
  std::vector<CacheKey> out;
  const CacheKey first = key("k0.example");
  out.push_back(first);
  for (int i = 1; out.size() < n && i < 100000; ++i) {
    const std::string name = "k" + std::to_string(i) + ".example";
    CacheKey k = key(name.c_str());
    if (k.hash() % 16 == first.hash() % 16) out.push_back(k);
  }
  REQUIRE(out.size() == n);
  return out;
}

constexpr std::uint32_t kNow = 100000;

TEST_CASE("PacketCache: insert then lookup copies the wire and reports a fresh hit",
          "[unit][cache]") {
  PacketCache c(CacheOptions{});
  const Msg m = make_answer(N("www.example.com"), {300, 300});
  c.insert(key("www.example.com"), request(m, 300), kNow);
  std::array<std::uint8_t, 4096> out{};
  const HitInfo hit = c.lookup(key("www.example.com"), kNow, out.data(), out.size());
  REQUIRE(hit.freshness == Freshness::kFresh);
  REQUIRE(hit.len == m.wire.size());
  CHECK(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(hit.len)) == m.wire);
  CHECK(hit.remaining_ttl == 300);
  CHECK(hit.kind == EntryKind::kPositive);
  CHECK_FALSE(hit.splice);
  // The key is name (case-insensitive), type, class and DO.
  CHECK(c.lookup(key("WWW.Example.COM"), kNow, out.data(), out.size()).freshness ==
        Freshness::kFresh);
  CHECK(
      c.lookup(key("www.example.com", wire::type::kAAAA), kNow, out.data(), out.size()).freshness ==
      Freshness::kMiss);
  CHECK(c.lookup(key("www.example.com", wire::type::kA, true), kNow, out.data(), out.size())
            .freshness == Freshness::kMiss);
  CHECK(c.lookup(key("example.com"), kNow, out.data(), out.size()).freshness == Freshness::kMiss);
}

TEST_CASE("PacketCache: TTLs are aged in place and capped by the entry's lifetime",
          "[unit][cache]") {
  PacketCache c(CacheOptions{});
  // Record TTLs 300 and 500; the entry lives 300 s (the smallest of the answer).
  const Msg m = make_answer(N("www.example.com"), {300, 500});
  c.insert(key("www.example.com"), request(m, 300), kNow);
  std::array<std::uint8_t, 4096> out{};
  struct Row {
    std::uint32_t age;
    std::vector<std::uint32_t> ttls;
    std::uint32_t remaining;
  };
  for (const Row& row : {Row{0, {300, 300}, 300}, Row{1, {299, 299}, 299},
                         Row{100, {200, 200}, 200}, Row{299, {1, 1}, 1}}) {
    INFO("age " << row.age);
    const HitInfo hit = c.lookup(key("www.example.com"), kNow + row.age, out.data(), out.size());
    REQUIRE(hit.freshness == Freshness::kFresh);
    CHECK(ttls_of(out.data(), hit.len) == row.ttls);
    CHECK(hit.remaining_ttl == row.remaining);
  }
  // A clock that reads earlier than the insert does not make TTLs grow.
  const HitInfo early = c.lookup(key("www.example.com"), kNow - 10, out.data(), out.size());
  REQUIRE(early.freshness == Freshness::kFresh);
  CHECK(ttls_of(out.data(), early.len) == std::vector<std::uint32_t>{300, 300});
  // At its TTL the entry is gone (no serve-stale window configured).
  CHECK(c.lookup(key("www.example.com"), kNow + 300, out.data(), out.size()).freshness ==
        Freshness::kMiss);
  CHECK(c.stats().entries == 0);
}

TEST_CASE("PacketCache: stale entries are served only when allowed, within the window",
          "[unit][cache]") {
  CacheOptions o;
  o.stale_window = 60;
  PacketCache c(o);
  const Msg m = make_answer(N("www.example.com"), {100});
  c.insert(key("www.example.com"), request(m, 100), kNow);
  std::array<std::uint8_t, 4096> out{};
  // Expired 10 s ago: not served unless the caller allows stale answers.
  CHECK(c.lookup(key("www.example.com"), kNow + 110, out.data(), out.size()).freshness ==
        Freshness::kMiss);
  CHECK(c.stats().entries == 1);  // kept for the serve-stale window
  const HitInfo stale = c.lookup(key("www.example.com"), kNow + 110, out.data(), out.size(),
                                 {.allow_stale = true, .stale_ttl = 30});
  REQUIRE(stale.freshness == Freshness::kStale);
  CHECK(stale.remaining_ttl == 0);
  CHECK(ttls_of(out.data(), stale.len) == std::vector<std::uint32_t>{30});  // RFC 8767
  // Past the window: dropped, even when stale answers are allowed.
  CHECK(c.lookup(key("www.example.com"), kNow + 160, out.data(), out.size(),
                 {.allow_stale = true, .stale_ttl = 30})
            .freshness == Freshness::kMiss);
  CHECK(c.stats().entries == 0);
}

TEST_CASE("PacketCache: least recently used entry is evicted when a shard is full",
          "[unit][cache]") {
  // 32 entries over 16 shards: 2 per shard.
  PacketCache c(CacheOptions{32, 0});
  const auto keys = same_shard_keys(3);
  std::array<std::uint8_t, 4096> out{};
  for (std::size_t i = 0; i < 2; ++i) {
    c.insert(keys[i], request(make_answer(keys[i].qname, {300}), 300), kNow);
  }
  // Touch the first so that the second is the least recently used.
  REQUIRE(c.lookup(keys[0], kNow, out.data(), out.size()).freshness == Freshness::kFresh);
  c.insert(keys[2], request(make_answer(keys[2].qname, {300}), 300), kNow);
  CHECK(c.lookup(keys[0], kNow, out.data(), out.size()).freshness == Freshness::kFresh);
  CHECK(c.lookup(keys[1], kNow, out.data(), out.size()).freshness == Freshness::kMiss);
  CHECK(c.lookup(keys[2], kNow, out.data(), out.size()).freshness == Freshness::kFresh);
  CHECK(c.stats().evictions == 1);
  CHECK(c.stats().entries == 2);
}

TEST_CASE("PacketCache: never more entries than max_entries when it divides evenly",
          "[unit][cache]") {
  PacketCache c(CacheOptions{32, 0});
  for (int i = 0; i < 500; ++i) {
    const std::string name = "n" + std::to_string(i) + ".example";
    c.insert(key(name.c_str()), request(make_answer(N(name.c_str()), {300}), 300), kNow);
  }
  const CacheStats st = c.stats();
  CHECK(st.entries <= 32);
  CHECK(st.entries >= 16);  // every shard keeps something
  CHECK(st.inserts == 500);
  CHECK(st.evictions == 500 - st.entries);
}

// The header promises "at most max_entries entries in all", also when max_entries is not a
// multiple of the shard count.
TEST_CASE("PacketCache: never more entries than max_entries in all", "[unit][cache]") {
  PacketCache c(CacheOptions{20, 0});
  for (int i = 0; i < 500; ++i) {
    const std::string name = "m" + std::to_string(i) + ".example";
    c.insert(key(name.c_str()), request(make_answer(N(name.c_str()), {300}), 300), kNow);
  }
  CHECK(c.stats().entries <= 20);
}

TEST_CASE("PacketCache: erase_below flushes a zone, spliced entries that point into it too",
          "[unit][cache]") {
  PacketCache c(CacheOptions{});
  const char* names[] = {"privatelink.azurecr.io",
                         "myregistry.privatelink.azurecr.io",
                         "a.b.privatelink.azurecr.io",
                         "xprivatelink.azurecr.io",
                         "www.example.com",
                         "myregistry.azurecr.io",
                         "other.azurecr.io"};
  for (const char* n : names) {
    InsertRequest r;
    const Msg m = make_answer(N(n), {300});
    r = request(m, 300);
    if (std::string(n) == "myregistry.azurecr.io") {
      r.splice = true;  // CNAME into the private zone
      r.splice_target = N("myregistry.privatelink.azurecr.io");
    } else if (std::string(n) == "other.azurecr.io") {
      r.splice = true;  // spliced into another zone
      r.splice_target = N("other.corp.example");
    }
    c.insert(key(n), r, kNow);
  }
  REQUIRE(c.stats().entries == 7);
  CHECK(c.erase_below(N("privatelink.azurecr.io")) == 4);
  std::array<std::uint8_t, 4096> out{};
  auto present = [&](const char* n) {
    return c.lookup(key(n), kNow, out.data(), out.size()).freshness == Freshness::kFresh;
  };
  CHECK_FALSE(present("privatelink.azurecr.io"));
  CHECK_FALSE(present("myregistry.privatelink.azurecr.io"));
  CHECK_FALSE(present("a.b.privatelink.azurecr.io"));
  CHECK_FALSE(present("myregistry.azurecr.io"));
  CHECK(present("xprivatelink.azurecr.io"));  // label boundary
  CHECK(present("www.example.com"));
  CHECK(present("other.azurecr.io"));
  const HitInfo other = c.lookup(key("other.azurecr.io"), kNow, out.data(), out.size());
  CHECK(other.splice);
  CHECK(other.splice_target == N("other.corp.example"));
  CHECK(c.stats().entries == 3);
  CHECK(c.erase_below(N("corp.example")) == 1);
  CHECK(c.erase_below(N(".")) == 2);
  CHECK(c.stats().entries == 0);
  CHECK(c.stats().bytes == 0);
}

TEST_CASE("PacketCache: an entry whose TTL offsets reach past the answer is refused",
          "[unit][cache]") {
  PacketCache c(CacheOptions{1000, 0});
  Msg m = make_answer(N("www.example.com"), {300});
  REQUIRE_FALSE(m.offsets.empty());
  std::array<std::uint8_t, 4096> out{};
  m.offsets.back() = static_cast<std::uint16_t>(m.wire.size() - 3);  // 4 bytes from there: 1 out
  c.insert(key("www.example.com"), request(m, 300), kNow);
  CHECK(c.stats().inserts == 0);
  CHECK(c.lookup(key("www.example.com"), kNow, out.data(), out.size()).freshness ==
        Freshness::kMiss);
  m.offsets.back() = static_cast<std::uint16_t>(m.wire.size() - 4);  // the last 4 bytes: fine
  c.insert(key("www.example.com"), request(m, 300), kNow);
  CHECK(c.stats().inserts == 1);
}

TEST_CASE("PacketCache: max_entries 0 disables it", "[unit][cache]") {
  PacketCache c(CacheOptions{0, 0});
  CHECK_FALSE(c.enabled());
  const Msg m = make_answer(N("www.example.com"), {300});
  c.insert(key("www.example.com"), request(m, 300), kNow);
  std::array<std::uint8_t, 4096> out{};
  CHECK(c.lookup(key("www.example.com"), kNow, out.data(), out.size()).freshness ==
        Freshness::kMiss);
  CHECK(c.stats().entries == 0);
  CHECK(c.stats().inserts == 0);
  CHECK(PacketCache(CacheOptions{1, 0}).enabled());
}

TEST_CASE("PacketCache: stats count entries, bytes, hits, misses, inserts; replace keeps one",
          "[unit][cache]") {
  PacketCache c(CacheOptions{});
  std::array<std::uint8_t, 4096> out{};
  const Msg a = make_answer(N("a.example"), {300});
  const Msg b = make_answer(N("b.example"), {300, 300});
  c.insert(key("a.example"), request(a, 300), kNow);
  c.insert(key("b.example"), request(b, 300), kNow);
  CHECK(c.lookup(key("a.example"), kNow, out.data(), out.size()).freshness == Freshness::kFresh);
  CHECK(c.lookup(key("a.example"), kNow, out.data(), out.size()).freshness == Freshness::kFresh);
  CHECK(c.lookup(key("c.example"), kNow, out.data(), out.size()).freshness == Freshness::kMiss);
  // A buffer too small for the entry is a miss, not a partial copy.
  CHECK(c.lookup(key("b.example"), kNow, out.data(), b.wire.size() - 1).freshness ==
        Freshness::kMiss);
  CacheStats st = c.stats();
  CHECK(st.entries == 2);
  CHECK(st.bytes == a.wire.size() + b.wire.size());
  CHECK(st.hits == 2);
  CHECK(st.misses == 2);
  CHECK(st.inserts == 2);
  CHECK(st.evictions == 0);

  // Insert under an existing key replaces it.
  const Msg a2 = make_answer(N("a.example"), {60, 60, 60});
  c.insert(key("a.example"), request(a2, 60, EntryKind::kNegative), kNow);
  st = c.stats();
  CHECK(st.entries == 2);
  CHECK(st.bytes == a2.wire.size() + b.wire.size());
  const HitInfo hit = c.lookup(key("a.example"), kNow, out.data(), out.size());
  REQUIRE(hit.freshness == Freshness::kFresh);
  CHECK(hit.len == a2.wire.size());
  CHECK(hit.kind == EntryKind::kNegative);
  CHECK(hit.remaining_ttl == 60);

  c.erase(key("a.example"));
  CHECK(c.stats().entries == 1);
  c.clear();
  CHECK(c.stats().entries == 0);
  CHECK(c.stats().bytes == 0);
}

TEST_CASE("PacketCache: a failure repeated backs off (RFC 9520), an answer resets it",
          "[unit][cache]") {
  PacketCache c(CacheOptions{});
  std::array<std::uint8_t, 4096> out{};
  const Msg fail = make_answer(N("down.example"), {});
  std::uint32_t now = kNow;
  std::uint32_t expect = 5;
  for (std::uint32_t want : {5U, 10U, 20U, 40U, 60U, 60U}) {
    c.insert(key("down.example"), request(fail, 5, EntryKind::kFailure), now);
    const HitInfo hit = c.lookup(key("down.example"), now, out.data(), out.size());
    REQUIRE(hit.freshness == Freshness::kFresh);
    CHECK(hit.kind == EntryKind::kFailure);
    CHECK(hit.remaining_ttl == want);
    expect = want;
    now += expect;  // expired: the next failure replaces it
  }
  CHECK(expect == PacketCache::kMaxFailureTtl);
  const Msg ok = make_answer(N("down.example"), {300});
  c.insert(key("down.example"), request(ok, 300), now);
  c.insert(key("down.example"), request(fail, 5, EntryKind::kFailure), now + 300);
  CHECK(c.lookup(key("down.example"), now + 300, out.data(), out.size()).remaining_ttl == 5);
}

TEST_CASE("PacketCache: a lookup's version stays unchanged until its key or the cache changes",
          "[unit][cache]") {
  PacketCache c(CacheOptions{});
  std::array<std::uint8_t, 4096> out{};
  const Msg www = make_answer(N("www.example.com"), {300});
  const Msg other = make_answer(N("other.example.com"), {300});
  auto version = [&] {
    const HitInfo hit = c.lookup(key("www.example.com"), kNow, out.data(), out.size());
    REQUIRE(hit.freshness == Freshness::kFresh);
    return hit.version;
  };
  c.insert(key("www.example.com"), request(www, 300), kNow);
  c.insert(key("other.example.com"), request(other, 300), kNow);

  CacheVersion v = version();
  CHECK(c.unchanged(v));
  c.lookup(key("www.example.com"), kNow + 1, out.data(), out.size());  // reading is no change
  c.lookup(key("absent.example.com"), kNow, out.data(), out.size());
  CHECK(c.unchanged(v));
  c.insert(key("www.example.com"), request(www, 300), kNow + 1);  // replaced
  CHECK_FALSE(c.unchanged(v));

  v = version();
  c.erase(key("www.example.com", wire::type::kAAAA));  // nothing there: nothing changed
  CHECK(c.unchanged(v));
  c.erase(key("www.example.com"));
  CHECK_FALSE(c.unchanged(v));

  c.insert(key("www.example.com"), request(www, 300), kNow);
  v = version();
  CHECK(c.erase_below(N("unrelated.test")) == 0);  // a whole-cache operation: counted anyway
  CHECK_FALSE(c.unchanged(v));
  v = version();
  c.clear();
  CHECK_FALSE(c.unchanged(v));

  // A miss reports a version too: an insert of that key moves it.
  const HitInfo miss = c.lookup(key("www.example.com"), kNow, out.data(), out.size());
  REQUIRE(miss.freshness == Freshness::kMiss);
  CHECK(c.unchanged(miss.version));
  c.insert(key("www.example.com"), request(www, 300), kNow);
  CHECK_FALSE(c.unchanged(miss.version));
}

}  // namespace
}  // namespace vnetdns::cache
