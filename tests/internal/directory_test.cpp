// Table-driven tests of the directory's per-page state machine (runtime/directory.hpp), with no
// threads and no sockets: every starting state of an entry x every request, then every kind of
// answer a target can give.
#include <catch2/catch.hpp>

#include "runtime/directory.hpp"

#include <string>
#include <vector>

using namespace aether;
namespace dir = aether::directory;

namespace {

constexpr node_id home_node = 0;
constexpr node_id requester = 1;
constexpr node_id node_count = 4;
constexpr std::uint64_t start_generation = 5;
constexpr std::uint32_t start_epoch = 10;

// The entries a request can meet. Nodes 2 and 3 are "others".
enum class start {
    unowned,
    shared_by_requester,
    shared_by_others,
    shared_by_both,
    exclusive_at_requester,
    exclusive_at_other,
    lost,
    freed,
    never_allocated
};

const char* name(start s) {
    switch (s) {
    case start::unowned: return "unowned";
    case start::shared_by_requester: return "shared by the requester";
    case start::shared_by_others: return "shared by nodes 2 and 3";
    case start::shared_by_both: return "shared by the requester and node 2";
    case start::exclusive_at_requester: return "exclusive at the requester";
    case start::exclusive_at_other: return "exclusive at node 2";
    case start::lost: return "lost";
    case start::freed: return "freed";
    case start::never_allocated: return "never allocated";
    }
    return "?";
}

std::uint64_t bits(std::initializer_list<node_id> nodes) {
    std::uint64_t b = 0;
    for (node_id n : nodes) b |= std::uint64_t{1} << n;
    return b;
}

home_page make_entry(start s) {
    home_page p{};
    p.allocated = 1;
    p.cap_gen = 1;
    p.owner = no_node;
    p.generation = start_generation;
    p.epoch = start_epoch;
    switch (s) {
    case start::unowned: p.state = dir_state::unowned; break;
    case start::shared_by_requester:
        p.state = dir_state::shared;
        p.sharers = bits({requester});
        break;
    case start::shared_by_others:
        p.state = dir_state::shared;
        p.sharers = bits({2, 3});
        break;
    case start::shared_by_both:
        p.state = dir_state::shared;
        p.sharers = bits({requester, 2});
        break;
    case start::exclusive_at_requester:
        p.state = dir_state::exclusive;
        p.owner = requester;
        break;
    case start::exclusive_at_other:
        p.state = dir_state::exclusive;
        p.owner = 2;
        break;
    case start::lost: p.state = dir_state::lost; break;
    case start::freed: p.allocated = 0; break;
    case start::never_allocated:
        p.allocated = 0;
        p.cap_gen = 0;
        break;
    }
    return p;
}

// What the home does with a request, as node.cpp does it, without the bytes: admit, ask the
// targets (every one answers "done", the exclusive owner with its page), complete.
struct outcome {
    std::optional<failure> refused;
    std::string targets; // "2" invalidate node 2, "2d" downgrade node 2, in the order asked
    dir_state state = dir_state::unowned;
    node_id owner = no_node;
    std::uint64_t sharers = 0;
    std::uint64_t generation_delta = 0;
    bool epoch_advanced = false;
    bool requester_keeps_copy = false;
};

outcome run(start s, wire::msg op) {
    home_page p = make_entry(s);
    sharer_set set(p, node_count);
    outcome out;
    out.refused = dir::admit(op, p);
    if (out.refused) {
        out.state = p.state;
        out.owner = p.owner;
        out.sharers = p.sharers;
        return out;
    }
    const bool was_sharer = set.has(requester);
    const bool discard = dir::discards_owner_data(op);
    for (const auto& t : dir::targets(op, requester, p, set)) {
        if (!out.targets.empty()) out.targets += ",";
        out.targets += std::to_string(t.node) + (t.downgrade ? "d" : "");
        const bool owner = p.owner == t.node;
        const auto e = dir::on_answer(p, set, t, dir::answer{.ok = true, .carries_page = owner}, discard);
        CHECK(e.take_page == (owner && !discard));
        CHECK_FALSE(e.fails_with);
    }
    const std::uint32_t epoch_before_completion = p.epoch;
    switch (op) {
    case wire::msg::read_shared: dir::share(p, set, requester); break;
    case wire::msg::read_exclusive:
        out.requester_keeps_copy = dir::make_exclusive(p, set, requester, was_sharer, false).requester_is_sharer;
        break;
    case wire::msg::write_bytes:
    case wire::msg::fetch_add:
    case wire::msg::compare_swap: dir::record_write(p); break;
    case wire::msg::putback: (void)dir::accept_putback(p, set, requester); break;
    default: dir::drop_all(p, set, op); break;
    }
    out.state = p.state;
    out.owner = p.owner;
    out.sharers = p.sharers;
    out.generation_delta = p.generation - start_generation;
    out.epoch_advanced = p.epoch > epoch_before_completion;
    return out;
}

struct row {
    start from;
    std::optional<failure> refused;
    std::string targets;
    dir_state state;
    node_id owner;
    std::uint64_t sharers;
    std::uint64_t generation_delta;
    bool requester_keeps_copy = false;
};

bool same(const std::optional<failure>& a, const std::optional<failure>& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a || (a->status == b->status && a->reason == b->reason);
}

void check_table(wire::msg op, const std::vector<row>& rows) {
    for (const row& r : rows) {
        INFO("request " << wire::to_string(op) << " meets an entry " << name(r.from));
        const outcome o = run(r.from, op);
        CHECK(same(o.refused, r.refused));
        if (r.refused) continue;
        CHECK(o.targets == r.targets);
        CHECK(o.state == r.state);
        CHECK(o.owner == r.owner);
        CHECK(o.sharers == r.sharers);
        CHECK(o.generation_delta == r.generation_delta);
        CHECK(o.requester_keeps_copy == r.requester_keeps_copy);
    }
}

const auto lost = dir::lost_page;
const auto freed = dir::freed_memory;
const auto never = dir::never_allocated;
constexpr auto U = dir_state::unowned;
constexpr auto S = dir_state::shared;
constexpr auto X = dir_state::exclusive;
constexpr auto L = dir_state::lost;
constexpr node_id none = no_node;

} // namespace

