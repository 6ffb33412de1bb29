#include "resolver/xfr/transfer_responder.hpp"

#include "resolver/util/log.hpp"
#include "resolver/xfr/packet.hpp"
#include "resolver/xfr/request_signature.hpp"
#include "resolver/xfr/tsig_key.hpp"

namespace vnetdns::xfr {
namespace {

// Room per message for the records; the TSIG record and the header fit in the rest.
constexpr std::size_t kMessageBudget = 16 * 1024;

const settings::ZoneSettings* find_zone(const settings::Settings& s, const wire::Name& name) {
  for (const auto& z : s.zones) {
    if (z.name == name) return &z;
  }
  return nullptr;
}

// A reply to `request` with `rcode`, echoing its question when it had one.
std::vector<std::uint8_t> reply(const Packet& request, wire::Rcode rcode, std::uint8_t opcode,
                                const RequestSignature* sig) {
  Packet p = Packet::make(request.id(),
                          static_cast<std::uint16_t>(wire::kFlagQR | (opcode << 11) |
                                                     (static_cast<std::uint16_t>(rcode) & 0xf)));
  if (auto q = request.question()) p.add_question(q->name, q->type, q->klass);
  if (rcode == wire::Rcode::kNoError && sig != nullptr && sig->key) {
    sig->key->sign(p.get(), sig->mac, false);
  }
  return p.to_wire();
}

std::size_t record_size(const zone::ZoneRecord& r) { return r.owner.size() + 10 + r.rdata.size(); }

}  // namespace

std::vector<std::vector<std::uint8_t>> answer_transfer(const settings::Settings& settings,
                                                       const zone::ZoneSet& zones,
                                                       const TransferRequest& r) {
  Packet request = Packet::parse(r.query, r.len);
  if (!request.valid()) return {bare_reply(r.query, r.len, wire::Rcode::kFormErr)};
  const auto q = request.question();
  if (!q) return {reply(request, wire::Rcode::kFormErr, 0, nullptr)};
  const settings::ZoneSettings* zs = find_zone(settings, q->name);
  const zone::Zone* z = zones.zone(q->name);
  if (zs == nullptr || z == nullptr) return {reply(request, wire::Rcode::kNotAuth, 0, nullptr)};
  if (!zs->allow_transfer.contains(r.client)) {
    VLOG_INFO("transfer of {} refused to {} (not in allow_transfer)", q->name.to_text(),
              r.client.to_string());
    return {reply(request, wire::Rcode::kRefused, 0, nullptr)};
  }
  const RequestSignature sig = RequestSignature::check(settings, zs, request, r.query, r.len);
  if (!sig.ok) {
    VLOG_WARN("transfer of {} refused to {}: TSIG missing or wrong (TSIG error {})",
              q->name.to_text(), r.client.to_string(), sig.error);
    std::vector<std::uint8_t> answer = reply(request, wire::Rcode::kNotAuth, 0, nullptr);
    sig.append_error_tsig(answer);
    return {std::move(answer)};
  }
  const bool ixfr = q->type == wire::type::kIXFR;
  if (!ixfr && !r.tcp) return {reply(request, wire::Rcode::kNotImp, 0, nullptr)};

  auto message = [&](bool first) {
    Packet p = Packet::make(request.id(), wire::kFlagQR | wire::kFlagAA);
    if (first) p.add_question(q->name, q->type, q->klass);
    return p;
  };
  std::vector<std::vector<std::uint8_t>> out;
  std::vector<std::uint8_t> prior = sig.mac;
  auto finish = [&](Packet& p) {
    if (sig.key) {
      sig.key->sign(p.get(), prior, !out.empty());
      prior = TsigKey::mac_of(p.get());
    }
    out.push_back(p.to_wire());
  };
  if (ixfr) {
    const auto theirs = request.authority_soa_serial();
    if (!r.tcp || (theirs && !serial_newer(z->serial(), *theirs))) {
      // Just the SOA, without copying the zone (this path is reachable over UDP).
      const zone::RdataView soa = z->rdata(z->soa(), 0);
      Packet p = message(true);
      p.add_answer(zone::ZoneRecord{z->origin(), wire::type::kSOA, z->soa().klass, z->soa().ttl,
                                    std::vector<std::uint8_t>(soa.data, soa.data + soa.size)});
      finish(p);
      return out;
    }
  }
  std::vector<zone::ZoneRecord> records = z->to_records();  // SOA first
  records.push_back(records.front());                       // the closing SOA
  Packet p = message(true);
  std::size_t used = 0;
  for (const auto& rec : records) {
    const std::size_t n = record_size(rec);
    if (used > 0 && used + n > kMessageBudget) {
      finish(p);
      p = message(false);
      used = 0;
    }
    if (!p.add_answer(rec)) {
      VLOG_ERROR("transfer of {}: cannot encode a record; transfer abandoned", q->name.to_text());
      return {reply(request, wire::Rcode::kServFail, 0, nullptr)};
    }
    used += n;
  }
  finish(p);
  for (const auto& m : out) {
    // One record near 64 KiB with the question and TSIG cannot be framed over TCP.
    if (m.empty() || m.size() > 65535) {
      VLOG_ERROR("transfer of {}: a message does not fit in 64 KiB; transfer abandoned",
                 q->name.to_text());
      return {reply(request, wire::Rcode::kServFail, 0, nullptr)};
    }
  }
  VLOG_INFO("transfer of {} serial {} to {}: {} records in {} message{}", q->name.to_text(),
            z->serial(), r.client.to_string(), records.size(), out.size(),
            out.size() == 1 ? "" : "s");
  return out;
}

NotifyOutcome answer_notify(const settings::Settings& settings, const TransferRequest& r) {
  NotifyOutcome o;
  Packet request = Packet::parse(r.query, r.len);
  constexpr auto kNotify = static_cast<std::uint8_t>(wire::Opcode::kNotify);
  if (!request.valid()) {
    o.reply = bare_reply(r.query, r.len, wire::Rcode::kFormErr);
    return o;
  }
  const auto q = request.question();
  if (!q || q->type != wire::type::kSOA) {
    o.reply = reply(request, wire::Rcode::kFormErr, kNotify, nullptr);
    return o;
  }
  const settings::ZoneSettings* zs = find_zone(settings, q->name);
  if (zs == nullptr || !zs->secondary()) {
    o.reply = reply(request, wire::Rcode::kNotAuth, kNotify, nullptr);
    return o;
  }
  if (!zs->allow_notify.contains(r.client)) {
    VLOG_INFO("NOTIFY for {} from {} ignored (not in allow_notify)", q->name.to_text(),
              r.client.to_string());
    o.reply = reply(request, wire::Rcode::kRefused, kNotify, nullptr);
    return o;
  }
  const RequestSignature sig = RequestSignature::check(settings, zs, request, r.query, r.len);
  if (!sig.ok) {
    VLOG_WARN("NOTIFY for {} from {} ignored: TSIG missing or wrong (TSIG error {})",
              q->name.to_text(), r.client.to_string(), sig.error);
    o.reply = reply(request, wire::Rcode::kNotAuth, kNotify, nullptr);
    sig.append_error_tsig(o.reply);
    return o;
  }
  o.accepted = true;
  o.zone = q->name;
  Packet p = Packet::make(
      request.id(), static_cast<std::uint16_t>(wire::kFlagQR | wire::kFlagAA | (kNotify << 11)));
  p.add_question(q->name, q->type, q->klass);
  if (sig.key) sig.key->sign(p.get(), sig.mac, false);
  o.reply = p.to_wire();
  return o;
}

}  // namespace vnetdns::xfr
