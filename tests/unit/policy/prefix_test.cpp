// Prefix parsing and matching: host prefixes, masking of stray host bits, IPv4-mapped
// clients and prefixes, and rejection of malformed text.
#include "resolver/policy/prefix.hpp"

#include <catch2/catch.hpp>

using vnetdns::policy::Prefix;
using vnetdns::policy::PrefixList;
using vnetdns::util::Endpoint;

namespace {
Endpoint ep(const char* text) {
  auto e = Endpoint::parse(text, 53);
  REQUIRE(e.has_value());
  return *e;
}
Prefix pfx(const char* text) {
  auto p = Prefix::parse(text);
  REQUIRE(p.has_value());
  return *p;
}
}  // namespace

TEST_CASE("prefix: parses IPv4, IPv6 and bare addresses", "[unit][policy][prefix]") {
  struct Row {
    const char* text;
    const char* canonical;
  };
  const Row rows[] = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"192.168.1.0/24", "192.168.1.0/24"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"10.1.2.3", "10.1.2.3/32"},
      {"::1/128", "::1/128"},
      {"::1", "::1/128"},
      {"fd00::/8", "fd00::/8"},
      {"::/0", "::/0"},
      {"2001:db8::/32", "2001:db8::/32"},
      // host bits beyond the length are masked, not rejected
      {"10.1.2.3/8", "10.0.0.0/8"},
      {"172.31.255.255/12", "172.16.0.0/12"},
      {"2001:db8:ffff::1/33", "2001:db8:8000::/33"},
      // IPv4-mapped prefixes become IPv4 prefixes
      {"::ffff:10.0.0.0/104", "10.0.0.0/8"},
      {"::ffff:192.0.2.1", "192.0.2.1/32"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.text);
    CHECK(pfx(r.text).to_string() == r.canonical);
  }
}

TEST_CASE("prefix: rejects malformed text", "[unit][policy][prefix]") {
  const char* bad[] = {"",
                       "10.0.0.0/33",
                       "::/129",
                       "10.0.0.0/",
                       "10.0.0/8",
                       "10.0.0.0/-1",
                       "10.0.0.0/+8",
                       "10.0.0.0/8/",
                       "10.0.0.0/ 8",
                       " 10.0.0.0/8",
                       "example.com",
                       "10.0.0.0/08x",
                       "fe80::1%eth0",
                       "256.0.0.0/8",
                       "/8",
                       "10.0.0.0/0008"};
  for (const char* b : bad) {
    CAPTURE(b);
    CHECK_FALSE(Prefix::parse(b).has_value());
  }
}

TEST_CASE("prefix: contains", "[unit][policy][prefix]") {
  struct Row {
    const char* prefix;
    const char* address;
    bool match;
  };
  const Row rows[] = {
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"172.16.0.0/12", "172.31.255.255", true},
      {"172.16.0.0/12", "172.32.0.0", false},
      {"192.168.1.128/25", "192.168.1.200", true},
      {"192.168.1.128/25", "192.168.1.127", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"10.0.0.7", "10.0.0.7", true},
      {"10.0.0.7", "10.0.0.8", false},
      {"::1/128", "::1", true},
      {"::1/128", "::2", false},
      {"fd00::/8", "fd12:3456::1", true},
      {"fd00::/8", "fe80::1", false},
      {"2001:db8::/33", "2001:db8:7fff::1", true},
      {"2001:db8::/33", "2001:db8:8000::1", false},
      // families never cross, except through IPv4-mapped clients
      {"10.0.0.0/8", "::1", false},
      {"::/0", "10.0.0.1", false},
      {"10.0.0.0/8", "::ffff:10.1.2.3", true},
      {"127.0.0.0/8", "::ffff:127.0.0.1", true},
      {"10.0.0.0/8", "::ffff:11.1.2.3", false},
      {"::/0", "::ffff:10.1.2.3", false},  // a mapped client is an IPv4 client
      {"::ffff:10.0.0.0/104", "10.9.9.9", true},
  };
  for (const auto& r : rows) {
    CAPTURE(r.prefix, r.address);
    CHECK(pfx(r.prefix).contains(ep(r.address)) == r.match);
  }
}

TEST_CASE("prefix list: any member matches; empty matches nothing", "[unit][policy][prefix]") {
  PrefixList list({pfx("10.0.0.0/8"), pfx("::1/128")});
  CHECK(list.contains(ep("10.2.3.4")));
  CHECK(list.contains(ep("::1")));
  CHECK(list.contains(ep("::ffff:10.0.0.1")));
  CHECK_FALSE(list.contains(ep("192.168.0.1")));
  CHECK_FALSE(list.contains(ep("::2")));
  CHECK_FALSE(PrefixList().contains(ep("10.0.0.1")));
  CHECK_FALSE(Prefix().contains(ep("10.0.0.1")));  // a default Prefix has no family
}
