#include "resolver/zonetool/admin_reload.hpp"

#include "resolver/util/http_client.hpp"

namespace vnetdns::zonetool {

util::Result<std::string, std::string> post_reload(const util::Endpoint& admin, int timeout_ms) {
  const util::HttpReply r = util::http_request(
      admin, "POST", "/reload", std::chrono::milliseconds(timeout_ms), "vnetdns-zone");
  if (!r.ok) return util::Err(r.error);
  if (r.status < 200 || r.status > 299) {
    return util::Err(admin.to_string() + ": " + r.status_line);
  }
  return r.status_line;
}

}  // namespace vnetdns::zonetool
