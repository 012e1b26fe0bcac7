// Injected failure state per destination node.
#include "transport/fault_injection.hpp"

#include <cerrno>

namespace aether {

fault_injector::fault_injector(node_id node_count)
    : count_(node_count),
      state_(new per_node[node_count]) {}

void fault_injector::set(node_id n, void_reason r) noexcept {
    if (n >= count_) return;
    state_[n].reason.store(static_cast<std::uint8_t>(r), std::memory_order_relaxed);
}

int fault_injector::connect_errno(node_id n) const noexcept {
    switch (active(n)) {
    case void_reason::partition: return ENETUNREACH;
    case void_reason::node_crashed: return ECONNREFUSED;
    default: return 0;
    }
}

void fault_injector::damage(std::span<std::byte> payload) noexcept {
    if (!payload.empty()) payload[payload.size() / 2] ^= std::byte{0x5A};
}

} // namespace aether
