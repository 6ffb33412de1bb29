// Transport: one exchange with one upstream server, over UDP or TCP, as an Asio coroutine.
// UDP: every exchange opens its own socket connected to the server, so the kernel picks a
// fresh random ephemeral source port for each query and drops datagrams from any other
// address or port (RFC 5452 sections 9.1 and 10); replies that fail reply_matches() are
// counted and ignored while we keep waiting until the per-try timeout.
// TCP: 2-byte length framing (RFC 1035 section 4.2.2), one connection per exchange.
// Thread safety: call from the io_context's thread only; holds no shared state.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "resolver/upstream/upstream_query.hpp"
#include "resolver/util/endpoint.hpp"

namespace vnetdns::upstream {

// kLocalError: we could not even make the socket (e.g. out of file descriptors): not the
// server's fault, so it counts against neither its health nor the question.
enum class ExchangeStatus : std::uint8_t { kOk, kTimeout, kNetworkError, kEncodeError, kLocalError };

struct ExchangeResult {
  ExchangeStatus status = ExchangeStatus::kTimeout;
  std::vector<std::uint8_t> reply;  // the accepted reply, when kOk
  std::uint32_t mismatches = 0;     // replies dropped by the acceptance check
};

struct ExchangeOptions {
  std::chrono::milliseconds timeout{1000};
  bool tcp = false;
  bool edns = true;
};

boost::asio::awaitable<ExchangeResult> exchange(const util::Endpoint& server,
                                                const UpstreamQuery& query,
                                                const ExchangeOptions& options);

}  // namespace vnetdns::upstream
