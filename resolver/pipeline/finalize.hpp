// Stage 18 (docs/design.md): the transport edge. Every answer the stages build leaves through
// these functions, once; NOTIFY answers, UDP IXFR answers and signed answers are built whole
// by xfr/ and leave as they are.
// finalize_answer() takes a message in the internal format (header with our RCODE and AA,
// the question, records, no OPT) and makes it the client's: its ID, its RD and CD bits,
// its question bytes (letter case echoed), our OPT when the client sent one (RFC 6891
// section 7: no OPT in the answer otherwise), an EDE option when given, and TC=1 with the
// sections emptied when it exceeds what the client can take over UDP (RFC 1035 section
// 4.2.1, RFC 6891 section 6.2.5). write_error() builds the short answers the pipeline
// decides on (FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS).
// Thread safety: pure functions over caller-owned buffers. No allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "resolver/pipeline/counters.hpp"
#include "resolver/wire/query_view.hpp"

namespace vnetdns::pipeline {

struct ClientInfo {
  const wire::QueryView* query = nullptr;
  const std::uint8_t* qname_raw = nullptr;  // the client's question name bytes
  Transport transport = Transport::kUdp;
  // The COOKIE option to answer with (client cookie + our server cookie, RFC 7873 5.2).
  const std::uint8_t* cookie = nullptr;
  std::size_t cookie_len = 0;
};

// `len` bytes of internal-format message sit in `out` (capacity `cap`). Returns the length
// to send (0 if even a truncated answer does not fit, which cannot happen with cap >= 512).
std::size_t finalize_answer(std::uint8_t* out, std::size_t len, std::size_t cap,
                            const ClientInfo& client, int ede_code = -1,
                            bool* truncated = nullptr) noexcept;

// Cuts the message in out[] down to its header and its one question (QDCOUNT 1, the other
// counts 0); `qname_wire_len` is the question name's length on the wire. Returns the new
// length. For answers that must go out without records: truncated, SERVFAIL.
std::size_t keep_question_only(std::uint8_t* out, std::size_t qname_wire_len) noexcept;

// How write_error() builds a short answer.
struct ErrorAnswer {
  // Echo the question (false for a query whose question could not be read: FORMERR, NOTIMP).
  bool with_question = true;
  std::optional<std::uint16_t> ede;  // RFC 8914 info code
  // Our server cookie for the client (RFC 7873), echoed with its client cookie.
  const std::uint8_t* cookie = nullptr;
  std::size_t cookie_len = 0;
};

// An answer with just the header (and the question, per `how`), RCODE `rcode` (12-bit:
// BADVERS puts its upper bits in OPT). `query` holds the parsed query's bytes. Returns the
// length.
std::size_t write_error(std::uint8_t* out, std::size_t cap, const std::uint8_t* query,
                        const wire::QueryView& parsed, std::uint16_t rcode,
                        const ErrorAnswer& how = {}) noexcept;

}  // namespace vnetdns::pipeline
