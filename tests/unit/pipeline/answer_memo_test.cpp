// AnswerMemo: an answer comes back only for the very same query bytes after the ID, under the
// asking query's ID, in the same second and snapshot generation, and (for a cached answer)
// while the cache's version for it is unchanged; what does not fit is not kept; a full set
// gives up its oldest entry.
#include "resolver/pipeline/answer_memo.hpp"

#include <array>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/wire/builder.hpp"

namespace vnetdns::pipeline {
namespace {

using Bytes = std::vector<std::uint8_t>;

// A query for `name` with its letter case kept (dotted, without the final dot).
Bytes query(const std::string& name, std::uint16_t id, std::uint16_t qtype = wire::type::kA) {
  Bytes qname;
  std::size_t start = 0;
  for (std::size_t dot = name.find('.'); start <= name.size(); dot = name.find('.', start)) {
    if (dot == std::string::npos) dot = name.size();
    qname.push_back(static_cast<std::uint8_t>(dot - start));
    qname.insert(qname.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
                 name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  qname.push_back(0);
  Bytes b(512);
  wire::MessageBuilder m(b.data(), b.size());
  m.start(id, wire::kFlagRD);
  m.add_question(qname.data(), qname.size(), qtype, wire::klass::kIN);
  m.add_opt(wire::OptOptions{});
  b.resize(m.size());
  return b;
}

// An answer to `q`: the query's bytes with QR set and `extra` bytes after them (the memo does
// not look inside answers).
Bytes answer_to(const Bytes& q, std::size_t extra = 16) {
  Bytes a = q;
  a[2] |= 0x80;
  a.resize(q.size() + extra, 0xab);
  return a;
}

struct Fixture {
  AnswerMemo memo;
  cache::PacketCache cache{cache::CacheOptions{}};
  std::array<std::uint8_t, 4096> out{};
  AnswerMemo::Hit hit;

  bool find(const Bytes& q, std::uint32_t second = 100, std::uint64_t generation = 1) {
    hit = {};
    return memo.find(q.data(), q.size(), second, generation, cache, out.data(), out.size(), hit);
  }
  [[nodiscard]] Bytes got() const {
    return Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(hit.len));
  }
};

const AnswerMemo::Stamp kLocal{100, 1, false, {}};

TEST_CASE("AnswerMemo: the same bytes after the ID get the answer under their own ID",
          "[unit][pipeline]") {
  Fixture f;
  const Bytes q = query("myregistry.privatelink.azurecr.io", 0x1111);
  const Bytes a = answer_to(q);
  CHECK_FALSE(f.find(q));
  f.memo.store(q.data(), q.size(), a.data(), a.size(), wire::type::kA, AnswerSource::kLocal,
               kLocal);

  const Bytes again = query("myregistry.privatelink.azurecr.io", 0x2222);
  REQUIRE(f.find(again));
  Bytes want = a;
  want[0] = 0x22;
  want[1] = 0x22;
  CHECK(f.got() == want);
  CHECK(f.hit.qtype == wire::type::kA);
  CHECK(f.hit.source == AnswerSource::kLocal);
  CHECK_FALSE(f.hit.from_cache);

  // Any other byte is another query: letter case, type, flags, EDNS.
  CHECK_FALSE(f.find(query("MyRegistry.privatelink.azurecr.io", 0x2222)));
  CHECK_FALSE(f.find(query("myregistry.privatelink.azurecr.io", 0x2222, wire::type::kAAAA)));
  Bytes no_rd = again;
  no_rd[2] &= static_cast<std::uint8_t>(~0x01);
  CHECK_FALSE(f.find(no_rd));
  Bytes bigger_udp = again;
  bigger_udp[bigger_udp.size() - 7] ^= 0x01;  // the OPT record's CLASS (UDP size), low byte
  CHECK_FALSE(f.find(bigger_udp));
  CHECK_FALSE(f.find(Bytes(again.begin(), again.end() - 11)));  // without OPT
}

TEST_CASE("AnswerMemo: an answer holds for its second and generation only", "[unit][pipeline]") {
  Fixture f;
  const Bytes q = query("host.corp.example", 7);
  const Bytes a = answer_to(q);
  f.memo.store(q.data(), q.size(), a.data(), a.size(), wire::type::kA, AnswerSource::kLocal,
               kLocal);
  CHECK(f.find(q, 100, 1));
  CHECK_FALSE(f.find(q, 101, 1));  // TTLs may have aged
  CHECK_FALSE(f.find(q, 99, 1));
  CHECK_FALSE(f.find(q, 100, 2));  // a new snapshot (zones, settings)
  CHECK(f.find(q, 100, 1));        // the entry itself stays for its own second
  // Stored again for a new second: replaced in place, the old second no longer answers.
  f.memo.store(q.data(), q.size(), a.data(), a.size(), wire::type::kA, AnswerSource::kLocal,
               AnswerMemo::Stamp{101, 1, false, {}});
  CHECK(f.find(q, 101, 1));
  CHECK_FALSE(f.find(q, 100, 1));
}

TEST_CASE("AnswerMemo: a cached answer holds while the cache has not changed for it",
          "[unit][pipeline]") {
  Fixture f;
  const cache::CacheKey key{wire::Name::from_text("www.example.com"), wire::type::kA,
                            wire::klass::kIN, false};
  const Bytes q = query("www.example.com", 1);
  const Bytes a = answer_to(q);
  cache::InsertRequest r;
  r.wire = a.data();
  r.len = a.size();
  r.ttl = 300;
  f.cache.insert(key, r, 100);
  std::array<std::uint8_t, 4096> scratch{};
  const cache::HitInfo looked = f.cache.lookup(key, 100, scratch.data(), scratch.size());
  REQUIRE(looked.freshness == cache::Freshness::kFresh);
  f.memo.store(q.data(), q.size(), a.data(), a.size(), wire::type::kA, AnswerSource::kCache,
               AnswerMemo::Stamp{100, 1, true, looked.version});
  REQUIRE(f.find(q));
  CHECK(f.hit.from_cache);
  CHECK(f.hit.source == AnswerSource::kCache);
  f.cache.erase(key);  // e.g. an operator's flush
  CHECK_FALSE(f.find(q));
}

TEST_CASE("AnswerMemo: what does not fit an entry, or the caller's buffer, is not answered",
          "[unit][pipeline]") {
  Fixture f;
  const Bytes q = query("big.example", 3);
  const Bytes huge = answer_to(q, AnswerMemo::kEntrySize);
  f.memo.store(q.data(), q.size(), huge.data(), huge.size(), wire::type::kA, AnswerSource::kLocal,
               kLocal);
  CHECK_FALSE(f.find(q));
  const Bytes a = answer_to(q);
  f.memo.store(q.data(), q.size(), a.data(), a.size(), wire::type::kA, AnswerSource::kLocal,
               kLocal);
  AnswerMemo::Hit hit;
  std::array<std::uint8_t, 16> tiny{};
  CHECK_FALSE(f.memo.find(q.data(), q.size(), 100, 1, f.cache, tiny.data(), tiny.size(), hit));
  CHECK_FALSE(f.find(Bytes(q.begin(), q.begin() + 11)));  // shorter than a header
}

TEST_CASE("AnswerMemo: bounded; a full set gives up the entry built longest ago",
          "[unit][pipeline]") {
  Fixture f;
  const std::size_t n = 4 * AnswerMemo::kSets * AnswerMemo::kWays;
  std::vector<Bytes> queries;
  for (std::size_t i = 0; i < n; ++i) {
    queries.push_back(query("n" + std::to_string(i) + ".example", 9));
    const Bytes a = answer_to(queries.back());
    // Seconds rise with i, so in every set the older entries go first.
    const AnswerMemo::Stamp stamp{static_cast<std::uint32_t>(i), 1, false, {}};
    f.memo.store(queries.back().data(), queries.back().size(), a.data(), a.size(), wire::type::kA,
                 AnswerSource::kLocal, stamp);
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (f.find(queries[i], static_cast<std::uint32_t>(i), 1)) ++kept;
  }
  CHECK(kept <= AnswerMemo::kSets * AnswerMemo::kWays);
  CHECK(kept > AnswerMemo::kSets * AnswerMemo::kWays / 2);
  // The newest entry of each set survives: the last query stored is always there.
  CHECK(f.find(queries.back(), static_cast<std::uint32_t>(n - 1), 1));
}

}  // namespace
}  // namespace vnetdns::pipeline
