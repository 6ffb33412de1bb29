// DNS client cookies towards upstreams (RFC 7873 section 5.3, RFC 9018): the client cookie
// (SipHash-2-4 of the server's address and port under the process secret, so one per
// server), the COOKIE option we send (client cookie, then the server cookie last learned),
// read_reply_cookie() on replies (echo, illegal lengths, duplicates, extended RCODE), and,
// through exchange() and ForwardGroup::resolve() against an in-process UDP/TCP server on
// 127.0.0.1: the server cookie is learned and sent back, a reply with another client cookie
// is a mismatch and ignored, BADCOOKIE is retried at once with the fresh server cookie (then
// over TCP), a server without cookies works as before, and no cookie goes without EDNS.
#include "resolver/upstream/client_cookie.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "resolver/settings/settings.hpp"
#include "resolver/upstream/forward_group.hpp"
#include "resolver/upstream/transport.hpp"
#include "resolver/upstream/upstream_query.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/util/siphash.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/wire/query_view.hpp"
#include "resolver/wire/types.hpp"

#include "tests/unit/upstream/run_coroutine.hpp"

namespace vnetdns::upstream {
namespace {

namespace asio = boost::asio;
using Bytes = std::vector<std::uint8_t>;

util::Endpoint ep(const char* text) { return *util::Endpoint::parse(text, 53); }

Bytes bytes(std::initializer_list<int> v) {
  Bytes out;
  for (int x : v) out.push_back(static_cast<std::uint8_t>(x));
  return out;
}
Bytes filled(std::size_t n, std::uint8_t v) { return Bytes(n, v); }
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const ClientCookie::Secret kSecret = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

// A reply to `query` (its ID and question), with an A record, and optionally an OPT
// record written by hand so that any option list (including broken ones) can be tried.
struct Opt {
  std::uint8_t extended_rcode = 0;
  std::vector<std::pair<std::uint16_t, Bytes>> options;
  std::optional<std::uint16_t> rdlen_override;
};
Bytes reply_to(const Bytes& query, std::uint8_t rcode4, const std::optional<Opt>& opt,
               const char* address = "192.0.2.1") {
  wire::QueryView v;
  REQUIRE(wire::parse_query(query.data(), query.size(), v) == wire::QueryError::kNone);
  Bytes buf(4096);
  wire::MessageBuilder b(buf.data(), buf.size());
  b.start(v.id, static_cast<std::uint16_t>(wire::kFlagQR | wire::kFlagRD | wire::kFlagRA | rcode4));
  b.add_question(query.data() + wire::kHeaderSize, v.qname_wire_len, v.qtype, v.qclass);
  std::array<std::uint8_t, 4> a{};
  std::sscanf(address, "%hhu.%hhu.%hhu.%hhu", &a[0], &a[1], &a[2], &a[3]);
  if (v.qtype == wire::type::kA) {
    b.add_rr(wire::Section::kAnswer, v.qname, wire::type::kA, wire::klass::kIN, 300, a.data(), 4);
  }
  buf.resize(b.size());
  if (opt) {
    Bytes rdata;
    for (const auto& [code, data] : opt->options) {
      rdata.push_back(static_cast<std::uint8_t>(code >> 8));
      rdata.push_back(static_cast<std::uint8_t>(code));
      rdata.push_back(static_cast<std::uint8_t>(data.size() >> 8));
      rdata.push_back(static_cast<std::uint8_t>(data.size()));
      rdata.insert(rdata.end(), data.begin(), data.end());
    }
    const std::uint16_t rdlen =
        opt->rdlen_override.value_or(static_cast<std::uint16_t>(rdata.size()));
    buf.insert(buf.end(),
               {0, 0, 41, 0x04, 0xd0, opt->extended_rcode, 0, 0, 0,
                static_cast<std::uint8_t>(rdlen >> 8), static_cast<std::uint8_t>(rdlen)});
    buf.insert(buf.end(), rdata.begin(), rdata.end());
    wire::store16(buf.data() + 10,
                  static_cast<std::uint16_t>(wire::header_arcount(buf.data()) + 1));
  }
  return buf;
}

Bytes encode(const UpstreamQuery& q, const Bytes& cookie, bool edns = true) {
  Bytes out(512);
  const std::size_t n = encode_query(q, 0x1234, out.data(), out.size(), edns,
                                     cookie.empty() ? nullptr : cookie.data(), cookie.size());
  REQUIRE(n > 0);
  out.resize(n);
  return out;
}

UpstreamQuery query(const std::string& name) {
  UpstreamQuery q;
  q.qname = wire::Name::from_text(name);
  q.qtype = wire::type::kA;
  return q;
}

// ---------------------------------------------------------------------------------------
// The client cookie and the option we send.

TEST_CASE("client cookie: SipHash-2-4 of the server address and port under the secret",
          "[unit][upstream][cookie]") {
  const util::Endpoint v4 = ep("192.0.2.53:53");
  std::uint8_t in[6] = {192, 0, 2, 53, 0, 53};
  const std::uint64_t h = util::siphash24(kSecret.data(), in, sizeof(in));
  std::array<std::uint8_t, 8> want{};
  for (int i = 0; i < 8; ++i)
    want[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(h >> (8 * i));
  CHECK(ClientCookie::derive(v4, kSecret) == want);
  CHECK(ClientCookie(v4, kSecret).client() == want);

  // One per server: other address, other port, IPv6, other secret: all different.
  ClientCookie::Secret other_secret = kSecret;
  other_secret[0] ^= 1;
  const std::set<std::array<std::uint8_t, 8>> seen = {
      ClientCookie::derive(v4, kSecret), ClientCookie::derive(ep("192.0.2.54:53"), kSecret),
      ClientCookie::derive(ep("192.0.2.53:5300"), kSecret),
      ClientCookie::derive(ep("[2001:db8::53]:53"), kSecret),
      ClientCookie::derive(v4, other_secret)};
  CHECK(seen.size() == 5);
  // The process secret: stable within the process, per server.
  CHECK(ClientCookie(v4).client() == ClientCookie(v4).client());
  CHECK(ClientCookie(v4).client() != ClientCookie(ep("192.0.2.54:53")).client());
  CHECK(ClientCookie(v4).client() != want);  // a random secret, not the test's
}

TEST_CASE("client cookie: the option is the client cookie, then the server cookie learned",
          "[unit][upstream][cookie]") {
  ClientCookie c(ep("127.0.0.1:53"), kSecret);
  const Bytes client(c.client().begin(), c.client().end());
  std::array<std::uint8_t, ClientCookie::kMaxOptionSize> out{};
  REQUIRE(c.write_option(out.data()) == 8);
  CHECK(Bytes(out.begin(), out.begin() + 8) == client);
  CHECK(c.server_cookie_length() == 0);

  const Bytes s16 = filled(16, 0xab);
  c.learn(s16.data(), s16.size());
  REQUIRE(c.write_option(out.data()) == 24);
  CHECK(Bytes(out.begin(), out.begin() + 24) == cat(client, s16));

  // Illegal server cookie lengths (RFC 7873 section 4: 8..32) are ignored.
  for (std::size_t n : {0, 1, 7, 33, 40}) {
    const Bytes bad = filled(n, 0xee);
    c.learn(bad.data(), n);
    CHECK(c.server_cookie_length() == 16);
  }
  c.learn(nullptr, 16);
  CHECK(c.server_cookie_length() == 16);
  // A newer one replaces it, at both ends of the legal range.
  for (std::size_t n : {8, 32}) {
    const Bytes s = filled(n, static_cast<std::uint8_t>(n));
    c.learn(s.data(), n);
    REQUIRE(c.write_option(out.data()) == 8 + n);
    CHECK(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(8 + n)) == cat(client, s));
  }
}

TEST_CASE("encode_query: the COOKIE option rides in the OPT record, never without EDNS",
          "[unit][upstream][cookie]") {
  const Bytes cookie = cat(bytes({1, 2, 3, 4, 5, 6, 7, 8}), filled(16, 0x42));
  for (std::size_t len : {8, 24}) {
    const Bytes c(cookie.begin(), cookie.begin() + static_cast<std::ptrdiff_t>(len));
    const Bytes m = encode(query("www.example.com"), c);
    wire::QueryView v;
    REQUIRE(wire::parse_query(m.data(), m.size(), v) == wire::QueryError::kNone);
    CHECK(v.has_opt);
    REQUIRE(v.has_cookie);
    CHECK(Bytes(v.cookie, v.cookie + v.cookie_len) == c);
  }
  const Bytes m = encode(query("www.example.com"), cookie, false);
  wire::QueryView v;
  REQUIRE(wire::parse_query(m.data(), m.size(), v) == wire::QueryError::kNone);
  CHECK_FALSE(v.has_opt);
  CHECK_FALSE(v.has_cookie);
  CHECK(wire::header_arcount(m.data()) == 0);
}

// ---------------------------------------------------------------------------------------
// Replies.

TEST_CASE("read_reply_cookie: echo, illegal lengths, duplicates, extended RCODE",
          "[unit][upstream][cookie]") {
  const Bytes client = bytes({1, 2, 3, 4, 5, 6, 7, 8});
  const Bytes other = bytes({1, 2, 3, 4, 5, 6, 7, 9});
  const Bytes q = encode(query("www.example.com"), client);
  const Bytes s16 = filled(16, 0x5e);
  constexpr std::uint16_t kCookie = wire::edns::kOptionCookie;
  constexpr std::uint16_t kPad = 12;  // EDNS padding, any other option
  struct Row {
    const char* what;
    std::optional<Opt> opt;
    std::uint8_t rcode4;
    ReplyCookie status;
    std::size_t server_len;
    std::uint16_t rcode;
  };
  const std::vector<Row> rows = {
      {"no OPT", std::nullopt, 0, ReplyCookie::kAbsent, 0, 0},
      {"no OPT, SERVFAIL", std::nullopt, 2, ReplyCookie::kAbsent, 0, 2},
      {"OPT without COOKIE", Opt{0, {{kPad, filled(4, 0)}}, {}}, 0, ReplyCookie::kAbsent, 0, 0},
      {"our client cookie, 16-byte server cookie", Opt{0, {{kCookie, cat(client, s16)}}, {}}, 0,
       ReplyCookie::kValid, 16, 0},
      {"server cookie of 8", Opt{0, {{kCookie, cat(client, filled(8, 1))}}, {}}, 0,
       ReplyCookie::kValid, 8, 0},
      {"server cookie of 32", Opt{0, {{kCookie, cat(client, filled(32, 1))}}, {}}, 0,
       ReplyCookie::kValid, 32, 0},
      {"client cookie alone", Opt{0, {{kCookie, client}}, {}}, 0, ReplyCookie::kValid, 0, 0},
      {"after another option", Opt{0, {{kPad, filled(3, 0)}, {kCookie, cat(client, s16)}}, {}}, 0,
       ReplyCookie::kValid, 16, 0},
      {"another client cookie", Opt{0, {{kCookie, cat(other, s16)}}, {}}, 0, ReplyCookie::kMismatch,
       0, 0},
      {"another client cookie alone", Opt{0, {{kCookie, other}}, {}}, 0, ReplyCookie::kMismatch, 0,
       0},
      {"length 7", Opt{0, {{kCookie, Bytes(client.begin(), client.end() - 1)}}, {}}, 0,
       ReplyCookie::kMismatch, 0, 0},
      {"length 9", Opt{0, {{kCookie, cat(client, filled(1, 1))}}, {}}, 0, ReplyCookie::kMismatch, 0,
       0},
      {"length 15", Opt{0, {{kCookie, cat(client, filled(7, 1))}}, {}}, 0, ReplyCookie::kMismatch,
       0, 0},
      {"length 41", Opt{0, {{kCookie, cat(client, filled(33, 1))}}, {}}, 0, ReplyCookie::kMismatch,
       0, 0},
      {"two COOKIE options", Opt{0, {{kCookie, cat(client, s16)}, {kCookie, cat(client, s16)}}, {}},
       0, ReplyCookie::kMismatch, 0, 0},
      {"options overrun the OPT rdata", Opt{0, {{kCookie, cat(client, s16)}}, 20}, 0,
       ReplyCookie::kMismatch, 0, 0},
      {"BADCOOKIE with our cookie", Opt{1, {{kCookie, cat(client, s16)}}, {}}, 7,
       ReplyCookie::kValid, 16, 23},
      {"BADVERS-style extended RCODE without COOKIE", Opt{1, {}, {}}, 0, ReplyCookie::kAbsent, 0,
       16},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    const Bytes r = reply_to(q, row.rcode4, row.opt);
    REQUIRE(reply_matches(q.data(), q.size(), r.data(), r.size(), false));
    const ReplyCookieView view = read_reply_cookie(r.data(), r.size(), client.data());
    CHECK(view.status == row.status);
    CHECK(view.server_len == row.server_len);
    CHECK(view.rcode == row.rcode);
    if (row.server_len > 0) {
      // The server cookie is the bytes after our client cookie in the COOKIE option.
      REQUIRE(view.server_cookie != nullptr);
      const Bytes& payload = row.opt->options.back().second;
      CHECK(Bytes(view.server_cookie, view.server_cookie + view.server_len) ==
            Bytes(payload.begin() + 8, payload.end()));
    } else {
      CHECK(view.server_cookie == nullptr);
    }
  }
  // The server cookie points at the bytes after the client cookie.
  const Bytes r = reply_to(q, 0, Opt{0, {{kCookie, cat(client, s16)}}, {}});
  const ReplyCookieView view = read_reply_cookie(r.data(), r.size(), client.data());
  REQUIRE(view.server_len == 16);
  CHECK(Bytes(view.server_cookie, view.server_cookie + 16) == s16);
  // Cut anywhere: never reads outside the buffer, and a cut OPT is never kValid with a
  // server cookie beyond the end.
  for (std::size_t n = 0; n < r.size(); ++n) {
    const ReplyCookieView cut = read_reply_cookie(r.data(), n, client.data());
    if (cut.server_len > 0) CHECK(cut.server_cookie + cut.server_len <= r.data() + n);
  }
}

TEST_CASE("client cookie: shared across threads, every option written is whole",
          "[unit][upstream][cookie]") {
  ClientCookie c(ep("127.0.0.1:53"), kSecret);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      const Bytes a = filled(16, static_cast<std::uint8_t>(0x10 + t));
      const Bytes b = filled(32, static_cast<std::uint8_t>(0x20 + t));
      while (!stop.load()) {
        c.learn(a.data(), a.size());
        c.learn(b.data(), b.size());
      }
    });
  }
  std::array<std::uint8_t, ClientCookie::kMaxOptionSize> out{};
  for (int i = 0; i < 20000; ++i) {
    const std::size_t n = c.write_option(out.data());
    if (n == 8) continue;
    const std::uint8_t first = out[8];
    const bool same = std::all_of(out.begin() + 8, out.begin() + static_cast<std::ptrdiff_t>(n),
                                  [&](std::uint8_t x) { return x == first; });
    const bool len_ok = (n == 24 && (first == 0x10 || first == 0x11)) ||
                        (n == 40 && (first == 0x20 || first == 0x21));
    if (!same || !len_ok) ++torn;
  }
  stop = true;
  for (auto& w : writers) w.join();
  CHECK(torn.load() == 0);
}

