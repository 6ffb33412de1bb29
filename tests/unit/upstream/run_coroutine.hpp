// run_coroutine(): runs one coroutine to its end on an io_context from a Catch2 test, with a
// 10 s bound (the exchanges under test have their own, shorter timeouts); REQUIREs that it
// finished. Shared by the upstream tests that drive Asio coroutines.
// Thread safety: call from the test's thread, which runs `io`.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

namespace vnetdns::test {

template <typename T>
T run_coroutine(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
  std::optional<T> out;
  boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out = std::move(v);
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!out && std::chrono::steady_clock::now() < end) {
    io.run_one_for(std::chrono::milliseconds(50));
  }
  REQUIRE(out.has_value());
  io.restart();
  return std::move(*out);
}

}  // namespace vnetdns::test
