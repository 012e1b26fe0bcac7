// Table-driven tests of the readahead detector (runtime/readahead.hpp): which faults continue a
// scan, how the window grows, and how streams give way. No threads, no sockets, no faults.
#include <catch2/catch.hpp>

#include "runtime/readahead.hpp"

#include <vector>

using namespace aether;

namespace {

constexpr std::uint64_t P = page_size;

// One step of a scenario: a fault on `page` asks for `expect` pages; the caller then obtained the
// run [page, page + got * P) and reports it (got 0: it reports nothing).
struct step {
    std::uint64_t page;
    std::uint32_t expect;
    std::uint32_t got;
};

void play(std::uint32_t max_pages, const std::vector<step>& steps) {
    readahead_detector d(max_pages);
    int i = 0;
    for (const step& s : steps) {
        INFO("step " << i++ << ": fault on page " << s.page / P);
        CHECK(d.pages_for_fault(s.page) == s.expect);
        if (s.got > 0) d.continue_at(s.page, s.page + s.got * P);
    }
}

} // namespace

TEST_CASE("a sequential scan grows its window 1, 4, 16, 64 and stays at the largest run", "[readahead]") {
    play(64, {{0, 1, 1}, {1 * P, 4, 4}, {5 * P, 16, 16}, {21 * P, 64, 64}, {85 * P, 64, 64}, {149 * P, 64, 64}});
}

TEST_CASE("the window never exceeds the configured largest run; 1 turns readahead off", "[readahead]") {
    play(16, {{0, 1, 1}, {P, 4, 4}, {5 * P, 16, 16}, {21 * P, 16, 16}});
    play(1, {{0, 1, 1}, {P, 1, 1}, {2 * P, 1, 1}});
    play(0, {{0, 1, 1}, {P, 1, 1}}); // 0 is taken as 1
}

TEST_CASE("a fault anywhere but right after the last run starts a new stream of one page", "[readahead]") {
    play(64, {
                 {0, 1, 1},
                 {P, 4, 4},
                 {100 * P, 1, 1}, // elsewhere: new stream
                 {2 * P, 1, 1},   // inside the run already fetched: not sequential
                 {5 * P, 16, 16}, // right after the first stream's run: it goes on growing
                 {101 * P, 4, 4}, // and so does the second
             });
}

TEST_CASE("a run that came back shorter than asked continues where it ended", "[readahead]") {
    play(64, {{0, 1, 1}, {P, 4, 2}, {3 * P, 16, 16}, {5 * P, 1, 1}});
}

TEST_CASE("a fault whose run was not reported does not move its stream", "[readahead]") {
    // The fetch failed (nothing obtained): the next fault on the same page counts as sequential
    // again, since the stream still waits there.
    play(64, {{0, 1, 1}, {P, 4, 0}, {P, 16, 16}});
}

TEST_CASE("eight streams are tracked; a ninth replaces the least recently used", "[readahead]") {
    readahead_detector d(64);
    for (std::uint64_t s = 0; s < 8; ++s) {
        const std::uint64_t at = s * 1000 * P;
        CHECK(d.pages_for_fault(at) == 1);
        d.continue_at(at, at + P);
    }
    // Stream 0 is used again, so stream 1 is now the least recently used.
    CHECK(d.pages_for_fault(P) == 4);
    d.continue_at(P, 5 * P);
    CHECK(d.pages_for_fault(9000 * P) == 1); // a ninth stream
    d.continue_at(9000 * P, 9001 * P);
    CHECK(d.pages_for_fault(5 * P) == 16);   // stream 0 survived
    CHECK(d.pages_for_fault(2001 * P) == 4); // and stream 2
    // Stream 1 was replaced: its next fault starts over (and replaces stream 3, now the oldest).
    CHECK(d.pages_for_fault(1001 * P) == 1);
    CHECK(d.pages_for_fault(7001 * P) == 4); // stream 7 is still there
}
