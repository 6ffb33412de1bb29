// Random: unpredictable 16-bit IDs and indices for the forwarding path (RFC 5452 section 9.2).
// Bytes come from the kernel CSPRNG (getrandom) in blocks of 4 KiB, so a query costs a
// buffer read rather than a system call. Thread safety: one instance per thread
// (thread_local accessor below); not shared.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace vnetdns::util {

class Random {
 public:
  std::uint16_t u16();
  std::uint32_t u32();
  // Uniform in [0, bound) without modulo bias; bound > 0.
  std::uint32_t below(std::uint32_t bound);
  static Random& thread_instance();

 private:
  void refill();
  std::array<std::uint8_t, 4096> buf_{};
  std::size_t pos_ = sizeof(buf_);
};

}  // namespace vnetdns::util
