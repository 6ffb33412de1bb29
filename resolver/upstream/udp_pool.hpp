// UdpPool: the UDP sockets one worker thread uses towards one upstream server.
// RFC 5452 asks for an unpredictable source port per query. On this kind of machine every
// system call costs about a microsecond before it does anything, so the pool counts them.
// Readiness: the pool's sockets are plain descriptors, not Asio sockets. Each is made
// non-blocking by socket() itself and sits in an epoll set of the pool's own (EPOLLIN; a
// fresh port's also EPOLLONESHOT); only that set's descriptor is registered with the worker's
// io_context. When it is readable, one handler takes up to kReadyBatch ready sockets with one
// epoll_wait, reads each dry, arms again with EPOLL_CTL_MOD a fresh port still waiting for
// its reply (rare: after a forged or wrong-case datagram), then arms the set's wait again
// (more still ready: it fires at once, behind the handlers already queued). So a fresh port's life
// is socket(), bind(), connect(), one EPOLL_CTL_ADD, its send and receive, close(); an Asio socket
// would add a FIONBIO and an EPOLL_CTL_MOD (Boost 1.81's reactor arms every async_wait that way),
// and a handler of its own. The set's wait costs one EPOLL_CTL_MOD and one epoll_wait per
// wake-up, shared by every socket ready then: under load, far fewer than one per question.
// A wake-up finding no socket open does not arm the set's wait again.
// An event names its socket by slot and generation in the pool's PortTable, never by
// pointer: close() takes a socket out of the set only once its file is released, and another
// process may hold it a moment longer (a /proc/PID/fd reader), so an event may still come
// for a Port already closed and freed; its slot is then empty or reused, and the event is
// ignored. A fresh port's registration is one-shot, so such an event comes at most once; a
// slot's socket (level-triggered, so no re-arming per reply) leaves the set with
// EPOLL_CTL_DEL before it closes, one call per kQueriesPerSocket queries at most.
// Shared ports (`source_ports = "pool"`): about one system call per query in all:
// - kSockets slots, each holding a socket connected to the server from an ephemeral port the
//   kernel picks at random (so the kernel drops datagrams from any other address or port);
// - queries are queued by start() and sent by one flush posted behind the handlers already
//   queued: the queries a batch of client packets produces go out together, on a slot chosen
//   at random, with one sendmmsg (the server takes the burst with one wake-up, too). A socket
//   carries at most kQueriesPerSocket queries and takes new ones for at most kMaxAge after it
//   opened: then its slot gets a fresh socket on a fresh random port, and the old one closes
//   when its last query is done. A batch larger than what its socket has left spills onto
//   another slot.
//   So every query leaves from a port that was random and fresh when it was drawn (at most
//   kMaxAge and kQueriesPerSocket queries old). Queries of one batch share their port; that
//   costs an off-path attacker nothing he could use: to forge the answer to one question he
//   must still hit that query's (port, ID) pair, 16 random bits of port range and 16 of ID,
//   and a worker never has two queries for one question in flight (the pipeline's flights).
// - Replies are read with recvmmsg, as many as are queued on the socket, once epoll says it
//   is readable (no speculative read that finds nothing after every reply).
// - A query's ID is unique among the queries in flight on its socket (re-drawn on a
//   collision); replies are matched on the socket by ID and then checked whole by
//   accept_reply(). A datagram that matches no query (other than a late reply to one of the
//   socket's queries that timed out), or fails the check, counts as a mismatch for every
//   query waiting on that socket (a burst moves them to TCP).
// - A socket error (ICMP port unreachable: ECONNREFUSED, reported to whichever receive or
//   send comes next) fails every query of that socket with kNetworkError at once and retires
//   the socket. A send refused for a full buffer fails only its own query, with kLocalError.
// Fresh ports (`source_ports = "per-question"`, the default): a query started with
// PortRule::fresh gets a socket of its own instead of a slot's, bound to a port we draw
// uniformly from the kernel's ephemeral range (net.ipv4.ip_local_port_range), skipping
// `avoid_ports` and the last 1,024 ports this pool drew, then connected; it closes as soon as
// the query is finished. A question's tries each have one, all open until the question ends,
// so a late reply to any try is still matched. A port is open for one question's round trip,
// too short for the side-channel port scans of SAD DNS (CVE-2020-25705) to find it. To keep
// socket(), bind() and connect() off the path between a client's query and the upstream
// query, up to kReserve such sockets are opened ahead in a handler posted after the flush
// that drew on them; one left unused for kReserveMaxAge is closed instead of used.
// Invariant: a Port is in the PortTable exactly while its socket is open, and a Port is
// destroyed only closed (its destructor closes it).
// Thread safety: one thread only (the worker's io_context), like TcpChannel.
#pragma once

