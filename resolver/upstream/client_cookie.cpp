#include "resolver/upstream/client_cookie.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "resolver/util/siphash.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace {

// One client secret per process: random at first use, the same on every worker thread, so
// a server sees one client cookie from us whichever worker asks (and whichever forward rule).
const ClientCookie::Secret& process_secret() {
  static const ClientCookie::Secret secret = [] {
    ClientCookie::Secret s{};
    std::size_t got = 0;
    while (got < s.size()) {
      const ssize_t n = getrandom(s.data() + got, s.size() - got, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
      }
      got += static_cast<std::size_t>(n);
    }
    return s;
  }();
  return secret;
}

// Skips one resource record at `pos`; returns the offset past it, 0 when it runs out.
std::size_t skip_rr(const std::uint8_t* msg, std::size_t len, std::size_t pos) noexcept {
  const std::size_t name_end = wire::skip_name(msg, len, pos);
  if (name_end == 0 || name_end + 10 > len) return 0;
  const std::size_t end = name_end + 10 + wire::load16(msg + name_end + 8);
  return end <= len ? end : 0;
}

}  // namespace

ReplyCookieView read_reply_cookie(const std::uint8_t* reply, std::size_t len,
                                  const std::uint8_t* client_cookie) noexcept {
  ReplyCookieView view;
  if (len < wire::kHeaderSize) return view;
  view.rcode = wire::header_rcode(reply);
  std::size_t pos = wire::kHeaderSize;
  for (std::uint16_t i = 0; i < wire::header_qdcount(reply); ++i) {
    pos = wire::skip_name(reply, len, pos);
    if (pos == 0 || pos + 4 > len) return view;
    pos += 4;
  }
  const std::uint32_t before =
      std::uint32_t{wire::header_ancount(reply)} + wire::header_nscount(reply);
  for (std::uint32_t i = 0; i < before; ++i) {
    pos = skip_rr(reply, len, pos);
    if (pos == 0) return view;
  }
  // The OPT record sits in the additional section (RFC 6891 section 6.1.1), usually last.
  for (std::uint16_t i = 0; i < wire::header_arcount(reply); ++i) {
    const std::size_t name_end = wire::skip_name(reply, len, pos);
    if (name_end == 0) return view;
    const std::size_t next = skip_rr(reply, len, pos);
    if (next == 0) return view;
    if (wire::load16(reply + name_end) != wire::type::kOPT) {
      pos = next;
      continue;
    }
    // RFC 6891 section 6.1.3: the upper 8 bits of the 12-bit RCODE sit in the OPT's TTL.
    view.rcode = static_cast<std::uint16_t>((reply[name_end + 4] << 4) | wire::header_rcode(reply));
    std::size_t p = name_end + 10;
    const std::size_t end = next;
    bool seen = false;
    while (p < end) {
      if (p + 4 > end) break;  // a cut option header: malformed OPT
      const std::uint16_t code = wire::load16(reply + p);
      const std::size_t olen = wire::load16(reply + p + 2);
      if (p + 4 + olen > end) break;  // an option that runs past the OPT: malformed
      if (code == wire::edns::kOptionCookie) {
        // RFC 7873 section 5.3: discard on an illegal length or a wrong client cookie.
        // Legal: the client cookie alone (8) or with an 8..32-byte server cookie (16..40).
        const bool legal_length =
            olen == ClientCookie::kClientSize ||
            (olen >= ClientCookie::kClientSize + ClientCookie::kMinServerSize &&
             olen <= ClientCookie::kMaxOptionSize);
        if (seen || !legal_length ||
            std::memcmp(reply + p + 4, client_cookie, ClientCookie::kClientSize) != 0) {
          view.status = ReplyCookie::kMismatch;
          view.server_cookie = nullptr;
          view.server_len = 0;
          return view;
        }
        seen = true;
        view.status = ReplyCookie::kValid;
        view.server_len = static_cast<std::uint8_t>(olen - ClientCookie::kClientSize);
        view.server_cookie =
            view.server_len > 0 ? reply + p + 4 + ClientCookie::kClientSize : nullptr;
      }
      p += 4 + olen;
    }
    if (p != end) {
      // The options do not tile the OPT's rdata: nothing in it can be trusted.
      view.status = ReplyCookie::kMismatch;
      view.server_cookie = nullptr;
      view.server_len = 0;
    }
    return view;
  }
  return view;
}

ClientCookie::ClientCookie(const util::Endpoint& server)
    : client_(derive(server, process_secret())) {}

ClientCookie::ClientCookie(const util::Endpoint& server, const Secret& secret) noexcept
    : client_(derive(server, secret)) {}

std::array<std::uint8_t, ClientCookie::kClientSize> ClientCookie::derive(
    const util::Endpoint& server, const Secret& secret) noexcept {
  std::uint8_t buf[16 + 2];
  const std::size_t alen = server.address_length();
  std::memcpy(buf, server.address_bytes(), alen);
  wire::store16(buf + alen, server.port());
  const std::uint64_t h = util::siphash24(secret.data(), buf, alen + 2);
  std::array<std::uint8_t, kClientSize> out{};
  for (std::size_t i = 0; i < kClientSize; ++i) out[i] = static_cast<std::uint8_t>(h >> (8 * i));
  return out;
}

std::size_t ClientCookie::write_option(std::uint8_t* out) const noexcept {
  std::memcpy(out, client_.data(), kClientSize);
  const std::lock_guard<std::mutex> lock(mutex_);
  std::memcpy(out + kClientSize, server_.data(), server_len_);
  return kClientSize + server_len_;
}

void ClientCookie::learn(const std::uint8_t* server_cookie, std::size_t len) noexcept {
  if (server_cookie == nullptr || len < kMinServerSize || len > kMaxServerSize) return;
  const std::lock_guard<std::mutex> lock(mutex_);
  std::memcpy(server_.data(), server_cookie, len);
  server_len_ = static_cast<std::uint8_t>(len);
}

std::size_t ClientCookie::server_cookie_length() const noexcept {
  const std::lock_guard<std::mutex> lock(mutex_);
  return server_len_;
}

}  // namespace vnetdns::upstream
