// Name: a domain name in canonical form: uncompressed wire labels, ASCII letters lowered,
// held in a fixed 255-byte buffer so names never allocate (the hot path copies them freely).
// read_name() decodes a possibly compressed name from a message with loop protection:
// every compression pointer must point strictly before the start of the name and then before
// the previous pointer's target (RFC 1035 section 4.1.4 allows only prior occurrences), so
// positions strictly decrease and the walk is bounded by the message size.
// Invariant: data()[0..size()) is a valid sequence of labels ending in the root label,
// size() <= 255, no label longer than 63 bytes, no upper-case ASCII letters.
// Thread safety: a plain value type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "resolver/wire/types.hpp"

namespace vnetdns::wire {

enum class NameError : std::uint8_t {
  kNone = 0,
  kTruncated,     // ran past the end of the message
  kBadPointer,    // forward or self pointer, or pointer past the end (loop protection)
  kBadLabelType,  // 0x40/0x80 label types (RFC 6891 section 5 obsoleted them)
  kTooLong,       // more than 255 bytes
  kBadText,       // presentation form could not be parsed
};
const char* to_string(NameError e) noexcept;

inline constexpr std::uint8_t ascii_lower(std::uint8_t c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + 32) : c;
}

class Name {
 public:
  Name() { data_[0] = 0; }  // the root name "."
  // From presentation form ("myregistry.privatelink.azurecr.io", trailing dot optional,
  // "\\." and "\\DDD" escapes). Relative names are taken as absolute.
  static Name from_text(std::string_view text, NameError* error = nullptr);
  // From uncompressed wire bytes (lowered on the way in). Returns false if not a valid name.
  bool assign_wire(const std::uint8_t* wire, std::size_t len);

  [[nodiscard]] const std::uint8_t* data() const noexcept { return data_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool is_root() const noexcept { return size_ == 1; }
  [[nodiscard]] std::size_t label_count() const noexcept;  // root has 0
  // True when this name equals `zone` or lies below it.
  [[nodiscard]] bool is_subdomain_of(const Name& zone) const noexcept;
  // The name with its first `n` labels removed (n <= label_count()).
  [[nodiscard]] Name parent(std::size_t n = 1) const noexcept;
  // Offset in data() where the suffix with `labels` labels starts.
  [[nodiscard]] std::size_t suffix_offset(std::size_t labels) const noexcept;
  [[nodiscard]] std::string to_text() const;  // with trailing dot; "." for the root
  [[nodiscard]] std::uint64_t hash() const noexcept;

  bool operator==(const Name& o) const noexcept;
  bool operator!=(const Name& o) const noexcept { return !(*this == o); }
  // Canonical DNS order (RFC 4034 section 6.1), used by the zone's sorted index.
  bool operator<(const Name& o) const noexcept;

  // out = label + base (for wildcards "*.<base>"). Returns false if it would be too long.
  static bool prepend_label(const Name& base, std::string_view label, Name& out);

 private:
  friend NameError read_name(const std::uint8_t*, std::size_t, std::size_t, Name&, std::size_t*);
  // Only data_[0, size_) is meaningful; the rest is left uninitialised on purpose (names are
  // made on the hot path: zero-filling 255 bytes each time showed up in profiles).
  std::array<std::uint8_t, kMaxNameLength> data_;
  std::uint16_t size_ = 1;
};

// Decodes the name at `offset` of message `msg` (length `len`) into `out` (lowered).
// `*end` receives the offset just past the name as it sits in the message (after the
// first pointer, if any).
NameError read_name(const std::uint8_t* msg, std::size_t len, std::size_t offset, Name& out,
                    std::size_t* end);

// Skips the name at `offset` without decoding it; returns the offset past it or 0 on error.
std::size_t skip_name(const std::uint8_t* msg, std::size_t len, std::size_t offset) noexcept;

// The canonical wire bytes of a name held elsewhere (a suffix of a Name, say): tables keyed
// by Name are probed with it without copying the bytes into a Name (heterogeneous lookup,
// through NameHash and NameEqual). Only valid while what it points into is.
struct NameBytes {
  const std::uint8_t* data;
  std::size_t size;
};

// What Name::hash() returns for a name with these canonical wire bytes (a seeded hash of
// any bytes: the answer memo hashes query bytes with it too).
std::uint64_t hash_name(const std::uint8_t* data, std::size_t size) noexcept;

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(const Name& n) const noexcept { return n.hash(); }
  std::size_t operator()(const NameBytes& n) const noexcept { return hash_name(n.data, n.size); }
};

struct NameEqual {
  using is_transparent = void;
  bool operator()(const Name& a, const Name& b) const noexcept { return a == b; }
  bool operator()(const Name& a, const NameBytes& b) const noexcept { return same(a, b); }
  bool operator()(const NameBytes& a, const Name& b) const noexcept { return same(b, a); }

 private:
  static bool same(const Name& a, const NameBytes& b) noexcept {
    return a.size() == b.size && std::memcmp(a.data(), b.data, b.size) == 0;
  }
};

}  // namespace vnetdns::wire
