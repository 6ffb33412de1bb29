// BuilderPool: a lease gives a builder writing into the caller's buffer, a builder given back
// is the one the next lease gets (re-aimed at the new buffer, with none of the old message's
// state), and a lease that outlives its pool is still safe to drop.
#include "resolver/pipeline/builder_pool.hpp"

#include <array>
#include <optional>

#include <catch2/catch.hpp>

#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::pipeline {
namespace {

const wire::Name kName = wire::Name::from_text("myregistry.privatelink.azurecr.io.");

TEST_CASE("BuilderPool: leases write into their own buffers and reuse builders",
          "[unit][pipeline]") {
  BuilderPool pool;
  std::array<std::uint8_t, 512> first{};
  std::array<std::uint8_t, 512> second{};
  const wire::MessageBuilder* used = nullptr;
  std::size_t first_len = 0;
  {
    const BuilderPool::Lease lease = pool.take(first.data(), first.size());
    wire::MessageBuilder& b = *lease;
    b.start(0x1234, wire::kFlagQR);
    REQUIRE(b.add_question(kName, wire::type::kA, wire::klass::kIN));
    const std::uint8_t rdata[4] = {10, 0, 0, 7};
    REQUIRE(b.add_rr(wire::Section::kAnswer, kName, wire::type::kA, wire::klass::kIN, 300, rdata,
                     sizeof(rdata)));
    first_len = b.size();
    used = &b;
  }
  CHECK(wire::load16(first.data()) == 0x1234);
  CHECK(wire::header_ancount(first.data()) == 1);
  {
    const BuilderPool::Lease lease = pool.take(second.data(), 64);
    wire::MessageBuilder& b = *lease;
    CHECK(&b == used);  // the builder given back
    b.start(0x5678, wire::kFlagQR);
    CHECK(b.count(wire::Section::kAnswer) == 0);
    CHECK(b.ttl_offset_count() == 0);
    REQUIRE(b.add_question(kName, wire::type::kAAAA, wire::klass::kIN));
    // The name written earlier is not a compression target here: the question is whole.
    CHECK(b.size() == wire::kHeaderSize + kName.size() + 4);
    // The new capacity holds: a second question does not fit in 64 bytes.
    CHECK_FALSE(b.add_question(kName, wire::type::kA, wire::klass::kIN));
  }
  CHECK(wire::load16(second.data()) == 0x5678);
  CHECK(wire::load16(first.data()) == 0x1234);  // the first message was left alone
  CHECK(first_len > wire::kHeaderSize);
}

TEST_CASE("BuilderPool: a lease dropped after its pool is safe", "[unit][pipeline]") {
  std::array<std::uint8_t, 128> buf{};
  std::optional<BuilderPool::Lease> lease;
  {
    BuilderPool pool;
    lease.emplace(pool.take(buf.data(), buf.size()));
    (**lease).start(7, 0);
  }
  lease.reset();  // the spare list it returns to outlived the pool (ASan would see otherwise)
  CHECK(wire::load16(buf.data()) == 7);
}

}  // namespace
}  // namespace vnetdns::pipeline
