// Transport: one exchange with one upstream server, over UDP or TCP, as an Asio coroutine
// (exchange(): what the loop guard's probe and the tests use; a question's tries go through
// the Question engine, question.hpp, which uses the same parts: prepare_query(), the UdpPool
// and exchange_tcp()).
// UDP: on a socket of the worker's UdpPool for that server: connected (the kernel drops
// datagrams from any other address or port), on a random ephemeral port (RFC 5452 sections
// 9.1 and 10); replies that fail match_reply() are counted and ignored while we keep waiting
// until the timeout.
// TCP: 2-byte length framing (RFC 1035 section 4.2.2) over the worker's reused connection
// to the server (TcpChannel: pipelined, RFC 7766); a connection of its own when that one is
// full or turns out to have been closed by the server while idle.
// DNS cookies (RFC 7873 section 5.3): with ExchangeOptions::cookie and EDNS, the query
// carries that upstream's COOKIE option; a reply whose COOKIE does not echo our client cookie
// is counted as a mismatch and ignored like a wrong ID, a valid one's server cookie is
// remembered, and a BADCOOKIE (23) reply to our cookie is flagged for the caller to retry.
// Thread safety: call from the io_context's thread only; the only shared state it touches is
// the ClientCookie it is given (thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "resolver/upstream/client_cookie.hpp"
#include "resolver/upstream/upstream_query.hpp"
#include "resolver/util/clock.hpp"
#include "resolver/util/endpoint.hpp"

namespace vnetdns::upstream {

// Room for the largest query we send: header, a 255-byte name, type and class, an OPT
// record with a COOKIE option (checked in transport.cpp).
inline constexpr std::size_t kMaxQuerySize = 384;

// Forged-looking replies to one query that move its question to TCP (RFC 5452 section 9.1);
// the UDP pool wakes the query's waiter when its count reaches this.
inline constexpr std::uint32_t kMismatchBurst = 3;

// kLocalError: we could not even make the socket (e.g. out of file descriptors): not the
// server's fault, so it counts against neither its health nor the question.
enum class ExchangeStatus : std::uint8_t {
  kOk,
  kTimeout,
  kNetworkError,
  kEncodeError,
  kLocalError
};

struct ExchangeResult {
  ExchangeStatus status = ExchangeStatus::kTimeout;
  std::vector<std::uint8_t> reply;  // the accepted reply, when kOk
  std::uint32_t mismatches = 0;     // replies dropped by the acceptance check
  // Replies right in all but the letter case of the name (sent with 0x20): not accepted,
  // not counted as mismatches; the question decides (a retry without 0x20).
  std::uint32_t case_mismatches = 0;
  // The accepted reply is BADCOOKIE and echoed our client cookie: the server wants the
  // server cookie it just sent (now remembered); RFC 7873 section 5.3 says retry with it.
  bool bad_cookie = false;
};

struct ExchangeOptions {
  std::chrono::milliseconds timeout{1000};
  bool tcp = false;
  bool edns = true;
  // The server's cookie state; nullptr: no COOKIE option. Only sent along with EDNS.
  ClientCookie* cookie = nullptr;
  // UDP: a socket of its own on a fresh random port, none of `avoid_ports` (sorted; must
  // outlive the exchange), instead of a port of the worker's pool (udp_pool.hpp).
  bool fresh_port = false;
  const std::vector<std::uint16_t>* avoid_ports = nullptr;
};

boost::asio::awaitable<ExchangeResult> exchange(const util::Endpoint& server,
                                                const UpstreamQuery& query,
                                                const ExchangeOptions& options);

struct SentQuery;
// Encodes `query` as it is sent with `options` (fresh random ID, EDNS and COOKIE as asked)
// into `buf` (kMaxQuerySize bytes) and describes it in `sent`; false if it does not fit.
bool prepare_query(const UpstreamQuery& query, const ExchangeOptions& options, std::uint8_t* buf,
                   SentQuery& sent);

// `sent` over TCP until `until`: on the worker's reused channel to `server`, or on a
// connection of its own when the channel is full or its connection turns out closed.
boost::asio::awaitable<ExchangeResult> exchange_tcp(const util::Endpoint& server,
                                                    const SentQuery& sent, util::TimePoint until);

}  // namespace vnetdns::upstream
