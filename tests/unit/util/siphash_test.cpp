// SipHash-2-4 against the reference vectors of the SipHash paper (key 00..0f, message
// 00..len-1): the cookies on both sides depend on it being the real function.
#include "resolver/util/siphash.hpp"

#include <array>
#include <cstdint>

#include <catch2/catch.hpp>

namespace vnetdns::util {
namespace {

TEST_CASE("siphash24: reference vectors", "[unit][util]") {
  std::array<std::uint8_t, 16> key{};
  std::array<std::uint8_t, 64> msg{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i);
  CHECK(siphash24(key.data(), msg.data(), 0) == 0x726fdb47dd0e0e31ULL);
  CHECK(siphash24(key.data(), msg.data(), 15) == 0xa129ca6149be45e5ULL);
  CHECK(siphash24(key.data(), msg.data(), 63) == 0x958a324ceb064572ULL);
}

}  // namespace
}  // namespace vnetdns::util
