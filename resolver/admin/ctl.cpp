#include "resolver/admin/ctl.hpp"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/settings/loader.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/util/http_client.hpp"

namespace vnetdns::admin {

namespace {

constexpr const char* kDefaultConfig = "/etc/vnetdns/vnetdns.toml";
constexpr std::uint16_t kDefaultAdminPort = 9153;

int usage(const char* what) {
  std::fprintf(stderr,
               "vnetdns ctl: %s\n"
               "usage: vnetdns ctl reload|flush [NAME]|flush --zone ZONE|dump NAME|stats|ready\n"
               "                   [-c CONFIG] [--admin ADDR] [--timeout SECONDS]\n",
               what);
  return 2;
}

std::string encode(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '.' || c == '-' || c == '_' || c == '*') {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

// The admin address to talk to: --admin, else [admin] listen of the config.
std::optional<util::Endpoint> admin_address(const std::string& config, const std::string& admin,
                                            std::string& error) {
  if (!admin.empty()) {
    auto ep = util::Endpoint::parse(admin, kDefaultAdminPort);
    if (!ep) error = "bad --admin address '" + admin + "'";
    return ep;
  }
  auto loaded = settings::load_settings(config);
  if (!loaded) {
    error = "cannot read the admin address from " + config + ":";
    for (const auto& e : loaded.error()) error += "\n  " + e;
    return std::nullopt;
  }
  const auto& a = loaded.value().admin;
  if (!a.enabled) {
    error = "the admin endpoint is not enabled in " + config + " (add an [admin] table)";
    return std::nullopt;
  }
  util::Endpoint ep = a.listen;
  // A wildcard listen address is reached through loopback of the same family.
  static constexpr std::uint8_t kZero[16] = {};
  if (std::memcmp(ep.address_bytes(), kZero, ep.address_length()) == 0) {
    const std::string port = std::to_string(ep.port());
    ep = *util::Endpoint::parse(ep.family() == AF_INET6 ? "[::1]:" + port : "127.0.0.1:" + port,
                                kDefaultAdminPort);
  }
  return ep;
}

}  // namespace

int run_ctl_command(int argc, char** argv) {
  if (argc < 2) return usage("missing subcommand");
  const std::string_view sub = argv[1];
  std::string config = kDefaultConfig;
  std::string admin;
  std::string zone;
  std::vector<std::string> positional;
  long timeout_s = 30;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (a == "-c" || a == "--config") {
      if (!value(config)) return usage("-c needs a file");
    } else if (a.rfind("--config=", 0) == 0) {
      config = std::string(a.substr(9));
    } else if (a == "--admin") {
      if (!value(admin)) return usage("--admin needs an address");
    } else if (a.rfind("--admin=", 0) == 0) {
      admin = std::string(a.substr(8));
    } else if (a == "--zone") {
      if (!value(zone)) return usage("--zone needs a name");
    } else if (a == "--timeout") {
      std::string t;
      if (!value(t)) return usage("--timeout needs seconds");
      timeout_s = std::strtol(t.c_str(), nullptr, 10);
      if (timeout_s <= 0) return usage("--timeout needs a positive number of seconds");
    } else if (!a.empty() && a[0] == '-') {
      return usage(("unknown option " + std::string(a)).c_str());
    } else {
      positional.emplace_back(a);
    }
  }

  std::string_view method = "GET";
  std::string target;
  bool samples_only = false;
  if (sub == "reload") {
    if (!positional.empty() || !zone.empty()) return usage("reload takes no arguments");
    method = "POST";
    target = "/reload";
  } else if (sub == "flush") {
    if (positional.size() > 1 || (!positional.empty() && !zone.empty())) {
      return usage("flush takes one NAME or --zone ZONE");
    }
    method = "POST";
    target = "/cache/flush";
    if (!positional.empty()) target += "?name=" + encode(positional[0]);
    if (!zone.empty()) target += "?zone=" + encode(zone);
  } else if (sub == "dump") {
    if (positional.size() != 1 || !zone.empty()) return usage("dump takes one NAME");
    target = "/cache/dump?name=" + encode(positional[0]);
  } else if (sub == "stats") {
    if (!positional.empty() || !zone.empty()) return usage("stats takes no arguments");
    target = "/metrics";
    samples_only = true;
  } else if (sub == "ready") {
    if (!positional.empty() || !zone.empty()) return usage("ready takes no arguments");
    target = "/readyz";
  } else {
    return usage(("unknown subcommand " + std::string(sub)).c_str());
  }

  std::string error;
  const auto server = admin_address(config, admin, error);
  if (!server) {
    std::fprintf(stderr, "vnetdns ctl: %s\n", error.c_str());
    return 1;
  }
  const util::HttpReply r = util::http_request(
      *server, method, target, std::chrono::seconds(timeout_s), "vnetdns-ctl/" VNETDNS_VERSION);
  if (!r.ok) {
    std::fprintf(stderr, "vnetdns ctl: %s\n", r.error.c_str());
    return 1;
  }
  if (samples_only && r.status == 200) {
    std::string_view body = r.body;
    while (!body.empty()) {
      const auto nl = body.find('\n');
      const std::string_view line = body.substr(0, nl);
      if (!line.empty() && line[0] != '#')
        std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
      if (nl == std::string_view::npos) break;
      body.remove_prefix(nl + 1);
    }
  } else {
    std::FILE* out = r.status == 200 ? stdout : stderr;
    std::fwrite(r.body.data(), 1, r.body.size(), out);
  }
  return r.status == 200 ? 0 : 1;
}

}  // namespace vnetdns::admin
