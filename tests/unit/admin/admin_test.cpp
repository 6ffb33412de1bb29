// Admin helpers: metrics text (summed over workers, well formed), readiness, cache flush
// by exact name and dump, the systemd notify datagrams, and the file watcher.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "resolver/admin/cache_admin.hpp"
#include "resolver/admin/file_watcher.hpp"
#include "resolver/admin/metric_families.hpp"
#include "resolver/admin/metrics.hpp"
#include "resolver/admin/sd_notify.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/xfr/transfer_service.hpp"

using namespace vnetdns;

namespace {

std::shared_ptr<const pipeline::Snapshot> snapshot_with_upstream(const char* zone) {
  settings::Settings s;
  settings::ForwardSettings f;
  f.zone = wire::Name::from_text(zone);
  f.upstreams.push_back(*util::Endpoint::parse("127.0.0.1:5300", 53));
  s.forwards.push_back(f);
  auto snap = pipeline::build_snapshot(std::move(s));
  REQUIRE(snap.ok());
  return snap.value();
}

// "name{labels} value" lines -> value; checks each line's shape on the way.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (line[0] == '#') {
      CHECK(std::regex_match(line, comment));
      continue;
    }
    REQUIRE(std::regex_match(line, m, sample));
    CHECK(out.count(m[1]) == 0);
    out[m[1]] = std::stod(m[3]);
  }
  return out;
}

void put(cache::PacketCache& c, const char* name, std::uint16_t qtype, bool dnssec_ok,
         bool checking_disabled = false) {
  std::vector<std::uint8_t> buf(512);
  wire::MessageBuilder b(buf.data(), buf.size());
  b.start(0, wire::kFlagQR);
  const wire::Name n = wire::Name::from_text(name);
  b.add_question(n.data(), n.size(), qtype, wire::klass::kIN);
  cache::InsertRequest r;
  r.wire = buf.data();
  r.len = b.size();
  r.ttl = 60;
  c.insert(cache::CacheKey{n, qtype, wire::klass::kIN, dnssec_ok, checking_disabled}, r, 1000);
}

}  // namespace

TEST_CASE("metrics are summed over workers and well formed", "[unit][admin]") {
  pipeline::SnapshotHolder holder(snapshot_with_upstream("."));
  cache::PacketCache cache(cache::CacheOptions{});
  pipeline::Counters a, b;
  a.queries[0].add(3);
  b.queries[0].add(4);
  b.queries[1].add(1);
  a.count_rcode(0);
  b.count_rcode(5);
  a.count_qtype(1);
  b.count_qtype(1);
  b.count_qtype(65);  // HTTPS lands in "other"
  a.tcp_connections.add(5);
  a.tcp_closed.add(2);
  std::atomic<std::uint64_t> reloads{7}, failures{2};
  admin::AdminContext cx;
  cx.snapshots = &holder;
  cx.cache = &cache;
  cx.workers = {&a, &b};
  cx.reloads = &reloads;
  cx.reload_failures = &failures;
  xfr::TransferStats transfers;  // with zone transfers, their families are written too
  cx.transfers = &transfers;
  const std::string text = admin::render_metrics(cx);
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  const auto s = samples(text);
  CHECK(s.at("vnetdns_queries_total{transport=\"udp\"}") == 7);
  CHECK(s.at("vnetdns_queries_total{transport=\"tcp\"}") == 1);
  CHECK(s.at("vnetdns_responses_total{rcode=\"NOERROR\"}") == 1);
  CHECK(s.at("vnetdns_responses_total{rcode=\"REFUSED\"}") == 1);
  CHECK(s.at("vnetdns_queries_by_type_total{qtype=\"A\"}") == 2);
  CHECK(s.at("vnetdns_queries_by_type_total{qtype=\"other\"}") == 1);
  CHECK(s.at("vnetdns_tcp_connections_open") == 3);
  CHECK(s.at("vnetdns_reloads_total") == 7);
  CHECK(s.at("vnetdns_reload_failures_total") == 2);
  CHECK(s.at("vnetdns_upstream_up{rule=\".\",upstream=\"127.0.0.1:5300\"}") == 1);
  CHECK(s.at("vnetdns_cache_entries") == 0);
  // Every counter family's name ends in _total; the families written are exactly those of
  // the one list (metric_families.hpp), each once, with its type.
  std::istringstream in(text);
  std::map<std::string, std::string> written;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    const auto sp = line.find(' ', 7);
    REQUIRE(sp != std::string::npos);
    const std::string name = line.substr(7, sp - 7);
    const std::string type = line.substr(sp + 1);
    CHECK(written.count(name) == 0);
    written[name] = type;
    if (type == "counter") {
      CHECK(name.size() > 6);
      CHECK(name.compare(name.size() - 6, 6, "_total") == 0);
    }
  }
  std::map<std::string, std::string> listed;
  for (std::size_t i = 0; i < static_cast<std::size_t>(admin::Family::kCount); ++i) {
    const auto& f = admin::family_info(static_cast<admin::Family>(i));
    listed[f.name] = f.type;
  }
  for (const auto& [name, type] : listed) {
    INFO(name);
    CHECK(written.count(name) == 1);
  }
  for (const auto& [name, type] : written) {
    INFO(name);
    CHECK(listed.count(name) == 1);
    CHECK(listed[name] == type);
  }
}

