// Unit tests of the best-fit page-run allocator, checked against a page bitmap model.
#include <catch2/catch.hpp>

#include "runtime/page_allocator.hpp"

#include <map>
#include <random>
#include <vector>

using namespace aether;

TEST_CASE("the whole capacity can be allocated, then nothing", "[page_allocator]") {
    page_allocator a(64);
    CHECK(a.page_count() == 64);
    CHECK(a.free_pages() == 64);
    CHECK(a.free_runs() == 1);

    SECTION("in one run") {
        auto r = a.allocate(64);
        REQUIRE(r);
        CHECK(*r == 0);
        CHECK(a.free_pages() == 0);
        CHECK(a.free_runs() == 0);
        CHECK_FALSE(a.allocate(1));
    }
    SECTION("page by page, each page once") {
        std::vector<bool> seen(64, false);
        for (int i = 0; i < 64; ++i) {
            auto r = a.allocate(1);
            REQUIRE(r);
            REQUIRE(*r < 64);
            CHECK_FALSE(seen[*r]);
            seen[*r] = true;
        }
        CHECK(a.free_pages() == 0);
        CHECK_FALSE(a.allocate(1));
    }
    SECTION("more than the capacity") {
        CHECK_FALSE(a.allocate(65));
        CHECK(a.free_pages() == 64);
    }
}

TEST_CASE("an allocator of no pages allocates nothing", "[page_allocator]") {
    page_allocator a(0);
    CHECK(a.free_pages() == 0);
    CHECK(a.free_runs() == 0);
    CHECK_FALSE(a.allocate(1));
    CHECK_FALSE(a.release(0, 1));
}

TEST_CASE("allocate(0) is refused", "[page_allocator]") {
    page_allocator a(8);
    CHECK_FALSE(a.allocate(0));
    CHECK(a.free_pages() == 8);
}

TEST_CASE("released pages are reused", "[page_allocator]") {
    page_allocator a(10);
    auto x = a.allocate(10);
    REQUIRE(x);
    CHECK_FALSE(a.allocate(1));
    CHECK(a.release(*x, 10));
    CHECK(a.free_pages() == 10);
    CHECK(a.free_runs() == 1);
    auto y = a.allocate(4);
    REQUIRE(y);
    auto z = a.allocate(6);
    REQUIRE(z);
    CHECK(a.free_pages() == 0);
    CHECK(a.release(*y, 4));
    auto w = a.allocate(4);
    REQUIRE(w);
    CHECK(*w == *y);
}

TEST_CASE("the smallest hole that fits is chosen", "[page_allocator]") {
    // Layout: [h3 x3][u][h1 x1][u][h2 x2][u][rest], holes of 3, 1 and 2 pages, then the tail taken.
    page_allocator a(12);
    auto h3 = a.allocate(3);
    auto u1 = a.allocate(1);
    auto h1 = a.allocate(1);
    auto u2 = a.allocate(1);
    auto h2 = a.allocate(2);
    auto u3 = a.allocate(1);
    auto tail = a.allocate(3);
    REQUIRE((h3 && u1 && h1 && u2 && h2 && u3 && tail));
    REQUIRE(a.free_pages() == 0);
    REQUIRE(a.release(*h3, 3));
    REQUIRE(a.release(*h1, 1));
    REQUIRE(a.release(*h2, 2));
    CHECK(a.free_runs() == 3);
    CHECK(a.free_pages() == 6);

    auto two = a.allocate(2);
    REQUIRE(two);
    CHECK(*two == *h2);
    auto one = a.allocate(1);
    REQUIRE(one);
    CHECK(*one == *h1);
    // Only the 3-page hole is left; a 2-page request splits it at its start.
    auto split = a.allocate(2);
    REQUIRE(split);
    CHECK(*split == *h3);
    CHECK(a.free_pages() == 1);
    CHECK(a.free_runs() == 1);
    auto last = a.allocate(1);
    REQUIRE(last);
    CHECK(*last == *h3 + 2);
}

TEST_CASE("freed neighbours merge into one run", "[page_allocator]") {
    page_allocator a(30);
    auto left = a.allocate(10);
    auto mid = a.allocate(10);
    auto right = a.allocate(10);
    REQUIRE((left && mid && right));
    REQUIRE(a.free_runs() == 0);

    SECTION("left, right, then the middle joins them") {
        REQUIRE(a.release(*left, 10));
        REQUIRE(a.release(*right, 10));
        CHECK(a.free_runs() == 2);
        REQUIRE(a.release(*mid, 10));
        CHECK(a.free_runs() == 1);
        CHECK(a.free_pages() == 30);
        auto all = a.allocate(30);
        REQUIRE(all);
        CHECK(*all == 0);
    }
    SECTION("the middle merges with a free right neighbour") {
        REQUIRE(a.release(*right, 10));
        REQUIRE(a.release(*mid, 10));
        CHECK(a.free_runs() == 1);
        CHECK(a.allocate(20) == mid);
    }
    SECTION("the middle merges with a free left neighbour") {
        REQUIRE(a.release(*left, 10));
        REQUIRE(a.release(*mid, 10));
        CHECK(a.free_runs() == 1);
        CHECK(a.allocate(20) == left);
    }
    SECTION("a run that touches no free run stays separate") {
        REQUIRE(a.release(*mid, 10));
        CHECK(a.free_runs() == 1);
        CHECK_FALSE(a.allocate(11));
    }
}