// ---------------------------------------------------------------------------------------
// Through the transport and the forward group, against a server on 127.0.0.1.

struct Got {
  Bytes wire;
  wire::QueryView view;
  bool tcp = false;
  [[nodiscard]] Bytes cookie() const { return Bytes(view.cookie, view.cookie + view.cookie_len); }
};

// UDP and TCP on one kernel-chosen port; the script returns the datagrams (or TCP messages)
// to send back for each query, in order.
class CookieServer {
 public:
  using Script = std::function<std::vector<Bytes>(const Got&)>;

  explicit CookieServer(asio::io_context& io) : io_(io), udp_(io), tcp_(io) {
    for (int i = 0; i < 50 && port_ == 0; ++i) {
      boost::system::error_code ec;
      udp_ = asio::ip::udp::socket(io);
      udp_.open(asio::ip::udp::v4());
      udp_.bind({asio::ip::make_address("127.0.0.1"), 0});
      const auto port = udp_.local_endpoint().port();
      tcp_ = asio::ip::tcp::acceptor(io);
      tcp_.open(asio::ip::tcp::v4());
      tcp_.set_option(asio::socket_base::reuse_address(true));
      tcp_.bind({asio::ip::make_address("127.0.0.1"), port}, ec);
      if (!ec) tcp_.listen(16, ec);
      if (!ec) port_ = port;
    }
    REQUIRE(port_ != 0);
    asio::co_spawn(io_, udp_loop(), asio::detached);
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  ~CookieServer() { close(); }
  void close() {
    boost::system::error_code ec;
    udp_.close(ec);
    tcp_.close(ec);
  }
  [[nodiscard]] util::Endpoint endpoint() const {
    return ep(("127.0.0.1:" + std::to_string(port_)).c_str());
  }
  void script(Script s) { script_ = std::move(s); }
  std::vector<Got> got;

 private:
  asio::awaitable<void> udp_loop() {
    Bytes buf(65535);
    for (;;) {
      asio::ip::udp::endpoint from;
      auto [ec, n] = co_await udp_.async_receive_from(asio::buffer(buf), from,
                                                      asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !udp_.is_open()) co_return;
      if (ec) continue;
      Got g;
      g.wire.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      if (wire::parse_query(g.wire.data(), g.wire.size(), g.view) != wire::QueryError::kNone)
        continue;
      got.push_back(g);
      for (const Bytes& out : script_(got.back())) {
        boost::system::error_code sec;
        udp_.send_to(asio::buffer(out), from, 0, sec);
      }
    }
  }
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await tcp_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !tcp_.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(io_, session(std::make_shared<asio::ip::tcp::socket>(std::move(sock))),
                     asio::detached);
    }
  }
  asio::awaitable<void> session(std::shared_ptr<asio::ip::tcp::socket> sock) {
    for (;;) {
      std::array<std::uint8_t, 2> lb{};
      auto [ec, n] =
          co_await asio::async_read(*sock, asio::buffer(lb), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      Got g;
      g.tcp = true;
      g.wire.resize(wire::load16(lb.data()));
      auto [ec2, n2] = co_await asio::async_read(*sock, asio::buffer(g.wire),
                                                 asio::as_tuple(asio::use_awaitable));
      if (ec2 ||
          wire::parse_query(g.wire.data(), g.wire.size(), g.view) != wire::QueryError::kNone) {
        co_return;
      }
      got.push_back(g);
      for (const Bytes& out : script_(got.back())) {
        Bytes framed(2);
        wire::store16(framed.data(), static_cast<std::uint16_t>(out.size()));
        framed.insert(framed.end(), out.begin(), out.end());
        auto [ec3, n3] = co_await asio::async_write(*sock, asio::buffer(framed),
                                                    asio::as_tuple(asio::use_awaitable));
        if (ec3) co_return;
      }
    }
  }

  asio::io_context& io_;
  asio::ip::udp::socket udp_;
  asio::ip::tcp::acceptor tcp_;
  std::uint16_t port_ = 0;
  Script script_;
};

