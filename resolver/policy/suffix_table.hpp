// SuffixTable<T>: longest-suffix match of a query name against a set of names (forward
// rules, local zones). Lookup walks the query name from the full name towards the root,
// probing a hash map at each label boundary: at most label_count + 1 probes and no
// allocation. Thread safety: immutable after construction; readers need no lock.
#pragma once

#include <cstddef>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "resolver/wire/name.hpp"

namespace vnetdns::policy {

template <typename T>
class SuffixTable {
 public:
  // Returns false when `name` is already present.
  bool insert(const wire::Name& name, T value) {
    if (name.label_count() > max_labels_) max_labels_ = name.label_count();
    return map_.emplace(name, std::move(value)).second;
  }

  // The entry for the longest suffix of `qname` (or qname itself); nullptr if none.
  // `matched_labels` receives the label count of the matching entry.
  const T* find(const wire::Name& qname, std::size_t* matched_labels = nullptr) const noexcept {
    if (map_.empty()) return nullptr;
    const std::size_t labels = qname.label_count();
    std::size_t start = labels > max_labels_ ? labels - max_labels_ : 0;
    // Skip labels that no entry can be long enough to need.
    std::size_t pos = 0;
    const std::uint8_t* d = qname.data();
    for (std::size_t i = 0; i < start; ++i) pos += 1 + d[pos];
    for (std::size_t l = labels - start;; --l) {
      // The suffix as it lies in qname (already canonical): no copy.
      auto it = map_.find(wire::NameBytes{d + pos, qname.size() - pos});
      if (it != map_.end()) {
        if (matched_labels != nullptr) *matched_labels = l;
        return &it->second;
      }
      if (d[pos] == 0) break;
      pos += 1 + d[pos];
    }
    return nullptr;
  }

  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }
  [[nodiscard]] auto begin() const { return map_.begin(); }
  [[nodiscard]] auto end() const { return map_.end(); }

 private:
  std::unordered_map<wire::Name, T, wire::NameHash, wire::NameEqual> map_;
  std::size_t max_labels_ = 0;
};

}  // namespace vnetdns::policy