TEST_CASE("read_shared: a read-only copy; an exclusive owner elsewhere downgrades and sends its bytes home", "[directory]") {
    const std::vector<row> rows = {
        {start::unowned, {}, "", S, none, bits({1}), 0},
        {start::shared_by_requester, {}, "", S, none, bits({1}), 0},
        {start::shared_by_others, {}, "", S, none, bits({1, 2, 3}), 0},
        {start::shared_by_both, {}, "", S, none, bits({1, 2}), 0},
        // The owner asking for a shared copy dropped its grant as stale: it never wrote.
        {start::exclusive_at_requester, {}, "", S, none, bits({1}), 0},
        {start::exclusive_at_other, {}, "2d", S, none, bits({1, 2}), 1},
        {start::lost, lost, "", L, none, 0, 0},
        {start::freed, freed, "", U, none, 0, 0},
        {start::never_allocated, never, "", U, none, 0, 0},
    };
    check_table(wire::msg::read_shared, rows);
}

TEST_CASE("read_exclusive: every other copy goes; a sharer that asks keeps its copy and gets no bytes", "[directory]") {
    const std::vector<row> rows = {
        {start::unowned, {}, "", X, 1, 0, 1},
        {start::shared_by_requester, {}, "", X, 1, 0, 1, true},
        {start::shared_by_others, {}, "2,3", X, 1, 0, 1},
        {start::shared_by_both, {}, "2", X, 1, 0, 1, true},
        {start::exclusive_at_requester, {}, "", X, 1, 0, 1},
        {start::exclusive_at_other, {}, "2", X, 1, 0, 2},
        {start::lost, lost, "", L, none, 0, 0},
        {start::freed, freed, "", U, none, 0, 0},
        {start::never_allocated, never, "", U, none, 0, 0},
    };
    check_table(wire::msg::read_exclusive, rows);
}

