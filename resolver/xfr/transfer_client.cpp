#include "resolver/xfr/transfer_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "resolver/util/random.hpp"
#include "resolver/xfr/packet.hpp"

namespace vnetdns::xfr {
namespace {

// A blocking TCP connection whose connect, reads and writes time out (SO_SNDTIMEO bounds
// connect() on Linux too).
class Connection {
 public:
  Connection(const util::Endpoint& to, std::chrono::milliseconds timeout, std::atomic<int>* active)
      : active_(active) {
    fd_ = ::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error_ = std::string("socket: ") + std::strerror(errno);
      return;
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (active_ != nullptr) active_->store(fd_);
    if (::connect(fd_, to.sockaddr_ptr(), to.size()) != 0) {
      error_ =
          std::string("connect: ") + (errno == EINPROGRESS ? "timed out" : std::strerror(errno));
      close();
    }
  }
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] bool ok() const noexcept { return fd_ >= 0; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }

  bool send_message(const std::vector<std::uint8_t>& msg) {
    std::vector<std::uint8_t> frame(msg.size() + 2);
    wire::store16(frame.data(), static_cast<std::uint16_t>(msg.size()));
    std::memcpy(frame.data() + 2, msg.data(), msg.size());
    return io(frame.data(), frame.size(), true);
  }

  bool read_message(std::vector<std::uint8_t>& out) {
    std::uint8_t len[2];
    if (!io(len, 2, false)) return false;
    out.resize(wire::load16(len));
    if (out.empty()) {
      error_ = "zero-length message";
      return false;
    }
    return io(out.data(), out.size(), false);
  }

