// The physical anchor of the benchmark: the least work a UDP DNS server can do per query.
// Receives with recvmmsg (batches of up to 64, blocking for the first), answers each query
// with a fixed A record (QR=1, RA=1, the question kept, any OPT dropped), sends the batch
// with one sendmmsg. No parsing beyond the question, no cache, no allocation per packet.
// Usage: echo_responder ADDR PORT      (IPv4, loopback only in the benchmark)
// Stops on SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s ADDR PORT\n", argv[0]);
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
    std::fprintf(stderr, "bad address\n");
    return 2;
  }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    std::perror("bind");
    return 1;
  }
  std::fprintf(stderr, "echo_responder listening on %s:%s\n", argv[1], argv[2]);

  constexpr int kBatch = 64;
  constexpr int kBuf = 1500;
  static unsigned char bufs[kBatch][kBuf];
  static sockaddr_storage peers[kBatch];
  static iovec iov[kBatch];
  static mmsghdr in[kBatch], out[kBatch];
  static const unsigned char kAnswer[] = {0xc0, 0x0c, 0, 1, 0,   1, 0, 0,
                                          0x0e, 0x10, 0, 4, 192, 0, 2, 1};
  unsigned long long answered = 0;
  while (!g_stop) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i], kBuf};
      in[i].msg_hdr = {};
      in[i].msg_hdr.msg_name = &peers[i];
      in[i].msg_hdr.msg_namelen = sizeof peers[i];
      in[i].msg_hdr.msg_iov = &iov[i];
      in[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, in, kBatch, MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("recvmmsg");
      return 1;
    }
    int m = 0;
    for (int i = 0; i < n; ++i) {
      unsigned char* p = bufs[i];
      size_t len = in[i].msg_len;
      if (len < 17 || (p[2] & 0x80)) continue;  // too short or a response: drop
      size_t off = 12;
      while (off < len && p[off] != 0) off += 1 + p[off];  // uncompressed qname
      off += 1 + 4;
      if (off > len || off + sizeof kAnswer > kBuf) continue;
      p[2] = static_cast<unsigned char>((p[2] & 0x79) | 0x80);  // QR=1, keep opcode and RD
      p[3] = 0x80;                                              // RA=1, RCODE 0
      p[4] = 0;
      p[5] = 1;
      p[6] = 0;
      p[7] = 1;                         // QD=1 AN=1
      p[8] = p[9] = p[10] = p[11] = 0;  // NS=0 AR=0
      std::memcpy(p + off, kAnswer, sizeof kAnswer);
      iov[i].iov_len = off + sizeof kAnswer;
      out[m].msg_hdr = {};
      out[m].msg_hdr.msg_name = &peers[i];
      out[m].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
      out[m].msg_hdr.msg_iov = &iov[i];
      out[m].msg_hdr.msg_iovlen = 1;
      ++m;
    }
    int sent = 0;
    while (sent < m) {
      int r = sendmmsg(fd, out + sent, m - sent, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      sent += r;
    }
    answered += sent;
  }
  std::fprintf(stderr, "echo_responder answered %llu\n", answered);
  return 0;
}
