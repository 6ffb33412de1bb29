// BuilderPool: MessageBuilders recycled for the coroutines that build an answer across
// suspensions (Pipeline::resolve). A builder is 4.7 KiB (its compression table); inside a
// coroutine frame it made the frame 6.9 KiB, too big for Asio's frame recycling and glibc's
// thread cache, so every cache miss paid glibc's slow large-block path to allocate and free
// it. A Lease takes a builder (a new one only when none is spare), points it at the caller's
// buffer, and gives it back when destroyed; at most kMaxSpare are kept.
// The spare list is shared with the leases, so a lease that outlives its pool (a suspended
// coroutine destroyed with the io_context, after the Pipeline) is still safe.
// Thread safety: one thread (the worker's); leases must be taken and dropped on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "resolver/wire/builder.hpp"

namespace vnetdns::pipeline {

class BuilderPool {
  using Spare = std::vector<std::unique_ptr<wire::MessageBuilder>>;

 public:
  static constexpr std::size_t kMaxSpare = 256;

  class Lease {
   public:
    Lease(std::shared_ptr<Spare> spare, std::uint8_t* buf, std::size_t capacity)
        : spare_(std::move(spare)) {
      if (spare_->empty()) {
        builder_ = std::make_unique<wire::MessageBuilder>(buf, capacity);
      } else {
        builder_ = std::move(spare_->back());
        spare_->pop_back();
        builder_->rebind(buf, capacity);
      }
    }
    ~Lease() {
      if (builder_ && spare_->size() < kMaxSpare) spare_->push_back(std::move(builder_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;

    wire::MessageBuilder& operator*() const noexcept { return *builder_; }

   private:
    std::shared_ptr<Spare> spare_;
    std::unique_ptr<wire::MessageBuilder> builder_;
  };

  // A builder writing into `buf` (call start() or resume() on it first, as on a new one).
  Lease take(std::uint8_t* buf, std::size_t capacity) { return Lease(spare_, buf, capacity); }

 private:
  std::shared_ptr<Spare> spare_ = std::make_shared<Spare>();
};

}  // namespace vnetdns::pipeline
