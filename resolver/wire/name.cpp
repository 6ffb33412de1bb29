#include "resolver/wire/name.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "resolver/util/random.hpp"

namespace vnetdns::wire {

const char* to_string(NameError e) noexcept {
  switch (e) {
    case NameError::kNone: return "ok";
    case NameError::kTruncated: return "name runs past the end of the message";
    case NameError::kBadPointer: return "bad compression pointer";
    case NameError::kBadLabelType: return "unsupported label type";
    case NameError::kTooLong: return "name longer than 255 bytes";
    case NameError::kBadText: return "malformed name";
  }
  return "?";
}

NameError read_name(const std::uint8_t* msg, std::size_t len, std::size_t offset, Name& out,
                    std::size_t* end) {
  std::size_t pos = offset;
  std::size_t out_len = 0;
  std::size_t end_pos = 0;  // set at the first pointer
  // Every pointer must go strictly backwards from the lowest position visited so far,
  // so the walk terminates within `len` steps.
  std::size_t limit = offset;
  for (;;) {
    if (pos >= len) return NameError::kTruncated;
    const std::uint8_t b = msg[pos];
    if ((b & 0xc0) == 0xc0) {
      if (pos + 1 >= len) return NameError::kTruncated;
      const std::size_t target = (static_cast<std::size_t>(b & 0x3f) << 8) | msg[pos + 1];
      if (end_pos == 0) end_pos = pos + 2;
      if (target >= limit) return NameError::kBadPointer;
      limit = target;
      pos = target;
      continue;
    }
    if ((b & 0xc0) != 0) return NameError::kBadLabelType;
    if (out_len + 1 + b > kMaxNameLength) return NameError::kTooLong;
    if (pos + 1 + b > len) return NameError::kTruncated;
    out.data_[out_len++] = b;
    if (b == 0) break;
    for (std::size_t i = 0; i < b; ++i) out.data_[out_len++] = ascii_lower(msg[pos + 1 + i]);
    pos += 1 + b;
  }
  out.size_ = static_cast<std::uint16_t>(out_len);
  if (end != nullptr) *end = end_pos != 0 ? end_pos : pos + 1;
  return NameError::kNone;
}

std::size_t skip_name(const std::uint8_t* msg, std::size_t len, std::size_t offset) noexcept {
  std::size_t pos = offset;
  std::size_t total = 0;
  while (pos < len) {
    const std::uint8_t b = msg[pos];
    if ((b & 0xc0) == 0xc0) return pos + 2 <= len ? pos + 2 : 0;
    if ((b & 0xc0) != 0) return 0;
    total += 1 + b;
    if (total > kMaxNameLength) return 0;
    if (b == 0) return pos + 1;
    pos += 1 + b;
  }
  return 0;
}

namespace {
// Lowers ASCII letters in 8 bytes at once (bytes >= 0x80 and non-letters stay as they are).
std::uint64_t lower8(std::uint64_t w) {
  constexpr std::uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const std::uint64_t h = w & kLow7;
  const std::uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3fULL;  // bit 7 set where byte >= 'A'
  const std::uint64_t gt_z = h + 0x2525252525252525ULL;  // bit 7 set where byte > 'Z'
  const std::uint64_t upper = (ge_a ^ gt_z) & ~w & kHigh;
  return w | (upper >> 2);  // + 0x20 where upper
}
}  // namespace

bool Name::assign_wire(const std::uint8_t* wire, std::size_t len) {
  if (len == 0 || len > kMaxNameLength) return false;
  std::size_t pos = 0;
  while (pos < len) {
    const std::uint8_t b = wire[pos];
    if (b > kMaxLabelLength) return false;
    if (b == 0) {
      if (pos + 1 != len) return false;
      // Copy and lower in one pass (length bytes are < 64 and unaffected by lowering).
      std::size_t i = 0;
      for (; i + 8 <= len; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, wire + i, 8);
        w = lower8(w);
        std::memcpy(data_.data() + i, &w, 8);
      }
      for (; i < len; ++i) data_[i] = ascii_lower(wire[i]);
      size_ = static_cast<std::uint16_t>(len);
      return true;
    }
    pos += 1 + b;
  }
  return false;
}

Name Name::from_text(std::string_view text, NameError* error) {
  if (error) *error = NameError::kNone;
  Name n;
  if (text == "." || text.empty()) return n;
  auto fail = [&](NameError e) {
    if (error) *error = e;
    return Name();
  };
  std::size_t out = 1;          // data_[0] is reserved for the first label's length
  std::size_t label_start = 0;  // where the current label's length byte goes
  std::size_t label_len = 0;
  bool ended_with_dot = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (label_len == 0) return fail(NameError::kBadText);
      n.data_[label_start] = static_cast<std::uint8_t>(label_len);
      label_start = out++;
      label_len = 0;
      ended_with_dot = true;
      if (out > kMaxNameLength) return fail(NameError::kTooLong);
      continue;
    }
    ended_with_dot = false;
    std::uint8_t byte = static_cast<std::uint8_t>(c);
    if (c == '\\') {
      if (i + 1 >= text.size()) return fail(NameError::kBadText);
      if (std::isdigit(static_cast<unsigned char>(text[i + 1])) != 0) {
        int v = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          if (i + k >= text.size() || std::isdigit(static_cast<unsigned char>(text[i + k])) == 0) {
            return fail(NameError::kBadText);
          }
          v = v * 10 + (text[i + k] - '0');
        }
        if (v > 255) return fail(NameError::kBadText);
        byte = static_cast<std::uint8_t>(v);
        i += 3;
      } else {
        byte = static_cast<std::uint8_t>(text[++i]);
      }
    }
    if (label_len == kMaxLabelLength) return fail(NameError::kBadText);
    if (out + 1 >= kMaxNameLength) return fail(NameError::kTooLong);
    n.data_[out++] = ascii_lower(byte);
    ++label_len;
  }
  if (!ended_with_dot) {
    n.data_[label_start] = static_cast<std::uint8_t>(label_len);
    label_start = out++;
    if (out > kMaxNameLength) return fail(NameError::kTooLong);
  }
  n.data_[label_start] = 0;
  n.size_ = static_cast<std::uint16_t>(out);
  return n;
}

