// libFuzzer target: the TOML config loader on arbitrary text. It never throws or crashes,
// and every error it reports starts with "FILE:LINE:".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "resolver/settings/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = vnetdns::settings::parse_settings(text, "/fuzz/config.toml");
  if (!r) {
    for (const auto& e : r.error()) {
      if (e.rfind("/fuzz/config.toml:", 0) != 0) {
        std::fprintf(stderr, "error without FILE:LINE: %s\n", e.c_str());
        std::abort();
      }
    }
  }
  return 0;
}
