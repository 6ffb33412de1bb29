// util::Endpoint::parse: the config forms "ip", "ip:port", "[v6]:port"; is_unspecified()
// (the wildcard binds that need IP_PKTINFO).
#include "resolver/util/endpoint.hpp"

#include <sys/socket.h>

#include <optional>
#include <string>

#include <catch2/catch.hpp>

using vnetdns::util::Endpoint;

TEST_CASE("Endpoint::parse accepts the config forms", "[unit][util]") {
  struct Row {
    const char* text;
    int family;
    std::uint16_t port;
    const char* printed;
    bool loopback;
  };
  const Row rows[] = {
      {"127.0.0.1", AF_INET, 53, "127.0.0.1:53", true},
      {"127.0.0.1:5353", AF_INET, 5353, "127.0.0.1:5353", true},
      {"10.0.0.7:1", AF_INET, 1, "10.0.0.7:1", false},
      {"192.0.2.1:65535", AF_INET, 65535, "192.0.2.1:65535", false},
      {"::1", AF_INET6, 53, "[::1]:53", true},
      {"[::1]", AF_INET6, 53, "[::1]:53", true},
      {"[::1]:5300", AF_INET6, 5300, "[::1]:5300", true},
      {"2001:db8::1", AF_INET6, 53, "[2001:db8::1]:53", false},
      {"[2001:DB8::1]:853", AF_INET6, 853, "[2001:db8::1]:853", false},
      {"::ffff:127.0.0.2", AF_INET6, 53, "[::ffff:127.0.0.2]:53", true},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    const auto ep = Endpoint::parse(r.text, 53);
    REQUIRE(ep.has_value());
    CHECK(ep->family() == r.family);
    CHECK(ep->port() == r.port);
    CHECK(ep->to_string() == r.printed);
    CHECK(ep->is_loopback() == r.loopback);
    CHECK(ep->address_length() == (r.family == AF_INET6 ? 16u : 4u));
    // The printed form parses back to an equal endpoint.
    const auto again = Endpoint::parse(ep->to_string(), 1);
    REQUIRE(again.has_value());
    CHECK(*again == *ep);
  }
}

TEST_CASE("Endpoint::parse rejects malformed text", "[unit][util]") {
  const char* bad[] = {
      "",           "localhost",     "1.2.3",        "256.1.1.1",  "1.2.3.4:",
      "1.2.3.4:0",  "1.2.3.4:65536", "1.2.3.4:53x",  "1.2.3.4:-1", "1.2.3.4: 53",
      "[::1",       "[::1]:",        "[::1]53",      "[::1]:0",    "[]:53",
      "[bogus]:53", "::1:53x",       "fe80::1%eth0",
  };
  for (const char* t : bad) {
    INFO("text: '" << t << "'");
    CHECK_FALSE(Endpoint::parse(t, 53).has_value());
  }
}

TEST_CASE("Endpoint equality compares family, address and port", "[unit][util]") {
  const auto a = Endpoint::parse("10.0.0.1:53", 53);
  const auto b = Endpoint::parse("10.0.0.1", 53);
  const auto c = Endpoint::parse("10.0.0.1:54", 53);
  const auto d = Endpoint::parse("10.0.0.2:53", 53);
  const auto e = Endpoint::parse("[::ffff:10.0.0.1]:53", 53);
  REQUIRE((a && b && c && d && e));
  CHECK(*a == *b);
  CHECK_FALSE(*a == *c);
  CHECK_FALSE(*a == *d);
  CHECK_FALSE(*a == *e);  // a v4-mapped v6 address is a different socket address
  const auto f = Endpoint::from_sockaddr(a->sockaddr_ptr(), a->size());
  CHECK(f == *a);
}

TEST_CASE("Endpoint::is_unspecified is true for the wildcard addresses only", "[unit][util]") {
  for (const char* any : {"0.0.0.0", "0.0.0.0:53", "::", "[::]:5353"}) {
    INFO(any);
    const auto ep = Endpoint::parse(any, 53);
    REQUIRE(ep);
    CHECK(ep->is_unspecified());
  }
  for (const char* one : {"127.0.0.1", "0.0.0.1", "10.0.0.0", "::1", "[::ffff:0.0.0.0]:53"}) {
    INFO(one);
    const auto ep = Endpoint::parse(one, 53);
    REQUIRE(ep);
    CHECK_FALSE(ep->is_unspecified());
  }
}