std::size_t Name::label_count() const noexcept {
  std::size_t count = 0;
  for (std::size_t pos = 0; data_[pos] != 0; pos += 1 + data_[pos]) ++count;
  return count;
}

std::size_t Name::suffix_offset(std::size_t labels) const noexcept {
  const std::size_t total = label_count();
  std::size_t skip = total > labels ? total - labels : 0;
  std::size_t pos = 0;
  while (skip-- > 0) pos += 1 + data_[pos];
  return pos;
}

Name Name::parent(std::size_t n) const noexcept {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n && data_[pos] != 0; ++i) pos += 1 + data_[pos];
  Name p;
  std::memcpy(p.data_.data(), data_.data() + pos, size_ - pos);
  p.size_ = static_cast<std::uint16_t>(size_ - pos);
  return p;
}

bool Name::is_subdomain_of(const Name& zone) const noexcept {
  if (zone.size_ > size_) return false;
  // Walk our label boundaries; the suffix must start on one.
  std::size_t pos = 0;
  const std::size_t want = size_ - zone.size_;
  while (pos < want) pos += 1 + data_[pos];
  return pos == want && std::memcmp(data_.data() + pos, zone.data_.data(), zone.size_) == 0;
}

std::string Name::to_text() const {
  if (is_root()) return ".";
  std::string s;
  for (std::size_t pos = 0; data_[pos] != 0; pos += 1 + data_[pos]) {
    for (std::size_t i = 1; i <= data_[pos]; ++i) {
      const auto c = data_[pos + i];
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '@' ||
          c == '$') {
        s += '\\';
        s += static_cast<char>(c);
      } else if (c <= 0x20 || c >= 0x7f) {
        char buf[5];
        std::snprintf(buf, sizeof(buf), "\\%03u", c);
        s += buf;
      } else {
        s += static_cast<char>(c);
      }
    }
    s += '.';
  }
  return s;
}

std::uint64_t hash_name(const std::uint8_t* data, std::size_t size) noexcept {
  // Eight bytes a step (multiply and fold), from a seed drawn once per process so that
  // names that collide cannot be computed offline (the cache and tables hash client names).
  static const std::uint64_t seed = [] {
    auto& rng = util::Random::thread_instance();
    return (std::uint64_t{rng.u32()} << 32) | rng.u32() | 1;
  }();
  constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = seed ^ (size * kMul);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 32;
  }
  std::uint64_t tail = 0;
  for (; i < size; ++i) tail = (tail << 8) | data[i];
  h = (h ^ tail) * 0xff51afd7ed558ccdULL;
  return h ^ (h >> 29);
}

std::uint64_t Name::hash() const noexcept { return hash_name(data_.data(), size_); }

bool Name::operator==(const Name& o) const noexcept {
  return size_ == o.size_ && std::memcmp(data_.data(), o.data_.data(), size_) == 0;
}

bool Name::operator<(const Name& o) const noexcept {
  // Compare label by label from the rightmost (RFC 4034 section 6.1).
  std::array<std::uint8_t, 128> a{}, b{};
  std::size_t na = 0, nb = 0;
  for (std::size_t p = 0; data_[p] != 0; p += 1 + data_[p]) a[na++] = static_cast<std::uint8_t>(p);
  for (std::size_t p = 0; o.data_[p] != 0; p += 1 + o.data_[p])
    b[nb++] = static_cast<std::uint8_t>(p);
  while (na > 0 && nb > 0) {
    const auto* la = data_.data() + a[--na];
    const auto* lb = o.data_.data() + b[--nb];
    const int c = std::memcmp(la + 1, lb + 1, std::min(la[0], lb[0]));
    if (c != 0) return c < 0;
    if (la[0] != lb[0]) return la[0] < lb[0];
  }
  return na < nb;
}

bool Name::prepend_label(const Name& base, std::string_view label, Name& out) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  if (base.size_ + 1 + label.size() > kMaxNameLength) return false;
  out.data_[0] = static_cast<std::uint8_t>(label.size());
  for (std::size_t i = 0; i < label.size(); ++i) {
    out.data_[1 + i] = ascii_lower(static_cast<std::uint8_t>(label[i]));
  }
  std::memcpy(out.data_.data() + 1 + label.size(), base.data_.data(), base.size_);
  out.size_ = static_cast<std::uint16_t>(base.size_ + 1 + label.size());
  return true;
}

}  // namespace vnetdns::wire
