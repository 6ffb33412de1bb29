#include "resolver/wire/builder.hpp"

#include <cstring>

namespace vnetdns::wire {

void MessageBuilder::start(std::uint16_t id, std::uint16_t flags) noexcept {
  len_ = 0;
  overflow_ = false;
  forget_names();
  section_ = Section::kAnswer;
  if (cap_ < kHeaderSize) {
    overflow_ = true;
    return;
  }
  std::memset(buf_, 0, kHeaderSize);
  store16(buf_, id);
  store16(buf_ + 2, flags);
  len_ = kHeaderSize;
}

void MessageBuilder::resume(std::size_t len, Section section) noexcept {
  len_ = len;
  overflow_ = len > cap_ || len < kHeaderSize;
  forget_names();
  section_ = section;
}

void MessageBuilder::set_rcode(std::uint8_t rcode4) noexcept {
  buf_[3] = static_cast<std::uint8_t>((buf_[3] & 0xf0) | (rcode4 & 0x0f));
}

void MessageBuilder::set_flags(std::uint16_t flags) noexcept { store16(buf_ + 2, flags); }

bool MessageBuilder::bump(Section s) noexcept {
  std::uint8_t* p = buf_ + 6 + 2 * static_cast<int>(s);
  store16(p, static_cast<std::uint16_t>(load16(p) + 1));
  return true;
}

void MessageBuilder::remember_suffixes(const Name& name, std::size_t at,
                                       std::size_t written) noexcept {
  if (name_count_ == kMaxNames) return;
  const auto index = static_cast<std::uint8_t>(name_count_);
  names_[name_count_++] = name;
  const std::uint8_t* d = name.data();
  // Only labels written out in full may be pointed at (not those behind our own pointer).
  for (std::size_t p = 0; p < written && d[p] != 0 && suffix_count_ < kMaxSuffixes; p += 1 + d[p]) {
    if (at + p > 0x3fff) break;  // pointers reach 14 bits
    suffixes_[suffix_count_++] =
        Suffix{static_cast<std::uint16_t>(at + p), index, static_cast<std::uint8_t>(p)};
  }
}

bool MessageBuilder::write_name(const Name& name) noexcept {
  const std::uint8_t* d = name.data();
  // Find the longest known suffix: try our suffixes from the whole name down.
  std::size_t match_at = name.size();  // offset in `name` where the matched suffix starts
  std::uint16_t pointer = 0;
  for (std::size_t p = 0; d[p] != 0 && match_at == name.size(); p += 1 + d[p]) {
    const std::size_t want = name.size() - p;
    for (std::size_t i = 0; i < suffix_count_; ++i) {
      const Suffix& s = suffixes_[i];
      const Name& n = names_[s.name_index];
      if (n.size() - s.start == want && std::memcmp(n.data() + s.start, d + p, want) == 0) {
        match_at = p;
        pointer = s.offset;
        break;
      }
    }
  }
  const std::size_t need = match_at == name.size() ? name.size() : match_at + 2;
  if (len_ + need > cap_) return false;
  const std::size_t at = len_;
  if (match_at == name.size()) {
    std::memcpy(buf_ + len_, d, name.size());
    len_ += name.size();
  } else {
    std::memcpy(buf_ + len_, d, match_at);
    len_ += match_at;
    store16(buf_ + len_, static_cast<std::uint16_t>(0xc000 | pointer));
    len_ += 2;
  }
  if (match_at != 0) remember_suffixes(name, at, match_at);
  return true;
}

bool MessageBuilder::add_question(const std::uint8_t* qname_wire, std::size_t qname_len,
                                  std::uint16_t qtype, std::uint16_t qclass) noexcept {
  Name lowered;
  const bool valid = lowered.assign_wire(qname_wire, qname_len);
  return put_question(qname_wire, qname_len, valid ? &lowered : nullptr, qtype, qclass);
}

bool MessageBuilder::add_question(const std::uint8_t* qname_wire, std::size_t qname_len,
                                  const Name& lowered, std::uint16_t qtype,
                                  std::uint16_t qclass) noexcept {
  // `lowered` names these very bytes only if it has their length (a compressed or otherwise
  // different spelling would not): else decode them as the plain overload does.
  if (lowered.size() != qname_len) return add_question(qname_wire, qname_len, qtype, qclass);
  return put_question(qname_wire, qname_len, &lowered, qtype, qclass);
}

bool MessageBuilder::put_question(const std::uint8_t* qname_wire, std::size_t qname_len,
                                  const Name* lowered, std::uint16_t qtype,
                                  std::uint16_t qclass) noexcept {
  if (overflow_ || len_ + qname_len + 4 > cap_) {
    overflow_ = true;
    return false;
  }
  const std::size_t at = len_;
  std::memcpy(buf_ + len_, qname_wire, qname_len);
  len_ += qname_len;
  store16(buf_ + len_, qtype);
  store16(buf_ + len_ + 2, qclass);
  len_ += 4;
  store16(buf_ + 4, static_cast<std::uint16_t>(load16(buf_ + 4) + 1));
  if (lowered != nullptr) remember_suffixes(*lowered, at, qname_len);
  return true;
}

bool MessageBuilder::add_question(const Name& qname, std::uint16_t qtype,
                                  std::uint16_t qclass) noexcept {
  return add_question(qname.data(), qname.size(), qtype, qclass);
}

bool MessageBuilder::add_rr(Section section, const Name& owner, std::uint16_t type,
                            std::uint16_t klass, std::uint32_t ttl, const std::uint8_t* rdata,
                            std::size_t rdlen) noexcept {
  if (overflow_ || static_cast<int>(section) < static_cast<int>(section_) || rdlen > 0xffff) {
    overflow_ = true;
    return false;
  }
  section_ = section;
  const std::size_t mark = len_;
  const std::size_t suffix_mark = suffix_count_;
  const std::size_t name_mark = name_count_;
  if (!write_name(owner) || len_ + 10 + rdlen > cap_) {
    len_ = mark;
    suffix_count_ = suffix_mark;
    name_count_ = name_mark;
    overflow_ = true;
    return false;
  }
  store16(buf_ + len_, type);
  store16(buf_ + len_ + 2, klass);
  if (ttl_count_ < kMaxTtlOffsets) {
    ttl_offsets_[ttl_count_++] = static_cast<std::uint16_t>(len_ + 4);
  } else {
    ttl_complete_ = false;
  }
  store32(buf_ + len_ + 4, ttl);
  store16(buf_ + len_ + 8, static_cast<std::uint16_t>(rdlen));
  len_ += 10;
  if (rdlen > 0) std::memcpy(buf_ + len_, rdata, rdlen);
  len_ += rdlen;
  return bump(section);
}

bool MessageBuilder::add_opt(const OptOptions& o) noexcept {
  std::size_t rdlen = 0;
  if (o.ede_code >= 0) rdlen += 4 + 2;
  if (o.cookie_len > 0) rdlen += 4 + o.cookie_len;
  if (overflow_ || len_ + 11 + rdlen > cap_) {
    overflow_ = true;
    return false;
  }
  std::uint8_t* p = buf_ + len_;
  p[0] = 0;  // root owner
  store16(p + 1, type::kOPT);
  store16(p + 3, o.udp_size);
  p[5] = o.extended_rcode;
  p[6] = 0;  // version 0
  store16(p + 7, o.dnssec_ok ? edns::kFlagDO : 0);
  store16(p + 9, static_cast<std::uint16_t>(rdlen));
  p += 11;
  if (o.cookie_len > 0) {
    store16(p, edns::kOptionCookie);
    store16(p + 2, o.cookie_len);
    std::memcpy(p + 4, o.cookie, o.cookie_len);
    p += 4 + o.cookie_len;
  }
  if (o.ede_code >= 0) {
    store16(p, edns::kOptionEde);
    store16(p + 2, 2);
    store16(p + 4, static_cast<std::uint16_t>(o.ede_code));
  }
  len_ += 11 + rdlen;
  section_ = Section::kAdditional;
  return bump(Section::kAdditional);
}

}  // namespace vnetdns::wire
