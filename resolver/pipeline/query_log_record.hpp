// QueryLogRecord and QueryLogSink: what the pipeline hands to the query log for one query,
// and the two calls it makes. Header-only and allocation-free on purpose: the record is a
// fixed-size value (names and addresses in fixed buffers) filled on the worker's stack, and
// try_log() copies it into a preallocated ring; nothing here allocates or blocks.
// admin::QueryLog implements the sink (the pipeline does not depend on admin).
// Thread safety: implementations must accept want()/try_log() from every worker at once.
#pragma once

#include <cstdint>

#include "resolver/pipeline/counters.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::pipeline {

struct QueryLogRecord {
  std::int64_t time_us = 0;  // wall clock (CLOCK_REALTIME), microseconds since the epoch
  util::Endpoint client;
  Transport transport = Transport::kUdp;
  wire::Name qname;  // canonical (lowered)
  std::uint16_t qtype = 0;
  std::uint16_t rcode = 0;
  AnswerSource source = AnswerSource::kSynthesized;
  util::Endpoint upstream;       // family() == 0 when no upstream answered
  std::uint32_t latency_us = 0;  // receive to send
};

class QueryLogSink {
 public:
  virtual ~QueryLogSink() = default;
  // Sampling: true for one call in `sample` on each thread. Call it first and build the
  // record only when it says yes.
  virtual bool want() noexcept = 0;
  // Enqueues a copy; false (and the line counted as dropped) when the queue is full.
  virtual bool try_log(const QueryLogRecord& record) noexcept = 0;
};

}  // namespace vnetdns::pipeline