template <typename T>
T run(asio::io_context& io, asio::awaitable<T> a) {
  return vnetdns::test::run_coroutine(io, std::move(a));
}

Bytes echo(const Got& g, const Bytes& server_cookie) {
  return cat(Bytes(g.view.cookie, g.view.cookie + 8), server_cookie);
}
Opt cookie_opt(const Bytes& payload, std::uint8_t extended_rcode = 0) {
  return Opt{extended_rcode, {{wire::edns::kOptionCookie, payload}}, {}};
}
std::string first_a(const Bytes& reply) {
  // The A record written by reply_to() sits at the end of the answer: 4 bytes before the
  // OPT (if any). Read it from the answer RR: question end + 12 (compressed owner + fixed).
  const std::size_t qend = wire::skip_name(reply.data(), reply.size(), wire::kHeaderSize) + 4;
  const std::uint8_t* rd = reply.data() + qend + 12;
  return std::to_string(rd[0]) + "." + std::to_string(rd[1]) + "." + std::to_string(rd[2]) + "." +
         std::to_string(rd[3]);
}

TEST_CASE("exchange: the server cookie is learned and sent back; forged cookies are ignored",
          "[unit][upstream][cookie]") {
  asio::io_context io;
  CookieServer server(io);
  const Bytes s1 = filled(16, 0x51);
  const Bytes s2 = filled(24, 0x52);
  ClientCookie cookie(server.endpoint());
  const Bytes client(cookie.client().begin(), cookie.client().end());
  ExchangeOptions opt;
  opt.timeout = std::chrono::milliseconds(2000);
  opt.cookie = &cookie;

  // 1. First contact: the client cookie alone; the reply's server cookie is learned.
  server.script([&](const Got& g) {
    return std::vector<Bytes>{reply_to(g.wire, 0, cookie_opt(echo(g, s1)))};
  });
  ExchangeResult ex = run(io, exchange(server.endpoint(), query("a.example"), opt));
  REQUIRE(ex.status == ExchangeStatus::kOk);
  CHECK(ex.mismatches == 0);
  CHECK_FALSE(ex.bad_cookie);
  REQUIRE(server.got.size() == 1);
  CHECK(server.got[0].cookie() == client);
  CHECK(cookie.server_cookie_length() == 16);

  // 2. The next query carries it. A reply with another client cookie (right ID and question)
  //    comes first: ignored as a mismatch, its server cookie not learned; the real one wins.
  server.script([&](const Got& g) {
    Bytes forged_client = client;
    forged_client[7] ^= 0xff;
    return std::vector<Bytes>{
        reply_to(g.wire, 0, cookie_opt(cat(forged_client, filled(16, 0x66))), "6.6.6.6"),
        reply_to(g.wire, 0, cookie_opt(echo(g, s2)))};
  });
  ex = run(io, exchange(server.endpoint(), query("b.example"), opt));
  REQUIRE(ex.status == ExchangeStatus::kOk);
  CHECK(ex.mismatches == 1);
  CHECK(first_a(ex.reply) == "192.0.2.1");
  REQUIRE(server.got.size() == 2);
  CHECK(server.got[1].cookie() == cat(client, s1));
  CHECK(cookie.server_cookie_length() == 24);

  // 3. Only forged cookies: nothing accepted, the exchange times out.
  server.script([&](const Got& g) {
    return std::vector<Bytes>{reply_to(g.wire, 0, cookie_opt(cat(filled(8, 0), s1)), "6.6.6.6")};
  });
  opt.timeout = std::chrono::milliseconds(300);
  ex = run(io, exchange(server.endpoint(), query("c.example"), opt));
  CHECK(ex.status == ExchangeStatus::kTimeout);
  CHECK(ex.mismatches == 1);
  CHECK(server.got.back().cookie() == cat(client, s2));

  // 4. A server without cookies (no OPT, or OPT without COOKIE): accepted as before, and
  //    the server cookie learned earlier is kept.
  opt.timeout = std::chrono::milliseconds(2000);
  server.script(
      [&](const Got& g) { return std::vector<Bytes>{reply_to(g.wire, 0, std::nullopt)}; });
  ex = run(io, exchange(server.endpoint(), query("d.example"), opt));
  CHECK(ex.status == ExchangeStatus::kOk);
  CHECK(ex.mismatches == 0);
  CHECK(cookie.server_cookie_length() == 24);

  // 5. Over TCP the same rules hold.
  opt.tcp = true;
  server.script([&](const Got& g) {
    return std::vector<Bytes>{reply_to(g.wire, 0, cookie_opt(cat(filled(8, 9), s1)), "6.6.6.6"),
                              reply_to(g.wire, 0, cookie_opt(echo(g, s1)))};
  });
  ex = run(io, exchange(server.endpoint(), query("e.example"), opt));
  REQUIRE(ex.status == ExchangeStatus::kOk);
  CHECK(ex.mismatches == 1);
  CHECK(first_a(ex.reply) == "192.0.2.1");
  CHECK(server.got.back().tcp);
  CHECK(server.got.back().cookie() == cat(client, s2));
  CHECK(cookie.server_cookie_length() == 16);

  // 6. Without EDNS (the upstream fell back): no COOKIE, and a reply's COOKIE is not read.
  opt.tcp = false;
  opt.edns = false;
  server.script([&](const Got& g) {
    return std::vector<Bytes>{reply_to(g.wire, 0, cookie_opt(cat(filled(8, 9), s2)))};
  });
  ex = run(io, exchange(server.endpoint(), query("f.example"), opt));
  CHECK(ex.status == ExchangeStatus::kOk);
  CHECK_FALSE(server.got.back().view.has_opt);
  CHECK_FALSE(server.got.back().view.has_cookie);
  CHECK(cookie.server_cookie_length() == 16);
}

