// libFuzzer target: what a network peer can send to the zone-transfer code (resolver/xfr):
// arbitrary bytes as an AXFR/IXFR request over TCP and UDP (answer_transfer), as a NOTIFY
// (answer_notify), and as a TSIG-signed query (RequestSignature::check, then signing an
// answer). The settings have one zone with a TSIG key, transferable to 127.0.0.1, and one
// secondary zone. Checks: no crash or leak (ASan/LSan; ldns parses), at least one reply
// message for every transfer request, each a whole DNS header, and every reply to a request
// that parsed echoes its ID.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "resolver/settings/loader.hpp"
#include "resolver/wire/types.hpp"
#include "resolver/xfr/packet.hpp"
#include "resolver/xfr/request_signature.hpp"
#include "resolver/xfr/transfer_responder.hpp"
#include "resolver/zone/zone_loader.hpp"

#include "fuzz_check.hpp"

namespace {

namespace wire = vnetdns::wire;
namespace xfr = vnetdns::xfr;

struct Fixture {
  vnetdns::settings::Settings settings;
  std::shared_ptr<const vnetdns::zone::ZoneSet> zones;
  vnetdns::util::Endpoint client = *vnetdns::util::Endpoint::parse("127.0.0.1", 5353);

  Fixture() {
    spdlog::set_level(spdlog::level::off);  // refusals are logged; not what is tested here
    auto s = vnetdns::settings::parse_settings(
        "[[key]]\nname = \"xfr-key\"\nsecret = \"bTBjazNkLXNlY3JldC1mb3ItdGVzdHMtb25seQ==\"\n"
        "[[zone]]\nname = \"privatelink.azurecr.io\"\nfile = \"z\"\n"
        "allow_transfer = [\"127.0.0.1\"]\nkey = \"xfr-key\"\n"
        "[[zone]]\nname = \"blob.example\"\nfile = \"b\"\nprimaries = [\"127.0.0.1\"]\n",
        "fuzz.toml");
    FUZZ_CHECK(s.ok());
    settings = s.value();
    const auto origin = wire::Name::from_text("privatelink.azurecr.io.");
    auto z = vnetdns::zone::load_zone_from_text(
        origin,
        "@ 300 SOA ns1 hostmaster 1 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 10.0.0.53\n"
        "myregistry 300 A 10.0.0.7\n");
    FUZZ_CHECK(z.ok());
    auto set = vnetdns::zone::ZoneSet::build({z.value()});
    FUZZ_CHECK(set.ok());
    zones = set.value();
  }
};

void check_replies(const std::vector<std::vector<std::uint8_t>>& replies, const std::uint8_t* q,
                   std::size_t len) {
  FUZZ_CHECK(!replies.empty());
  for (const auto& r : replies) {
    FUZZ_CHECK(r.size() >= wire::kHeaderSize);
    if (len >= 2) FUZZ_CHECK(r[0] == q[0] && r[1] == q[1]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture fx;
  const std::vector<std::uint8_t> q(data, data + size);
  for (const bool tcp : {true, false}) {
    check_replies(
        xfr::answer_transfer(fx.settings, *fx.zones, {q.data(), q.size(), fx.client, tcp}),
        q.data(), q.size());
  }
  const xfr::NotifyOutcome n =
      xfr::answer_notify(fx.settings, {q.data(), q.size(), fx.client, false});
  if (!n.reply.empty()) check_replies({n.reply}, q.data(), q.size());
  xfr::Packet p = xfr::Packet::parse(q.data(), q.size());
  if (p.valid()) {
    const xfr::RequestSignature sig =
        xfr::RequestSignature::check(fx.settings, nullptr, p, q.data(), q.size());
    if (sig.ok) {
      std::vector<std::uint8_t> out(4096, 0);
      const std::size_t n2 = q.size() < out.size() ? q.size() : out.size();
      std::copy(q.begin(), q.begin() + static_cast<long>(n2), out.begin());
      const std::size_t signed_len = sig.sign_answer(out.data(), n2, out.size());
      FUZZ_CHECK(signed_len <= out.size());
    } else {
      // A TSIG that fails: the NOTAUTH answer's error record (BADKEY/BADSIG/BADTIME).
      std::vector<std::uint8_t> out(512, 0);
      const std::size_t n2 = std::min<std::size_t>(q.size(), wire::kHeaderSize);
      std::copy(q.begin(), q.begin() + static_cast<long>(n2), out.begin());
      const std::size_t with_error = sig.append_error_tsig(out.data(), n2, out.size());
      FUZZ_CHECK(with_error >= n2 && with_error <= out.size());
      FUZZ_CHECK((sig.error == 0) == (with_error == n2) || n2 < wire::kHeaderSize ||
                 sig.key_wire.empty() || sig.algorithm_wire.empty());
    }
  }
  return 0;
}
