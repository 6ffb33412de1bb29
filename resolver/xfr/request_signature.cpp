#include "resolver/xfr/request_signature.hpp"

#include <cstring>
#include <ctime>

#include <ldns/ldns.h>

#include "resolver/wire/types.hpp"

namespace vnetdns::xfr {

namespace {

constexpr std::uint16_t kTypeTsig = 250;
constexpr std::uint16_t kClassAny = 255;
constexpr std::uint16_t kFudge = 300;

std::vector<std::uint8_t> rdf_bytes(const ldns_rdf* rdf) {
  if (rdf == nullptr) return {};
  const std::uint8_t* d = ldns_rdf_data(rdf);
  return {d, d + ldns_rdf_size(rdf)};
}

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

void put48(std::uint8_t* p, std::uint64_t v) {
  for (int i = 5; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

RequestSignature RequestSignature::check(const settings::Settings& settings,
                                         const settings::ZoneSettings* zone, Packet& request,
                                         const std::uint8_t* wire, std::size_t len) {
  RequestSignature sig;
  const std::string used = TsigKey::key_name_of(request.get());
  if (used.empty()) {
    sig.ok = zone == nullptr || !zone->has_key;
    return sig;
  }
  if (const ldns_rr* tsig = ldns_pkt_tsig(request.get());
      tsig != nullptr && ldns_rr_rd_count(tsig) >= 5) {
    sig.key_wire = rdf_bytes(ldns_rr_owner(tsig));
    sig.algorithm_wire = rdf_bytes(ldns_rr_rdf(tsig, 0));
    sig.original_id = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 4));
  }
  const settings::TsigKeySettings* ks = nullptr;
  for (const auto& k : settings.keys) {
    if (k.name.to_text() == used) ks = &k;
  }
  if (ks == nullptr || (zone != nullptr && zone->has_key && !(ks->name == zone->key))) {
    sig.ok = false;
    sig.error = kBadKey;
    return sig;
  }
  sig.mac = TsigKey::mac_of(request.get());
  sig.key.emplace(*ks);
  if (!sig.key->verify(request.get(), wire, len, {}, false, /*check_time=*/false)) {
    sig.error = kBadSig;  // a wrong algorithm for the key is a wrong MAC too
  } else if (!TsigKey::time_ok(request.get())) {
    sig.error = kBadTime;
  }
  sig.ok = sig.error == 0;
  if (!sig.ok) sig.key.reset();  // never sign with a key the client did not prove it has
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

std::size_t RequestSignature::append_error_tsig(std::uint8_t* out, std::size_t len,
                                                std::size_t cap) const {
  if (error == 0 || key_wire.empty() || algorithm_wire.empty() || len < wire::kHeaderSize) {
    return len;
  }
  const std::size_t other = error == kBadTime ? 6 : 0;
  // algorithm, time signed (6), fudge, MAC size (MAC empty), original ID, error, other len.
  const std::size_t rdlen = algorithm_wire.size() + 6 + 2 + 2 + 2 + 2 + 2 + other;
  const std::size_t need = key_wire.size() + 10 + rdlen;
  if (len + need > cap || rdlen > 0xffff) return len;
  std::uint8_t* p = out + len;
  std::memcpy(p, key_wire.data(), key_wire.size());
  p += key_wire.size();
  put16(p, kTypeTsig);
  put16(p + 2, kClassAny);
  std::memset(p + 4, 0, 4);  // TTL 0
  put16(p + 8, static_cast<std::uint16_t>(rdlen));
  p += 10;
  std::memcpy(p, algorithm_wire.data(), algorithm_wire.size());
  p += algorithm_wire.size();
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  put48(p, now);
  put16(p + 6, kFudge);
  put16(p + 8, 0);  // MAC size: the answer to a request we could not verify is unsigned
  put16(p + 10, original_id);
  put16(p + 12, error);
  put16(p + 14, static_cast<std::uint16_t>(other));
  if (other != 0) put48(p + 16, now);  // BADTIME: our clock, for the client to compare
  wire::store16(out + 10, static_cast<std::uint16_t>(wire::header_arcount(out) + 1));
  return len + need;
}

void RequestSignature::append_error_tsig(std::vector<std::uint8_t>& answer) const {
  if (error == 0 || answer.size() < wire::kHeaderSize) return;
  const std::size_t len = answer.size();
  answer.resize(len + key_wire.size() + algorithm_wire.size() + 32);
  answer.resize(append_error_tsig(answer.data(), len, answer.size()));
}

}  // namespace vnetdns::xfr
