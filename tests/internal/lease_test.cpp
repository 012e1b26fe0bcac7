// Tests of the lease bookkeeping (runtime/lease.hpp), no threads, no clock: times are given.
#include <catch2/catch.hpp>

#include "runtime/lease.hpp"

using namespace aether;

namespace {

constexpr std::uint64_t ms = 1'000'000;
const lease_terms terms = lease_terms::of_ms(400); // usable 300 ms after a send, guard 100 ms
constexpr node_id home = 1;

} // namespace

TEST_CASE("a reply renews the lease from its request's send, less the guard", "[lease]") {
    copy_leases l(2, terms);
    CHECK(l.usable_until(home) == 0);
    CHECK_FALSE(l.must_drop(home, 10 * ms)); // nothing held yet
    CHECK(l.on_reply(home, 1000 * ms, 1010 * ms));
    CHECK(l.usable_until(home) == 1300 * ms);
    // An older request's reply does not shorten it.
    CHECK(l.on_reply(home, 900 * ms, 1020 * ms));
    CHECK(l.usable_until(home) == 1300 * ms);
    CHECK_FALSE(l.must_drop(home, 1299 * ms));
    CHECK(l.must_drop(home, 1300 * ms));
}

TEST_CASE("a reply that comes after its own promise ran out is not trusted", "[lease]") {
    copy_leases l(2, terms);
    CHECK_FALSE(l.on_reply(home, 1000 * ms, 1300 * ms));
    CHECK(l.usable_until(home) == 0);
    CHECK(l.on_reply(home, 1000 * ms, 1299 * ms));
}

TEST_CASE("a lapsed lease is renewed only once its copies were dropped", "[lease]") {
    copy_leases l(2, terms);
    REQUIRE(l.on_reply(home, 1000 * ms, 1001 * ms));
    // Lapsed at 1300: a reply in time for itself still does not renew before the drop.
    CHECK(l.on_reply(home, 1350 * ms, 1360 * ms));
    CHECK(l.usable_until(home) == 1300 * ms);
    CHECK(l.must_drop(home, 1360 * ms));
    l.dropped(home, 1361 * ms);
    // The renewal that came during the drop covers what it brought (the drop may have passed its
    // page before it was installed): that runs on, and lapses in turn.
    CHECK(l.usable_until(home) == 1650 * ms);
    CHECK_FALSE(l.must_drop(home, 1649 * ms));
    CHECK(l.must_drop(home, 1650 * ms));
    l.dropped(home, 1651 * ms);
    CHECK_FALSE(l.must_drop(home, 1700 * ms)); // nothing held any more
    CHECK(l.on_reply(home, 1702 * ms, 1710 * ms));
    CHECK(l.usable_until(home) == 2002 * ms);
    CHECK_FALSE(l.must_drop(home, 1800 * ms));
}

TEST_CASE("a lease dropped with nothing renewed meanwhile holds nothing until the next reply", "[lease]") {
    copy_leases l(2, terms);
    REQUIRE(l.on_reply(home, 1000 * ms, 1001 * ms));
    REQUIRE(l.must_drop(home, 1300 * ms));
    l.dropped(home, 1300 * ms);
    CHECK_FALSE(l.must_drop(home, 5000 * ms));
    CHECK_FALSE(l.wants_heartbeat(home, 5000 * ms));
}

TEST_CASE("a heartbeat is due a quarter lease after the last renewal, while the lease runs", "[lease]") {
    copy_leases l(2, terms);
    CHECK_FALSE(l.wants_heartbeat(home, 5 * ms)); // never renewed: nothing to keep
    REQUIRE(l.on_reply(home, 1000 * ms, 1001 * ms));
    CHECK_FALSE(l.wants_heartbeat(home, 1099 * ms));
    CHECK(l.wants_heartbeat(home, 1100 * ms));
    CHECK_FALSE(l.wants_heartbeat(home, 1300 * ms)); // lapsed: the copies go instead
}

TEST_CASE("the home fences a node a lease after its last reply to it", "[lease]") {
    fence_clock f(3, terms);
    CHECK(f.fenced_from(2) == 0); // never answered: it holds nothing of this home's
    f.replied(2, 5000 * ms);
    CHECK(f.fenced_from(2) == 5400 * ms);
    // The requester stops a guard earlier than the home assumes, counted from its (earlier) send.
    copy_leases l(3, terms);
    REQUIRE(l.on_reply(0, 4990 * ms, 5010 * ms));
    CHECK(l.usable_until(0) + terms.guard_ns <= f.fenced_from(2));
}
