// Scenario harness: the whole pipeline in process (docs/testing.md: query, expected upstream
// query, reply, expected answer, time passes). A FakeUpstream (UDP + TCP on 127.0.0.1, same
// port, port picked by the kernel) runs on the test's io_context, records every query it gets
// and answers from a script the test sets; the Harness builds a Snapshot from Settings made
// in code (zone text written to temp files), a PacketCache and a Pipeline on a ManualClock,
// and drives Pipeline::handle()/resolve() with raw query bytes. Every wait is bounded (real
// time) and ends as soon as its condition holds: no sleeps stand in for readiness.
// Time: the harness's ManualClock is also the process clock (util::set_process_clock), so
// every timer of the forwarding path (per-try timeouts, deadlines, probes, serve-stale's
// stale_answer_timeout) runs on it. While a wait finds the event loop idle (nothing left to
// run but timers), it advances the manual clock by `step` (10 ms) and looks again, so a test
// that waits for an answer lets simulated time pass as fast as the code can follow it; with
// `auto_advance = false` time moves only when the test calls advance(). A FakeUpstream reply
// can be scripted to leave after `delay` of that time.
// Thread safety: single-threaded; everything runs on the harness's io_context.
#pragma once

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

#include "resolver/cache/packet_cache.hpp"
#include "resolver/pipeline/pipeline.hpp"
#include "resolver/pipeline/snapshot.hpp"
#include "resolver/settings/settings.hpp"
#include "resolver/util/clock.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/util/timer.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/wire/query_view.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::scenario {

namespace asio = boost::asio;
using Bytes = std::vector<std::uint8_t>;

inline wire::Name N(std::string_view text) { return wire::Name::from_text(text); }

// ---------------------------------------------------------------------------------------
// Records (what a fake upstream puts in a reply).

struct Rr {
  wire::Section section = wire::Section::kAnswer;
  std::string owner;
  std::uint16_t type = wire::type::kA;
  std::uint32_t ttl = 300;
  Bytes rdata;
};

inline Bytes rdata_a(const char* text) {
  Bytes b(4);
  REQUIRE(inet_pton(AF_INET, text, b.data()) == 1);
  return b;
}
inline Bytes rdata_name(std::string_view text) {
  const wire::Name n = N(text);
  return Bytes(n.data(), n.data() + n.size());
}
inline Bytes rdata_soa(std::string_view mname, std::string_view rname, std::uint32_t serial,
                       std::uint32_t minimum) {
  Bytes b = rdata_name(mname);
  const Bytes r = rdata_name(rname);
  b.insert(b.end(), r.begin(), r.end());
  for (std::uint32_t v : {serial, 3600U, 300U, 2419200U, minimum}) {
    std::uint8_t x[4];
    wire::store32(x, v);
    b.insert(b.end(), x, x + 4);
  }
  return b;
}
inline Rr A(std::string owner, std::uint32_t ttl, const char* addr,
            wire::Section s = wire::Section::kAnswer) {
  return Rr{s, std::move(owner), wire::type::kA, ttl, rdata_a(addr)};
}
inline Rr CNAME(std::string owner, std::uint32_t ttl, std::string_view target) {
  return Rr{wire::Section::kAnswer, std::move(owner), wire::type::kCNAME, ttl, rdata_name(target)};
}
inline Rr SOA(std::string owner, std::uint32_t ttl, std::uint32_t minimum) {
  return Rr{wire::Section::kAuthority, owner, wire::type::kSOA, ttl,
            rdata_soa("ns1." + owner, "hostmaster." + owner, 1, minimum)};
}

// ---------------------------------------------------------------------------------------
// Client queries.

struct QueryOptions {
  bool edns = true;
  std::uint16_t udp_size = 1232;
  bool dnssec_ok = false;
  bool rd = true;
  bool cd = false;
};

// The name in wire form with its letter case kept (client case must be echoed).
inline Bytes name_wire_keep_case(std::string_view text) {
  Bytes out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    const std::size_t n = dot - start;
    if (n > 0) {
      out.push_back(static_cast<std::uint8_t>(n));
      out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(start),
                 text.begin() + static_cast<std::ptrdiff_t>(dot));
    }
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

