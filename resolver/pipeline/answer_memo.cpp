#include "resolver/pipeline/answer_memo.hpp"

#include <cstring>

#include "resolver/wire/name.hpp"

namespace vnetdns::pipeline {

namespace {

// The set comes from the hash's high bits (the low bit is forced to 1 in the tag).
std::size_t set_of(std::uint64_t h) noexcept { return (h >> 40) & (AnswerMemo::kSets - 1); }

}  // namespace

AnswerMemo::AnswerMemo()
    : tags_(std::make_unique<std::uint64_t[]>(kSets * kWays)),
      entries_(std::make_unique<Entry[]>(kSets * kWays)) {
  static_assert((kSets & (kSets - 1)) == 0, "sets are picked by mask");
}

std::uint64_t AnswerMemo::hash(const std::uint8_t* key, std::size_t len) noexcept {
  // The names' hash works on any bytes, seeded per process from the kernel's random bytes.
  return wire::hash_name(key, len) | 1;  // never 0, the empty tag
}

std::size_t AnswerMemo::way_of(std::size_t set, std::uint64_t h, const std::uint8_t* key,
                               std::size_t len) const noexcept {
  const std::uint64_t* tags = &tags_[set * kWays];
  for (std::size_t w = 0; w < kWays; ++w) {
    if (tags[w] != h) continue;
    const Entry& e = entries_[set * kWays + w];
    if (e.key_len == len && std::memcmp(e.data, key, len) == 0) return w;
  }
  return kWays;
}

bool AnswerMemo::find(const std::uint8_t* query, std::size_t len, std::uint32_t second,
                      std::uint64_t generation, const cache::PacketCache& cache, std::uint8_t* out,
                      std::size_t cap, Hit& hit) {
  if (len < 12 || len - 2 > kData) return false;
  const std::uint8_t* key = query + 2;
  const std::size_t key_len = len - 2;
  const std::uint64_t h = hash(key, key_len);
  const std::size_t set = set_of(h);
  const std::size_t w = way_of(set, h, key, key_len);
  if (w == kWays) return false;
  const Entry& e = entries_[set * kWays + w];
  if (e.stamp.second != second || e.stamp.generation != generation || e.answer_len > cap ||
      (e.stamp.from_cache && !cache.unchanged(e.stamp.version))) {
    return false;
  }
  std::memcpy(out, e.data + e.key_len, e.answer_len);
  out[0] = query[0];  // the client's ID
  out[1] = query[1];
  hit.len = e.answer_len;
  hit.qtype = e.qtype;
  hit.source = e.source;
  hit.from_cache = e.stamp.from_cache;
  return true;
}

void AnswerMemo::store(const std::uint8_t* query, std::size_t len, const std::uint8_t* answer,
                       std::size_t answer_len, std::uint16_t qtype, AnswerSource source,
                       const Stamp& stamp) {
  if (len < 12 || answer_len < 12 || len - 2 + answer_len > kData) return;
  const std::uint8_t* key = query + 2;
  const std::size_t key_len = len - 2;
  const std::uint64_t h = hash(key, key_len);
  const std::size_t set = set_of(h);
  std::size_t w = way_of(set, h, key, key_len);
  if (w == kWays) {  // a free way, else the one built longest ago
    w = 0;
    for (std::size_t i = 0; i < kWays; ++i) {
      if (tags_[set * kWays + i] == 0) {
        w = i;
        break;
      }
      if (entries_[set * kWays + i].stamp.second < entries_[set * kWays + w].stamp.second) w = i;
    }
  }
  tags_[set * kWays + w] = h;
  Entry& e = entries_[set * kWays + w];
  e.stamp = stamp;
  e.key_len = static_cast<std::uint16_t>(key_len);
  e.answer_len = static_cast<std::uint16_t>(answer_len);
  e.qtype = qtype;
  e.source = source;
  std::memcpy(e.data, key, key_len);
  std::memcpy(e.data + key_len, answer, answer_len);
}

}  // namespace vnetdns::pipeline
