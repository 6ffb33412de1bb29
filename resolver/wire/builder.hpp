// MessageBuilder: writes a DNS message into a caller-owned buffer, compressing owner names
// against names already written (RFC 1035 section 4.1.4). Never allocates, never throws:
// an RR that does not fit is not written and fits() turns false, so the caller can set TC.
// Records must be added section by section: question, answer, authority, additional.
// Invariant: bytes [0, size()) always form a well-formed message whose header counts match
// what was written. Thread safety: one builder per buffer per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::wire {

struct OptOptions {
  std::uint16_t udp_size = kEdnsUdpSize;
  bool dnssec_ok = false;
  std::uint8_t extended_rcode = 0;       // upper 8 bits of a 12-bit RCODE
  int ede_code = -1;                     // RFC 8914 info code; -1 for none
  const std::uint8_t* cookie = nullptr;  // COOKIE option payload (client+server cookie)
  std::uint8_t cookie_len = 0;
};

class MessageBuilder {
 public:
  // `capacity` must be at least kHeaderSize; it is capped at the 64 KiB message limit.
  MessageBuilder(std::uint8_t* buf, std::size_t capacity) noexcept
      : buf_(buf), cap_(capacity < kMaxMessageSize ? capacity : kMaxMessageSize) {}

  // Points the builder at another buffer (then start() or resume(), as after construction).
  void rebind(std::uint8_t* buf, std::size_t capacity) noexcept {
    buf_ = buf;
    cap_ = capacity < kMaxMessageSize ? capacity : kMaxMessageSize;
    len_ = 0;
    overflow_ = false;
    section_ = Section::kAnswer;
    forget_names();
  }
  // Writes a header with zero counts and resets everything else.
  void start(std::uint16_t id, std::uint16_t flags) noexcept;
  // Adopts the first `len` bytes of the buffer (a whole message, counts in its header) and
  // continues writing in `section`; names already there are not used for compression.
  void resume(std::size_t len, Section section) noexcept;
  // Question from the client's own bytes (keeps its letter case; uncompressed wire name).
  bool add_question(const std::uint8_t* qname_wire, std::size_t qname_len, std::uint16_t qtype,
                    std::uint16_t qclass) noexcept;
  // The same, given the client's bytes already decoded and lowered (`lowered`, the parsed
  // question's name): spares decoding them again for the compression table.
  bool add_question(const std::uint8_t* qname_wire, std::size_t qname_len, const Name& lowered,
                    std::uint16_t qtype, std::uint16_t qclass) noexcept;
  bool add_question(const Name& qname, std::uint16_t qtype, std::uint16_t qclass) noexcept;
  // One resource record; rdata is uncompressed wire rdata.
  bool add_rr(Section section, const Name& owner, std::uint16_t type, std::uint16_t klass,
              std::uint32_t ttl, const std::uint8_t* rdata, std::size_t rdlen) noexcept;
  // The OPT pseudo-RR (RFC 6891 section 6.1.2), always last in the additional section.
  bool add_opt(const OptOptions& options) noexcept;

  void set_rcode(std::uint8_t rcode4) noexcept;
  void set_flags(std::uint16_t flags) noexcept;
  [[nodiscard]] std::uint16_t flags() const noexcept { return load16(buf_ + 2); }
  [[nodiscard]] std::size_t size() const noexcept { return len_; }
  [[nodiscard]] bool fits() const noexcept { return !overflow_; }
  [[nodiscard]] std::uint16_t count(Section s) const noexcept {
    return load16(buf_ + 6 + 2 * static_cast<int>(s));
  }

  // Where the TTL field of each RR written (outside OPT) sits, for in-place ageing.
  static constexpr std::size_t kMaxTtlOffsets = 128;
  [[nodiscard]] const std::uint16_t* ttl_offsets() const noexcept { return ttl_offsets_.data(); }
  [[nodiscard]] std::size_t ttl_offset_count() const noexcept { return ttl_count_; }
  [[nodiscard]] bool ttl_offsets_complete() const noexcept { return ttl_complete_; }

 private:
  // Writes `name`, pointing at an earlier copy of its longest known suffix.
  bool write_name(const Name& name) noexcept;
  void remember_suffixes(const Name& name, std::size_t at, std::size_t written) noexcept;
  // Empties the compression table and the TTL offsets (a new message).
  void forget_names() noexcept {
    name_count_ = 0;
    suffix_count_ = 0;
    ttl_count_ = 0;
    ttl_complete_ = true;
  }
  // Writes the question; `lowered` (null: not a valid name) feeds the compression table.
  bool put_question(const std::uint8_t* qname_wire, std::size_t qname_len, const Name* lowered,
                    std::uint16_t qtype, std::uint16_t qclass) noexcept;
  bool bump(Section s) noexcept;

  struct Suffix {
    std::uint16_t offset;     // where it sits in the message
    std::uint8_t name_index;  // which remembered name
    std::uint8_t start;       // suffix start within that name
  };
  static constexpr std::size_t kMaxNames = 16;
  static constexpr std::size_t kMaxSuffixes = 64;

  std::uint8_t* buf_;
  std::size_t cap_;
  std::size_t len_ = 0;
  bool overflow_ = false;
  Section section_ = Section::kAnswer;
  // Only the first *_count_ entries are meaningful; not zero-filled (a builder is made per
  // answer on the hot path).
  std::array<Name, kMaxNames> names_;
  std::size_t name_count_ = 0;
  std::array<Suffix, kMaxSuffixes> suffixes_;
  std::size_t suffix_count_ = 0;
  std::array<std::uint16_t, kMaxTtlOffsets> ttl_offsets_;
  std::size_t ttl_count_ = 0;
  bool ttl_complete_ = true;
};

}  // namespace vnetdns::wire