std::shared_ptr<ForwardGroup> group_for(const util::Endpoint& server) {
  settings::ForwardSettings s;
  s.zone = wire::Name::from_text(".");
  s.upstreams = {server};
  s.timeout = settings::Millis(1000);
  s.deadline = settings::Millis(3000);
  s.health_probe = wire::Name::from_text(".");
  return std::make_shared<ForwardGroup>(std::move(s));
}

TEST_CASE("ForwardGroup: BADCOOKIE is retried at once with the fresh server cookie",
          "[unit][upstream][cookie]") {
  asio::io_context io;
  CookieServer server(io);
  auto group = group_for(server.endpoint());
  const Bytes fresh = filled(16, 0xf1);
  // BADCOOKIE (extended RCODE 1, header RCODE 7) until the query carries `fresh`.
  server.script([&](const Got& g) {
    const Bytes c = g.cookie();
    if (c.size() == 24 && Bytes(c.begin() + 8, c.end()) == fresh) {
      return std::vector<Bytes>{reply_to(g.wire, 0, cookie_opt(echo(g, fresh)))};
    }
    return std::vector<Bytes>{reply_to(g.wire, 7, cookie_opt(echo(g, fresh), 1))};
  });
  ForwardResult r = run(io, group->resolve(query("bad.example")));
  REQUIRE(r.status == ForwardStatus::kOk);
  CHECK(r.tries == 2);  // the retry is a try of its own (within the same deadline)
  CHECK(r.timeouts == 0);
  CHECK_FALSE(r.via_tcp);
  CHECK(wire::header_rcode(r.reply.data()) == 0);
  REQUIRE(server.got.size() == 2);
  CHECK(server.got[0].cookie().size() == 8);
  CHECK(server.got[1].cookie() == echo(server.got[1], fresh));
  CHECK_FALSE(server.got[1].tcp);
  CHECK(group->cookie(0).server_cookie_length() == 16);

  // Learned: the next question goes straight through with it.
  r = run(io, group->resolve(query("next.example")));
  CHECK(r.status == ForwardStatus::kOk);
  CHECK(server.got.size() == 3);
}

