// Question: one question's tries at the servers of one ForwardGroup, under one deadline.
//
// - Tries go round the servers in the order ForwardGroup::plan() gave (one try per server per
//   round; a single server gets every try). Each try's timeout is that server's RTO
//   (ServerHealth), doubled for each earlier try of this question to the same server, capped
//   at the rule's `timeout`; a try that would leave less than kMinTryTimeout before the
//   deadline gets the rest of it instead: the last try ends with the deadline, not before.
// - Late replies count: a UDP try stays open after its timeout, and a reply to any try of the
//   question (checked as always: address and port, ID, whole question, COOKIE) is taken until
//   the question is answered or its deadline passes. All tries share one waker timer.
// - Immediate retries on the same server, each within what is left of the deadline: TC ->
//   TCP (RFC 7766 section 5); FORMERR without OPT to an EDNS query -> without EDNS; BADCOOKIE
//   -> again with the fresh server cookie, then over TCP (RFC 7873 section 5.3); a reply
//   right but for the 0x20 case -> without 0x20; a burst of forged-looking replies (RFC 5452
//   section 9.1) -> TCP for the rest of the question.
// - SERVFAIL, REFUSED or a network error from a server: it has had its say in this question,
//   the next server is tried at once; when every server has said no, the question ends.
// - Health (ServerHealth): every answer is an RTT sample and makes the server up; a try past
//   its timeout makes it suspect; a question that ends without an answer from a server that
//   had a try time out at the ceiling or still open at the deadline, or that said no, is a
//   strike against it.
// Thread safety: one coroutine on one worker's io_context; the ForwardGroup's shared state is
// thread safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "resolver/upstream/forward_group.hpp"
#include "resolver/upstream/transport.hpp"
#include "resolver/upstream/udp_pool.hpp"
#include "resolver/util/timer.hpp"

namespace vnetdns::upstream {

class Question {
 public:
  static constexpr std::size_t kMaxTries = 16;

  // `max_tries`: a health probe makes one try (and waits for its answer until the deadline).
  Question(ForwardGroup& group, const UpstreamQuery& query, util::TimePoint deadline,
           std::size_t max_tries = kMaxTries);
  ~Question();
  Question(const Question&) = delete;
  Question& operator=(const Question&) = delete;

  // Tries the servers `order` (indices into the group) until an answer, every server said
  // no, or the deadline.
  boost::asio::awaitable<ForwardResult> run(const std::vector<std::size_t>& order);

 private:
  // What this question has done at one server.
  struct Turn {
    std::size_t server = 0;
    std::uint32_t tries = 0;
    bool said_no = false;  // SERVFAIL, REFUSED, network error: not asked again
    bool answered = false;
    bool ceiling_timeout = false;  // a try timed out at the ceiling (or the deadline)
    bool retry_now = false;        // an immediate retry is due (flags below say how)
    bool no_edns = false;
    bool edns_retry = false;  // no_edns because of a FORMERR to EDNS
    bool no_case = false;
    bool case_retry = false;  // no_case because of a case mismatch
    bool tcp = false;
    bool cookie_retried = false;
  };
  struct Try {
    std::size_t turn = 0;
    UdpPool::Ticket ticket;
    std::shared_ptr<UdpPool> pool;
    util::TimePoint sent_at{};
    util::TimePoint expires{};
    bool edns = true;
    bool exact_case = false;
    bool at_ceiling = false;
    bool closed = false;
    bool timed_out = false;
    std::uint32_t case_seen = 0;
  };
  // kOver: the question is over (answered, or it cannot go on).
  enum class Sent : std::uint8_t { kSent, kCapped, kOver };

  // Takes in what the tries brought; true when the question is over.
  bool collect(util::TimePoint now);
  void mark_timeouts(util::TimePoint now);
  // The outcome of one try; true when the question is over.
  bool outcome(std::size_t turn, ExchangeResult& ex, util::TimePoint sent_at, bool edns,
               bool exact_case, bool tcp, bool timed_out, util::TimePoint now);
  std::size_t next_turn();  // the rotation's next server that has not said no, or npos
  std::chrono::milliseconds try_timeout(const Turn& t, util::TimePoint now) const;
  boost::asio::awaitable<Sent> send(std::size_t turn, util::TimePoint now);
  void close_all();
  void settle_strikes();
  [[nodiscard]] bool any_open() const noexcept;

  ForwardGroup& group_;
  UpstreamQuery query_;
  util::TimePoint deadline_;
  std::optional<util::Timer> wake_;
  std::vector<Turn> turns_;
  std::array<std::unique_ptr<Try>, kMaxTries> tries_{};
  std::size_t try_count_ = 0;
  std::size_t max_tries_ = kMaxTries;
  std::size_t rotation_ = 0;
  util::TimePoint next_send_{};
  ForwardResult result_;
  std::vector<std::uint8_t> fallback_;  // a SERVFAIL/REFUSED reply, if every server says no
  std::size_t fallback_server_ = 0;
  bool burst_tcp_ = false;
  bool local_error_ = false;
  bool deadline_passed_ = false;
};

}  // namespace vnetdns::upstream