#include <sys/socket.h>

#include <array>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "resolver/upstream/sent_query.hpp"
#include "resolver/upstream/transport.hpp"
#include "resolver/util/clock.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/util/timer.hpp"

namespace vnetdns::upstream {

// How a query's source port is chosen: a slot's shared socket, or a socket of its own
// (`avoid`: sorted ports it must not use; empty or null: any the kernel picks).
struct UdpPortRule {
  bool fresh = false;
  const std::vector<std::uint16_t>* avoid = nullptr;
};

class UdpPool : public std::enable_shared_from_this<UdpPool> {
 public:
  static constexpr std::size_t kSockets = 32;
  static constexpr std::uint32_t kQueriesPerSocket = 64;
  static constexpr std::chrono::seconds kMaxAge{10};
  // Replies are read into this much; a datagram that fills it was cut (treated as TC=1).
  static constexpr std::size_t kReplyBuffer = 4096;
  // Replies taken from one socket per recvmmsg.
  static constexpr std::size_t kReceiveBatch = 16;
  // Fresh-port sockets opened ahead, and how long one may wait for its query.
  static constexpr std::size_t kReserve = 16;
  static constexpr std::chrono::seconds kReserveMaxAge{1};
  // Ready sockets taken from the epoll set per epoll_wait.
  static constexpr int kReadyBatch = 64;

  using PortRule = UdpPortRule;

  // The pool to `server` of the io_context behind `executor` (made on first use).
  static std::shared_ptr<UdpPool> for_server(const boost::asio::any_io_executor& executor,
                                             const util::Endpoint& server);

  UdpPool(boost::asio::any_io_executor executor, const util::Endpoint& server);
  ~UdpPool();
  UdpPool(const UdpPool&) = delete;
  UdpPool& operator=(const UdpPool&) = delete;

 private:
  struct Port;

 public:
  // One query's passage through the pool, awaited in the caller's own coroutine (no frame of
  // the pool's per query):
  //   UdpPool::Ticket t;
  //   if (pool->start(t, sent, waker)) { co_await waker.async_wait(...) until t.done() ... }
  //   result = pool->finish(t);
  // The pool cancels `waker` when the ticket is done (a reply, or an error), and when a
  // reply right but for its letter case came (result().case_mismatches grew; the ticket
  // stays open for the real reply). Several tickets may share one waker (a question's tries
  // do). The ticket must stay put (not move) from start() to finish() or abandon().
  class Ticket {
   public:
    Ticket() = default;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    [[nodiscard]] bool done() const noexcept { return done_; }
    // What has come so far (mismatch counts while open; the reply once done).
    [[nodiscard]] const ExchangeResult& result() const noexcept { return result_; }
    [[nodiscard]] bool started() const noexcept { return waker_ != nullptr; }

   private:
    friend class UdpPool;
    util::Timer* waker_ = nullptr;
    std::array<std::uint8_t, kMaxQuerySize> q_;  // our copy of the query, its ID re-drawn
    SentQuery sent_;                             // as sent: replies are checked against it
    ExchangeResult result_;
    bool done_ = false;
    bool queued_ = false;         // in outbox_, not yet given a socket
    PortRule rule_;               // a socket of its own?
    std::shared_ptr<Port> port_;  // the socket it went out on
  };
  // Queues the query on a socket of the pool (or, with rule.fresh, a socket of its own).
  // False when it failed at once (finish() says why); else wait on `waker` until
  // ticket.done() (or give up), then call finish(). `rule.avoid` must outlive the ticket.
  bool start(Ticket& ticket, const SentQuery& sent, util::Timer& waker, PortRule rule = {});
  // The outcome: the reply, an error, or kTimeout (a late reply to it is then recognised and
  // dropped quietly). The ticket may be started again afterwards.
  ExchangeResult finish(Ticket& ticket);
  // Forgets the ticket without touching any socket (its owner is being destroyed, maybe with
  // the io_context itself).
  void abandon(Ticket& ticket) noexcept;