TEST_CASE(
    "ForwardGroup: BADCOOKIE to a fresh server cookie goes to TCP; if it persists, SERVFAIL-like",
    "[unit][upstream][cookie]") {
  asio::io_context io;
  CookieServer server(io);
  auto group = group_for(server.endpoint());
  bool tcp_answers = true;
  int n = 0;
  // Over UDP always BADCOOKIE, each time with another server cookie (a broken anycast set).
  server.script([&](const Got& g) {
    ++n;
    if (g.tcp && tcp_answers)
      return std::vector<Bytes>{reply_to(g.wire, 0, cookie_opt(echo(g, filled(16, 0x77))))};
    return std::vector<Bytes>{
        reply_to(g.wire, 7, cookie_opt(echo(g, filled(16, static_cast<std::uint8_t>(n))), 1))};
  });
  ForwardResult r = run(io, group->resolve(query("anycast.example")));
  REQUIRE(r.status == ForwardStatus::kOk);
  CHECK(r.via_tcp);
  REQUIRE(server.got.size() == 3);
  CHECK_FALSE(server.got[0].tcp);
  CHECK_FALSE(server.got[1].tcp);
  CHECK(server.got[1].cookie() == echo(server.got[1], filled(16, 1)));  // the fresh one
  CHECK(server.got[2].tcp);

  // BADCOOKIE even over TCP: not an answer; the server had its say (like SERVFAIL).
  tcp_answers = false;
  server.got.clear();
  r = run(io, group->resolve(query("stubborn.example")));
  CHECK(r.status == ForwardStatus::kFailed);
  CHECK(server.got.size() >= 3);
  CHECK(group->health(0).errors.load() >= 1);
}

