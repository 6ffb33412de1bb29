// Batched UDP DNS load generator for the benchmark: many flows (one connected UDP socket
// each), queries sent with sendmmsg and answers read with recvmmsg, so that one core of load
// can drive a server faster than dnsperf can. Two modes:
//   closed loop (default): each flow keeps up to WINDOW queries outstanding; measures the
//     answered rate (qps) the server sustains;
//   open loop (-Q RATE): queries are sent at a fixed rate whatever the answers do; measures
//     latency (avg, p50, p99, max) from send to answer.
// An answer is matched to its query by flow and ID (QR=1 required); a query with no answer
// after TIMEOUT ms is lost. Prints one JSON object on stdout.
// Usage: loadgen -s ADDR -p PORT -f QUERYFILE [-l SECONDS=5] [-c FLOWS=32] [-w WINDOW=32]
//                [-b BATCH=32] [-Q RATE] [-t TIMEOUT_MS=1000] [-n PASSES]
// QUERYFILE: dnsperf format, "name TYPE" per line (A, AAAA, TXT, ...). -n: stop after the
// file has been sent PASSES times (used to warm a cache), even before SECONDS.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint16_t qtype_of(const std::string& t) {
  if (t == "A") return 1;
  if (t == "NS") return 2;
  if (t == "CNAME") return 5;
  if (t == "SOA") return 6;
  if (t == "PTR") return 12;
  if (t == "MX") return 15;
  if (t == "TXT") return 16;
  if (t == "AAAA") return 28;
  if (t == "SRV") return 33;
  return static_cast<uint16_t>(std::atoi(t.c_str()));
}

std::vector<std::vector<unsigned char>> load_queries(const char* path) {
  std::ifstream in(path);
  std::vector<std::vector<unsigned char>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, type("A");
    if (!(ls >> name)) continue;
    ls >> type;  // stays "A" when the line has no type
    std::vector<unsigned char> q = {0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};  // RD=1, QD=1
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      size_t len = dot - start;
      if (len == 0 || len > 63) break;
      q.push_back(static_cast<unsigned char>(len));
      q.insert(q.end(), name.begin() + static_cast<long>(start),
               name.begin() + static_cast<long>(dot));
      start = dot + 1;
    }
    q.push_back(0);
    uint16_t t = qtype_of(type);
    q.push_back(static_cast<unsigned char>(t >> 8));
    q.push_back(static_cast<unsigned char>(t & 0xff));
    q.push_back(0);
    q.push_back(1);
    out.push_back(std::move(q));
  }
  return out;
}

constexpr uint32_t kRing = 4096;  // divides 65536: slot = id % kRing is stable
constexpr int kMaxBatch = 64;

struct Flow {
  int fd = -1;
  uint32_t head = 0;     // next sequence number to send (its ID is head & 0xffff)
  uint32_t tail = 0;     // oldest sequence not yet answered or lost
  uint32_t pending = 0;  // sent, not yet answered or lost
  std::vector<uint64_t> sent_at = std::vector<uint64_t>(kRing, 0);  // 0 = free
};

}  // namespace

