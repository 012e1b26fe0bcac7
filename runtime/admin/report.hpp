// report: what a node's admin socket answers (docs/admin.md), read from the live runtime without
// stopping it: counters are relaxed loads, directory entries and cache entries are copied under
// their own locks one at a time, and no page of Aether memory is touched.
//
// The answer is text: "ok" on the first line, then one record per line, each a tab-separated list
// of key=value (values hold no tab or newline); or "error <why>" alone. aetherctl turns records
// into tables or JSON.
#pragma once
#include "aether/internal/guard.hpp"

#include "runtime/admin/hot_pages.hpp"

#include <string>
#include <string_view>

namespace aether {
class runtime;
}

namespace aether::admin {

// At most this many records answer one request (a cache or directory listing); a last record
// "truncated=1" says more were left out.
inline constexpr std::size_t max_records = 100'000;

// At most this many pages answer "hot".
inline constexpr std::size_t max_hot_pages = 1000;

// Answers the admin socket's requests about one runtime. Its one state is the hot-page readings
// (hot_pages.hpp), so it is used by one thread, the admin socket's.
class reporter {
public:
    explicit reporter(runtime& rt)
        : rt_(rt) {}

    // Requests: "stats", "nodes", "cache", "directory", "page <address>" (hex, 0x optional),
    // "hot [count]" (the home pages that changed most since the previous "hot"; 10 by default).
    std::string answer(std::string_view request);

private:
    runtime& rt_;
    hot_pages hot_;
};

} // namespace aether::admin
