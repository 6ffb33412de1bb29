#include "resolver/admin/query_log.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "resolver/admin/json_text.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::admin {

namespace {

constexpr std::chrono::milliseconds kWriterPeriod{50};

std::size_t round_up_pow2(std::size_t n) {
  std::size_t p = 2;
  while (p < n) p <<= 1;
  return p;
}

const char* source_name(pipeline::AnswerSource s) {
  switch (s) {
    case pipeline::AnswerSource::kLocal: return "local";
    case pipeline::AnswerSource::kCache: return "cache";
    case pipeline::AnswerSource::kUpstream: return "upstream";
    case pipeline::AnswerSource::kStale: return "stale";
    case pipeline::AnswerSource::kSynthesized: return "synthesized";
    default: return "unknown";
  }
}

std::FILE* open_file(const std::string& path) {
  if (path.empty()) return stderr;
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr) return nullptr;
  std::setvbuf(f, nullptr, _IOFBF, 1 << 16);
  return f;
}

}  // namespace

std::string format_query_log_line(const pipeline::QueryLogRecord& r) {
  std::string out;
  out.reserve(256);
  const std::time_t secs = static_cast<std::time_t>(r.time_us / 1000000);
  const auto micros = static_cast<long>(r.time_us % 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[48];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  out += "{\"time\":\"";
  out += stamp;
  out += "\",\"client\":";
  append_json_string(out, r.client.family() == 0 ? std::string() : r.client.to_string());
  out += ",\"transport\":\"";
  out += r.transport == pipeline::Transport::kTcp ? "tcp" : "udp";
  out += "\",\"name\":";
  append_json_string(out, r.qname.to_text());
  char scratch[16];
  out += ",\"type\":\"";
  out += wire::type_name(r.qtype, scratch);
  out += "\",\"rcode\":\"";
  const char* rc = wire::rcode_name(r.rcode);
  if (std::strcmp(rc, "OTHER") == 0) {
    out += "RCODE" + std::to_string(r.rcode);
  } else {
    out += rc;
  }
  out += "\",\"source\":\"";
  out += source_name(r.source);
  out += "\",\"upstream\":";
  if (r.upstream.family() == 0) {
    out += "null";
  } else {
    append_json_string(out, r.upstream.to_string());
  }
  char latency[32];
  std::snprintf(latency, sizeof(latency), "%.3f", static_cast<double>(r.latency_us) / 1000.0);
  out += ",\"latency_ms\":";
  out += latency;
  out += '}';
  return out;
}

QueryLog::QueryLog(QueryLogOptions options)
    : options_(std::move(options)),
      mask_(round_up_pow2(std::max<std::size_t>(options_.capacity, 2)) - 1),
      slots_(std::make_unique<Slot[]>(mask_ + 1)) {
  if (options_.sample == 0) options_.sample = 1;
  for (std::size_t i = 0; i <= mask_; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  file_ = open_file(options_.path);
  if (file_ == nullptr) {
    throw std::runtime_error("cannot open query log " + options_.path + ": " +
                             std::strerror(errno));
  }
  writer_ = std::thread([this] { run(); });
}

QueryLog::~QueryLog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  if (file_ != nullptr && file_ != stderr) std::fclose(file_);
}

bool QueryLog::want() noexcept {
  if (options_.sample <= 1) return true;
  static thread_local std::uint64_t n = 0;
  return (n++ % options_.sample) == 0;
}

bool QueryLog::try_log(const pipeline::QueryLogRecord& record) noexcept {
  std::size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
  Slot* slot = nullptr;
  for (;;) {
    slot = &slots_[pos & mask_];
    const std::size_t seq = slot->seq.load(std::memory_order_acquire);
    const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
    if (diff == 0) {
      if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (diff < 0) {
      dropped_.fetch_add(1, std::memory_order_relaxed);  // full: never wait
      return false;
    } else {
      pos = enqueue_pos_.load(std::memory_order_relaxed);
    }
  }
  slot->record = record;
  slot->seq.store(pos + 1, std::memory_order_release);
  // Wake the writer early only when the ring is filling up; otherwise its period suffices.
  if (sleeping_.load(std::memory_order_relaxed) &&
      pos + 1 - dequeue_pos_.load(std::memory_order_relaxed) >= (mask_ + 1) / 2) {
    cv_.notify_one();
  }
  return true;
}

bool QueryLog::pop(pipeline::QueryLogRecord& out) noexcept {
  std::size_t pos = dequeue_pos_.load(std::memory_order_relaxed);
  Slot* slot = nullptr;
  for (;;) {
    slot = &slots_[pos & mask_];
    const std::size_t seq = slot->seq.load(std::memory_order_acquire);
    const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos + 1);
    if (diff == 0) {
      if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (diff < 0) {
      return false;  // empty
    } else {
      pos = dequeue_pos_.load(std::memory_order_relaxed);
    }
  }
  out = slot->record;
  slot->seq.store(pos + mask_ + 1, std::memory_order_release);
  return true;
}

void QueryLog::run() {
  pipeline::QueryLogRecord r;
  std::string line;
  std::unique_lock lock(mu_);
  for (;;) {
    sleeping_.store(true, std::memory_order_relaxed);
    cv_.wait_for(lock, kWriterPeriod, [&] { return stop_ || flush_requests_ > flushes_done_; });
    sleeping_.store(false, std::memory_order_relaxed);
    const std::uint64_t requested = flush_requests_;
    std::uint64_t n = 0;
    while (pop(r)) {
      line = format_query_log_line(r);
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), file_);
      ++n;
    }
    if (n > 0) {
      std::fflush(file_);
      written_.fetch_add(n, std::memory_order_relaxed);
    }
    if (requested > flushes_done_) {
      flushes_done_ = requested;
      flushed_.notify_all();
    }
    if (stop_) break;
  }
}

bool QueryLog::reopen() {
  if (options_.path.empty()) return true;
  std::FILE* f = open_file(options_.path);
  if (f == nullptr) return false;
  std::lock_guard lock(mu_);
  std::fclose(file_);
  file_ = f;
  return true;
}

void QueryLog::flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = ++flush_requests_;
  cv_.notify_one();
  flushed_.wait(lock, [&] { return flushes_done_ >= target || stop_; });
}

}  // namespace vnetdns::admin
