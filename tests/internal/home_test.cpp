// Unit tests of the home store (allocations, capability generations, page reuse) and sharer sets.
#include <catch2/catch.hpp>

#include "runtime/home.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

using namespace aether;

namespace {

constexpr std::uint64_t cap_gen_limit = std::uint64_t{1} << 48;

bool all_zero(home_store& h, std::uint32_t first, std::uint32_t pages) {
    for (std::uint32_t i = first; i < first + pages; ++i) {
        const std::byte* b = h.bytes(i);
        if (std::any_of(b, b + page_size, [](std::byte x) { return x != std::byte{0}; })) return false;
    }
    return true;
}

} // namespace

TEST_CASE("the home's size is a whole number of pages", "[home]") {
    CHECK(home_store(0, 1, 4096).page_count() == 1);
    CHECK(home_store(0, 1, 4097).page_count() == 2);
    CHECK(home_store(0, 1, 1).page_count() == 1);
    CHECK(home_store(0, 1, 3 * 4096 - 1).page_count() == 3);
    CHECK(home_store(0, 1, 10 * 4096 + 1).page_count() == 11);
    home_store h(2, 4, 5 * 4096 + 100);
    CHECK(h.page_count() == 6);
    CHECK(h.capacity_bytes() == 6 * page_size);
    CHECK(h.free_pages() == 6);
    CHECK(h.self() == 2);
    CHECK(h.node_count() == 4);
    CHECK(h.valid_page(5));
    CHECK_FALSE(h.valid_page(6));

    home_store empty(0, 1, 0);
    CHECK(empty.page_count() == 0);
    CHECK_FALSE(empty.allocate(1));
}

TEST_CASE("allocations take whole, zero-filled pages with their own capability generation", "[home]") {
    home_store h(0, 2, 64 * page_size);
    struct want {
        std::size_t bytes;
        std::uint32_t pages;
    };
    std::vector<home_store::allocation> got;
    std::uint32_t used = 0;
    for (want w : {want{1, 1}, want{4096, 1}, want{4097, 2}, want{3 * 4096 + 5, 4}, want{8 * 4096, 8}}) {
        INFO("allocate(" << w.bytes << ")");
        auto a = h.allocate(w.bytes);
        REQUIRE(a);
        CHECK(a->pages == w.pages);
        CHECK(a->first + a->pages <= h.page_count());
        CHECK(a->cap_gen != 0);
        CHECK(a->cap_gen < cap_gen_limit);
        CHECK(all_zero(h, a->first, a->pages));
        for (std::uint32_t i = a->first; i < a->first + a->pages; ++i) {
            CHECK(h.page(i).allocated == 1);
            CHECK(h.page(i).cap_gen == a->cap_gen);
            CHECK(h.page(i).state == dir_state::unowned);
            CHECK(h.page(i).owner == no_node);
        }
        used += w.pages;
        CHECK(h.free_pages() == 64 - used);
        got.push_back(*a);
    }
    CHECK(h.live_allocations() == got.size());

    std::set<std::uint64_t> gens;
    for (const auto& a : got) gens.insert(a.cap_gen);
    CHECK(gens.size() == got.size());

    // No page belongs to two allocations.
    std::vector<int> owner(h.page_count(), 0);
    for (const auto& a : got)
        for (std::uint32_t i = a.first; i < a.first + a.pages; ++i) ++owner[i];
    CHECK(std::count_if(owner.begin(), owner.end(), [](int n) { return n > 1; }) == 0);
}

TEST_CASE("allocations that do not fit fail", "[home]") {
    home_store h(0, 1, 16 * page_size);
    CHECK_FALSE(h.allocate(0));
    CHECK_FALSE(h.allocate(16 * page_size + 1));
    CHECK_FALSE(h.allocate(std::size_t{1} << 40));
    CHECK_FALSE(h.allocate(SIZE_MAX));
    CHECK(h.free_pages() == 16);
    CHECK(h.live_allocations() == 0);

    auto all = h.allocate(16 * page_size);
    REQUIRE(all);
    CHECK(all->pages == 16);
    CHECK_FALSE(h.allocate(1));
    CHECK(h.live_allocations() == 1);
}

