// libFuzzer target: the zone loader (ldns) on arbitrary zone text for the origin
// "example.test.", then, when it loads, answer_local for the first names of the text against
// the zone. Loading never crashes; every error reads "FILE:LINE: ..."; answers always fit.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "resolver/wire/builder.hpp"
#include "resolver/zone/local_answer.hpp"
#include "resolver/zone/zone_loader.hpp"
#include "resolver/zone/zone_set.hpp"

namespace wire = vnetdns::wire;
namespace zone = vnetdns::zone;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const wire::Name origin = wire::Name::from_text("example.test");
  auto loaded = zone::load_zone_from_text(origin, text, {}, "fuzz.zone");
  if (!loaded) {
    if (loaded.error().rfind("fuzz.zone:", 0) != 0) {
      std::fprintf(stderr, "error without FILE:LINE: %s\n", loaded.error().c_str());
      std::abort();
    }
    return 0;
  }
  auto set = zone::ZoneSet::build({loaded.value()});
  if (!set) return 0;
  static const char* kNames[] = {"example.test", "www.example.test", "a.b.example.test",
                                 "*.example.test", "nope.example.test"};
  static const std::uint16_t kTypes[] = {1, 5, 6, 28, 255, 16};
  std::array<std::uint8_t, 65535> buf{};
  for (const char* n : kNames) {
    const wire::Name qname = wire::Name::from_text(n);
    for (const std::uint16_t t : kTypes) {
      wire::MessageBuilder b(buf.data(), buf.size());
      b.start(0, wire::kFlagQR);
      b.add_question(qname, t, 1);
      const zone::Zone* z = set.value()->find(qname);
      if (z == nullptr) continue;
      (void)zone::answer_local(*set.value(), *z, qname, t, b);
    }
  }
  return 0;
}
