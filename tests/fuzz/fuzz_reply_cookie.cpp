// libFuzzer target: read_reply_cookie (upstream/client_cookie) on arbitrary bytes, the way an
// upstream's reply reaches it: walks every record to the OPT and reads the COOKIE option
// against a fixed client cookie. Checks: never reads outside the buffer (ASan, exact-size
// copy), a kValid result carries a server cookie of a legal length (8..32 bytes) that lies
// inside the reply, and the same bytes give the same answer twice.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "resolver/upstream/client_cookie.hpp"

#include "fuzz_check.hpp"

namespace up = vnetdns::upstream;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> reply(data, data + size);
  static const std::uint8_t kClient[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const up::ReplyCookieView a = up::read_reply_cookie(reply.data(), reply.size(), kClient);
  const up::ReplyCookieView b = up::read_reply_cookie(reply.data(), reply.size(), kClient);
  FUZZ_CHECK(a.status == b.status && a.rcode == b.rcode && a.server_len == b.server_len);
  if (a.status == up::ReplyCookie::kValid && a.server_len > 0) {
    FUZZ_CHECK(a.server_len >= up::ClientCookie::kMinServerSize &&
               a.server_len <= up::ClientCookie::kMaxServerSize);
    FUZZ_CHECK(a.server_cookie >= reply.data() &&
               a.server_cookie + a.server_len <= reply.data() + reply.size());
  }
  FUZZ_CHECK(a.rcode < 4096);
  return 0;
}