inline Bytes make_query(std::string_view name, std::uint16_t qtype, std::uint16_t id,
                        const QueryOptions& o = {}) {
  Bytes buf(512);
  wire::MessageBuilder b(buf.data(), buf.size());
  std::uint16_t flags = 0;
  if (o.rd) flags |= wire::kFlagRD;
  if (o.cd) flags |= wire::kFlagCD;
  b.start(id, flags);
  const Bytes qn = name_wire_keep_case(name);
  REQUIRE(b.add_question(qn.data(), qn.size(), qtype, wire::klass::kIN));
  if (o.edns) {
    wire::OptOptions opt;
    opt.udp_size = o.udp_size;
    opt.dnssec_ok = o.dnssec_ok;
    REQUIRE(b.add_opt(opt));
  }
  buf.resize(b.size());
  return buf;
}

// ---------------------------------------------------------------------------------------
// Reading answers.

inline std::string type_text(std::uint16_t t) {
  char scratch[16];
  return wire::type_name(t, scratch);
}

inline std::string rdata_text(const wire::MessageView& v, const wire::RrView& rr) {
  const std::uint8_t* p = v.msg + rr.rdata_offset;
  char buf[64];
  switch (rr.type) {
    case wire::type::kA:
      return rr.rdlength == 4 ? inet_ntop(AF_INET, p, buf, sizeof(buf)) : "<bad A>";
    case wire::type::kCNAME: {
      wire::Name n;
      return wire::rdata_name(v, rr, n) ? n.to_text() : "<bad name>";
    }
    case wire::type::kSOA: {
      std::array<std::uint8_t, 600> out{};
      std::size_t len = 0;
      if (!wire::copy_rdata(v, rr, out.data(), out.size(), &len) || len < 20) return "<bad soa>";
      return "serial=" + std::to_string(wire::load32(out.data() + len - 20)) +
             " minimum=" + std::to_string(wire::load32(out.data() + len - 4));
    }
    default: return std::to_string(rr.rdlength) + " bytes";
  }
}

// A parsed answer: header fields and each section as "owner TTL TYPE rdata" lines.
struct Answer {
  Bytes wire;
  bool parsed = false;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t rcode = 0;  // with the extended bits from OPT
  std::uint16_t qdcount = 0;
  std::vector<std::string> answer, authority, additional;
  bool has_opt = false;
  Bytes question;  // the raw question bytes (name + type + class) as sent back

  [[nodiscard]] bool aa() const { return (flags & wire::kFlagAA) != 0; }
  [[nodiscard]] bool tc() const { return (flags & wire::kFlagTC) != 0; }
  [[nodiscard]] bool rd() const { return (flags & wire::kFlagRD) != 0; }
  [[nodiscard]] bool ra() const { return (flags & wire::kFlagRA) != 0; }
};

inline Answer parse_answer(const std::uint8_t* p, std::size_t len) {
  Answer a;
  a.wire.assign(p, p + len);
  wire::MessageView v;
  if (wire::parse_message(a.wire.data(), a.wire.size(), v) != wire::MessageError::kNone) {
    return a;
  }
  a.parsed = true;
  a.id = v.id;
  a.flags = v.flags;
  a.rcode = v.rcode();
  a.qdcount = wire::header_qdcount(a.wire.data());
  a.has_opt = v.has_opt;
  const std::size_t qend = wire::skip_name(a.wire.data(), a.wire.size(), wire::kHeaderSize);
  if (qend != 0 && qend + 4 <= a.wire.size()) {
    a.question.assign(a.wire.begin() + wire::kHeaderSize,
                      a.wire.begin() + static_cast<std::ptrdiff_t>(qend + 4));
  }
  for (const auto& rr : v.rrs) {
    wire::Name owner;
    v.owner(rr, owner);
    std::string line = owner.to_text() + " " + std::to_string(rr.ttl) + " " + type_text(rr.type) +
                       " " + rdata_text(v, rr);
    switch (rr.section) {
      case wire::Section::kAnswer: a.answer.push_back(line); break;
      case wire::Section::kAuthority: a.authority.push_back(line); break;
      case wire::Section::kAdditional: a.additional.push_back(line); break;
    }
  }
  return a;
}

// ---------------------------------------------------------------------------------------
// Fake upstream.

struct Received {
  Bytes wire;
  wire::QueryView view;
  wire::QueryError error = wire::QueryError::kNone;
  bool tcp = false;
  util::TimePoint at{};  // arrival, on the process clock (the harness's manual clock)
};