TEST_CASE("writes at the home (write_bytes, fetch_add, compare_swap): every copy goes, the requester's too", "[directory]") {
    for (wire::msg op : {wire::msg::write_bytes, wire::msg::fetch_add, wire::msg::compare_swap}) {
        const std::vector<row> rows = {
            {start::unowned, {}, "", U, none, 0, 1},
            {start::shared_by_requester, {}, "1", U, none, 0, 1},
            {start::shared_by_others, {}, "2,3", U, none, 0, 1},
            {start::shared_by_both, {}, "1,2", U, none, 0, 1},
            {start::exclusive_at_requester, {}, "1", U, none, 0, 2},
            {start::exclusive_at_other, {}, "2", U, none, 0, 2},
            {start::lost, lost, "", L, none, 0, 0},
            {start::freed, freed, "", U, none, 0, 0},
            {start::never_allocated, never, "", U, none, 0, 0},
        };
        check_table(op, rows);
    }
}

TEST_CASE("putback: applied only from the exclusive owner, which stays recorded as a sharer", "[directory]") {
    const std::vector<row> rows = {
        {start::unowned, {}, "", U, none, 0, 0},
        {start::shared_by_requester, {}, "", S, none, bits({1}), 0},
        {start::shared_by_others, {}, "", S, none, bits({2, 3}), 0},
        {start::shared_by_both, {}, "", S, none, bits({1, 2}), 0},
        {start::exclusive_at_requester, {}, "", S, none, bits({1}), 1},
        {start::exclusive_at_other, {}, "", X, 2, 0, 0},
        // A late write-back to a lost page is taken and ignored: the page stays VOID.
        {start::lost, {}, "", L, none, 0, 0},
        // A late write-back of freed memory is accepted and changes nothing.
        {start::freed, {}, "", U, none, 0, 0},
        {start::never_allocated, {}, "", U, none, 0, 0},
    };
    check_table(wire::msg::putback, rows);
}

TEST_CASE("free: every copy goes, the owner's bytes are discarded, a lost page is unowned again", "[directory]") {
    const std::vector<row> rows = {
        {start::unowned, {}, "", U, none, 0, 0},
        {start::shared_by_requester, {}, "1", U, none, 0, 0},
        {start::shared_by_others, {}, "2,3", U, none, 0, 0},
        {start::shared_by_both, {}, "1,2", U, none, 0, 0},
        {start::exclusive_at_requester, {}, "1", U, none, 0, 0},
        {start::exclusive_at_other, {}, "2", U, none, 0, 0},
        {start::lost, {}, "", U, none, 0, 0},
        {start::freed, {}, "", U, none, 0, 0},
        {start::never_allocated, {}, "", U, none, 0, 0},
    };
    check_table(wire::msg::free, rows);
}

TEST_CASE("revoke: every copy goes, the owner's bytes come home, a lost page stays lost", "[directory]") {
    const std::vector<row> rows = {
        {start::unowned, {}, "", U, none, 0, 0},
        {start::shared_by_requester, {}, "1", U, none, 0, 0},
        {start::shared_by_others, {}, "2,3", U, none, 0, 0},
        {start::shared_by_both, {}, "1,2", U, none, 0, 0},
        {start::exclusive_at_requester, {}, "1", U, none, 0, 1},
        {start::exclusive_at_other, {}, "2", U, none, 0, 1},
        {start::lost, {}, "", L, none, 0, 0},
        {start::freed, {}, "", U, none, 0, 0},
        {start::never_allocated, {}, "", U, none, 0, 0},
    };
    check_table(wire::msg::revoke, rows);
}

