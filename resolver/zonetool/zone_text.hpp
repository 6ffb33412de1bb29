// ZoneText: a master file (RFC 1035 section 5) held as its lines, with just enough parsing
// to edit it the way a person would: records are found by owner and type, new address
// records are inserted next to their relatives, removed ones take only their own lines, and
// the SOA serial is rewritten in place (also inside a multi-line "( ... )" SOA). Every other
// byte (comments, blank lines, alignment, order, directives) is kept.
// The parse here is deliberately small: $ORIGIN, $TTL, "@", relative and blank owners,
// optional TTL and class in either order, parentheses, quotes and ";" comments. It is not the
// authority on validity: the edit layer (zone_edit) re-loads every result with the real
// loader (ldns) and compares old and new zones record by record before anything is written.
// Thread safety: a plain value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zonetool/ip_address.hpp"

namespace vnetdns::zonetool {

struct Token {
  std::string text;
  std::size_t line = 0;  // index into lines()
  std::size_t col = 0;   // byte offset in that line
};

// One record entry of the file (it may span several lines inside parentheses).
struct RecordEntry {
  std::size_t first_line = 0;
  std::size_t line_count = 1;
  bool explicit_owner = false;  // false: the line starts with blank space (previous owner)
  wire::Name owner;             // absolute, lowered
  wire::Name origin;            // $ORIGIN in effect at this entry
  std::string ttl;              // the TTL token as written, "" when absent
  std::string klass = "IN";
  std::string type;          // upper case ("A", "SOA", "TYPE65534", ...)
  std::vector<Token> rdata;  // rdata tokens, parentheses removed
  [[nodiscard]] std::string rdata_text() const;
};

// "Set the addresses of OWNER to exactly ADDRESSES" (an empty list deletes them all): the one
// change the commands make. add-record, remove-record and import are all expressed as these.
struct AddressChange {
  wire::Name owner;
  std::vector<IpAddress> addresses;  // the wanted A and AAAA records of owner
  std::string ttl;                   // for new lines; "" = like the neighbours
};

class ZoneText {
 public:
  // Parses `text` for the zone `origin`. Fails (with "LINE: reason") only on what it cannot
  // follow: unbalanced parentheses or quotes, a relative owner without an origin, $INCLUDE.
  static util::Result<ZoneText, std::string> parse(const wire::Name& origin, std::string text);

  [[nodiscard]] const wire::Name& origin() const noexcept { return origin_; }
  [[nodiscard]] const std::vector<std::string>& lines() const noexcept { return lines_; }
  [[nodiscard]] const std::vector<RecordEntry>& records() const noexcept { return records_; }
  [[nodiscard]] std::string text() const;

  // The A and AAAA addresses of `owner` in file order (unparseable rdata is skipped).
  [[nodiscard]] std::vector<IpAddress> addresses(const wire::Name& owner) const;
  // Whether `owner` has records of other types than A/AAAA (e.g. a CNAME).
  [[nodiscard]] std::vector<std::string> other_types(const wire::Name& owner) const;
  // The serial as written in the SOA, or nullopt when there is no readable one.
  [[nodiscard]] std::optional<std::uint32_t> serial() const;

  // Applies `change`: deletes the A/AAAA lines of the owner that are not wanted and inserts
  // one line per wanted address that is missing. Returns whether the text changed.
  util::Result<bool, std::string> apply(const AddressChange& change);
  // Rewrites the SOA serial to `next_serial(old, today)`; returns the new serial.
  util::Result<std::uint32_t, std::string> bump_serial(std::uint32_t today_yyyymmdd);

  // `name` as it would be written at a line where `origin` is in effect: "@", relative, or
  // absolute with the trailing dot.
  static std::string owner_text(const wire::Name& name, const wire::Name& origin);

 private:
  util::Result<bool, std::string> reparse();
  [[nodiscard]] std::size_t group_end(std::size_t record_index) const;  // index past the
  // last line of the record and of the blank-owner records that inherit its owner
  void insert_line(const AddressChange& change, const IpAddress& address);

  wire::Name origin_;
  std::vector<std::string> lines_;
  bool trailing_newline_ = true;
  std::vector<RecordEntry> records_;
};

// The next SOA serial: a date serial YYYYMMDDnn (a valid date between 1990 and 2200) moves to
// today's date with nn = 00 when it is older than today, else it grows by one; any other
// serial grows by one (mod 2^32, RFC 1982). `today_yyyymmdd` is e.g. 20240131.
std::uint32_t next_serial(std::uint32_t old_serial, std::uint32_t today_yyyymmdd);
// Today's date in UTC as YYYYMMDD.
std::uint32_t today_utc();

}  // namespace vnetdns::zonetool