TEST_CASE("the metrics table of docs/operations.md is the one list's", "[unit][admin]") {
  std::ifstream in(std::string(VNETDNS_SOURCE_DIR) + "/docs/operations.md");
  REQUIRE(in);
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  const std::string begin = "<!-- metrics table: admin::metrics_doc_table() -->\n";
  const std::string end = "<!-- end of metrics table -->";
  const auto b = text.find(begin);
  const auto e = text.find(end);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  const std::string table = text.substr(b + begin.size(), e - b - begin.size());
  INFO("paste this between the markers of docs/operations.md:\n" << admin::metrics_doc_table());
  CHECK(table == admin::metrics_doc_table());
}

TEST_CASE("readiness follows the upstreams of the default rule", "[unit][admin]") {
  auto snap = snapshot_with_upstream(".");
  auto r = admin::check_readiness(*snap);
  CHECK(r.ready);
  // Mark the only upstream down the way the forwarding path does: failed questions.
  auto& h = const_cast<upstream::ServerHealth&>(snap->groups[0]->health(0));
  for (std::uint32_t i = 0; i < upstream::ServerHealth::kStrikesBeforeDown; ++i) h.on_failure(1000);
  REQUIRE(h.is_down());
  r = admin::check_readiness(*snap);
  CHECK_FALSE(r.ready);
  CHECK(r.reason.find("127.0.0.1:5300") != std::string::npos);
  // Without a "." rule, any rule with an upstream up will do; no rules at all is ready.
  CHECK(admin::check_readiness(*snapshot_with_upstream("corp.example")).ready);
  auto empty = pipeline::build_snapshot(settings::Settings{});
  REQUIRE(empty.ok());
  CHECK(admin::check_readiness(*empty.value()).ready);
}

TEST_CASE("flush by exact name keeps the names below it; dump lists every entry", "[unit][admin]") {
  cache::PacketCache c(cache::CacheOptions{});
  put(c, "x.example", 1, false);
  put(c, "x.example", 1, true);
  put(c, "x.example", 28, false);
  put(c, "x.example", 1, false, true);  // asked with CD=1: its own entry, flushed as well
  put(c, "a.x.example", 1, false);
  const auto json = admin::dump_json(c, wire::Name::from_text("x.example"), 1010);
  CHECK(json.find("\"name\":\"x.example.\"") != std::string::npos);
  CHECK(json.find("\"type\":\"AAAA\"") != std::string::npos);
  CHECK(json.find("\"ttl\":50") != std::string::npos);
  CHECK(json.find("\"checking_disabled\":true") != std::string::npos);
  CHECK(admin::flush_name(c, wire::Name::from_text("x.example"), 1010) == 4);
  CHECK(c.stats().entries == 1);
  CHECK(admin::flush_zone(c, wire::Name::from_text("example")) == 1);
  CHECK(c.stats().entries == 0);
}

TEST_CASE("sd_notify sends datagrams to a path or abstract socket", "[unit][admin]") {
  for (const bool abstract : {false, true}) {
    const std::string name =
        "/tmp/vnetdns-notify-" + std::to_string(::getpid()) + (abstract ? "-abs" : "-path");
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    socklen_t len = 0;
    if (abstract) {
      std::memcpy(sa.sun_path + 1, name.data(), name.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    } else {
      ::unlink(name.c_str());
      std::memcpy(sa.sun_path, name.data(), name.size());
      len = sizeof(sa);
    }
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0);
    ::setenv("NOTIFY_SOCKET", ((abstract ? "@" : "") + name).c_str(), 1);
    ::setenv("WATCHDOG_USEC", "3000000", 1);
    ::unsetenv("WATCHDOG_PID");
    {
      admin::SystemdNotifier n;
      CHECK(n.enabled());
      REQUIRE(n.watchdog_interval().has_value());
      CHECK(n.watchdog_interval()->count() == 1500000);
      CHECK(n.ready());
      CHECK(n.reloading());
      CHECK(n.stopping());
      char buf[256];
      auto next = [&] {
        const ssize_t got = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        return got > 0 ? std::string(buf, static_cast<std::size_t>(got)) : std::string();
      };
      CHECK(next() == "READY=1");
      CHECK(std::regex_match(next(), std::regex("RELOADING=1\nMONOTONIC_USEC=[0-9]+")));
      CHECK(next() == "STOPPING=1");
    }
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::close(fd);
    if (!abstract) ::unlink(name.c_str());
  }
  admin::SystemdNotifier off;
  CHECK_FALSE(off.enabled());
  CHECK_FALSE(off.ready());
}

TEST_CASE("file watcher reports a change of a watched file, not of its neighbours",
          "[unit][admin]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vnetdns-watch-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path zone = dir / "z.zone";
  std::ofstream(zone) << "one\n";
  boost::asio::io_context io;
  int changes = 0;
  admin::FileWatcherOptions o;
  o.debounce = std::chrono::milliseconds(20);
  o.poll = std::chrono::milliseconds(5000);
  admin::FileWatcher w(
      io,
      [&] {
        ++changes;
        io.stop();
      },
      o);
  w.watch({zone.string()});
  std::ofstream(dir / "other.txt") << "noise\n";
  io.run_for(std::chrono::milliseconds(300));
  CHECK(changes == 0);
  io.restart();
  std::ofstream(zone) << "two, longer\n";
  io.run_for(std::chrono::seconds(5));  // returns at the callback (io.stop) or the bound
  CHECK(changes == 1);
  w.stop();
  fs::remove_all(dir);
}
