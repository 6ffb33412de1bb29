// to_asio<E>(): a util::Endpoint as an Asio endpoint (E: asio::ip::udp::endpoint or
// asio::ip::tcp::endpoint), by copying its sockaddr. Used wherever an upstream socket is
// opened or connected. Thread safety: a pure function.
#pragma once

#include <cstring>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::upstream {

template <typename E>
E to_asio(const util::Endpoint& ep) {
  E out;
  out.resize(ep.size());
  std::memcpy(out.data(), ep.sockaddr_ptr(), ep.size());
  return out;
}

}  // namespace vnetdns::upstream
