// Transfer client: one refresh of a secondary zone from one primary, over TCP (blocking,
// on the transfer thread, never on a worker). With a current copy it asks IXFR (RFC 1995)
// with that copy's SOA: a single SOA back means up to date; an incremental answer is applied
// to the copy (every deletion must match a record, else the result is an error and the
// caller retries with AXFR); an AXFR-form answer replaces it. Without a copy: AXFR (RFC 5936).
// Every message is checked: ID, QR, RCODE, question (first message), TSIG when a key is
// given (each message signed, the chain of RFC 8945 section 5.3.1).
// Thread safety: no shared state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "resolver/util/endpoint.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/xfr/tsig_key.hpp"
#include "resolver/zone/zone.hpp"

namespace vnetdns::xfr {

struct ZoneCopy {
  std::uint32_t serial = 0;
  std::vector<zone::ZoneRecord> records;  // SOA included
};

enum class FetchStatus : std::uint8_t { kUpToDate, kNewCopy, kFailed };

struct FetchResult {
  FetchStatus status = FetchStatus::kFailed;
  ZoneCopy copy;             // with kNewCopy
  bool incremental = false;  // the copy came from an IXFR difference sequence
  std::size_t messages = 0;
  std::string error;  // with kFailed
  // With kFailed: the primary answered, but not with something we could use (a refusal, an
  // IXFR we could not apply, bad framing); false for timeouts and connection errors.
  bool protocol_error = false;
};

struct FetchOptions {
  std::chrono::milliseconds timeout{10000};  // connect, and each read
  std::chrono::milliseconds total{120000};   // the whole transfer (a primary that trickles)
  bool force_axfr = false;
  std::size_t max_records = 1'000'000;
  std::size_t max_messages = 100'000;
  // Set to the connection's descriptor while it is open (-1 otherwise), so another thread
  // can shutdown() it to end the transfer at once (the service's stop()).
  std::atomic<int>* active_fd = nullptr;
};

FetchResult fetch_zone(const util::Endpoint& primary, const wire::Name& zone, const TsigKey* key,
                       const ZoneCopy* current, const FetchOptions& options);

}  // namespace vnetdns::xfr