TEST_CASE("freeing free pages is refused", "[page_allocator]") {
    page_allocator a(20);
    auto x = a.allocate(5); // 0..4
    auto y = a.allocate(5); // 5..9
    REQUIRE((x && y));
    REQUIRE(a.release(*x, 5));
    const auto free_before = a.free_pages();
    const auto runs_before = a.free_runs();

    CHECK_FALSE(a.release(*x, 5));     // double free
    CHECK_FALSE(a.release(*x + 2, 1)); // a page inside a free run
    CHECK_FALSE(a.release(*y - 1, 2)); // overlaps the end of a free run
    CHECK_FALSE(a.release(*y + 4, 2)); // overlaps the start of the free tail
    CHECK_FALSE(a.release(*y, 15));    // covers the whole free tail
    CHECK_FALSE(a.release(0, 20));     // everything, some of it free
    CHECK(a.free_pages() == free_before);
    CHECK(a.free_runs() == runs_before);

    CHECK(a.release(*y, 5));
    CHECK(a.free_pages() == 20);
    CHECK(a.free_runs() == 1);
}

TEST_CASE("releases outside the pages are refused", "[page_allocator]") {
    page_allocator a(16);
    auto all = a.allocate(16);
    REQUIRE(all);
    CHECK_FALSE(a.release(16, 1));
    CHECK_FALSE(a.release(15, 2));
    CHECK_FALSE(a.release(0, 17));
    CHECK_FALSE(a.release(0xFFFFFFFFu, 1));
    CHECK_FALSE(a.release(1, 0xFFFFFFFFu)); // first + pages would wrap
    CHECK_FALSE(a.release(3, 0));
    CHECK(a.free_pages() == 0);
    CHECK(a.release(15, 1));
    CHECK(a.free_pages() == 1);
}

TEST_CASE("random allocations and releases agree with a page bitmap", "[page_allocator]") {
    constexpr std::uint32_t pages = 512;
    page_allocator a(pages);
    std::vector<bool> used(pages, false);
    std::map<std::uint32_t, std::uint32_t> live; // first -> length
    std::mt19937_64 rng(20240601);

    // The maximal free runs of the model: what the allocator should hold after full coalescing.
    auto model_runs = [&] {
        std::vector<std::pair<std::uint32_t, std::uint32_t>> runs;
        for (std::uint32_t i = 0; i < pages;) {
            if (used[i]) {
                ++i;
                continue;
            }
            std::uint32_t j = i;
            while (j < pages && !used[j]) ++j;
            runs.emplace_back(i, j - i);
            i = j;
        }
        return runs;
    };

    std::uint32_t model_free = pages;
    int failures = 0;
    for (int op = 0; op < 6000 && failures == 0; ++op) {
        bool do_alloc = live.empty() || rng() % 100 < 55;
        if (do_alloc) {
            auto want = static_cast<std::uint32_t>(rng() % 3 == 0 ? 1 + rng() % 64 : 1 + rng() % 8);
            auto runs = model_runs();
            // Best fit: the shortest maximal free run that is long enough.
            std::uint32_t best_len = 0;
            for (auto [s, l] : runs)
                if (l >= want && (best_len == 0 || l < best_len)) best_len = l;
            auto got = a.allocate(want);
            if (best_len == 0) {
                if (got) {
                    ++failures;
                    FAIL_CHECK("op " << op << ": allocate(" << want << ") succeeded with no free run that long");
                }
                continue;
            }
            if (!got) {
                ++failures;
                FAIL_CHECK("op " << op << ": allocate(" << want << ") failed with a free run of " << best_len);
                continue;
            }
            bool starts_best_run = false;
            for (auto [s, l] : runs)
                if (s == *got && l == best_len) starts_best_run = true;
            if (!starts_best_run || *got + want > pages) {
                ++failures;
                FAIL_CHECK("op " << op << ": allocate(" << want << ") returned " << *got
                                 << ", not the start of a smallest fitting free run (" << best_len << " pages)");
                continue;
            }
            for (std::uint32_t i = *got; i < *got + want; ++i) {
                if (used[i]) {
                    ++failures;
                    FAIL_CHECK("op " << op << ": page " << i << " handed out twice");
                    break;
                }
                used[i] = true;
            }
            live.emplace(*got, want);
            model_free -= want;
        } else {
            auto it = live.begin();
            std::advance(it, static_cast<long>(rng() % live.size()));
            if (!a.release(it->first, it->second)) {
                ++failures;
                FAIL_CHECK("op " << op << ": release(" << it->first << ", " << it->second << ") of a live run refused");
                continue;
            }
            for (std::uint32_t i = it->first; i < it->first + it->second; ++i) used[i] = false;
            model_free += it->second;
            auto [first, length] = *it;
            live.erase(it);
            // Now and then a double free of the run just released, which must change nothing.
            if (rng() % 4 == 0 && a.release(first, length)) {
                ++failures;
                FAIL_CHECK("op " << op << ": double free of " << first << " accepted");
            }
        }
        if (a.free_pages() != model_free) {
            ++failures;
            FAIL_CHECK("op " << op << ": free_pages " << a.free_pages() << ", model " << model_free);
        }
        if (a.free_runs() != model_runs().size()) {
            ++failures;
            FAIL_CHECK("op " << op << ": free_runs " << a.free_runs() << ", model " << model_runs().size());
        }
    }
    CHECK(failures == 0);

    // Live allocations never overlap (each page was marked by exactly one of them).
    std::uint32_t live_pages = 0;
    std::uint32_t end_of_previous = 0;
    for (auto [first, length] : live) {
        CHECK(first >= end_of_previous);
        end_of_previous = first + length;
        live_pages += length;
    }
    CHECK(live_pages + a.free_pages() == pages);

    for (auto [first, length] : live) CHECK(a.release(first, length));
    CHECK(a.free_pages() == pages);
    CHECK(a.free_runs() == 1);
}