 private:
  using Waiter = Ticket;
  // The pool's open sockets, by slot: what an epoll event's key (generation << 32 | slot)
  // names. Shared with the Ports, which may outlive their pool in a ticket.
  struct PortTable {
    struct Entry {
      Port* port = nullptr;
      std::uint32_t generation = 0;
    };
    std::vector<Entry> entries;
    std::vector<std::uint32_t> free_slots;
    int set = -1;                   // the pool's epoll set; -1 once the pool is gone
    std::uint64_t add(Port* port);  // the key for the port's events
    void remove(std::uint64_t key) noexcept;
    [[nodiscard]] Port* find(std::uint64_t key) const noexcept;  // null: closed since
    // True while some socket of the pool is open (every slot not free holds one).
    [[nodiscard]] bool any_open() const noexcept { return free_slots.size() < entries.size(); }
  };
  // One socket of the pool, connected to the server.
  struct Port {
    explicit Port(std::shared_ptr<PortTable> t) : table(std::move(t)) {}
    Port(const Port&) = delete;
    Port& operator=(const Port&) = delete;
    ~Port() { close(); }
    [[nodiscard]] bool is_open() const noexcept { return fd >= 0; }
    // Takes the descriptor and a slot of the table; `one_shot`: a fresh port's registration.
    void attach(int socket_fd, bool one_shot);
    void close() noexcept;  // closes the socket and frees its slot
    int fd = -1;
    std::uint64_t key = 0;  // its slot and generation in `table`, while open
    bool one_shot = false;
    std::shared_ptr<PortTable> table;
    std::vector<std::pair<std::uint16_t, Waiter*>> waiting;  // at most kQueriesPerSocket
    // IDs of queries on this socket that timed out: a late reply to one is dropped quietly,
    // not counted as a forgery against the queries still waiting (at most kQueriesPerSocket).
    std::vector<std::uint16_t> expired;
    std::uint32_t uses = 0;
    bool retired = false;  // takes no new query; closed once `waiting` is empty
    util::TimePoint opened{};
  };
  using PortPtr = std::shared_ptr<Port>;

  // A slot's socket with room for more queries (null: no socket could be made).
  PortPtr pick(util::TimePoint now);
  // A socket connected to the server from a random port (null: none could be made): for a
  // slot, the kernel's pick; `fresh`, one we draw and bind (see open()).
  PortPtr open(util::TimePoint now, bool fresh = false,
               const std::vector<std::uint16_t>* avoid = nullptr);
  // A socket for one query: from the reserve, or opened now.
  PortPtr take_fresh(util::TimePoint now, const std::vector<std::uint16_t>* avoid);
  void refill();  // tops the reserve up (posted after a flush that drew from it)
  static void close_if_done(Port& port);       // a retired port with nobody waiting closes
  static void release(Port& port, Waiter* w);  // w leaves (timed out)
  static void fail(Port& port, Waiter& w, ExchangeStatus status);  // w alone, not sent
  static void fail_all(Port& port);
  bool ensure_set();  // the epoll set, made on first need (false: it could not be)
  void arm();         // waits for the epoll set to be readable (if not waiting already)
  void on_ready();    // reads the ready sockets' replies, then waits again if any is open
  static void read_replies(Port& port);
  static void take_reply(Port& port, std::uint8_t* reply, std::size_t n, bool cut);
  void flush();  // sends what start() queued
  // Gives `count` queued tickets from `first` IDs on `port` and sends them with sendmmsg.
  void send_batch(const PortPtr& port, Ticket** first, std::size_t count);

  boost::asio::any_io_executor executor_;
  util::Endpoint server_;
  boost::asio::posix::stream_descriptor ready_;  // the epoll set of the pool's sockets
  std::shared_ptr<PortTable> ports_ = std::make_shared<PortTable>();
  bool armed_ = false;
  std::array<PortPtr, kSockets> slots_{};
  std::vector<Ticket*> outbox_;
  bool flush_posted_ = false;
  std::vector<PortPtr> reserve_;  // fresh-port sockets opened ahead, oldest first
  bool refill_posted_ = false;
  static constexpr std::size_t kRecentPorts = 1024;
  std::array<std::uint16_t, kRecentPorts> recent_{};  // fresh ports drawn last, a ring
  std::size_t recent_next_ = 0;
  std::bitset<65536> recent_bits_;  // the same, for the look-up
  std::array<mmsghdr, kQueriesPerSocket> send_msgs_{};
  std::array<iovec, kQueriesPerSocket> send_iov_{};
};

}  // namespace vnetdns::upstream
