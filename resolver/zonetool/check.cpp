#include "resolver/zonetool/check.hpp"

#include <sys/select.h>

#include <algorithm>

#include <ares.h>

#include "resolver/wire/message_view.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::zonetool {
namespace {

struct Pending {
  CheckResult* result = nullptr;
  std::uint16_t qtype = 0;
  int status = ARES_ETIMEOUT;
  std::vector<std::string> chain;
  std::string final_name;
  std::vector<IpAddress> addresses;
  bool done = false;
};

// Follows the CNAME chain from the question name through the answer section.
void read_answer(Pending& p, const unsigned char* abuf, int alen) {
  wire::MessageView view;
  if (abuf == nullptr || alen <= 0 ||
      wire::parse_message(abuf, static_cast<std::size_t>(alen), view) !=
          wire::MessageError::kNone) {
    return;
  }
  wire::Name current = view.qname;
  for (int hops = 0; hops < 16; ++hops) {
    bool moved = false;
    for (const auto& rr : view.rrs) {
      wire::Name owner, target;
      if (rr.section != wire::Section::kAnswer || rr.type != wire::type::kCNAME) continue;
      if (!view.owner(rr, owner) || owner != current || !wire::rdata_name(view, rr, target))
        continue;
      p.chain.push_back(owner.to_text() + " CNAME " + target.to_text());
      current = target;
      moved = true;
      break;
    }
    if (!moved) break;
  }
  p.final_name = current.to_text();
  for (const auto& rr : view.rrs) {
    wire::Name owner;
    if (rr.section != wire::Section::kAnswer || rr.type != p.qtype) continue;
    if (!view.owner(rr, owner) || owner != current) continue;
    if (auto ip = IpAddress::from_rdata(view.msg + rr.rdata_offset, rr.rdlength)) {
      p.addresses.push_back(*ip);
    }
  }
}

void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* p = static_cast<Pending*>(arg);
  p->status = status;
  p->done = true;
  if (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA) {
    read_answer(*p, abuf, alen);
  }
}

std::string prefixes_text(const policy::PrefixList& l) {
  std::string s;
  for (const auto& p : l.prefixes()) s += (s.empty() ? "" : ", ") + p.to_string();
  return s;
}

}  // namespace

const char* to_string(Verdict v) noexcept {
  switch (v) {
    case Verdict::kOk: return "OK";
    case Verdict::kMissing: return "MISSING";
    case Verdict::kPublic: return "PUBLIC";
    case Verdict::kOutside: return "OUTSIDE";
    case Verdict::kFailed: return "FAILED";
  }
  return "?";
}

std::vector<CheckTarget> registry_targets(const std::string& registry,
                                          const std::vector<std::string>& regions) {
  std::vector<CheckTarget> out{{registry + ".azurecr.io", "registry " + registry}};
  for (const auto& r : regions) {
    out.push_back({registry + "." + r + ".data.azurecr.io", "data endpoint of replica " + r});
  }
  return out;
}

std::vector<CheckResult> check_names(const std::vector<CheckTarget>& targets,
                                     const CheckOptions& options) {
  std::vector<CheckResult> results(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) results[i].target = targets[i];

  static const int init = ares_library_init(ARES_LIB_INIT_ALL);
  const auto fail_all = [&](const std::string& why) {
    for (auto& r : results) r.detail = why;
    return results;
  };
  if (init != ARES_SUCCESS) return fail_all(std::string("c-ares: ") + ares_strerror(init));
  ares_channel channel = nullptr;
  ares_options opts{};
  opts.timeout = options.timeout_ms;
  opts.tries = options.tries;
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  int rc = ares_init_options(&channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
  if (rc != ARES_SUCCESS) return fail_all(std::string("c-ares: ") + ares_strerror(rc));
  const std::string server = options.server.to_string();  // "ip:port" or "[v6]:port"
  rc = ares_set_servers_ports_csv(channel, server.c_str());
  if (rc != ARES_SUCCESS) {
    ares_destroy(channel);
    return fail_all("c-ares: bad server " + server + ": " + ares_strerror(rc));
  }

  std::vector<Pending> pending(targets.size() * 2);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    for (int k = 0; k < 2; ++k) {
      Pending& p = pending[i * 2 + k];
      p.result = &results[i];
      p.qtype = k == 0 ? wire::type::kA : wire::type::kAAAA;
      ares_query(channel, targets[i].name.c_str(), 1 /* IN */, p.qtype, on_reply, &p);
    }
  }
  for (;;) {
    fd_set readers, writers;
    FD_ZERO(&readers);
    FD_ZERO(&writers);
    const int nfds = ares_fds(channel, &readers, &writers);
    if (nfds == 0) break;
    timeval tv{};
    timeval* tvp = ares_timeout(channel, nullptr, &tv);
    select(nfds, &readers, &writers, nullptr, tvp);
    ares_process(channel, &readers, &writers);
  }
  ares_destroy(channel);

  for (std::size_t i = 0; i < targets.size(); ++i) {
    CheckResult& r = results[i];
    const Pending& a = pending[i * 2];
    const Pending& aaaa = pending[i * 2 + 1];
    r.chain = a.chain.empty() ? aaaa.chain : a.chain;
    r.final_name = a.final_name.empty() ? aaaa.final_name : a.final_name;
    r.addresses = a.addresses;
    r.addresses.insert(r.addresses.end(), aaaa.addresses.begin(), aaaa.addresses.end());
    const bool a_answered =
        a.status == ARES_SUCCESS || a.status == ARES_ENODATA || a.status == ARES_ENOTFOUND;
    if (!a_answered) {
      r.verdict = Verdict::kFailed;
      r.detail = std::string("no answer from ") + server + ": " + ares_strerror(a.status);
      continue;
    }
    if (r.addresses.empty()) {
      r.verdict = Verdict::kMissing;
      r.detail = a.status == ARES_ENOTFOUND ? "NXDOMAIN" : "no address (NODATA)";
      if (!r.final_name.empty()) r.detail += " for " + r.final_name;
      continue;
    }
    r.verdict = Verdict::kOk;
    for (const auto& ip : r.addresses) {
      if (!ip.is_private()) {
        r.verdict = Verdict::kPublic;
        r.detail = ip.to_string() + " is a public address";
        break;
      }
      if (!options.expect.empty() && !ip.in(options.expect)) {
        r.verdict = Verdict::kOutside;
        r.detail = ip.to_string() + " is not inside " + prefixes_text(options.expect);
      }
    }
    if (r.verdict == Verdict::kOk) {
      r.detail = "private";
      if (!options.expect.empty()) r.detail += ", inside " + prefixes_text(options.expect);
    }
  }
  return results;
}

}  // namespace vnetdns::zonetool
