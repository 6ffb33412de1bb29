// Zone writer: persists a secondary zone's copy as a master file, so a restart serves the
// last good copy before the primary answers (and while it is down). The file is written
// next to its final path, flushed to disk, then renamed over it: a crash leaves the old
// file or the new one, never half of one. Records go out one per line, absolute names, the
// SOA first, after a comment naming the primary, serial and time.
// Thread safety: no shared state; one writer per path (the transfer thread).
#pragma once

#include <string>
#include <vector>

#include "resolver/wire/name.hpp"
#include "resolver/zone/zone.hpp"

namespace vnetdns::xfr {

// Returns "" on success, else why the file could not be written (the old one stays).
std::string write_zone_file(const std::string& path, const wire::Name& origin,
                            const std::vector<zone::ZoneRecord>& records,
                            const std::string& comment);

}  // namespace vnetdns::xfr
