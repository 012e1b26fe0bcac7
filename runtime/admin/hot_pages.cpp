#include "runtime/admin/hot_pages.hpp"

#include "runtime/node.hpp"

#include <algorithm>

namespace aether::admin {

hot_pages::look hot_pages::take(node& home, std::size_t count, std::uint64_t now_ns, std::uint64_t started_ns) {
    const std::uint32_t pages = home.home_page_count();
    if (last_.size() != pages) last_.assign(pages, 0); // first look, or the home memory was replaced
    look out;
    const std::uint64_t since = last_ns_ != 0 ? last_ns_ : started_ns;
    out.since_ms = now_ns > since ? (now_ns - since) / 1'000'000 : 0;
    last_ns_ = now_ns;
    if (count == 0) return out;
    // The `count` largest, kept in a min-heap: one pass, no copy of the whole table.
    auto fewer = [](const page& a, const page& b) { return a.changes > b.changes; };
    for (std::uint32_t i = 0; i < pages; ++i) {
        const std::uint32_t now = home.page_changes(i);
        const std::uint32_t changes = now - last_[i]; // modulo 2^32, like the counter
        last_[i] = now;
        if (changes == 0) continue;
        if (out.pages.size() < count) {
            out.pages.push_back({i, changes});
            std::push_heap(out.pages.begin(), out.pages.end(), fewer);
        } else if (changes > out.pages.front().changes) {
            std::pop_heap(out.pages.begin(), out.pages.end(), fewer);
            out.pages.back() = {i, changes};
            std::push_heap(out.pages.begin(), out.pages.end(), fewer);
        }
    }
    std::sort_heap(out.pages.begin(), out.pages.end(), fewer);
    return out;
}

} // namespace aether::admin
