// hot_pages: which of the pages a node homes were in most demand lately, for `aetherctl top`.
//
// A page's demand is what its directory entry went through: grants and invalidation rounds (the
// entry's epoch) and writes (its generation). Cache hits never reach the home and are not counted,
// which is what an operator looking for contention wants: these are the pages that move. Nothing is
// recorded on the data path; a look reads every entry's two counters (node::page_changes) and keeps
// them, and the next look reports the difference. The kept readings are 4 bytes per home page,
// allocated by the first look.
//
// Not thread-safe: the admin socket's one thread owns it. All clients share the readings, so two
// `top`s at once each see the changes since either one last looked (the answer says since when).
#pragma once
#include "aether/internal/guard.hpp"

#include <cstdint>
#include <vector>

namespace aether {
class node;
}

namespace aether::admin {

class hot_pages {
public:
    struct page {
        std::uint32_t index = 0;   // in the node's home memory
        std::uint32_t changes = 0; // since the previous look
    };
    struct look {
        std::uint64_t since_ms = 0; // how long ago the previous look was (the node's uptime for the first)
        std::vector<page> pages;    // at most `count`, most changed first; pages that did not change are left out
    };

    // The `count` pages of `home` that changed most since the previous look.
    look take(node& home, std::size_t count, std::uint64_t now_ns, std::uint64_t started_ns);

private:
    std::vector<std::uint32_t> last_; // every page's page_changes at the previous look
    std::uint64_t last_ns_ = 0;       // 0: no look yet
};

} // namespace aether::admin