 private:
  bool io(std::uint8_t* p, std::size_t n, bool write) {
    while (n > 0) {
      const ssize_t got = write ? ::send(fd_, p, n, MSG_NOSIGNAL) : ::recv(fd_, p, n, 0);
      if (got > 0) {
        p += got;
        n -= static_cast<std::size_t>(got);
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got == 0) {
        error_ = "connection closed by the primary";
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        error_ = write ? "send timed out" : "read timed out";
      } else {
        error_ = std::string(write ? "send: " : "recv: ") + std::strerror(errno);
      }
      return false;
    }
    return true;
  }
  void close() {
    if (active_ != nullptr) active_->store(-1);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::atomic<int>* active_ = nullptr;
  int fd_ = -1;
  std::string error_;
};

// Identity of a record for IXFR deletions: everything but the TTL.
std::string record_key(const zone::ZoneRecord& r) {
  std::string k(reinterpret_cast<const char*>(r.owner.data()), r.owner.size());
  k.push_back(static_cast<char>(r.type >> 8));
  k.push_back(static_cast<char>(r.type & 0xff));
  k.push_back(static_cast<char>(r.klass >> 8));
  k.push_back(static_cast<char>(r.klass & 0xff));
  k.append(reinterpret_cast<const char*>(r.rdata.data()), r.rdata.size());
  return k;
}

std::uint32_t serial_of(const zone::ZoneRecord& soa) {
  const auto t = soa_timers(soa.rdata);
  return t ? t->serial : 0;
}

bool is_soa(const zone::ZoneRecord& r, const wire::Name& zone) {
  return r.type == wire::type::kSOA && r.owner == zone;
}

enum class Progress : std::uint8_t { kIncomplete, kComplete, kBroken };

// Applies an incremental answer (records[1..]) to `current`. kComplete fills `out`.
Progress apply_increments(const ZoneCopy& current, const std::vector<zone::ZoneRecord>& rec,
                          const wire::Name& zone, ZoneCopy& out, std::string& why) {
  const std::uint32_t target = serial_of(rec.front());
  std::map<std::string, zone::ZoneRecord> copy;
  for (std::size_t i = 1; i < current.records.size(); ++i) {
    copy.emplace(record_key(current.records[i]), current.records[i]);
  }
  std::uint32_t version = current.serial;
  std::size_t i = 1;
  while (i < rec.size()) {
    if (!is_soa(rec[i], zone)) {
      why = "IXFR difference sequence does not start with a SOA";
      return Progress::kBroken;
    }
    const std::uint32_t from = serial_of(rec[i]);
    if (from == target && version == target && i + 1 == rec.size()) {
      out.serial = target;
      out.records.clear();
      out.records.push_back(rec.front());
      for (auto& [k, r] : copy) out.records.push_back(std::move(r));
      return Progress::kComplete;
    }
    if (from != version) {
      why = "IXFR difference starts at serial " + std::to_string(from) + ", our copy is at " +
            std::to_string(version);
      return Progress::kBroken;
    }
    for (++i; i < rec.size() && !is_soa(rec[i], zone); ++i) {
      if (copy.erase(record_key(rec[i])) == 0) {
        why = "IXFR deletes a record we do not have (" + rec[i].owner.to_text() + ")";
        return Progress::kBroken;
      }
    }
    if (i == rec.size()) return Progress::kIncomplete;
    version = serial_of(rec[i]);
    for (++i; i < rec.size() && !is_soa(rec[i], zone); ++i) {
      copy.insert_or_assign(record_key(rec[i]), rec[i]);
    }
  }
  return Progress::kIncomplete;
}

}  // namespace

FetchResult fetch_zone(const util::Endpoint& primary, const wire::Name& zone, const TsigKey* key,
                       const ZoneCopy* current, const FetchOptions& options) {
  FetchResult result;
  auto fail = [&](std::string why, bool protocol = true) {
    result.status = FetchStatus::kFailed;
    result.error = std::move(why);
    result.protocol_error = protocol;
    return result;
  };
  const auto deadline = std::chrono::steady_clock::now() + options.total;
  const bool ixfr = current != nullptr && !options.force_axfr && !current->records.empty();
  const std::uint16_t qtype = ixfr ? wire::type::kIXFR : wire::type::kAXFR;
  const std::uint16_t id = util::Random::thread_instance().u16();
  Packet query = Packet::make(id, 0);
  if (!query.valid()) return fail("out of memory");
  query.add_question(zone, qtype, wire::klass::kIN);
  if (ixfr) query.add_authority(current->records.front());
  if (key != nullptr && !key->sign(query.get(), {}, false)) return fail("cannot sign the request");
  std::vector<std::uint8_t> prior =
      key != nullptr ? TsigKey::mac_of(query.get()) : std::vector<std::uint8_t>{};

  Connection conn(primary, options.timeout, options.active_fd);
  if (!conn.ok()) return fail(conn.error(), false);
  if (!conn.send_message(query.to_wire())) return fail(conn.error(), false);

  std::vector<zone::ZoneRecord> records;
  std::vector<std::uint8_t> msg;
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline) return fail("transfer took too long", false);
    if (result.messages >= options.max_messages) return fail("too many messages");
    if (!conn.read_message(msg)) return fail(conn.error(), false);
    Packet reply = Packet::parse(msg.data(), msg.size());
    if (!reply.valid()) return fail("malformed message from the primary");
    if (reply.id() != id || !reply.response()) return fail("reply with a wrong ID or no QR");
    if (reply.rcode() != 0) {
      return fail("primary answered " + std::string(wire::rcode_name(reply.rcode())));
    }
    if (result.messages == 0) {
      const auto q = reply.question();
      if (!q || !(q->name == zone) || q->type != qtype) return fail("reply to another question");
    }
    if (key != nullptr) {
      if (!key->verify(reply.get(), msg.data(), msg.size(), prior, result.messages > 0)) {
        return fail("TSIG of message " + std::to_string(result.messages + 1) +
                    " is missing or wrong");
      }
      prior = TsigKey::mac_of(reply.get());
    }
    ++result.messages;
    for (std::size_t i = 0; i < reply.answer_count(); ++i) {
      zone::ZoneRecord r;
      if (!reply.answer(i, r)) return fail("cannot decode a record");
      if (records.size() >= options.max_records + 2) return fail("zone larger than max_records");
      records.push_back(std::move(r));
    }
    if (records.empty()) return fail("reply without records");
    if (!is_soa(records.front(), zone)) return fail("first record is not the zone's SOA");
    const std::uint32_t newest = serial_of(records.front());
    if (records.size() == 1) {
      if (ixfr && !serial_newer(newest, current->serial)) {
        result.status = FetchStatus::kUpToDate;
        return result;
      }
      continue;
    }
    const zone::ZoneRecord& last = records.back();
    if (!is_soa(last, zone) || serial_of(last) != newest) continue;
    const bool incremental = ixfr && is_soa(records[1], zone) &&
                             !(records.size() == 2 && serial_of(records[1]) == newest);
    if (!incremental) {
      // AXFR form: SOA, the rest, SOA.
      records.pop_back();
      result.copy.serial = newest;
      result.copy.records = std::move(records);
      result.status = FetchStatus::kNewCopy;
      return result;
    }
    std::string why;
    switch (apply_increments(*current, records, zone, result.copy, why)) {
      case Progress::kComplete:
        result.incremental = true;
        result.status = FetchStatus::kNewCopy;
        return result;
      case Progress::kBroken: return fail(why);
      case Progress::kIncomplete: break;
    }
  }
}

}  // namespace vnetdns::xfr
