// NotifySink: where a worker reports a NOTIFY it accepted (the zone should be refreshed now).
// Implemented by TransferService; the pipeline holds a plain pointer (nullptr: no secondary
// zones, NOTIFY is still answered but nothing is refreshed).
// Thread safety: notified() is called from any worker thread concurrently; implementations
// must be thread safe and must not block.
#pragma once

#include "resolver/wire/name.hpp"

namespace vnetdns::xfr {

class NotifySink {
 public:
  virtual ~NotifySink() = default;
  virtual void notified(const wire::Name& zone) = 0;
};

}  // namespace vnetdns::xfr