TEST_CASE("invalidate: every copy goes and comes home; refused like a read for memory that is not live", "[directory]") {
    const std::vector<row> rows = {
        {start::unowned, {}, "", U, none, 0, 0},
        {start::shared_by_requester, {}, "1", U, none, 0, 0},
        {start::shared_by_others, {}, "2,3", U, none, 0, 0},
        {start::shared_by_both, {}, "1,2", U, none, 0, 0},
        {start::exclusive_at_requester, {}, "1", U, none, 0, 1},
        {start::exclusive_at_other, {}, "2", U, none, 0, 1},
        {start::lost, lost, "", L, none, 0, 0},
        {start::freed, freed, "", U, none, 0, 0},
        {start::never_allocated, never, "", U, none, 0, 0},
    };
    check_table(wire::msg::invalidate, rows);
}

TEST_CASE("every completed request gives the entry a new epoch, except a putback that is not applied", "[directory]") {
    const wire::msg ops[] = {wire::msg::read_shared, wire::msg::read_exclusive, wire::msg::write_bytes,
                             wire::msg::fetch_add,   wire::msg::compare_swap,   wire::msg::putback,
                             wire::msg::free,        wire::msg::revoke,         wire::msg::invalidate};
    const start starts[] = {start::unowned,
                            start::shared_by_requester,
                            start::shared_by_others,
                            start::shared_by_both,
                            start::exclusive_at_requester,
                            start::exclusive_at_other,
                            start::lost,
                            start::freed,
                            start::never_allocated};
    for (wire::msg op : ops)
        for (start s : starts) {
            INFO("request " << wire::to_string(op) << " meets an entry " << name(s));
            const outcome o = run(s, op);
            if (o.refused) continue;
            CHECK(o.epoch_advanced == (op != wire::msg::putback || s == start::exclusive_at_requester));
        }
}

TEST_CASE("an invalidate carries a generation the page reaches at least", "[directory]") {
    home_page p = make_entry(start::shared_by_others);
    sharer_set set(p, node_count);
    CHECK(dir::drop_all(p, set, wire::msg::invalidate, start_generation + 7).generation == start_generation + 7);
    CHECK(dir::drop_all(p, set, wire::msg::invalidate, 1).generation == start_generation + 7); // never backwards
}

TEST_CASE("answers from targets: done, done with the owner's bytes, dead, unreachable, timed out", "[directory]") {
    const dir::target owner_invalidated{2, false};
    const dir::target owner_downgraded{2, true};
    const dir::target sharer{3, false};
    auto exclusive_at_2 = [] { return make_entry(start::exclusive_at_other); };

    SECTION("the owner sends its bytes and drops its copy: they come home, a new generation") {
        home_page p = exclusive_at_2();
        const auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, {.ok = true, .carries_page = true}, false);
        CHECK(e.take_page);
        CHECK(p.generation == start_generation + 1);
        CHECK(p.owner == none);
        CHECK(p.state == U);
    }
    SECTION("the owner downgrades: its bytes come home and it stays a sharer") {
        home_page p = exclusive_at_2();
        const auto e = dir::on_answer(p, sharer_set(p, node_count), owner_downgraded, {.ok = true, .carries_page = true}, false);
        CHECK(e.take_page);
        CHECK(p.state == S);
        CHECK(p.sharers == bits({2}));
    }
    SECTION("a free discards the owner's bytes") {
        home_page p = exclusive_at_2();
        const auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, {.ok = true, .carries_page = true}, true);
        CHECK_FALSE(e.take_page);
        CHECK(p.generation == start_generation);
    }
    SECTION("a sharer's bytes are never taken: the home's are current") {
        home_page p = make_entry(start::shared_by_others);
        const auto e = dir::on_answer(p, sharer_set(p, node_count), sharer, {.ok = true, .carries_page = true}, false);
        CHECK_FALSE(e.take_page);
        CHECK(p.sharers == bits({2}));
        CHECK(p.state == S);
    }
    // No error proves a node dead (a firewall resets and rejects too): only its lease running out
    // (fenced) lets the home forget its copy, and an owner's bytes are never given up while it may live.
    for (void_reason why : {void_reason::node_crashed, void_reason::unreachable, void_reason::timeout, void_reason::partition}) {
        const dir::answer not_fenced{.ok = false, .error = failure::of(why)};
        const dir::answer fenced{.ok = false, .error = failure::of(why), .fenced = true};
        SECTION(std::string("no answer (") + to_string(why) +
                "), not fenced: the copy may live on, it stays recorded, the request fails") {
            home_page p = exclusive_at_2();
            auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, not_fenced, false);
            REQUIRE(e.fails_with);
            CHECK(e.fails_with->reason == why);
            CHECK(p.state == X);
            CHECK(p.owner == 2);
            home_page q = make_entry(start::shared_by_others);
            e = dir::on_answer(q, sharer_set(q, node_count), sharer, not_fenced, false);
            REQUIRE(e.fails_with);
            CHECK(q.sharers == bits({2, 3}));
        }
        SECTION(std::string("no answer (") + to_string(why) + "), even during a free, not fenced: the request fails") {
            home_page p = exclusive_at_2();
            const auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, not_fenced, true);
            CHECK(e.fails_with);
            CHECK(p.owner == 2);
        }
        SECTION(std::string("the owner is fenced (") + to_string(why) +
                "): its bytes are the only current ones, the page waits for it") {
            home_page p = exclusive_at_2();
            const auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, fenced, false);
            REQUIRE(e.fails_with);
            CHECK(e.fails_with->reason == why);
            CHECK(p.state == X);
            CHECK(p.owner == 2);
            CHECK_FALSE(dir::admit(wire::msg::read_shared, p).has_value()); // not lost
        }
        SECTION(std::string("the owner is fenced (") + to_string(why) + ") during a free: its bytes are not wanted") {
            home_page p = exclusive_at_2();
            const auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, fenced, true);
            CHECK_FALSE(e.fails_with);
            CHECK(p.owner == none);
            CHECK(p.state == U);
        }
        SECTION(std::string("a sharer is fenced (") + to_string(why) + "): it no longer uses its copy, the request goes on") {
            home_page p = make_entry(start::shared_by_others);
            const auto e = dir::on_answer(p, sharer_set(p, node_count), sharer, fenced, false);
            CHECK_FALSE(e.fails_with);
            CHECK(p.sharers == bits({2}));
        }
    }
}

