// Tests of the cache's fetch gate (runtime/cache.hpp), one thread, no sockets: the gate a fault
// takes before fetching a page, as a table of (copy here, what the fault needs) -> outcome, and the
// epoch check that keeps a grant which crossed an invalidation out of the window. The window is
// real (reserved and registered with userfaultfd) but no page of it is ever touched.
#include <catch2/catch.hpp>

#include "runtime/cache.hpp"

#include <array>
#include <string>

using namespace aether;

namespace {

constexpr node_id nodes = 2;
const std::uint64_t page = make_addr(1, 0); // a page of node 1
alignas(4096) const std::array<std::byte, page_size> bytes{};

enum class copy { none, shared, exclusive, void_copy };

const char* name(copy c) {
    switch (c) {
    case copy::none: return "no copy";
    case copy::shared: return "a shared copy";
    case copy::exclusive: return "an exclusive copy";
    case copy::void_copy: return "a VOID copy";
    }
    return "?";
}

struct fixture {
    std::unique_ptr<fault::window> w;
    node_counters counters{};
    std::unique_ptr<cache> c;

    fixture() {
        auto created = fault::window::create(nodes, fault::fault_mode::handler);
        if (!created) {
            WARN("no window here (" << created.error().message << "): the gate tests do not run");
            return;
        }
        w = std::move(created).value();
        c = std::make_unique<cache>(*w, nodes, counters);
    }
    void hold(copy what) {
        switch (what) {
        case copy::none: break;
        case copy::shared: REQUIRE(c->install(page, bytes.data(), 1, 1, false, false) == cache::install_result::installed); break;
        case copy::exclusive:
            REQUIRE(c->install(page, bytes.data(), 1, 1, true, false) == cache::install_result::installed);
            break;
        case copy::void_copy:
            REQUIRE(c->install_void(page, now_ms() + 60'000, void_reason::timeout) == cache::install_result::installed);
            break;
        }
    }
    static std::uint64_t now_ms() { return now_ns() / 1'000'000; }
};

deadline soon() { return deadline::after(milliseconds(5)); }

} // namespace

TEST_CASE("the fetch gate: a fault fetches only what the copy here does not give it", "[fetch_gate]") {
    using gr = cache::gate_result;
    struct row {
        copy here;
        bool need_exclusive;
        gr expect;
    } rows[] = {
        {copy::none, false, gr::acquired},      {copy::none, true, gr::acquired},
        {copy::shared, false, gr::present},     {copy::shared, true, gr::acquired}, // a write upgrades
        {copy::exclusive, false, gr::present},  {copy::exclusive, true, gr::present},
        {copy::void_copy, false, gr::acquired}, {copy::void_copy, true, gr::acquired}, // VOID is no data
    };
    for (const row& r : rows) {
        INFO(name(r.here) << ", the fault needs " << (r.need_exclusive ? "to write" : "to read"));
        fixture f;
        if (!f.c) return;
        f.hold(r.here);
        CHECK(f.c->begin_fetch(page, r.need_exclusive, soon()) == r.expect);
        if (r.expect == gr::acquired) {
            // One fetch at a time: the gate is held until end_fetch.
            CHECK_FALSE(f.c->try_take_gate(page));
            f.c->end_fetch(page);
            CHECK(f.c->try_take_gate(page));
            f.c->end_fetch(page);
        } else {
            CHECK(f.c->try_take_gate(page)); // a fault that found its copy holds no gate
            f.c->end_fetch(page);
        }
    }
}

TEST_CASE("a second fault on a page being fetched waits, and gives up at its deadline", "[fetch_gate]") {
    fixture f;
    if (!f.c) return;
    REQUIRE(f.c->begin_fetch(page, false, soon()) == cache::gate_result::acquired);
    CHECK(f.c->begin_fetch(page, false, soon()) == cache::gate_result::timeout);
    CHECK(f.c->take_gate(page, soon()) == cache::gate_result::timeout);
    f.c->end_fetch(page);
    CHECK(f.c->take_gate(page, soon()) == cache::gate_result::acquired);
    f.c->end_fetch(page);
}

TEST_CASE("take_gate is the gate whatever the copy: a local drop holds it over a present copy", "[fetch_gate]") {
    for (copy here : {copy::none, copy::shared, copy::exclusive, copy::void_copy}) {
        INFO(name(here));
        fixture f;
        if (!f.c) return;
        f.hold(here);
        CHECK(f.c->take_gate(page, soon()) == cache::gate_result::acquired);
        CHECK_FALSE(f.c->try_take_gate(page));
        f.c->end_fetch(page);
    }
}

TEST_CASE("a grant older than an invalidation already handled is not installed", "[fetch_gate]") {
    fixture f;
    if (!f.c) return;
    std::array<std::byte, page_size> out{};
    f.c->invalidate(page, 7, false, out.data()); // no copy yet: only the epoch is recorded
    CHECK(f.c->install(page, bytes.data(), 6, 1, false, false) == cache::install_result::stale);
    CHECK(f.c->begin_fetch(page, false, soon()) == cache::gate_result::acquired); // still absent
    f.c->end_fetch(page);
    CHECK(f.c->install(page, bytes.data(), 7, 1, false, false) == cache::install_result::installed);
    CHECK(f.c->begin_fetch(page, false, soon()) == cache::gate_result::present);
}

// A recall the home sent during a cut can arrive after the heal, when this node has been granted
// the page again. Taking the newer copy for it dropped that copy's writes: the home had given up
// on the recall, so it neither took the bytes nor forgot the grant, and an acknowledged store was
// gone (tests/hosts/link_down.c with LINK_DOWN_PLAIN_STORES=1).
TEST_CASE("an invalidation older than the copy's grant leaves the copy alone", "[fetch_gate]") {
    for (bool exclusive : {false, true}) {
        for (bool downgrade : {false, true}) {
            INFO((exclusive ? "an exclusive copy" : "a shared copy") << (downgrade ? ", a downgrade" : ", a recall"));
            fixture f;
            if (!f.c) return;
            REQUIRE(f.c->install(page, bytes.data(), 9, 1, exclusive, false) == cache::install_result::installed);
            std::array<std::byte, page_size> out{};
            CHECK(f.c->invalidate(page, 8, downgrade, out.data()) == cache::invalidation::stale);
            CHECK(f.c->state(page) == (exclusive ? cache_state::exclusive : cache_state::shared));
            // One sent after the grant takes it.
            CHECK(f.c->invalidate(page, 10, downgrade, out.data()) ==
                  (exclusive ? cache::invalidation::sent_bytes : cache::invalidation::done));
            CHECK(f.c->state(page) == (downgrade ? cache_state::shared : cache_state::invalid));
        }
    }
}

// The answer that carries an exclusive copy's bytes can be lost with its connection after the copy
// is gone; the node then tells the home which grant's bytes it gave up (directory::owner_gave_up).
TEST_CASE("giving an exclusive copy's bytes away records its grant's generation; a restarted home's are forgotten",
          "[fetch_gate]") {
    constexpr std::uint64_t grant_generation = 42;
    for (bool downgrade : {false, true}) {
        INFO((downgrade ? "a downgrade" : "a recall"));
        fixture f;
        if (!f.c) return;
        std::array<std::byte, page_size> out{};
        CHECK(f.c->given_up_generation(page) == 0);
        REQUIRE(f.c->install(page, bytes.data(), 3, grant_generation, true, false) == cache::install_result::installed);
        CHECK(f.c->given_up_generation(page) == 0); // holding a copy gives nothing up
        REQUIRE(f.c->invalidate(page, 4, downgrade, out.data()) == cache::invalidation::sent_bytes);
        CHECK(f.c->given_up_generation(page) == grant_generation);
        // A later answer without bytes (the downgraded copy, or none) leaves the record as it is.
        CHECK(f.c->invalidate(page, 5, false, out.data()) == cache::invalidation::done);
        CHECK(f.c->given_up_generation(page) == grant_generation);
        // A shared copy of a later grant given up: nothing of its own to record.
        REQUIRE(f.c->install(page, bytes.data(), 6, grant_generation + 1, false, false) == cache::install_result::installed);
        CHECK(f.c->invalidate(page, 7, false, out.data()) == cache::invalidation::done);
        CHECK(f.c->given_up_generation(page) == grant_generation);
        f.c->discard_node(node_of(page)); // the home restarted: its generations start again
        CHECK(f.c->given_up_generation(page) == 0);
    }
}
