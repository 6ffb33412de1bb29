// QueryLog: the JSON line format, sampling, drop-and-count when the ring is full, and that
// everything enqueued is written by flush().
#include "resolver/admin/query_log.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace vnetdns;

namespace {

pipeline::QueryLogRecord record(const char* name) {
  pipeline::QueryLogRecord r;
  r.time_us = 1714564800123456LL;  // 2024-05-01T12:00:00.123456Z
  r.client = *util::Endpoint::parse("10.0.0.4:53000", 53);
  r.transport = pipeline::Transport::kUdp;
  r.qname = wire::Name::from_text(name);
  r.qtype = 1;
  r.rcode = 0;
  r.source = pipeline::AnswerSource::kCache;
  r.latency_us = 42;
  return r;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string temp_path() {
  char buf[] = "/tmp/vnetdns-qlog-XXXXXX";
  const int fd = ::mkstemp(buf);
  REQUIRE(fd >= 0);
  ::close(fd);
  return buf;
}

}  // namespace

TEST_CASE("query log line format", "[unit][admin]") {
  auto r = record("myregistry.azurecr.io");
  CHECK(admin::format_query_log_line(r) ==
        "{\"time\":\"2024-05-01T12:00:00.123456Z\",\"client\":\"10.0.0.4:53000\","
        "\"transport\":\"udp\",\"name\":\"myregistry.azurecr.io.\",\"type\":\"A\","
        "\"rcode\":\"NOERROR\",\"source\":\"cache\",\"upstream\":null,\"latency_ms\":0.042}");
  r.upstream = *util::Endpoint::parse("[::1]:5300", 53);
  r.rcode = 3;
  r.qtype = 65280;
  r.transport = pipeline::Transport::kTcp;
  r.source = pipeline::AnswerSource::kUpstream;
  r.latency_us = 1500;
  const std::string line = admin::format_query_log_line(r);
  CHECK(line.find("\"upstream\":\"[::1]:5300\"") != std::string::npos);
  CHECK(line.find("\"rcode\":\"NXDOMAIN\"") != std::string::npos);
  CHECK(line.find("\"type\":\"TYPE65280\"") != std::string::npos);
  CHECK(line.find("\"transport\":\"tcp\"") != std::string::npos);
  CHECK(line.find("\"latency_ms\":1.500") != std::string::npos);
  // A name with a quote and a backslash stays valid JSON.
  r.qname = wire::Name::from_text("a\\\"b\\\\c.example");
  const std::string odd = admin::format_query_log_line(r);
  CHECK(odd.find("\"name\":\"a\\\\\\\"b\\\\\\\\c.example.\"") != std::string::npos);
}

TEST_CASE("query log writes every record and drops when full", "[unit][admin]") {
  const std::string path = temp_path();
  {
    admin::QueryLogOptions o;
    o.path = path;
    o.capacity = 8;
    admin::QueryLog log(o);
    CHECK(log.want());
    for (int i = 0; i < 5; ++i) CHECK(log.try_log(record("a.example")));
    log.flush();
    CHECK(log.written() == 5);
    CHECK(log.dropped() == 0);
    const auto lines = lines_of(path);
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].find("\"name\":\"a.example.\"") != std::string::npos);
  }
  {
    // Far more than the ring holds, faster than the writer's period: some are dropped and
    // counted, none blocks, and written + dropped accounts for all.
    admin::QueryLogOptions o;
    o.path = path;
    o.capacity = 4;
    admin::QueryLog log(o);
    std::uint64_t accepted = 0;
    for (int i = 0; i < 10000; ++i) accepted += log.try_log(record("b.example")) ? 1 : 0;
    log.flush();
    CHECK(log.dropped() > 0);
    CHECK(log.written() == accepted);
    CHECK(log.written() + log.dropped() == 10000);
    CHECK(lines_of(path).size() == 5 + accepted);
  }
  std::remove(path.c_str());
}

TEST_CASE("query log samples one in N per thread", "[unit][admin]") {
  const std::string path = temp_path();
  admin::QueryLogOptions o;
  o.path = path;
  o.sample = 4;
  admin::QueryLog log(o);
  int yes = 0;
  for (int i = 0; i < 400; ++i) yes += log.want() ? 1 : 0;
  CHECK(yes == 100);
  std::remove(path.c_str());
}

TEST_CASE("query log reports an unopenable file", "[unit][admin]") {
  admin::QueryLogOptions o;
  o.path = "/nonexistent-dir/q.log";
  CHECK_THROWS_AS(admin::QueryLog(o), std::runtime_error);
}