struct Script {
  enum class Mode { kReply, kDrop, kHold };
  Mode mode = Mode::kReply;
  std::uint8_t rcode = 0;
  std::vector<Rr> rrs;
  bool wrong_id_first = false;         // send a copy with a wrong ID before the real reply
  bool tc_over_udp = false;            // over UDP: TC=1 and no records; over TCP: the whole reply
  std::chrono::milliseconds delay{0};  // UDP: the reply leaves this much (manual) time later
  bool swap_case = false;              // the echoed question in swapped letter case (no 0x20 kept)
  bool no_opt = false;                 // no OPT in the reply even to an EDNS query
  int forge = 0;  // instead of the reply: this many copies with wrong IDs (after `delay`)
};

inline Bytes build_reply(const Received& q, const Script& s, bool truncate) {
  Bytes buf(wire::kMaxMessageSize);
  wire::MessageBuilder b(buf.data(), buf.size());
  std::uint16_t flags = wire::kFlagQR | wire::kFlagRA | (q.view.flags & wire::kFlagRD) | s.rcode;
  if (truncate) flags |= wire::kFlagTC;
  b.start(q.view.id, flags);
  Bytes qname(
      q.wire.begin() + wire::kHeaderSize,
      q.wire.begin() + static_cast<std::ptrdiff_t>(wire::kHeaderSize + q.view.qname_wire_len));
  if (s.swap_case) {
    for (auto& c : qname) {
      if (std::isalpha(c) != 0) c = static_cast<std::uint8_t>(c ^ 0x20);
    }
  }
  b.add_question(qname.data(), qname.size(), q.view.qtype, q.view.qclass);
  if (!truncate) {
    std::vector<Rr> rrs = s.rrs;
    std::stable_sort(rrs.begin(), rrs.end(), [](const Rr& x, const Rr& y) {
      return static_cast<int>(x.section) < static_cast<int>(y.section);
    });
    for (const Rr& rr : rrs) {
      b.add_rr(rr.section, N(rr.owner), rr.type, wire::klass::kIN, rr.ttl, rr.rdata.data(),
               rr.rdata.size());
    }
  }
  if (q.view.has_opt && !s.no_opt) b.add_opt(wire::OptOptions{});
  buf.resize(b.size());
  return buf;
}

class FakeUpstream {
 public:
  using Responder = std::function<Script(const Received&)>;

