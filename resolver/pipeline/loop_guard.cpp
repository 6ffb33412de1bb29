#include "resolver/pipeline/loop_guard.hpp"

#include <cstdio>
#include <string>

#include "resolver/util/log.hpp"
#include "resolver/util/random.hpp"

namespace vnetdns::pipeline {

LoopGuard& LoopGuard::instance() {
  static LoopGuard guard;
  return guard;
}

std::vector<std::pair<std::size_t, wire::Name>> LoopGuard::arm(
    const std::vector<wire::Name>& rule_zones) {
  probes_.clear();
  std::vector<std::pair<std::size_t, wire::Name>> out;
  for (std::size_t i = 0; i < rule_zones.size(); ++i) {
    const wire::Name& zone = rule_zones[i];
    char nonce[17];
    std::snprintf(nonce, sizeof(nonce), "%08x%08x", util::Random::thread_instance().u32(),
                  util::Random::thread_instance().u32());
    std::string text = std::string(nonce) + "." + kLabel + ".";
    if (zone.label_count() > 0) text += zone.to_text();  // the root's text is "." already
    wire::NameError err = wire::NameError::kNone;
    wire::Name name = wire::Name::from_text(text, &err);
    if (err != wire::NameError::kNone) continue;  // too long for a deep zone: no probe
    probes_.push_back(name);
    out.emplace_back(i, name);
  }
  return out;
}

bool LoopGuard::matches(const wire::Name& qname) const noexcept {
  for (const auto& p : probes_) {
    if (p == qname) return true;
  }
  return false;
}

void LoopGuard::report(const wire::Name& qname, const std::string& from) {
  if (detected_.fetch_add(1, std::memory_order_relaxed) == 0) {
    VLOG_ERROR(
        "forwarding loop: our probe {} came back to us from {}: an upstream forwards "
        "these names back to vnetdns; such queries are refused until the loop is fixed",
        qname.to_text(), from);
  }
}

}  // namespace vnetdns::pipeline
