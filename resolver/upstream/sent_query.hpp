// SentQuery: a query as it went to an upstream, and the acceptance check every reply to it
// must pass (RFC 5452 section 9.1 via match_reply(); with a COOKIE sent, RFC 7873 section
// 5.3: a COOKIE that does not echo our client cookie is a forgery). Shared by the UDP pool,
// one-shot TCP and the reused TCP channels.
// Thread safety: plain data; accept_reply() touches the ClientCookie's own lock only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "resolver/upstream/client_cookie.hpp"
#include "resolver/upstream/transport.hpp"

namespace vnetdns::upstream {

struct SentQuery {
  const std::uint8_t* q = nullptr;
  std::size_t qlen = 0;
  bool exact_case = false;
  ClientCookie* cookie = nullptr;  // set when the query carried our COOKIE option
};

// kAccepted: `reply` answers `sent` (a valid COOKIE's server cookie is remembered and a
// BADCOOKIE noted in `result`). kCaseOnly: it would, but for the letter case of the name
// it echoes (sent with 0x20); its COOKIE, if we sent one, is ours. kRejected: anything else.
enum class ReplyCheck : std::uint8_t { kRejected, kAccepted, kCaseOnly };
// Stage 15 (docs/design.md): validate a reply against the query it claims to answer.
ReplyCheck accept_reply(const SentQuery& sent, const std::uint8_t* reply, std::size_t n,
                        ExchangeResult& result);

}  // namespace vnetdns::upstream