int main(int argc, char** argv) {
  const char* addr = "127.0.0.1";
  int port = 53;
  const char* file = nullptr;
  double seconds = 5;
  int flows_n = 32, window = 32, batch = 32, timeout_ms = 1000;
  double rate = 0;
  long passes = 0;
  int opt;
  while ((opt = getopt(argc, argv, "s:p:f:l:c:w:b:Q:t:n:")) != -1) {
    switch (opt) {
      case 's': addr = optarg; break;
      case 'p': port = std::atoi(optarg); break;
      case 'f': file = optarg; break;
      case 'l': seconds = std::atof(optarg); break;
      case 'c': flows_n = std::atoi(optarg); break;
      case 'w': window = std::atoi(optarg); break;
      case 'b': batch = std::atoi(optarg); break;
      case 'Q': rate = std::atof(optarg); break;
      case 't': timeout_ms = std::atoi(optarg); break;
      case 'n': passes = std::atol(optarg); break;
      default: std::fprintf(stderr, "bad option\n"); return 2;
    }
  }
  if (!file) {
    std::fprintf(stderr, "usage: loadgen -s ADDR -p PORT -f FILE ...\n");
    return 2;
  }
  if (batch > kMaxBatch) batch = kMaxBatch;
  if (window > static_cast<int>(kRing) / 2) window = kRing / 2;
  auto queries = load_queries(file);
  if (queries.empty()) {
    std::fprintf(stderr, "no queries in %s\n", file);
    return 2;
  }

  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
    std::fprintf(stderr, "bad address\n");
    return 2;
  }
  std::vector<Flow> flows(static_cast<size_t>(flows_n));
  for (auto& f : flows) {
    f.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int big = 1 << 20;
    setsockopt(f.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (connect(f.fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
      std::perror("connect");
      return 1;
    }
  }

  const uint64_t timeout_ns = static_cast<uint64_t>(timeout_ms) * 1000000ull;
  std::vector<uint32_t> hist(1000001, 0);  // latency in µs, last bucket = 1 s and above
  uint64_t sent = 0, answered = 0, answered_in_window = 0, lost = 0, late = 0, bad = 0;
  uint64_t rcode[16] = {};
  uint64_t lat_sum_ns = 0, lat_max_ns = 0;
  size_t next_query = 0;
  const uint64_t total_to_send =
      passes > 0 ? static_cast<uint64_t>(passes) * queries.size() : UINT64_MAX;

  static unsigned char sbuf[kMaxBatch][512];
  static unsigned char rbuf[kMaxBatch][4096];
  mmsghdr smsg[kMaxBatch], rmsg[kMaxBatch];
  iovec siov[kMaxBatch], riov[kMaxBatch];

  auto receive = [&](Flow& f, uint64_t t, bool counting) {
    for (;;) {
      for (int i = 0; i < kMaxBatch; ++i) {
        riov[i] = {rbuf[i], sizeof rbuf[i]};
        rmsg[i].msg_hdr = {};
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(f.fd, rmsg, kMaxBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      for (int i = 0; i < n; ++i) {
        const unsigned char* p = rbuf[i];
        if (rmsg[i].msg_len < 12 || !(p[2] & 0x80)) {
          ++bad;
          continue;
        }
        uint16_t id = static_cast<uint16_t>(p[0] << 8 | p[1]);
        uint32_t slot = id % kRing;
        if (f.sent_at[slot] == 0) {
          ++late;
          continue;
        }  // already lost (or a duplicate)
        uint64_t lat = t - f.sent_at[slot];
        f.sent_at[slot] = 0;
        --f.pending;
        ++answered;
        if (counting) ++answered_in_window;
        ++rcode[p[3] & 0x0f];
        lat_sum_ns += lat;
        if (lat > lat_max_ns) lat_max_ns = lat;
        uint64_t us = lat / 1000;
        ++hist[us > 1000000 ? 1000000 : us];
      }
      if (n < kMaxBatch) return;
    }
  };
  auto expire = [&](Flow& f, uint64_t t) {
    while (f.tail != f.head) {
      uint32_t slot = (f.tail & 0xffff) % kRing;
      if (f.sent_at[slot] != 0) {
        if (t - f.sent_at[slot] < timeout_ns) return;
        f.sent_at[slot] = 0;
        --f.pending;
        ++lost;
      }
      ++f.tail;
    }
  };
  auto send = [&](Flow& f, int want, uint64_t t) -> int {
    int k = 0;
    while (k < want && sent + static_cast<uint64_t>(k) < total_to_send) {
      if (f.head - f.tail >= kRing) break;  // ring full (very old pending queries)
      const auto& q = queries[next_query];
      next_query = next_query + 1 == queries.size() ? 0 : next_query + 1;
      uint16_t id = static_cast<uint16_t>(f.head & 0xffff);
      std::memcpy(sbuf[k], q.data(), q.size());
      sbuf[k][0] = static_cast<unsigned char>(id >> 8);
      sbuf[k][1] = static_cast<unsigned char>(id & 0xff);
      siov[k] = {sbuf[k], q.size()};
      smsg[k].msg_hdr = {};
      smsg[k].msg_hdr.msg_iov = &siov[k];
      smsg[k].msg_hdr.msg_iovlen = 1;
      f.sent_at[id % kRing] = t;
      ++f.head;
      ++f.pending;
      ++k;
    }
    if (k == 0) return 0;
    int r = sendmmsg(f.fd, smsg, static_cast<unsigned>(k), 0);
    if (r < 0) r = 0;
    for (int i = r; i < k; ++i) {  // not sent (buffer full): take them back
      --f.head;
      --f.pending;
      uint16_t id = static_cast<uint16_t>(f.head & 0xffff);
      f.sent_at[id % kRing] = 0;
      next_query = next_query == 0 ? queries.size() - 1 : next_query - 1;
    }
    sent += static_cast<uint64_t>(r);
    return r;
  };

  const uint64_t start = now_ns();
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  uint64_t t = start;
  uint64_t last_expire = start;
  size_t rr = 0;
  while (t < end && sent < total_to_send) {
    t = now_ns();
    for (auto& f : flows) receive(f, t, true);
    if (rate > 0) {
      uint64_t due = static_cast<uint64_t>(static_cast<double>(t - start) * rate / 1e9);
      while (sent < due && sent < total_to_send) {
        Flow& f = flows[rr];
        rr = (rr + 1) % flows.size();
        int want = static_cast<int>(std::min<uint64_t>(due - sent, static_cast<uint64_t>(batch)));
        if (send(f, want, t) == 0) break;
      }
    } else {
      for (auto& f : flows) {
        int room = window - static_cast<int>(f.pending);
        if (room > 0) send(f, std::min(room, batch), t);
      }
    }
    if (t - last_expire > 10000000ull) {  // every 10 ms
      for (auto& f : flows) expire(f, t);
      last_expire = t;
    }
  }
  const uint64_t stop = now_ns();
  // Drain: answers still in flight are waited for up to the timeout, then counted lost.
  for (;;) {
    uint64_t p = 0;
    t = now_ns();
    for (auto& f : flows) {
      receive(f, t, false);
      expire(f, t);
      p += f.pending;
    }
    if (p == 0 || t - stop > timeout_ns + 1000000ull) break;
  }
  double elapsed = static_cast<double>(stop - start) / 1e9;
  auto pct = [&](double q) -> double {
    if (answered == 0) return 0;
    uint64_t target = static_cast<uint64_t>(q * static_cast<double>(answered));
    uint64_t acc = 0;
    for (size_t i = 0; i < hist.size(); ++i) {
      acc += hist[i];
      if (acc > target) return static_cast<double>(i);
    }
    return 1e6;
  };
  std::printf(
      "{\"mode\":\"%s\",\"flows\":%d,\"window\":%d,\"rate\":%.0f,\"seconds\":%.3f,"
      "\"sent\":%llu,\"answered\":%llu,\"lost\":%llu,\"late\":%llu,\"bad\":%llu,"
      "\"qps\":%.0f,\"noerror\":%llu,\"servfail\":%llu,\"nxdomain\":%llu,\"refused\":%llu,"
      "\"avg_us\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f}\n",
      rate > 0 ? "open" : "closed", flows_n, window, rate, elapsed, (unsigned long long)sent,
      (unsigned long long)answered, (unsigned long long)lost, (unsigned long long)late,
      (unsigned long long)bad, static_cast<double>(answered_in_window) / elapsed,
      (unsigned long long)rcode[0], (unsigned long long)rcode[2], (unsigned long long)rcode[3],
      (unsigned long long)rcode[5],
      answered ? static_cast<double>(lat_sum_ns) / 1e3 / static_cast<double>(answered) : 0.0,
      pct(0.50), pct(0.99), static_cast<double>(lat_max_ns) / 1e3);
  for (auto& f : flows) close(f.fd);
  return 0;
}