TEST_CASE("allocation_of finds the allocation of every page inside it and nothing outside", "[home]") {
    home_store h(0, 1, 32 * page_size);
    auto a = h.allocate(3 * page_size);
    auto b = h.allocate(5 * page_size);
    REQUIRE((a && b));
    for (const auto& x : {*a, *b}) {
        for (std::uint32_t i = x.first; i < x.first + x.pages; ++i) {
            INFO("page " << i);
            auto found = h.allocation_of(i);
            REQUIRE(found);
            CHECK(found->first == x.first);
            CHECK(found->pages == x.pages);
            CHECK(found->cap_gen == x.cap_gen);
        }
    }
    std::set<std::uint32_t> inside;
    for (const auto& x : {*a, *b})
        for (std::uint32_t i = x.first; i < x.first + x.pages; ++i) inside.insert(i);
    for (std::uint32_t i = 0; i < h.page_count() + 4; ++i) {
        if (inside.count(i)) continue;
        INFO("page " << i);
        CHECK_FALSE(h.allocation_of(i));
    }
    CHECK_FALSE(h.allocation_of(0xFFFFFFFFu));
}

TEST_CASE("begin_free retires an allocation at once and its pages later", "[home]") {
    home_store h(0, 1, 8 * page_size);
    auto a = h.allocate(8 * page_size);
    REQUIRE(a);
    // Write a pattern the next user of these pages must never see.
    for (std::uint32_t i = a->first; i < a->first + a->pages; ++i) std::memset(h.bytes(i), 0xA5, page_size);

    CHECK_FALSE(h.begin_free(a->first + 1)); // not the start of an allocation
    auto freed = h.begin_free(a->first);
    REQUIRE(freed);
    CHECK(freed->first == a->first);
    CHECK(freed->pages == a->pages);
    CHECK(freed->cap_gen != 0);
    CHECK(freed->cap_gen != a->cap_gen);
    CHECK(freed->cap_gen < cap_gen_limit);
    for (std::uint32_t i = a->first; i < a->first + a->pages; ++i) {
        INFO("page " << i);
        CHECK(h.page(i).allocated == 0);
        CHECK(h.page(i).cap_gen == freed->cap_gen);
        CHECK_FALSE(h.allocation_of(i));
    }
    CHECK(h.live_allocations() == 0);
    CHECK_FALSE(h.begin_free(a->first)); // already freed
    CHECK_FALSE(h.revoke(a->first));

    // Copies may still exist elsewhere: the pages stay out of the allocator.
    CHECK(h.free_pages() == 0);
    CHECK_FALSE(h.allocate(1));

    h.finish_free(*freed);
    CHECK(h.free_pages() == 8);
    auto again = h.allocate(8 * page_size);
    REQUIRE(again);
    CHECK(again->first == a->first);
    CHECK(again->cap_gen != a->cap_gen);
    CHECK(again->cap_gen != freed->cap_gen);
    CHECK(all_zero(h, again->first, again->pages));
    for (std::uint32_t i = again->first; i < again->first + again->pages; ++i) CHECK(h.page(i).allocated == 1);
}

TEST_CASE("finish_free leaves no directory state behind", "[home]") {
    home_store h(0, 200, 4 * page_size);
    auto a = h.allocate(2 * page_size);
    REQUIRE(a);
    h.sharers(a->first).add(5);
    h.sharers(a->first).add(150);
    h.page(a->first + 1).state = dir_state::exclusive;
    h.page(a->first + 1).owner = 7;

    auto freed = h.begin_free(a->first);
    REQUIRE(freed);
    h.finish_free(*freed);
    auto b = h.allocate(2 * page_size);
    REQUIRE(b);
    REQUIRE(b->first == a->first);
    for (std::uint32_t i = b->first; i < b->first + b->pages; ++i) {
        INFO("page " << i);
        CHECK(h.sharers(i).empty());
        CHECK(h.sharers(i).members().empty());
        CHECK(h.page(i).state == dir_state::unowned);
        CHECK(h.page(i).owner == no_node);
    }
}

TEST_CASE("a freed run in the middle is reused by a later allocation", "[home]") {
    home_store h(0, 1, 6 * page_size);
    auto a = h.allocate(2 * page_size);
    auto b = h.allocate(2 * page_size);
    auto c = h.allocate(2 * page_size);
    REQUIRE((a && b && c));
    std::memset(h.bytes(b->first), 0x5A, 2 * page_size);
    auto freed = h.begin_free(b->first);
    REQUIRE(freed);
    CHECK_FALSE(h.allocate(page_size));
    h.finish_free(*freed);
    auto d = h.allocate(page_size + 1);
    REQUIRE(d);
    CHECK(d->first == b->first);
    CHECK(all_zero(h, d->first, d->pages));
    // The neighbours are untouched.
    CHECK(h.allocation_of(a->first).value().cap_gen == a->cap_gen);
    CHECK(h.allocation_of(c->first).value().cap_gen == c->cap_gen);
}

