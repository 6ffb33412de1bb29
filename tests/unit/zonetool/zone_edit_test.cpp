// Zone editing: serial arithmetic, round trips that keep every byte, additions next to their
// relatives, removals that keep inherited owners right, refusals of invalid results, and
// concurrent editors (threads and processes) that never lose or corrupt an edit.
#include "resolver/zonetool/zone_edit.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/zone/zone_loader.hpp"
#include "resolver/zonetool/zone_text.hpp"

namespace vnetdns::zonetool {
namespace {

wire::Name N(const char* t) { return wire::Name::from_text(t); }
const wire::Name kZone = wire::Name::from_text("privatelink.azurecr.io");

IpAddress ip(const char* t) {
  auto a = IpAddress::parse(t);
  REQUIRE(a);
  return *a;
}

std::string shipped_zone() {
  std::ifstream in(std::string(VNETDNS_SOURCE_DIR) + "/zones/privatelink.azurecr.io.zone");
  std::stringstream ss;
  ss << in.rdbuf();
  REQUIRE(!ss.str().empty());
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// True when `small` appears in `big` in order (other lines may sit between).
bool is_subsequence(const std::vector<std::string>& small, const std::vector<std::string>& big) {
  std::size_t j = 0;
  for (const auto& l : big) {
    if (j < small.size() && l == small[j]) ++j;
  }
  return j == small.size();
}

EditResult must_edit(const std::string& text, const std::vector<AddressChange>& changes,
                     std::uint32_t today = 20240315) {
  EditOptions o;
  o.today = today;
  auto r = edit_zone_text(kZone, text, changes, o, "t.zone");
  if (!r.ok()) FAIL(r.error());
  return r.value();
}

std::string edit_error(const std::string& text, const std::vector<AddressChange>& changes) {
  auto r = edit_zone_text(kZone, text, changes, {}, "t.zone");
  return r.ok() ? std::string("<accepted>") : r.error();
}

std::vector<std::string> loaded_addresses(const std::string& text, const char* owner) {
  auto z = zone::load_zone_from_text(kZone, text, {}, "t.zone");
  REQUIRE(z.ok());
  std::vector<std::string> out;
  const zone::Node* n = z.value()->find(N(owner));
  if (!n) return out;
  for (const auto& s : z.value()->rrsets(*n)) {
    if (s.type != 1 && s.type != 28) continue;
    for (std::size_t i = 0; i < s.rdata_count; ++i) {
      auto v = z.value()->rdata(s, i);
      out.push_back(IpAddress::from_rdata(v.data, v.size)->to_string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

const char* const kSmall =
    "$ORIGIN privatelink.azurecr.io.\n"
    "$TTL 10\n"
    "@ 3600 IN SOA ns1 hostmaster 2024010103 3600 600 86400 10 ; date serial\n"
    "@ 3600 IN NS ns1\n"
    "ns1 IN A 10.0.0.53\n"
    "; registries\n"
    "myregistry IN A 10.0.0.7\n";

}  // namespace

TEST_CASE("next_serial: date serials move to today, others grow by one", "[unit][zonetool]") {
  CHECK(next_serial(2024010103, 20240315) == 2024031500u);  // an older date: today, nn = 00
  CHECK(next_serial(2024031500, 20240315) == 2024031501u);  // today already: + 1
  CHECK(next_serial(2024031599, 20240315) == 2024031600u);  // 99 edits today: + 1 still grows
  CHECK(next_serial(2030010100, 20240315) == 2030010101u);  // a future date: + 1
  CHECK(next_serial(2024133100, 20240315) == 2024133101u);  // month 13: not a date
  CHECK(next_serial(1, 20240315) == 2u);
  CHECK(next_serial(4294967295u, 20240315) == 0u);  // RFC 1982 wrap
  const auto today = today_utc();
  CHECK(today > 20200101u);
  CHECK(today < 22000101u);
}

TEST_CASE("ZoneText: parse and print is the identity", "[unit][zonetool]") {
  for (const std::string& text : {shipped_zone(), std::string(kSmall),
                                  std::string(kSmall).substr(0, std::string(kSmall).size() - 1)}) {
    auto z = ZoneText::parse(kZone, text);
    REQUIRE(z.ok());
    CHECK(z.value().text() == text);
  }
  auto z = ZoneText::parse(kZone, shipped_zone());
  REQUIRE(z.ok());
  CHECK(z.value().serial() == 1u);
  CHECK(z.value().addresses(N("myregistry.westeurope.data.privatelink.azurecr.io")) ==
        std::vector<IpAddress>{ip("10.0.0.6")});
}

TEST_CASE("ZoneText: what it cannot follow is refused", "[unit][zonetool]") {
  CHECK_FALSE(ZoneText::parse(kZone, "@ IN SOA a b ( 1 2 3 4 5\n").ok());
  CHECK_FALSE(ZoneText::parse(kZone, "$INCLUDE other.zone\n").ok());
  CHECK_FALSE(ZoneText::parse(kZone, "a IN TXT \"open\n").ok());
  CHECK_FALSE(ZoneText::parse(kZone, "a IN A 1.2.3.4 )\n").ok());
}

TEST_CASE("add a data endpoint to the shipped zone: comments kept, multi-line serial bumped",
          "[unit][zonetool]") {
  const std::string before = shipped_zone();
  auto r = must_edit(
      before, {{N("myregistry.northeurope.data.privatelink.azurecr.io"), {ip("10.0.0.5")}, ""}});
  CHECK(r.changed);
  CHECK(r.old_serial == 1u);
  CHECK(r.new_serial == 2u);
  CHECK(r.diff == std::vector<std::string>{
                      "+myregistry.northeurope.data.privatelink.azurecr.io. A 10.0.0.5"});
  const auto old_lines = lines_of(before);
  const auto new_lines = lines_of(r.text);
  REQUIRE(new_lines.size() == old_lines.size() + 1);
  // Every line but the serial's is kept, in order; the serial keeps its comment.
  std::vector<std::string> kept;
  for (const auto& l : old_lines) {
    if (l.find("; serial") == std::string::npos) kept.push_back(l);
  }
  CHECK(is_subsequence(kept, new_lines));
  CHECK(r.text.find("                                    2       ; serial: increase on every "
                    "edit\n") != std::string::npos);
  // The new record sits right after its sibling, with the sibling's TTL.
  const auto at = std::find(new_lines.begin(), new_lines.end(),
                            "myregistry.westeurope.data  10 IN A  10.0.0.6");
  REQUIRE(at != new_lines.end());
  CHECK(*(at + 1) == "myregistry.northeurope.data 10 IN A  10.0.0.5");
  CHECK(loaded_addresses(r.text, "myregistry.northeurope.data.privatelink.azurecr.io") ==
        std::vector<std::string>{"10.0.0.5"});
  // Round trip: removing it again gives the original back but for the serial.
  auto back =
      must_edit(r.text, {{N("myregistry.northeurope.data.privatelink.azurecr.io"), {}, ""}});
  CHECK(back.new_serial == 3u);
  CHECK(lines_of(back.text).size() == old_lines.size());
  CHECK(is_subsequence(kept, lines_of(back.text)));
}

TEST_CASE("date serial, IPv6 as AAAA, a new registry, idempotent adds", "[unit][zonetool]") {
  auto r = must_edit(kSmall, {{N("other.privatelink.azurecr.io"), {ip("fd00::7")}, "300"}});
  CHECK(r.new_serial == 2024031500u);
  CHECK(r.text.find("@ 3600 IN SOA ns1 hostmaster 2024031500 3600 600 86400 10 ; date serial") !=
        std::string::npos);
  CHECK(r.text.find("other 300 IN AAAA fd00::7\n") != std::string::npos);
  CHECK(loaded_addresses(r.text, "other.privatelink.azurecr.io") ==
        std::vector<std::string>{"fd00::7"});
  // The same edit again changes nothing, not even the serial.
  auto again = must_edit(r.text, {{N("other.privatelink.azurecr.io"), {ip("fd00::7")}, "300"}});
  CHECK_FALSE(again.changed);
  CHECK(again.text == r.text);
  CHECK(again.new_serial == again.old_serial);
  // Two addresses for one name; then replace them with a third.
  auto two = must_edit(
      kSmall, {{N("myregistry.privatelink.azurecr.io"), {ip("10.0.0.7"), ip("10.0.0.8")}, ""}});
  CHECK(loaded_addresses(two.text, "myregistry.privatelink.azurecr.io") ==
        std::vector<std::string>{"10.0.0.7", "10.0.0.8"});
  auto three =
      must_edit(two.text, {{N("myregistry.privatelink.azurecr.io"), {ip("10.0.0.9")}, ""}});
  CHECK(loaded_addresses(three.text, "myregistry.privatelink.azurecr.io") ==
        std::vector<std::string>{"10.0.0.9"});
  CHECK(three.diff.size() == 3);
}

TEST_CASE("removing a line whose owner the next line inherits keeps that owner",
          "[unit][zonetool]") {
  const std::string text = std::string(kSmall) +
                           "multi IN A 10.0.0.20\n"
                           "      IN TXT \"kept\"\n"
                           "      IN A 10.0.0.21\n";
  auto r = must_edit(text, {{N("multi.privatelink.azurecr.io"), {ip("10.0.0.21")}, ""}});
  CHECK(r.text.find("multi      IN TXT \"kept\"\n      IN A 10.0.0.21\n") != std::string::npos);
  CHECK(loaded_addresses(r.text, "multi.privatelink.azurecr.io") ==
        std::vector<std::string>{"10.0.0.21"});
  // Adding beside a group inserts after the whole group, so nothing changes owner.
  auto add = must_edit(text, {{N("multi2.privatelink.azurecr.io"), {ip("10.0.0.30")}, ""}});
  CHECK(loaded_addresses(add.text, "multi.privatelink.azurecr.io") ==
        std::vector<std::string>{"10.0.0.20", "10.0.0.21"});
}

TEST_CASE("edits that would make the zone invalid are refused", "[unit][zonetool]") {
  const std::string with_cname = std::string(kSmall) + "alias IN CNAME myregistry\n";
  CHECK_THAT(edit_error(with_cname, {{N("alias.privatelink.azurecr.io"), {ip("10.0.0.9")}, ""}}),
             Catch::Contains("has a CNAME"));
  CHECK_THAT(edit_error(kSmall, {{N("myregistry.azurecr.io"), {ip("10.0.0.9")}, ""}}),
             Catch::Contains("is not in the zone"));
  CHECK_THAT(edit_error(kSmall, {{kZone, {ip("10.0.0.9")}, ""}}), Catch::Contains("apex"));
  CHECK_THAT(edit_error("$ORIGIN privatelink.azurecr.io.\nmyregistry IN A 10.0.0.7\n",
                        {{N("x.privatelink.azurecr.io"), {ip("10.0.0.9")}, ""}}),
             Catch::Contains("invalid before the edit"));
  CHECK_FALSE(IpAddress::parse("10.0.0.300"));
  CHECK_FALSE(IpAddress::parse("10.0.0.7/32"));
  CHECK_FALSE(IpAddress::parse("myregistry"));
  CHECK(IpAddress::parse("fd00::1")->rr_type_text() == std::string("AAAA"));
}

TEST_CASE("IpAddress: private and prefix membership", "[unit][zonetool]") {
  CHECK(ip("10.0.0.7").is_private());
  CHECK(ip("172.31.255.1").is_private());
  CHECK_FALSE(ip("172.32.0.1").is_private());
  CHECK(ip("192.168.1.1").is_private());
  CHECK_FALSE(ip("20.45.122.144").is_private());
  CHECK(ip("fd12::1").is_private());
  CHECK_FALSE(ip("2001:db8::1").is_private());
  policy::PrefixList l({*policy::Prefix::parse("10.0.0.0/24")});
  CHECK(ip("10.0.0.7").in(l));
  CHECK_FALSE(ip("10.0.1.7").in(l));
}

namespace {

struct TempZone {
  std::string dir;
  std::string path;
  TempZone() {
    char tmpl[] = "/tmp/vnetdns-zonetool-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/privatelink.azurecr.io.zone";
    std::ofstream(path) << kSmall;
    REQUIRE(::chmod(path.c_str(), 0640) == 0);
  }
  ~TempZone() {
    ::unlink(path.c_str());
    ::unlink((path + ".lock").c_str());
    ::rmdir(dir.c_str());
  }
};

void add_many(const std::string& path, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    const auto owner = N((prefix + std::to_string(i) + ".privatelink.azurecr.io").c_str());
    auto r = edit_zone_file_with(path, kZone, [&](const ZoneText&) {
      return std::vector<AddressChange>{{owner, {ip("10.1.0.1")}, ""}};
    });
    if (!r.ok()) throw std::runtime_error(r.error());
  }
}

}  // namespace

TEST_CASE("edit_zone_file: atomic write keeps the mode; concurrent threads lose nothing",
          "[unit][zonetool]") {
  TempZone t;
  auto r = edit_zone_file(t.path, kZone, {{N("a.privatelink.azurecr.io"), {ip("10.0.0.1")}, ""}});
  REQUIRE(r.ok());
  struct stat st {};
  REQUIRE(::stat(t.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  auto dry = edit_zone_file(t.path, kZone, {{N("b.privatelink.azurecr.io"), {ip("10.0.0.2")}, ""}},
                            {.dry_run = true});
  REQUIRE(dry.ok());
  CHECK(dry.value().changed);
  CHECK(read_text_file(t.path).value() == r.value().text);  // dry run wrote nothing

  const std::uint32_t serial0 = r.value().new_serial;
  std::vector<std::string> errors(2);
  std::thread t1([&] {
    try {
      add_many(t.path, "one", 20);
    } catch (const std::exception& e) {
      errors[0] = e.what();
    }
  });
  std::thread t2([&] {
    try {
      add_many(t.path, "two", 20);
    } catch (const std::exception& e) {
      errors[1] = e.what();
    }
  });
  t1.join();
  t2.join();
  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  const std::string text = read_text_file(t.path).value();
  auto z = zone::load_zone_from_text(kZone, text, {}, t.path);
  REQUIRE(z.ok());
  CHECK(z.value()->record_count() == 4 + 1 + 40);
  CHECK(z.value()->serial() == serial0 + 40);  // same day: +1 per edit, none lost
  for (int i = 0; i < 20; ++i) {
    CHECK(z.value()->find(N(("one" + std::to_string(i) + ".privatelink.azurecr.io").c_str())));
    CHECK(z.value()->find(N(("two" + std::to_string(i) + ".privatelink.azurecr.io").c_str())));
  }
}

TEST_CASE("edit_zone_file: concurrent processes lose nothing", "[unit][zonetool]") {
  TempZone t;
  std::vector<pid_t> kids;
  for (int k = 0; k < 3; ++k) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 0;
      try {
        add_many(t.path, "p" + std::to_string(k) + "x", 10);
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto z = zone::load_zone_from_text(kZone, read_text_file(t.path).value(), {}, t.path);
  REQUIRE(z.ok());
  CHECK(z.value()->record_count() == 4 + 30);
  CHECK(z.value()->serial() >= 2024031500u);  // moved to a date serial on the first edit
}

}  // namespace vnetdns::zonetool
