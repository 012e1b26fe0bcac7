// page_allocator: hands out runs of whole pages of a home's memory, best fit, and takes them back,
// merging neighbours so freed memory is reused for allocations of any size.
#pragma once
#include "aether/internal/guard.hpp"

#include <cstdint>
#include <map>
#include <optional>

namespace aether {

class page_allocator {
public:
    explicit page_allocator(std::uint32_t page_count);

    // The first page of a free run of `pages` pages (the smallest run that fits), or nothing.
    std::optional<std::uint32_t> allocate(std::uint32_t pages);
    // Returns a run obtained from allocate(). Freeing pages that are free already is refused.
    bool release(std::uint32_t first, std::uint32_t pages);

    [[nodiscard]] std::uint32_t free_pages() const noexcept { return free_pages_; }
    [[nodiscard]] std::uint32_t page_count() const noexcept { return page_count_; }
    [[nodiscard]] std::size_t free_runs() const noexcept { return by_start_.size(); }

private:
    void insert(std::uint32_t first, std::uint32_t pages);
    void erase(std::map<std::uint32_t, std::uint32_t>::iterator it);

    std::uint32_t page_count_;
    std::uint32_t free_pages_;
    std::map<std::uint32_t, std::uint32_t> by_start_;     // first page -> length
    std::multimap<std::uint32_t, std::uint32_t> by_size_; // length -> first page
};

} // namespace aether
