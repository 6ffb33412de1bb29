#include "resolver/xfr/request_signature.hpp"

#include <cstring>

namespace vnetdns::xfr {

RequestSignature RequestSignature::check(const settings::Settings& settings,
                                         const settings::ZoneSettings* zone, Packet& request,
                                         const std::uint8_t* wire, std::size_t len) {
  RequestSignature sig;
  const std::string used = TsigKey::key_name_of(request.get());
  if (used.empty()) {
    sig.ok = zone == nullptr || !zone->has_key;
    return sig;
  }
  const settings::TsigKeySettings* ks = nullptr;
  for (const auto& k : settings.keys) {
    if (k.name.to_text() == used) ks = &k;
  }
  if (ks == nullptr || (zone != nullptr && zone->has_key && !(ks->name == zone->key))) {
    sig.ok = false;
    return sig;
  }
  sig.mac = TsigKey::mac_of(request.get());
  sig.key.emplace(*ks);
  sig.ok = sig.key->verify(request.get(), wire, len, {}, false);
  return sig;
}

std::size_t RequestSignature::sign_answer(std::uint8_t* out, std::size_t len,
                                          std::size_t cap) const {
  if (!key) return len;
  Packet p = Packet::parse(out, len);
  if (!p.valid() || !key->sign(p.get(), mac, false)) return 0;
  const std::vector<std::uint8_t> signed_wire = p.to_wire();
  if (signed_wire.empty() || signed_wire.size() > cap) return 0;
  std::memcpy(out, signed_wire.data(), signed_wire.size());
  return signed_wire.size();
}

}  // namespace vnetdns::xfr
