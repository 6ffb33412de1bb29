#include "resolver/util/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vnetdns::util {

void Random::refill() {
  std::size_t got = 0;
  while (got < buf_.size()) {
    ssize_t n = getrandom(buf_.data() + got, buf_.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  pos_ = 0;
}

std::uint16_t Random::u16() {
  if (pos_ + 2 > buf_.size()) refill();
  std::uint16_t v;
  std::memcpy(&v, buf_.data() + pos_, 2);
  pos_ += 2;
  return v;
}

std::uint32_t Random::u32() {
  if (pos_ + 4 > buf_.size()) refill();
  std::uint32_t v;
  std::memcpy(&v, buf_.data() + pos_, 4);
  pos_ += 4;
  return v;
}

std::uint32_t Random::below(std::uint32_t bound) {
  // Lemire's method: multiply-shift with rejection of the biased low range.
  std::uint64_t m = static_cast<std::uint64_t>(u32()) * bound;
  auto low = static_cast<std::uint32_t>(m);
  if (low < bound) {
    const std::uint32_t threshold = (0U - bound) % bound;
    while (low < threshold) {
      m = static_cast<std::uint64_t>(u32()) * bound;
      low = static_cast<std::uint32_t>(m);
    }
  }
  return static_cast<std::uint32_t>(m >> 32);
}

Random& Random::thread_instance() {
  thread_local Random r;
  return r;
}

}  // namespace vnetdns::util