  explicit FakeUpstream(asio::io_context& io) : io_(io), udp_(io), tcp_(io) {
    // UDP and TCP on the same kernel-chosen port (the forwarder retries TC over TCP there).
    for (int i = 0; i < 50; ++i) {
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
      if (!ec) {
        port_ = port;
        break;
      }
      udp_.close();
      tcp_.close();
    }
    REQUIRE(port_ != 0);
    asio::co_spawn(io_, udp_loop(), asio::detached);
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  ~FakeUpstream() { close(); }

  void close() {
    boost::system::error_code ec;
    udp_.close(ec);
    tcp_.close(ec);
    for (auto& c : conns_) {
      if (auto s = c.lock()) s->close(ec);
    }
  }

  [[nodiscard]] util::Endpoint endpoint() const {
    return *util::Endpoint::parse("127.0.0.1:" + std::to_string(port_), 53);
  }
  void respond(Responder r) { responder_ = std::move(r); }
  [[nodiscard]] const std::vector<Received>& received() const { return received_; }
  [[nodiscard]] std::size_t count() const { return received_.size(); }
  [[nodiscard]] std::size_t held() const { return held_.size(); }

  // Sends every reply held back by Script::Mode::kHold.
  void release_held() {
    for (auto& [bytes, to] : held_) {
      boost::system::error_code ec;
      udp_.send_to(asio::buffer(bytes), to, 0, ec);
    }
    held_.clear();
  }

 private:
  Script script_for(const Received& r) {
    if (responder_) return responder_(r);
    Script s;
    s.rcode = static_cast<std::uint8_t>(wire::Rcode::kRefused);
    return s;
  }

  asio::awaitable<void> udp_loop() {
    std::vector<std::uint8_t> buf(wire::kMaxMessageSize);
    for (;;) {
      asio::ip::udp::endpoint from;
      auto [ec, n] = co_await udp_.async_receive_from(asio::buffer(buf), from,
                                                      asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !udp_.is_open()) co_return;
      if (ec) continue;
      Received r;
      r.at = util::TimerClock::now();
      r.wire.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      r.error = wire::parse_query(r.wire.data(), r.wire.size(), r.view);
      received_.push_back(r);
      if (r.error != wire::QueryError::kNone) continue;
      const Script s = script_for(r);
      if (s.mode == Script::Mode::kDrop) continue;
      Bytes reply = build_reply(r, s, s.tc_over_udp);
      boost::system::error_code sec;
      if (s.wrong_id_first) {
        Bytes bad = reply;
        wire::store16(bad.data(), static_cast<std::uint16_t>(wire::header_id(bad.data()) ^ 0x5a5a));
        udp_.send_to(asio::buffer(bad), from, 0, sec);
      }
      if (s.mode == Script::Mode::kHold) {
        held_.emplace_back(std::move(reply), from);
        continue;
      }
      if (s.forge > 0) {
        // A forger who knows the port and the question but not the ID: no real reply.
        std::vector<Bytes> forged;
        for (int i = 0; i < s.forge; ++i) {
          Bytes bad = reply;
          wire::store16(bad.data(), static_cast<std::uint16_t>(wire::header_id(bad.data()) ^
                                                               (0x1111 * (i + 1))));
          forged.push_back(std::move(bad));
        }
        auto timer = std::make_shared<util::Timer>(io_);
        timer->expires_after(s.delay);
        timer->async_wait([this, timer, forged, from](const boost::system::error_code& ec) {
          boost::system::error_code ignored;
          for (const Bytes& b : forged) {
            if (!ec && udp_.is_open()) udp_.send_to(asio::buffer(b), from, 0, ignored);
          }
        });
        continue;
      }
      if (s.delay.count() > 0) {
        auto timer = std::make_shared<util::Timer>(io_);
        timer->expires_after(s.delay);
        timer->async_wait([this, timer, reply, from](const boost::system::error_code& ec) {
          boost::system::error_code ignored;
          if (!ec && udp_.is_open()) udp_.send_to(asio::buffer(reply), from, 0, ignored);
        });
        continue;
      }
      udp_.send_to(asio::buffer(reply), from, 0, sec);
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await tcp_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !tcp_.is_open()) co_return;
      if (ec) continue;
      auto s = std::make_shared<asio::ip::tcp::socket>(std::move(sock));
      conns_.push_back(s);
      asio::co_spawn(io_, tcp_session(s), asio::detached);
    }
  }

  asio::awaitable<void> tcp_session(std::shared_ptr<asio::ip::tcp::socket> sock) {
    for (;;) {
      std::array<std::uint8_t, 2> lb{};
      auto [ec, n] =
          co_await asio::async_read(*sock, asio::buffer(lb), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      Received r;
      r.at = util::TimerClock::now();
      r.tcp = true;
      r.wire.resize(wire::load16(lb.data()));
      auto [ec2, n2] = co_await asio::async_read(*sock, asio::buffer(r.wire),
                                                 asio::as_tuple(asio::use_awaitable));
      if (ec2) co_return;
      r.error = wire::parse_query(r.wire.data(), r.wire.size(), r.view);
      received_.push_back(r);
      if (r.error != wire::QueryError::kNone) co_return;
      const Script s = script_for(r);
      if (s.mode != Script::Mode::kReply || s.forge > 0) continue;
      const Bytes reply = build_reply(r, s, false);
      Bytes framed(2);
      wire::store16(framed.data(), static_cast<std::uint16_t>(reply.size()));
      framed.insert(framed.end(), reply.begin(), reply.end());
      auto [ec3, n3] = co_await asio::async_write(*sock, asio::buffer(framed),
                                                  asio::as_tuple(asio::use_awaitable));
      if (ec3) co_return;
    }
  }

  asio::io_context& io_;
  asio::ip::udp::socket udp_;
  asio::ip::tcp::acceptor tcp_;
  std::uint16_t port_ = 0;
  Responder responder_;
  std::vector<Received> received_;
  std::vector<std::pair<Bytes, asio::ip::udp::endpoint>> held_;
  std::vector<std::weak_ptr<asio::ip::tcp::socket>> conns_;
};

// ---------------------------------------------------------------------------------------
// Temp files for zone text.

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vnetdns-scn-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    const auto p = path_ / name;
    std::ofstream f(p);
    f << text;
    f.close();
    REQUIRE(f.good());
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// The guide's private zone; `address` is the registry's private address.
inline std::string privatelink_zone(const char* address = "10.0.0.7") {
  return std::string(
             "$ORIGIN privatelink.azurecr.io.\n"
             "$TTL 3600\n"
             "@ 3600 IN SOA @ hostmaster.invalid. 1 3600 300 2419200 10\n"
             "@ IN NS @\n"
             "myregistry 10 IN A ") +
         address +
         "\n"
         "myregistry.westeurope.data 10 IN A 10.0.0.6\n";
}

// A zone with on_miss = "forward" (Azure's fallback to internet).
inline std::string corp_zone() {
  return "$ORIGIN corp.example.\n"
         "$TTL 300\n"
         "@ 300 IN SOA ns1 hostmaster 7 3600 300 2419200 60\n"
         "@ IN NS ns1\n"
         "ns1 IN A 10.1.0.53\n"
         "host 120 IN A 10.1.0.1\n";
}

// ---------------------------------------------------------------------------------------
// The harness.

struct HarnessOptions {
  // Called on the default settings before the snapshot is built.
  std::function<void(settings::Settings&, const util::Endpoint& upstream)> customize;
  std::size_t max_entries = 100000;
};

class Harness {
 public:
  static constexpr auto kWaitLimit = std::chrono::seconds(10);  // bound on every wait

