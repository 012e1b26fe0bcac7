// Leases on cached copies: how a node that cannot reach a home stops using that home's pages
// within a known time, so that the home may hand them to others without any message reaching it.
// (docs/protocol.md, "Leases and fencing".)
//
// Requester side (copy_leases): every reply from a home to a request this node sent at time S
// promises that the home keeps this node's copies tracked (and so invalidates them before anyone
// writes) until at least S + lease on this node's clock, measured from the send, because the home
// counts from its reply, which is later. The node uses its copies of a home's pages only while
// that promise runs, less a guard for the service thread's period: once it lapses, the service
// thread drops them (an exclusive copy is set aside, never lost) and the next access asks the home.
// A reply that arrives after its own promise would have lapsed is not trusted: the home may have
// fenced this node before it replied.
//
// Home side (fence_clock): the home notes when it last replied to each node. Once `lease` has
// passed since then, that node has stopped using every copy it held: it is fenced, and the home
// may forget its copies without its acknowledgement.
//
// Both sides assume that clocks run at the same rate (monotonic clocks, not synchronized ones)
// and that a node's service thread is not held up longer than the guard.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"

#include <atomic>
#include <cstdint>
#include <memory>

namespace aether {

struct lease_terms {
    std::uint64_t lease_ns = 0; // how long a reply promises
    std::uint64_t guard_ns = 0; // how much earlier than that the requester stops

    // A lease of `lease_ms`; the guard is a quarter of it.
    static lease_terms of_ms(std::uint32_t lease_ms) noexcept;
    // How long after a send the requester may rely on the reply.
    [[nodiscard]] std::uint64_t usable_ns() const noexcept { return lease_ns - guard_ns; }
};

class copy_leases {
public:
    copy_leases(node_id node_count, lease_terms terms);

    // Any thread: a reply from `home` to a request sent at `sent_ns` arrived at `now_ns`. False if
    // it came too late to be trusted (the caller treats it as a timeout). A trusted reply renews
    // the lease; while a lapsed lease's copies are not dropped yet, the renewal waits for the drop
    // (it covers the copy this reply may bring, not the old ones).
    bool on_reply(node_id home, std::uint64_t sent_ns, std::uint64_t now_ns) noexcept;

    // Service thread. Whether the copies of `home` must go now: the lease lapsed and they have
    // not been dropped since. After dropping them all (at `now_ns`), the caller says so with
    // dropped(): renewals that came meanwhile then take effect.
    [[nodiscard]] bool must_drop(node_id home, std::uint64_t now_ns) const noexcept;
    void dropped(node_id home, std::uint64_t now_ns) noexcept;
    // Service thread. Whether a heartbeat should renew the lease of `home` now: it runs, and its
    // last renewal was sent more than a quarter lease ago.
    [[nodiscard]] bool wants_heartbeat(node_id home, std::uint64_t now_ns) const noexcept;
    // Until when (monotonic ns) this node may use its copies of `home` (0: never renewed).
    [[nodiscard]] std::uint64_t usable_until(node_id home) const noexcept;
    [[nodiscard]] const lease_terms& terms() const noexcept { return terms_; }

private:
    // One home's lease. A small lock, not separate atomics: a renewal and the drop of a lapsed
    // lease's copies must not interleave (a renewal lost between them would leave a copy without
    // a lease, that no drop would ever take).
    struct slot {
        mutable std::uint32_t lock = 0;
        std::uint64_t until = 0;   // copies may be used before this
        std::uint64_t pending = 0; // renewals that came while the lapsed copies waited to be dropped
        bool holds = false;        // copies may be held under a lease (false at start: none)
    };
    lease_terms terms_;
    std::unique_ptr<slot[]> slots_;
};

class fence_clock {
public:
    fence_clock(node_id node_count, lease_terms terms);
    // Service thread: a reply goes to `to` now.
    void replied(node_id to, std::uint64_t now_ns) noexcept;
    // From when `n` is fenced: it uses none of the copies it held (0: it never got a reply).
    [[nodiscard]] std::uint64_t fenced_from(node_id n) const noexcept;

private:
    lease_terms terms_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> last_reply_;
};

} // namespace aether
