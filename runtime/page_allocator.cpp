// Best-fit extent allocation with coalescing on release.
#include "runtime/page_allocator.hpp"

#include <iterator>

namespace aether {

page_allocator::page_allocator(std::uint32_t page_count)
    : page_count_(page_count),
      free_pages_(0) {
    if (page_count > 0) insert(0, page_count);
}

void page_allocator::insert(std::uint32_t first, std::uint32_t pages) {
    by_start_.emplace(first, pages);
    by_size_.emplace(pages, first);
    free_pages_ += pages;
}

void page_allocator::erase(std::map<std::uint32_t, std::uint32_t>::iterator it) {
    auto range = by_size_.equal_range(it->second);
    for (auto s = range.first; s != range.second; ++s)
        if (s->second == it->first) {
            by_size_.erase(s);
            break;
        }
    free_pages_ -= it->second;
    by_start_.erase(it);
}

std::optional<std::uint32_t> page_allocator::allocate(std::uint32_t pages) {
    if (pages == 0) return std::nullopt;
    auto fit = by_size_.lower_bound(pages);
    if (fit == by_size_.end()) return std::nullopt;
    std::uint32_t first = fit->second;
    std::uint32_t length = fit->first;
    erase(by_start_.find(first));
    if (length > pages) insert(first + pages, length - pages);
    return first;
}

bool page_allocator::release(std::uint32_t first, std::uint32_t pages) {
    if (pages == 0 || first >= page_count_ || pages > page_count_ - first) return false;
    // Refuse an overlap with a free run: that would be a double free.
    auto next = by_start_.lower_bound(first);
    if (next != by_start_.end() && next->first < first + pages) return false;
    if (next != by_start_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second > first) return false;
    }
    std::uint32_t start = first, length = pages;
    if (next != by_start_.end() && next->first == first + pages) {
        length += next->second;
        erase(next);
    }
    auto after = by_start_.lower_bound(first);
    if (after != by_start_.begin()) {
        auto prev = std::prev(after);
        if (prev->first + prev->second == first) {
            start = prev->first;
            length += prev->second;
            erase(prev);
        }
    }
    insert(start, length);
    return true;
}

} // namespace aether
