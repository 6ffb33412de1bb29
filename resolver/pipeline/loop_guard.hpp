// LoopGuard: detects a forwarding loop the way CoreDNS's `loop` plugin does. At start-up
// vnetdns sends each upstream of each forward rule one query for a name nobody else asks
// (`<random>.vnetdns-loop-check.<rule zone>`, type HINFO). If an upstream forwards it back
// to us (an on-prem server whose conditional forwarder points at vnetdns, while vnetdns
// forwards "." to it), the query arrives at our own listener: the pipeline recognises the
// name, logs the loop once with the address it came from, counts it, and answers REFUSED
// instead of forwarding it again, so the probe goes round once, not until its deadline.
// A forward rule that names one of our own listen addresses is refused earlier, at load.
// Invariant: the probe names are fixed by arm() before the workers start.
// Thread safety: arm() before the workers run; matches() from any worker (read-only).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "resolver/wire/name.hpp"

namespace vnetdns::pipeline {

class LoopGuard {
 public:
  static LoopGuard& instance();
  // Sets the probe names, one per forward rule; returns them, each with the index of its rule
  // (a rule whose zone leaves no room for the probe labels gets none).
  std::vector<std::pair<std::size_t, wire::Name>> arm(const std::vector<wire::Name>& rule_zones);
  // True when `qname` is one of our probes. Cheap: callers test qtype == HINFO first.
  [[nodiscard]] bool matches(const wire::Name& qname) const noexcept;
  // Logs the first detection; later ones only count.
  void report(const wire::Name& qname, const std::string& from);
  [[nodiscard]] std::uint64_t detected() const noexcept {
    return detected_.load(std::memory_order_relaxed);
  }
  static constexpr const char* kLabel = "vnetdns-loop-check";

 private:
  std::vector<wire::Name> probes_;
  std::atomic<std::uint64_t> detected_{0};
};

}  // namespace vnetdns::pipeline
