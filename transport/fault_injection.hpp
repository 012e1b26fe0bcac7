// The fault-injection state behind seraph_aether_inject_failure: which failure is injected on the
// path from this node to each other node. transport/injection_layer.hpp makes it happen, as a
// layer over any backend, so that the ordinary detection code is what reports it.
//
//   TIMEOUT       requests to the node are dropped before they reach the socket: the deadline fires
//                 (a service-side call fails earlier if the injection is cleared before it: nothing
//                 will ever answer it).
//   PARTITION     open connections are shut down; connect() fails as on a lost route (ENETUNREACH).
//   NODE_CRASHED  open connections are shut down; connect() is refused (ECONNREFUSED).
//   CORRUPTION    payload bytes are flipped after the checksum was computed (outgoing) or before it
//                 is verified (incoming): the integrity check fails.
//   PERMISSION, GENERATION  the home is asked (set_refusal) to refuse this node's requests.
//
// Internal to tests, not a reason of the API: reply loss. This node serves the node's requests as
// usual but its replies never leave, as when a link fails after a request arrived: the requester
// cannot tell whether its request took effect.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/result.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace aether {

class fault_injector {
public:
    explicit fault_injector(node_id node_count);

    void set(node_id n, void_reason r) noexcept;
    [[nodiscard]] void_reason active(node_id n) const noexcept {
        return n < count_ ? static_cast<void_reason>(state_[n].reason.load(std::memory_order_relaxed)) : void_reason::none;
    }
    // The errno a connect() to the node fails with, 0 when connecting is allowed.
    [[nodiscard]] int connect_errno(node_id n) const noexcept;
    void set_reply_loss(node_id n, bool on) noexcept {
        if (n < count_) state_[n].lose_replies.store(on, std::memory_order_relaxed);
    }
    [[nodiscard]] bool loses_replies(node_id n) const noexcept {
        return n < count_ && state_[n].lose_replies.load(std::memory_order_relaxed);
    }

    // Damages a payload in place (one byte in the middle), as a faulty link would.
    static void damage(std::span<std::byte> payload) noexcept;

private:
    struct per_node {
        std::atomic<std::uint8_t> reason{0};
        std::atomic<bool> lose_replies{false};
    };
    node_id count_;
    std::unique_ptr<per_node[]> state_;
};

} // namespace aether