TEST_CASE("revoke gives every page of the allocation a new capability generation", "[home]") {
    home_store h(0, 1, 16 * page_size);
    auto before = h.allocate(page_size);
    auto a = h.allocate(4 * page_size);
    auto after = h.allocate(page_size);
    REQUIRE((before && a && after));

    std::set<std::uint64_t> gens{before->cap_gen, a->cap_gen, after->cap_gen};
    auto r = h.revoke(a->first + 2); // any page of the allocation names it
    REQUIRE(r);
    CHECK(r->first == a->first);
    CHECK(r->pages == a->pages);
    CHECK(r->cap_gen != 0);
    CHECK(r->cap_gen < cap_gen_limit);
    CHECK(gens.insert(r->cap_gen).second);
    for (std::uint32_t i = a->first; i < a->first + a->pages; ++i) {
        INFO("page " << i);
        CHECK(h.page(i).cap_gen == r->cap_gen);
        CHECK(h.page(i).allocated == 1);
        CHECK(h.allocation_of(i).value().cap_gen == r->cap_gen);
    }
    // The neighbours keep theirs.
    CHECK(h.page(before->first).cap_gen == before->cap_gen);
    CHECK(h.page(after->first).cap_gen == after->cap_gen);

    auto r2 = h.revoke(a->first);
    REQUIRE(r2);
    CHECK(gens.insert(r2->cap_gen).second);
    CHECK(h.live_allocations() == 3);

    CHECK_FALSE(h.revoke(after->first + 1)); // a free page
    CHECK_FALSE(h.revoke(h.page_count() - 1));
}

TEST_CASE("sharer sets cover node ids beyond 64", "[home][sharers]") {
    home_store h(0, 200, 2 * page_size);
    sharer_set s = h.sharers(0);
    const std::vector<node_id> ids{0, 63, 64, 127, 128, 199};

    CHECK(s.empty());
    CHECK(s.members().empty());
    for (node_id n : ids) CHECK_FALSE(s.has(n));

    for (node_id n : ids) {
        s.add(n);
        CHECK(s.has(n));
        CHECK_FALSE(s.empty());
    }
    // Adding again must not duplicate.
    for (node_id n : ids) s.add(n);
    auto m = s.members();
    std::sort(m.begin(), m.end());
    CHECK(m == ids);
    for (node_id n : {1, 62, 65, 126, 129, 198}) {
        INFO("node " << n);
        CHECK_FALSE(s.has(static_cast<node_id>(n)));
    }
    // The other page's set is separate.
    CHECK(h.sharers(1).empty());

    s.remove(64);
    s.remove(0);
    CHECK_FALSE(s.has(64));
    CHECK_FALSE(s.has(0));
    CHECK(s.has(63));
    CHECK(s.has(127));
    m = s.members();
    std::sort(m.begin(), m.end());
    CHECK(m == std::vector<node_id>{63, 127, 128, 199});

    s.remove(64); // removing a non-member changes nothing
    CHECK(s.members().size() == 4);

    s.clear();
    CHECK(s.empty());
    CHECK(s.members().empty());
    for (node_id n : ids) CHECK_FALSE(s.has(n));

    // One member alone, in each word of the set: empty() and members() must look at every word.
    for (node_id n : ids) {
        INFO("node " << n);
        s.clear();
        s.add(n);
        CHECK_FALSE(s.empty());
        CHECK(s.members() == std::vector<node_id>{n});
        s.remove(n);
        CHECK(s.empty());
        CHECK(s.members().empty());
    }
}

TEST_CASE("every id of a large cluster can share a page", "[home][sharers]") {
    home_store h(0, 200, page_size);
    sharer_set s = h.sharers(0);
    for (node_id n = 0; n < 200; ++n) s.add(n);
    auto m = s.members();
    REQUIRE(m.size() == 200);
    std::sort(m.begin(), m.end());
    for (node_id n = 0; n < 200; ++n) CHECK(m[n] == n);
    for (node_id n = 0; n < 200; n += 2) s.remove(n);
    m = s.members();
    CHECK(m.size() == 100);
    CHECK(std::all_of(m.begin(), m.end(), [](node_id n) { return n % 2 == 1; }));
}
