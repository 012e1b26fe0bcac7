// Aether address arithmetic shared by every layer (pages, nodes, offsets, the window).
#pragma once
#include "aether/internal/guard.hpp"

#include <seraph/aether.h>

#include <cstddef>
#include <cstdint>

namespace aether {

using node_id = std::uint16_t;

inline constexpr std::size_t page_size = SERAPH_AETHER_PAGE_SIZE;
inline constexpr unsigned page_shift = 12;
inline constexpr std::uint64_t node_span = std::uint64_t{1} << SERAPH_AETHER_NODE_SHIFT; // 4 GiB
inline constexpr std::uint64_t pages_per_node = node_span / page_size;
inline constexpr std::uint64_t window_base = SERAPH_AETHER_BASE;
inline constexpr std::uint64_t window_end = SERAPH_AETHER_END; // inclusive
inline constexpr node_id no_node = 0xFFFF;

// The largest node count whose window fits below SERAPH_AETHER_END.
inline constexpr std::uint64_t max_window_nodes() {
    std::uint64_t n = (window_end - window_base + 1) / node_span;
    return n < SERAPH_AETHER_MAX_NODES ? n : SERAPH_AETHER_MAX_NODES;
}

constexpr bool is_aether(std::uint64_t addr) noexcept { return addr >= window_base && addr <= window_end; }
constexpr node_id node_of(std::uint64_t addr) noexcept {
    return static_cast<node_id>(((addr - window_base) & SERAPH_AETHER_NODE_MASK) >> SERAPH_AETHER_NODE_SHIFT);
}
constexpr std::uint64_t offset_of(std::uint64_t addr) noexcept { return addr & SERAPH_AETHER_OFFSET_MASK; }
constexpr std::uint64_t make_addr(node_id n, std::uint64_t offset) noexcept {
    return window_base + (std::uint64_t{n} << SERAPH_AETHER_NODE_SHIFT) + (offset & SERAPH_AETHER_OFFSET_MASK);
}
constexpr std::uint64_t page_floor(std::uint64_t v) noexcept { return v & ~std::uint64_t{page_size - 1}; }
constexpr std::uint64_t page_ceil(std::uint64_t v) noexcept { return page_floor(v + page_size - 1); }
// Index of a page within its home node (offset / 4096).
constexpr std::uint32_t page_index_of(std::uint64_t addr) noexcept {
    return static_cast<std::uint32_t>(offset_of(addr) >> page_shift);
}
// Index of a page within the whole window (node * pages_per_node + page).
constexpr std::uint64_t window_page_of(std::uint64_t addr) noexcept { return (addr - window_base) >> page_shift; }
inline void* as_ptr(std::uint64_t addr) noexcept { return reinterpret_cast<void*>(addr); }

} // namespace aether
