// ClientCookie: the client side of DNS Cookies (RFC 7873 section 5.3) towards one upstream
// server. Every query to that server carries a COOKIE option with our 8-byte client cookie
// and, once one has been learned, the server cookie the server last gave us. The client
// cookie is SipHash-2-4 of the server's address and port under a 128-bit secret made once per
// process from the kernel CSPRNG: a pseudorandom function of the server address and a client
// secret (RFC 7873 section 4.1; without the client address, as RFC 9018 recommends), so each
// server sees its own client cookie and cannot use it to forge replies as another server.
// read_reply_cookie() is the reply side: a reply whose COOKIE does not echo our client cookie,
// or whose COOKIE has an illegal length, is to be discarded like a reply with a wrong ID
// (RFC 7873 section 5.3); a valid one gives the server cookie to remember and the 12-bit
// RCODE, so that BADCOOKIE (23) can be retried with the fresh server cookie.
// Invariants: the client cookie never changes for an object's life; the server cookie held is
// empty or 8..32 bytes (RFC 7873 section 4); an option written is 8 or 16..40 bytes.
// Thread safety: one object per upstream of a ForwardGroup, shared by every worker thread.
// The client cookie is immutable; the server cookie is guarded by a small mutex held only to
// copy at most 32 bytes (write_option before a send, learn after a reply): no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::upstream {

// What a reply's COOKIE option says about it, for a query that carried our client cookie.
enum class ReplyCookie : std::uint8_t {
  kAbsent,    // no COOKIE (or no readable OPT): a server without cookies, processed as before
  kValid,     // our client cookie echoed; the server cookie (if any) is in the view
  kMismatch,  // another client cookie, an illegal length, two COOKIEs, or OPT options that
              // do not fit the OPT: discard it as forged
};

struct ReplyCookieView {
  ReplyCookie status = ReplyCookie::kAbsent;
  const std::uint8_t* server_cookie = nullptr;  // points into the reply, when server_len > 0
  std::uint8_t server_len = 0;                  // 0, or 8..32
  std::uint16_t rcode = 0;                      // 12-bit RCODE: header + OPT extended RCODE
};

// Walks `reply` (an accepted reply: reply_matches() held) to its OPT record (RFC 6891
// section 6.1.2) and reads the COOKIE option against `client_cookie` (8 bytes). Never reads
// outside the buffer; when the records cannot be walked the result is kAbsent with the
// header RCODE, and the full parse later on decides what the reply is worth.
ReplyCookieView read_reply_cookie(const std::uint8_t* reply, std::size_t len,
                                  const std::uint8_t* client_cookie) noexcept;

class ClientCookie {
 public:
  static constexpr std::size_t kClientSize = 8;
  static constexpr std::size_t kMinServerSize = 8;
  static constexpr std::size_t kMaxServerSize = 32;
  static constexpr std::size_t kMaxOptionSize = kClientSize + kMaxServerSize;
  using Secret = std::array<std::uint8_t, 16>;

  // With the per-process secret (made on first use, from the kernel CSPRNG).
  explicit ClientCookie(const util::Endpoint& server);
  // With a given secret (tests).
  ClientCookie(const util::Endpoint& server, const Secret& secret) noexcept;

  ClientCookie(const ClientCookie&) = delete;
  ClientCookie& operator=(const ClientCookie&) = delete;

  [[nodiscard]] const std::array<std::uint8_t, kClientSize>& client() const noexcept {
    return client_;
  }
  // Writes the COOKIE option payload to send (RFC 7873 section 5.1): the client cookie, then
  // the server cookie learned so far, if any. `out` holds kMaxOptionSize bytes; returns the
  // length written (8, or 16..40).
  std::size_t write_option(std::uint8_t* out) const noexcept;
  // Remembers the server cookie of a reply that echoed our client cookie (RFC 7873 section
  // 5.3); a length outside 8..32 is ignored.
  void learn(const std::uint8_t* server_cookie, std::size_t len) noexcept;
  [[nodiscard]] std::size_t server_cookie_length() const noexcept;

  // The client cookie for `server` under `secret` (SipHash-2-4 over address bytes, then the
  // port in network order).
  static std::array<std::uint8_t, kClientSize> derive(const util::Endpoint& server,
                                                      const Secret& secret) noexcept;

 private:
  std::array<std::uint8_t, kClientSize> client_{};
  mutable std::mutex mutex_;
  std::array<std::uint8_t, kMaxServerSize> server_{};
  std::uint8_t server_len_ = 0;
};

}  // namespace vnetdns::upstream