TEST_CASE("which entries a readahead run may share, and which the home may grant its own node exclusive", "[directory]") {
    const start starts[] = {start::unowned,
                            start::shared_by_requester,
                            start::shared_by_others,
                            start::shared_by_both,
                            start::exclusive_at_requester,
                            start::exclusive_at_other,
                            start::lost,
                            start::freed,
                            start::never_allocated};
    for (start s : starts) {
        INFO("an entry " << name(s));
        home_page p = make_entry(s);
        const bool live = s != start::freed && s != start::never_allocated;
        const bool shared_or_none =
            s == start::unowned || s == start::shared_by_requester || s == start::shared_by_others || s == start::shared_by_both;
        CHECK(dir::shareable_ahead(p) == (live && shared_or_none));
        CHECK(dir::unclaimed(p, sharer_set(p, node_count)) == (s == start::unowned));
        p.busy = 1; // a round in flight: neither
        CHECK_FALSE(dir::shareable_ahead(p));
        CHECK_FALSE(dir::unclaimed(p, sharer_set(p, node_count)));
    }
}

TEST_CASE("a node that restarted holds no copy; a live page it held exclusive is lost", "[directory]") {
    struct {
        start from;
        bool lost;
        dir_state state;
        std::uint64_t sharers;
    } rows[] = {
        {start::unowned, false, U, 0},
        {start::shared_by_others, false, S, bits({3})},
        {start::shared_by_both, false, S, bits({1})},
        {start::exclusive_at_other, true, L, 0},
        {start::exclusive_at_requester, false, X, 0},
        {start::lost, false, L, 0},
    };
    for (const auto& r : rows) {
        INFO("node 2 restarts; an entry " << name(r.from));
        home_page p = make_entry(r.from);
        CHECK(dir::forget(p, sharer_set(p, node_count), 2) == r.lost);
        CHECK(p.state == r.state);
        CHECK(p.sharers == r.sharers);
    }
    home_page freed_owned = make_entry(start::exclusive_at_other);
    freed_owned.allocated = 0; // freed while node 2 held it: nothing to lose
    CHECK_FALSE(dir::forget(freed_owned, sharer_set(freed_owned, node_count), 2));
    CHECK(freed_owned.state == U);
}