  explicit Harness(const HarnessOptions& options = {})
      : upstream(io), cache(cache::CacheOptions{options.max_entries, 0}) {
    settings_ = default_settings();
    if (options.customize) options.customize(settings_, upstream.endpoint());
    auto built = pipeline::build_snapshot(settings_);
    if (!built.ok()) {
      std::string all;
      for (const auto& e : built.error()) all += e + "\n";
      FAIL(all);
    }
    holder = std::make_unique<pipeline::SnapshotHolder>(built.value());
    pipe = std::make_unique<pipeline::Pipeline>(*holder, cache, clock);
    util::set_process_clock(&clock);
  }

  ~Harness() {
    upstream.close();
    // Let every coroutine still queued (closed sockets, cancelled waits) finish, bounded.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    const auto manual_until = clock.now() + kManualLimit;
    while (running_ > 0 && std::chrono::steady_clock::now() < until) {
      if (run_ready() > 0) continue;
      if (clock.now() < manual_until) {
        clock.advance(step);
      } else {
        if (io.stopped()) io.restart();
        io.run_one_for(std::chrono::milliseconds(20));
      }
    }
    if (io.stopped()) io.restart();
    io.poll();
    util::set_process_clock(nullptr);
  }

  settings::Settings default_settings() {
    settings::Settings s;
    s.path = "<scenario>";
    s.acl.allow = policy::PrefixList(
        {*policy::Prefix::parse("127.0.0.0/8"), *policy::Prefix::parse("::1/128")});
    settings::ZoneSettings z;
    z.name = N("privatelink.azurecr.io");
    z.file = dir.write("privatelink.azurecr.io.zone", privatelink_zone());
    s.zones.push_back(z);
    settings::ZoneSettings corp;
    corp.name = N("corp.example");
    corp.file = dir.write("corp.example.zone", corp_zone());
    corp.on_miss = settings::OnMiss::kForward;
    s.zones.push_back(corp);
    settings::ForwardSettings f;
    f.zone = N(".");
    f.upstreams = {upstream.endpoint()};
    f.timeout = std::chrono::milliseconds(2000);
    f.deadline = std::chrono::milliseconds(4000);
    f.source = "<scenario forward>";
    s.forwards.push_back(f);
    return s;
  }

  // Runs the handlers that are ready (timers due on the manual clock included), one at a
  // time, until none is or `stop()` holds; returns how many ran besides the kicks.
  template <typename Stop>
  std::size_t run_ready(Stop stop) {
    std::size_t total = 0;
    for (;;) {
      if (io.stopped()) io.restart();
      util::kick(io.get_executor());  // the loop looks at its timers now
      std::size_t n = 0;
      while (!stop() && io.poll_one() > 0) ++n;
      if (stop()) return total + n;
      if (n <= 1) return total;  // only the kick's own handler: nothing else was ready
      total += n - 1;
    }
  }
  std::size_t run_ready() {
    return run_ready([] { return false; });
  }

