// zone_edit: one safe edit of a zone file, the transaction behind `vnetdns zone add-record`,
// `remove-record` and `import`:
//   1. lock: an exclusive flock(2) on "FILE.lock" beside the zone file (held to the end, so
//      concurrent editors, threads or processes, run one after another; the lock file is left
//      in place: removing it would race with a waiting editor);
//   2. read the file and apply the AddressChanges with ZoneText (comments and order kept);
//   3. bump the SOA serial (zone_text's next_serial);
//   4. refuse the result unless the real loader (ldns, zone::load_zone_from_text) accepts it
//      AND, compared record by record with the zone as loaded before the edit, exactly the
//      intended A/AAAA RRsets and the serial changed (a guard against the line editor itself);
//   5. write a temporary file in the same folder, fsync it, rename it over the zone file and
//      fsync the folder, so a reader (a reloading server) sees the old or the new file whole.
// A symlinked zone file is followed: the target is replaced. Mode is kept; owner when allowed.
// Thread safety: safe to call from several threads and processes on the same file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zonetool/zone_text.hpp"

namespace vnetdns::zonetool {

struct EditOptions {
  bool dry_run = false;     // do everything but write
  std::uint32_t today = 0;  // YYYYMMDD for date serials; 0 = today in UTC
};

struct EditResult {
  bool changed = false;  // false: the zone already had what was asked
  std::uint32_t old_serial = 0;
  std::uint32_t new_serial = 0;
  std::vector<std::string> diff;  // "-name. A 10.0.0.6" / "+name. A 10.0.0.8"
  std::string text;               // the new file content (the old one when unchanged)
};

// Computes the changes from the zone as read under the lock (so that "add this address to
// what is there" is decided on the current file, not on a copy read before waiting).
using EditPlanner = std::function<std::vector<AddressChange>(const ZoneText&)>;

// The edit on text alone (no I/O, no lock): steps 2-4.
util::Result<EditResult, std::string> edit_zone_text_with(const wire::Name& origin,
                                                          const std::string& text,
                                                          const EditPlanner& plan,
                                                          const EditOptions& options = {},
                                                          std::string_view display_name = "<text>");

util::Result<EditResult, std::string> edit_zone_text(const wire::Name& origin,
                                                     const std::string& text,
                                                     const std::vector<AddressChange>& changes,
                                                     const EditOptions& options = {},
                                                     std::string_view display_name = "<text>");

// The whole transaction on the file at `path`: steps 1-5.
util::Result<EditResult, std::string> edit_zone_file(const std::string& path,
                                                     const wire::Name& origin,
                                                     const std::vector<AddressChange>& changes,
                                                     const EditOptions& options = {});

util::Result<EditResult, std::string> edit_zone_file_with(const std::string& path,
                                                          const wire::Name& origin,
                                                          const EditPlanner& plan,
                                                          const EditOptions& options = {});

// Reads a whole file; errors read "PATH: strerror".
util::Result<std::string, std::string> read_text_file(const std::string& path);

}  // namespace vnetdns::zonetool
