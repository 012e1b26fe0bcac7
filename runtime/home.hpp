// The pages a node homes: their bytes, who may use them (allocations and capability generations)
// and which nodes hold copies (the directory entry of each page).
//
// The bytes live in runtime-owned memory, not in the window: the window only ever holds copies,
// including this node's own copies of its home pages, so local pages take part in coherence like
// any other (when another node holds a page exclusive, the home's copy is not readable here).
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/mapped_array.hpp"
#include "runtime/page_allocator.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

namespace aether {

enum class dir_state : std::uint8_t {
    unowned = 0, // only the home's bytes exist
    shared,      // read-only copies at `sharers`; the home's bytes are current
    exclusive,   // one writable copy at `owner`; the home's bytes are stale
    lost,        // the exclusive owner died with the only current copy: VOID (NODE_CRASHED)
};
const char* to_string(dir_state s) noexcept;

// Directory entry and allocation state of one home page. Zero bytes are the initial state.
struct home_page {
    std::uint32_t lock; // spin_guard word; held only for short, non-blocking steps
    dir_state state;
    std::uint8_t busy;      // a transaction is waiting for acknowledgements; requests queue
    std::uint8_t allocated; // part of a live allocation
    std::uint8_t pad0;
    node_id owner;            // exclusive owner
    std::uint16_t queued;     // requests waiting while busy (saturates; for inspection only)
    std::uint32_t epoch;      // advanced by every grant and every invalidation round
    std::uint64_t generation; // advanced by every write
    std::uint64_t cap_gen;    // capability generation of the allocation; 0: never allocated
    std::uint64_t sharers;    // read-only copies at nodes 0..63
    std::uint64_t* more;      // read-only copies at nodes >= 64 (allocated on first use)
};
static_assert(sizeof(home_page) == 48);

// Sharer-set operations (the caller holds the page lock).
class sharer_set {
public:
    sharer_set(home_page& p, node_id node_count) noexcept
        : p_(p),
          count_(node_count) {}
    [[nodiscard]] bool has(node_id n) const noexcept;
    void add(node_id n);
    void remove(node_id n) noexcept;
    void clear() noexcept;
    [[nodiscard]] bool empty() const noexcept;
    [[nodiscard]] std::vector<node_id> members() const;
    // Calls fn(node) for every member, without allocating.
    template <class F>
    void for_each(F&& fn) const {
        for (std::uint64_t w = p_.sharers; w != 0; w &= w - 1) fn(static_cast<node_id>(std::countr_zero(w)));
        if (p_.more != nullptr)
            for (std::size_t i = 0; i < extra_words(); ++i)
                for (std::uint64_t w = p_.more[i]; w != 0; w &= w - 1)
                    fn(static_cast<node_id>(64 + i * 64 + static_cast<std::size_t>(std::countr_zero(w))));
    }

private:
    [[nodiscard]] std::size_t extra_words() const noexcept { return count_ > 64 ? (count_ - 64 + 63) / 64 : 0; }
    home_page& p_;
    node_id count_;
};

class home_store {
public:
    home_store(node_id self, node_id node_count, std::size_t bytes);
    ~home_store();
    home_store(const home_store&) = delete;
    home_store& operator=(const home_store&) = delete;

    [[nodiscard]] node_id self() const noexcept { return self_; }
    [[nodiscard]] node_id node_count() const noexcept { return node_count_; }
    [[nodiscard]] std::uint32_t page_count() const noexcept { return page_count_; }
    [[nodiscard]] std::size_t capacity_bytes() const noexcept { return std::size_t{page_count_} * page_size; }
    [[nodiscard]] bool valid_page(std::uint32_t index) const noexcept { return index < page_count_; }
    std::byte* bytes(std::uint32_t index) noexcept { return memory_ + std::size_t{index} * page_size; }
    home_page& page(std::uint32_t index) noexcept { return pages_[index]; }
    sharer_set sharers(std::uint32_t index) noexcept { return sharer_set(pages_[index], node_count_); }

    struct allocation {
        std::uint32_t first = 0;
        std::uint32_t pages = 0;
        std::uint64_t cap_gen = 0;
    };
    // Whole pages, zero-filled, with a fresh capability generation.
    std::optional<allocation> allocate(std::size_t bytes);
    // The live allocation holding `index`.
    std::optional<allocation> allocation_of(std::uint32_t index) const;
    // Marks the allocation starting at `first` freed (accesses become VOID: GENERATION). Its pages
    // return to the allocator only with finish_free(), once no node holds a copy any more.
    std::optional<allocation> begin_free(std::uint32_t first);
    void finish_free(const allocation& a);
    // A new capability generation for the whole allocation (revocation).
    std::optional<allocation> revoke(std::uint32_t index);
    [[nodiscard]] std::uint32_t free_pages() const;
    // One past the last page of the highest live allocation (0 when there is none): no page at or
    // above it is allocated, so a walk over allocated pages can stop there.
    [[nodiscard]] std::uint32_t allocated_end() const;
    [[nodiscard]] std::size_t live_allocations() const;

private:
    using allocation_map = std::map<std::uint32_t, std::uint32_t>; // first page -> pages

    std::uint64_t next_cap_gen() noexcept;
    // The live allocation holding `index`, or allocations_.end(); the caller holds alloc_mu_.
    allocation_map::const_iterator find_locked(std::uint32_t index) const;

    node_id self_;
    node_id node_count_;
    std::uint32_t page_count_;
    std::byte* memory_ = nullptr;
    mapped_array<home_page> pages_;
    mutable std::mutex alloc_mu_; // allocations_, allocator_, cap generations
    page_allocator allocator_;
    allocation_map allocations_;
    std::uint64_t cap_counter_ = 0;
};

} // namespace aether