  // Moves the manual clock on by `d` in steps of `step`, running what becomes due after each.
  void advance(std::chrono::nanoseconds d,
               std::chrono::nanoseconds step = std::chrono::milliseconds(10)) {
    while (d.count() > 0) {
      const auto s = std::min(d, step);
      clock.advance(s);
      d -= s;
      run_ready();
    }
  }

  // Runs the io_context until `done()` holds or the wait limit passes; true if it held. With
  // auto_advance, the manual clock moves on a step whenever nothing else is left to run (at
  // most kManualLimit of it).
  template <typename Pred>
  bool run_until(Pred done, std::chrono::steady_clock::duration limit = kWaitLimit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    const auto manual_until = clock.now() + kManualLimit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      if (run_ready(done) > 0 || done()) continue;
      if (auto_advance && clock.now() < manual_until) {
        clock.advance(step);
      } else {
        if (io.stopped()) io.restart();
        io.run_one_for(std::chrono::milliseconds(20));
      }
    }
    return true;
  }

  static constexpr auto kManualLimit = std::chrono::seconds(120);
  bool auto_advance = true;
  std::chrono::milliseconds step{10};

  // One client query in flight (or done).
  struct Exchange {
    pipeline::PendingQuery pending;
    std::array<std::uint8_t, 65535> out{};
    pipeline::Step step;
    bool done = false;
    std::size_t len = 0;
    [[nodiscard]] Answer answer() const { return parse_answer(out.data(), len); }
  };

  // handle() the query; when it goes async, spawn resolve() on the io_context (not run yet).
  std::shared_ptr<Exchange> start(const Bytes& query, const util::Endpoint& client,
                                  pipeline::Transport transport = pipeline::Transport::kUdp) {
    auto x = std::make_shared<Exchange>();
    x->step = pipe->handle(query.data(), query.size(), client, transport, x->out.data(),
                           transport == pipeline::Transport::kUdp ? 65535 : 65535, x->pending);
    if (x->step.kind == pipeline::StepKind::kSend) {
      x->len = x->step.len;
      x->done = true;
    } else if (x->step.kind == pipeline::StepKind::kDrop) {
      x->done = true;
    } else {
      ++running_;
      asio::co_spawn(io, resolve(x), asio::detached);
    }
    return x;
  }

  // A query from 127.0.0.1 answered to the end.
  Answer ask(const Bytes& query, const util::Endpoint& client = loopback_client(),
             pipeline::Transport transport = pipeline::Transport::kUdp) {
    auto x = start(query, client, transport);
    REQUIRE(run_until([&] { return x->done; }));
    REQUIRE(x->step.kind != pipeline::StepKind::kDrop);
    last_was_async = x->step.kind == pipeline::StepKind::kAsync;
    return x->answer();
  }
  Answer ask(std::string_view name, std::uint16_t qtype, std::uint16_t id = 0x1234,
             const QueryOptions& o = {}) {
    return ask(make_query(name, qtype, id, o));
  }

  static util::Endpoint loopback_client() { return *util::Endpoint::parse("127.0.0.1:40000", 53); }

  // Builds a snapshot from `s` and publishes it; the pipeline picks it up on refresh.
  void publish(settings::Settings s) {
    auto built = pipeline::build_snapshot(std::move(s));
    REQUIRE(built.ok());
    holder->publish(built.value());
    pipe->refresh_snapshot();
  }

  [[nodiscard]] const settings::Settings& settings() const { return settings_; }

  TempDir dir;
  asio::io_context io;
  util::ManualClock clock;
  FakeUpstream upstream;
  cache::PacketCache cache;
  std::unique_ptr<pipeline::SnapshotHolder> holder;
  std::unique_ptr<pipeline::Pipeline> pipe;
  bool last_was_async = false;

 private:
  asio::awaitable<void> resolve(std::shared_ptr<Exchange> x) {
    x->len = co_await pipe->resolve(x->pending, x->out.data(), x->out.size());
    x->done = true;
    --running_;
  }

  settings::Settings settings_;
  int running_ = 0;
};

}  // namespace vnetdns::scenario
