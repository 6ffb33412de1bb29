// PerServerTable<T>: one T per upstream server for each io_context (so per worker thread),
// kept as an Asio service of that io_context: made on first use, gone with the io_context.
// Used for the reused TCP channels and the UDP socket pools, which must never cross threads.
// Bounded by the number of upstream servers ever configured (a reload that changes them
// leaves the old, idle entries behind until the worker stops).
// Thread safety: call only from the io_context's own thread.
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::upstream {

struct EndpointHash {
  std::size_t operator()(const util::Endpoint& e) const noexcept {
    std::size_t h = e.port();
    const std::uint8_t* a = e.address_bytes();
    for (std::size_t i = 0; i < e.address_length(); ++i) h = h * 131 + a[i];
    return h;
  }
};

template <typename T>
class PerServerTable : public boost::asio::execution_context::service {
 public:
  using key_type = PerServerTable<T>;
  static inline boost::asio::execution_context::id id;

  explicit PerServerTable(boost::asio::execution_context& ctx)
      : boost::asio::execution_context::service(ctx) {}

  // The executor's T for `server`, made with T(executor, server) on first use.
  static std::shared_ptr<T> get(const boost::asio::any_io_executor& executor,
                                const util::Endpoint& server) {
    auto& table = boost::asio::use_service<PerServerTable<T>>(
        boost::asio::query(executor, boost::asio::execution::context));
    auto& slot = table.entries_[server];
    if (!slot) slot = std::make_shared<T>(executor, server);
    return slot;
  }

  void shutdown() override { entries_.clear(); }

 private:
  std::unordered_map<util::Endpoint, std::shared_ptr<T>, EndpointHash> entries_;
};

}  // namespace vnetdns::upstream