TEST_CASE("ForwardGroup: a server without cookies works as before; no COOKIE once EDNS is off",
          "[unit][upstream][cookie]") {
  asio::io_context io;
  CookieServer server(io);
  auto group = group_for(server.endpoint());
  // A server that does not speak EDNS: FORMERR without OPT to any query with OPT.
  server.script([&](const Got& g) {
    if (g.view.has_opt) return std::vector<Bytes>{reply_to(g.wire, 1, std::nullopt)};
    return std::vector<Bytes>{reply_to(g.wire, 0, std::nullopt)};
  });
  // Each name is asked with EDNS (and a COOKIE), then again without: until enough distinct
  // names have failed that way, the server is not taken for EDNS-less.
  const std::size_t names = ServerHealth::kEdnsFailNames;
  for (std::size_t i = 0; i < names; ++i) {
    server.got.clear();
    ForwardResult r = run(io, group->resolve(query("old" + std::to_string(i) + ".example")));
    REQUIRE(r.status == ForwardStatus::kOk);
    REQUIRE(server.got.size() == 2);
    CHECK(server.got[0].view.has_cookie);
    CHECK_FALSE(server.got[1].view.has_opt);
    CHECK(group->health(0).edns_allowed(util::process_ms()) == (i + 1 < names));
  }
  CHECK(group->health(0).edns_fallbacks.load() == names);
  server.got.clear();
  ForwardResult r = run(io, group->resolve(query("new.example")));
  REQUIRE(r.status == ForwardStatus::kOk);
  REQUIRE(server.got.size() == 1);  // straight without EDNS now
  CHECK_FALSE(server.got.back().view.has_opt);
  CHECK_FALSE(server.got.back().view.has_cookie);
  CHECK(group->cookie(0).server_cookie_length() == 0);
}

}  // namespace
}  // namespace vnetdns::upstream
