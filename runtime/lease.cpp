// Leases on cached copies and the home's fence clock (see lease.hpp).
#include "runtime/lease.hpp"

#include "aether/internal/sync.hpp"

#include <algorithm>

namespace aether {

lease_terms lease_terms::of_ms(std::uint32_t lease_ms) noexcept {
    const std::uint64_t lease = std::uint64_t{lease_ms} * 1'000'000u;
    return lease_terms{lease, lease / 4};
}

copy_leases::copy_leases(node_id node_count, lease_terms terms)
    : terms_(terms),
      slots_(new slot[node_count]) {}

bool copy_leases::on_reply(node_id home, std::uint64_t sent_ns, std::uint64_t now_ns) noexcept {
    const std::uint64_t promise = sent_ns + terms_.usable_ns();
    if (now_ns >= promise) return false;
    slot& s = slots_[home];
    spin_guard g(s.lock);
    if (s.holds && now_ns >= s.until) {
        // Lapsed, its copies not dropped yet: renewing now would keep copies the home may have
        // stopped tracking. The renewal applies once they are gone.
        s.pending = std::max(s.pending, promise);
        return true;
    }
    s.until = std::max(s.until, promise);
    s.holds = true;
    return true;
}

bool copy_leases::must_drop(node_id home, std::uint64_t now_ns) const noexcept {
    const slot& s = slots_[home];
    spin_guard g(s.lock);
    return s.holds && now_ns >= s.until;
}

void copy_leases::dropped(node_id home, std::uint64_t now_ns) noexcept {
    slot& s = slots_[home];
    spin_guard g(s.lock);
    // What the renewals that came meanwhile cover (a copy they brought may have been installed
    // after the drop passed its page) runs on, and lapses in turn.
    s.until = std::max(s.until, s.pending);
    s.pending = 0;
    s.holds = s.until > now_ns;
}

bool copy_leases::wants_heartbeat(node_id home, std::uint64_t now_ns) const noexcept {
    const slot& s = slots_[home];
    spin_guard g(s.lock);
    if (!s.holds || now_ns >= s.until) return false;
    const std::uint64_t renewed_at = s.until - terms_.usable_ns(); // the send of the latest renewal
    return now_ns - renewed_at >= terms_.lease_ns / 4;
}

std::uint64_t copy_leases::usable_until(node_id home) const noexcept {
    const slot& s = slots_[home];
    spin_guard g(s.lock);
    return s.until;
}

fence_clock::fence_clock(node_id node_count, lease_terms terms)
    : terms_(terms),
      last_reply_(new std::atomic<std::uint64_t>[node_count]) {
    for (node_id n = 0; n < node_count; ++n) last_reply_[n].store(0, std::memory_order_relaxed);
}

void fence_clock::replied(node_id to, std::uint64_t now_ns) noexcept { last_reply_[to].store(now_ns, std::memory_order_release); }

std::uint64_t fence_clock::fenced_from(node_id n) const noexcept {
    const std::uint64_t last = last_reply_[n].load(std::memory_order_acquire);
    return last == 0 ? 0 : last + terms_.lease_ns;
}

} // namespace aether
