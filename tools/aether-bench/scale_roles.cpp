// The scale figures: directory and cache cost with 1 K and 1 M pages in use (scale_*, one node).
// See docs/bench-method-notes.md.
#include "tools/aether-bench/scale_roles.hpp"

#include "runtime/cache.hpp"
#include "runtime/home.hpp"

#include <algorithm>

namespace aether::bench {

namespace {

std::uint64_t resident_bytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return 0;
    unsigned long size = 0, resident = 0;
    int got = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return got == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

std::string pages_label(std::size_t n) {
    if (n >= (std::size_t{1} << 20) && n % (std::size_t{1} << 20) == 0) return std::to_string(n >> 20) + "M";
    if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + "K";
    return std::to_string(n);
}

} // namespace

void scale(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::size_t small = u64(p, "small_pages", 1024);
    const std::size_t large = u64(p, "large_pages", std::size_t{1} << 20);
    const std::size_t samples = c.warmup + c.ops;
    Seraph_Aether* h = m.h();

    std::vector<std::uint64_t> page_addr;
    page_addr.reserve(large);
    auto grow_to = [&](std::size_t n) {
        // Allocations of at most 256 MiB, so that a home whose allocator keeps a page back still
        // reaches the count with the rest.
        while (page_addr.size() < n) {
            std::size_t want = std::min<std::size_t>(n - page_addr.size(), 65536);
            std::uint64_t a = seraph_aether_alloc(h, want * page_bytes);
            if (a == SERAPH_VOID_U64)
                die("cannot allocate page " + std::to_string(page_addr.size()) + " of " + std::to_string(n) + void_text());
            for (std::size_t i = 0; i < want; ++i) page_addr.push_back(a + i * page_bytes);
        }
        // Every page's directory entry in use before anything is timed.
        for (std::size_t i = 0; i < n; ++i)
            if (seraph_aether_get_generation(h, page_addr[i]) == SERAPH_VOID_U64) die("get_generation failed" + void_text());
    };
    // The same pseudo-random page sequence for every size, spread over all the pages in use.
    auto pick_indices = [&](std::size_t n) {
        std::vector<std::size_t> v(samples);
        std::uint64_t x = 0x2545F4914F6CDD1Dull;
        for (auto& i : v) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i = static_cast<std::size_t>(x % n);
        }
        return v;
    };
    auto picks = [&](std::size_t n) {
        std::vector<std::uint64_t> v;
        for (std::size_t i : pick_indices(n)) v.push_back(page_addr[i]);
        return v;
    };
    auto lookup = [&](std::uint64_t a) {
        if (seraph_aether_get_generation(h, a) == SERAPH_VOID_U64) die("get_generation failed" + void_text());
    };
    auto run = [&](const std::string& name, std::size_t n, auto op, bool pretouch, const std::string& floor = "") {
        auto at = picks(n);
        if (pretouch) {
            // A fetch_add on a page never written would time the kernel's first touch of the
            // home's memory. Backing all of it would cost 4 GiB, so only the pages about to be
            // used are written first; a pass over the whole directory afterwards leaves the CPU
            // caches as the structure in use would, not holding just those pages.
            for (std::uint64_t a : at) op(a);
            for (std::size_t i = 0; i < n; ++i) lookup(page_addr[i]);
        }
        for (std::size_t i = 0; i < c.warmup; ++i) op(at[i]);
        timed t = timed_loop(m.rt(), clk, c.warmup, c.ops, no_prep, [&](std::size_t i) { op(at[i]); });
        record r = latency_row(name, t, clk);
        r.set("pages", static_cast<std::uint64_t>(n));
        if (!floor.empty()) r.set("floor", floor);
        send(r);
    };
    auto add = [&](std::uint64_t a) {
        if (seraph_aether_fetch_add_u64(h, a, 1, nullptr) != SERAPH_VBIT_TRUE) die("fetch_add failed" + void_text());
    };
    unsigned char buf[64];
    auto hit = [&](std::uint64_t a) {
        if (seraph_aether_read(h, a, buf, sizeof buf).status != SERAPH_AETHER_OK) die("read failed" + void_text());
    };
    auto cache_range = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) hit(page_addr[i]);
    };

    // Two questions per operation. Does having 1M pages in use make it dearer? "_hot" rows repeat
    // the 1K rows' operations (the same 1K pages) with 1M pages in use. And what does spreading the
    // operations over all 1M pages cost? The plain-memory rows read 64 bytes at the same pages of
    // ordinary memory of the same size: the CPU caches and TLB charge that much to anything
    // spread over 4 GiB.
    const std::string hot = "_hot";

    // Directory: no copy of any page exists yet, so each operation completes inline at the home.
    grow_to(small);
    run("scale_dir_lookup_" + pages_label(small), small, lookup, false);
    run("scale_dir_fetch_add_" + pages_label(small), small, add, true);
    grow_to(large);
    const std::string k1 = pages_label(small), m1 = pages_label(large);
    run("scale_dir_lookup_" + m1 + hot, small, lookup, false, "scale_dir_lookup_" + k1);
    run("scale_dir_fetch_add_" + m1 + hot, small, add, true, "scale_dir_fetch_add_" + k1);
    run("scale_dir_lookup_" + m1, large, lookup, false, "scale_plain_read_" + m1);
    run("scale_dir_fetch_add_" + m1, large, add, true, "scale_plain_read_" + m1);

    // Cache: copies of `small`, then of all pages, then hits spread over them.
    cache_range(0, small);
    run("scale_read_hit_" + pages_label(small), small, hit, false);
    std::uint64_t rss0 = resident_bytes();
    std::uint64_t t0 = now_ns();
    cache_range(small, large);
    std::uint64_t fill_ns = now_ns() - t0;
    std::uint64_t rss1 = resident_bytes();
    run("scale_read_hit_" + m1 + hot, small, hit, false, "scale_read_hit_" + k1);
    run("scale_read_hit_" + m1, large, hit, false, "scale_plain_read_" + m1);

    // Plain memory of the same sizes, read at the same pages.
    {
        auto* plain = static_cast<unsigned char*>(std::aligned_alloc(page_bytes, large * page_bytes));
        if (plain == nullptr) die("cannot allocate the plain-memory comparison");
        for (std::size_t i = 0; i < large * page_bytes; i += page_bytes) plain[i] = static_cast<unsigned char>(i);
        for (std::size_t n : {small, large}) {
            std::vector<const unsigned char*> where;
            for (std::size_t i : pick_indices(n)) where.push_back(plain + i * page_bytes);
            auto read_plain = [&](std::size_t i) {
                std::memcpy(buf, where[i], sizeof buf);
                sink_word = buf[0];
            };
            for (std::size_t i = 0; i < c.warmup; ++i) read_plain(i);
            timed t = timed_loop(m.rt(), clk, c.warmup, c.ops, no_prep, read_plain);
            record r = latency_row("scale_plain_read_" + pages_label(n), t, clk);
            r.set("pages", static_cast<std::uint64_t>(n));
            send(r);
        }
        std::free(plain);
    }

    const std::size_t cached = m.rt().local_cache().present_pages();
    record r;
    r.kind = "row";
    r.set("name", "scale_metadata_bytes_per_page");
    const double resident_bit_share = 1.0 / 8.0; // one bit per page in the cache's resident bitmap
    const double cache_meta = static_cast<double>(sizeof(cache_page)) + resident_bit_share;
    r.set("unit", "B").set("value", cache_meta);
    r.set("cache_page_bytes", static_cast<std::uint64_t>(sizeof(cache_page)));
    r.set("resident_bitmap_bytes_per_page", resident_bit_share);
    r.set("cache_metadata_bytes_per_page", cache_meta);
    r.set("home_page_bytes", static_cast<std::uint64_t>(sizeof(home_page)));
    r.set("pages", static_cast<std::uint64_t>(large)).set("pages_cached", static_cast<std::uint64_t>(cached));
    if (rss1 > rss0 && large > small) {
        double per_page = static_cast<double>(rss1 - rss0) / static_cast<double>(large - small);
        r.set("rss_bytes_per_cached_page", per_page);
        r.set("rss_overhead_bytes_per_cached_page", per_page - static_cast<double>(page_bytes));
    }
    r.set("fill_ns_per_page", static_cast<double>(fill_ns) / static_cast<double>(large - small));
    send(r);
}

} // namespace aether::bench
