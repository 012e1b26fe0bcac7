// aether_heap: a malloc-style allocator whose blocks live in this node's Aether memory, so that a
// pointer from malloc() reaches the same object from every node. Small blocks come from size
// classes carved out of 1 MiB chunks; large ones are whole-page spans of their own, kept for reuse
// after free (up to retained_limit bytes) instead of going back to the node at once.
#pragma once
#include "aether/internal/guard.hpp"

#include <pthread.h>

#include <cstddef>
#include <cstdint>

namespace aether {

class aether_heap {
public:
    // Where memory comes from: spans of whole pages, zero-filled (0 when none is left), and back.
    // `use_now`: how much of the span the heap hands out at once (the source may make that much
    // ready to use in one go, and the rest as it is touched).
    struct page_source {
        std::uint64_t (*allocate)(std::size_t bytes, std::size_t use_now) = nullptr;
        void (*release)(std::uint64_t addr, std::size_t bytes) = nullptr;
    };

    static constexpr std::size_t min_alignment = 16;
    static constexpr std::size_t header_size = 16;
    static constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
    static constexpr std::size_t largest_small = std::size_t{32} * 1024; // the largest size class
    // Freed large spans kept for reuse: a program that frees and allocates large blocks in turn
    // (buffers, growing strings and arrays) reuses pages that are present and writable here
    // instead of freeing them at the home and installing fresh ones.
    static constexpr std::size_t retained_limit = std::size_t{64} << 20;
    // Of a new large span, this much is assumed used at once; a program may well touch little of a
    // very large block (sort allocates a buffer for the worst case), so the rest is left to be
    // made ready as it is touched.
    static constexpr std::size_t large_use_now = std::size_t{1} << 20;

    // Constant-initialisable: the heap may be consulted before any constructor ran.
    constexpr aether_heap() = default;
    void set_source(page_source src) noexcept { source_ = src; }
    // [begin, end): the Aether range this heap's blocks come from (this node's part of the window).
    void set_range(std::uint64_t begin, std::uint64_t end) noexcept {
        begin_ = begin;
        end_ = end;
    }
    // A second range blocks may come from (a forked child's private memory), besides the first.
    void set_extra_range(std::uint64_t begin, std::uint64_t end) noexcept {
        extra_begin_ = begin;
        extra_end_ = end;
    }

    // nullptr when no memory is left. `alignment` is a power of two. `zeroed`: the block must read
    // as zeros (calloc); memory that is fresh from the source is not cleared again.
    void* allocate(std::size_t size, std::size_t alignment = min_alignment, bool zeroed = false) noexcept;
    // Returns a block of this heap; false (and nothing done) when `p` is not one.
    bool release(void* p) noexcept;
    // realloc() of a block of this heap (`p` must be one, `size` > 0): in place when it fits, else
    // moved. nullptr (and `p` untouched) when no memory is left.
    void* reallocate(void* p, std::size_t size) noexcept;
    // Usable bytes of a block of this heap (0 when `p` is not one).
    std::size_t usable_size(const void* p) const noexcept;
    [[nodiscard]] bool in_range(const void* p) const noexcept {
        auto a = reinterpret_cast<std::uint64_t>(p);
        return (a >= begin_ && a < end_) || (a >= extra_begin_ && a < extra_end_);
    }

    // fork(): the heap's lock is held across it, so the child finds the heap consistent.
    void lock_for_fork() noexcept { pthread_mutex_lock(&mu_); }
    void unlock_after_fork() noexcept { pthread_mutex_unlock(&mu_); }

    struct stats_t {
        std::uint64_t chunks = 0;         // spans obtained for small blocks
        std::uint64_t large_spans = 0;    // spans obtained for large blocks
        std::uint64_t large_reused = 0;   // large blocks served from retained spans
        std::uint64_t spans_released = 0; // spans given back to the source
        std::uint64_t realloc_in_place = 0;
        std::uint64_t realloc_moved = 0;
        std::uint64_t realloc_copied_bytes = 0;
    };
    [[nodiscard]] stats_t stats() noexcept;

private:
    static constexpr int class_count = 40;
    static constexpr int bin_count = 80;
    static constexpr std::uint32_t aligned_marker = 0xFFFFFFFE;
    static constexpr std::uint32_t large_marker = 0xFFFFFFFD;
    static constexpr std::uint32_t retained_marker = 0xFFFFFFFC;

    struct header;   // in front of every block
    struct retained; // a retained span's links, kept in the span itself
    static int class_of(std::size_t size) noexcept;
    static constexpr std::size_t class_size(int c) noexcept {
        if (c < 8) return static_cast<std::size_t>(c + 1) * 16;
        const int k = c - 8;
        const std::size_t base = std::size_t{128} << (k / 4);
        return base + base / 4 * static_cast<std::size_t>(k % 4 + 1);
    }
    static int bin_of(std::uint64_t pages) noexcept;
    void* allocate_small(int c, bool& fresh) noexcept;
    void* allocate_large(std::size_t size, bool zeroed) noexcept;
    header* take_retained(std::uint64_t pages) noexcept;
    void retain(header* h) noexcept;
    void unlink(retained* r) noexcept;
    void release_span(header* h) noexcept;
    const header* header_of(const void* p) const noexcept;

    page_source source_{};
    std::uint64_t begin_ = 0;
    std::uint64_t end_ = 0;
    std::uint64_t extra_begin_ = 0;
    std::uint64_t extra_end_ = 0;
    pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
    void* free_[class_count] = {}; // per class: first free block (next pointer stored in the block)
    std::uint64_t bump_ = 0;       // next unused byte of the current chunk (fresh: reads as zeros)
    std::uint64_t bump_end_ = 0;
    retained* bins_[bin_count] = {}; // retained spans by size
    retained* oldest_ = nullptr;     // retained spans, oldest first (evicted first)
    retained* newest_ = nullptr;
    std::uint64_t retained_bytes_ = 0;
    stats_t stats_{};
};

} // namespace aether
