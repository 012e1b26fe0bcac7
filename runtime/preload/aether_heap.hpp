// aether_heap: a malloc-style allocator whose blocks live in this node's Aether memory, so that a
// pointer from malloc() reaches the same object from every node. Small blocks come from size
// classes carved out of 1 MiB chunks; large ones are whole-page allocations of their own.
#pragma once
#include "aether/internal/guard.hpp"

#include <pthread.h>

#include <cstddef>
#include <cstdint>

namespace aether {

class aether_heap {
public:
    // Where memory comes from: whole pages of Aether memory (0 when none is left), and back.
    struct page_source {
        std::uint64_t (*allocate)(std::size_t bytes) = nullptr;
        void (*release)(std::uint64_t addr) = nullptr;
    };

    static constexpr std::size_t min_alignment = 16;
    static constexpr std::size_t header_size = 16;
    static constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
    static constexpr std::size_t largest_small = 64 * 1024;

    // Constant-initialisable: the heap may be consulted before any constructor ran.
    constexpr aether_heap() = default;
    void set_source(page_source src) noexcept { source_ = src; }
    // [begin, end): the Aether range this heap's blocks come from (this node's part of the window).
    void set_range(std::uint64_t begin, std::uint64_t end) noexcept {
        begin_ = begin;
        end_ = end;
    }

    // nullptr when no memory is left. `alignment` is a power of two.
    void* allocate(std::size_t size, std::size_t alignment = min_alignment) noexcept;
    // Returns a block of this heap; false (and nothing done) when `p` is not one.
    bool release(void* p) noexcept;
    // Usable bytes of a block of this heap (0 when `p` is not one).
    std::size_t usable_size(const void* p) const noexcept;
    [[nodiscard]] bool in_range(const void* p) const noexcept {
        auto a = reinterpret_cast<std::uint64_t>(p);
        return a >= begin_ && a < end_;
    }

private:
    static constexpr int class_count = 40;
    static constexpr std::uint32_t aligned_marker = 0xFFFFFFFE;
    static constexpr std::uint32_t large_marker = 0xFFFFFFFD;

    struct header; // in front of every block
    static int class_of(std::size_t size) noexcept;
    static std::size_t class_size(int c) noexcept;
    void* allocate_small(int c) noexcept;
    void* allocate_large(std::size_t size) noexcept;
    const header* header_of(const void* p) const noexcept;

    page_source source_{};
    std::uint64_t begin_ = 0;
    std::uint64_t end_ = 0;
    pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
    void* free_[class_count] = {};  // per class: first free block (next pointer stored in the block)
    std::uint64_t bump_ = 0;        // next unused byte of the current chunk
    std::uint64_t bump_end_ = 0;
};

} // namespace aether
