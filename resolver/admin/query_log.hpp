// QueryLog: the JSON query log ([log] queries = true). Workers call want()/try_log() from
// their send path; a record is copied into a bounded lock-free ring (Vyukov's bounded MPMC
// queue, preallocated: no allocation, no lock, no system call on the caller's side except a
// futex wake when the ring is half full and the writer sleeps). One writer thread drains the
// ring, formats one JSON object per line and appends it to the file (or stderr) at least
// every 50 ms. When the ring is full the record is dropped and counted, never waited for.
// Line format (one per query; keys always present, "upstream" null when none):
//   {"time":"2024-05-01T12:00:00.123456Z","client":"10.0.0.4:53000","transport":"udp",
//    "name":"myregistry.azurecr.io.","type":"A","rcode":"NOERROR","source":"cache",
//    "upstream":null,"latency_ms":0.042}
// Thread safety: want()/try_log() from any thread; reopen() and the destructor from the
// owning (control) thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "resolver/pipeline/query_log_record.hpp"

namespace vnetdns::admin {

struct QueryLogOptions {
  std::string path;             // empty = stderr
  unsigned sample = 1;          // log one query in `sample` (per worker thread)
  std::size_t capacity = 8192;  // ring slots, rounded up to a power of two
};

// One record as a JSON line (no trailing newline); exposed for tests.
std::string format_query_log_line(const pipeline::QueryLogRecord& r);

class QueryLog final : public pipeline::QueryLogSink {
 public:
  // Opens the file (append) and starts the writer. Throws std::runtime_error when the file
  // cannot be opened.
  explicit QueryLog(QueryLogOptions options);
  ~QueryLog() override;
  QueryLog(const QueryLog&) = delete;
  QueryLog& operator=(const QueryLog&) = delete;

  bool want() noexcept override;
  bool try_log(const pipeline::QueryLogRecord& record) noexcept override;

  // Reopens the file (log rotation); false and the old file kept when it cannot be opened.
  bool reopen();
  // Waits until everything enqueued so far is written (tests, shutdown).
  void flush();

  [[nodiscard]] std::uint64_t written() const noexcept {
    return written_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] unsigned sample() const noexcept { return options_.sample; }

 private:
  struct alignas(64) Slot {
    std::atomic<std::size_t> seq{0};
    pipeline::QueryLogRecord record;
  };
  bool pop(pipeline::QueryLogRecord& out) noexcept;
  void run();

  QueryLogOptions options_;
  std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<std::size_t> enqueue_pos_{0};
  alignas(64) std::atomic<std::size_t> dequeue_pos_{0};
  alignas(64) std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<bool> sleeping_{false};

  std::mutex mu_;  // the writer's sleep and the file handle
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint64_t flush_requests_ = 0, flushes_done_ = 0;
  std::condition_variable flushed_;
  std::FILE* file_ = nullptr;  // owned unless stderr
  std::thread writer_;
};

}  // namespace vnetdns::admin