// The connection-loss window (docs/protocol.md, "An owner's answer lost with its connection"): the
// owner gave its bytes in an answer the home never got, and now answers, or asks, without them.
TEST_CASE("an owner that gave its grant's bytes away in a lost answer: the page is lost, never stale", "[directory]") {
    const dir::target owner_invalidated{2, false};
    const dir::target owner_downgraded{2, true};
    const std::uint64_t this_grant = start_generation; // the generation stays while node 2 holds the grant
    struct {
        const char* what;
        start from;
        node_id answering;
        std::uint64_t given_up;
        bool lost;
    } rows[] = {
        {"the owner gave up this grant's bytes", start::exclusive_at_other, 2, this_grant, true},
        {"the owner gave up an older grant's bytes (it never installed this one)", start::exclusive_at_other, 2, this_grant - 1,
         false},
        {"the owner never gave any bytes up", start::exclusive_at_other, 2, 0, false},
        {"a node that is not the owner, whatever it says", start::exclusive_at_requester, 2, this_grant, false},
        {"no exclusive owner", start::shared_by_others, 2, this_grant, false},
        {"a lost page stays lost", start::lost, 2, this_grant, false},
    };
    for (const auto& r : rows) {
        INFO(r.what << "; an entry " << name(r.from));
        SECTION(std::string("directly: ") + r.what) {
            home_page p = make_entry(r.from);
            const home_page before = p;
            CHECK(dir::owner_gave_up(p, sharer_set(p, node_count), r.answering, r.given_up) == r.lost);
            if (r.lost) {
                CHECK(p.state == L);
                CHECK(p.owner == none);
                CHECK(dir::admit(wire::msg::read_shared, p) == dir::lost_page);
                CHECK(dir::admit(wire::msg::read_exclusive, p) == dir::lost_page);
                CHECK_FALSE(dir::admit(wire::msg::free, p).has_value());
            } else {
                CHECK(p.state == before.state);
                CHECK(p.owner == before.owner);
            }
        }
    }
    SECTION("an answer without bytes from the owner that gave this grant's up: lost, and a downgraded copy stays recorded") {
        home_page p = make_entry(start::exclusive_at_other);
        auto e = dir::on_answer(p, sharer_set(p, node_count), owner_downgraded, {.ok = true, .given_up = this_grant}, false);
        CHECK_FALSE(e.take_page);
        CHECK(p.state == L);
        CHECK(p.owner == none);
        CHECK(p.sharers == bits({2})); // its read-only copy holds the last write: a free must still reach it
        CHECK(p.generation == start_generation);
    }
    SECTION("an answer without bytes from an owner that never installed this grant: the home's bytes are current") {
        home_page p = make_entry(start::exclusive_at_other);
        auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, {.ok = true, .given_up = this_grant - 1}, false);
        CHECK_FALSE(e.take_page);
        CHECK(p.state == U);
        CHECK(p.owner == none);
    }
    SECTION("an answer with the bytes: they come home, whatever it gave up before") {
        home_page p = make_entry(start::exclusive_at_other);
        auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated,
                                {.ok = true, .carries_page = true, .given_up = this_grant}, false);
        CHECK(e.take_page);
        CHECK(p.state == U);
    }
    SECTION("during a free the owner's bytes are not wanted: nothing is lost") {
        home_page p = make_entry(start::exclusive_at_other);
        auto e = dir::on_answer(p, sharer_set(p, node_count), owner_invalidated, {.ok = true, .given_up = this_grant}, true);
        CHECK_FALSE(e.fails_with);
        CHECK(p.state == U);
    }
    SECTION("memory freed meanwhile has nothing to lose") {
        home_page p = make_entry(start::exclusive_at_other);
        p.allocated = 0;
        CHECK_FALSE(dir::owner_gave_up(p, sharer_set(p, node_count), 2, this_grant));
    }
}
