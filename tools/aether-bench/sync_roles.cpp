// Figures of the way DSM programs synchronize: a token passed between two nodes spinning on flags
// by plain pointers (token_pass_round), and a lock built on the home-executed compare-and-swap
// taken in turn by one thread on each of three nodes (cas_lock_acquisitions). See
// docs/bench-method-notes.md.
#include "tools/aether-bench/role_kit.hpp"
#include "tools/aether-bench/sync_roles.hpp"

#include <sched.h>

#include <algorithm>

namespace aether::bench {

namespace {

// What a node did during a measured window, in the runtime's own counters plus the scheduler's
// run-queue wait of all its threads: written into Aether memory so that node 0 can put every
// node's share of a round into its row.
struct node_share {
    std::uint64_t faults = 0;
    std::uint64_t fault_service_ns = 0;
    std::uint64_t home_requests = 0;
    std::uint64_t home_service_ns = 0;
    std::uint64_t invalidations_sent = 0;
    std::uint64_t invalidations_held = 0;
    std::uint64_t stale_grants = 0;
    std::uint64_t handoffs = 0;
    std::uint64_t run_queue_wait_ns = 0;

    static node_share of(const counts& d, std::uint64_t rq_ns) {
        node_share s;
        s.faults = d.get("read_faults") + d.get("write_faults");
        s.fault_service_ns = d.get("fault_service_ns");
        s.home_requests = d.get("home_requests");
        s.home_service_ns = d.get("home_service_ns");
        s.invalidations_sent = d.get("invalidations_sent");
        s.invalidations_held = d.get("invalidations_held");
        s.stale_grants = d.get("stale_grants");
        s.handoffs = d.get("handoffs");
        s.run_queue_wait_ns = rq_ns;
        return s;
    }
    node_share& operator+=(const node_share& o) {
        faults += o.faults;
        fault_service_ns += o.fault_service_ns;
        home_requests += o.home_requests;
        home_service_ns += o.home_service_ns;
        invalidations_sent += o.invalidations_sent;
        invalidations_held += o.invalidations_held;
        stale_grants += o.stale_grants;
        handoffs += o.handoffs;
        run_queue_wait_ns += o.run_queue_wait_ns;
        return *this;
    }
};

// The window of a measurement on every node: counters and run-queue wait at its start.
struct window_start {
    counts c;
    std::uint64_t rq_ns;
    static window_start now(member& m) { return {counts::of(m.rt()), run_queue_wait_ns()}; }
    [[nodiscard]] node_share share(member& m) const {
        return node_share::of(counts::of(m.rt()) - c, run_queue_wait_ns() - rq_ns);
    }
};

// Every node's share of the window goes into slot `id` of the results area; node 0 adds them up.
void publish_share(member& m, std::uint64_t results, const node_share& s) {
    m.write(results + m.id() * sizeof(node_share), &s, sizeof s);
}

node_share total_share(member& m, std::uint64_t results) {
    node_share total;
    for (std::uint16_t n = 0; n < m.count(); ++n) {
        node_share s;
        m.read(results + n * sizeof(node_share), &s, sizeof s);
        total += s;
    }
    return total;
}

// The breakdown of where a round's time went, per round, into the row.
void put_breakdown(record& r, const node_share& t, std::size_t rounds) {
    const double n = static_cast<double>(rounds);
    auto per = [&](std::uint64_t v) { return static_cast<double>(v) / n; };
    r.set("faults_per_round", per(t.faults));
    r.set("fault_service_us_per_round", per(t.fault_service_ns) / 1e3);
    r.set("home_requests_per_round", per(t.home_requests));
    r.set("home_service_us_per_round", per(t.home_service_ns) / 1e3);
    r.set("invalidations_per_round", per(t.invalidations_sent));
    r.set("invalidations_held_per_round", per(t.invalidations_held));
    r.set("stale_grants_per_round", per(t.stale_grants));
    r.set("handoffs_per_round", per(t.handoffs));
    r.set("run_queue_wait_us_per_round", per(t.run_queue_wait_ns) / 1e3);
}

void spin_until(volatile std::uint64_t* word, std::uint64_t want) {
    for (;;) {
        const std::uint64_t v = *word;
        if (v == want) return;
        if (v == SERAPH_VOID_U64) die("a spinning load read VOID" + void_text());
    }
}

} // namespace

// Node 2 homes x, y and data (each in its own page, or all three in one: layout=one); node 0
// waits until x == i-1, writes data = i, then y = i; node 1 waits until y == i, reads data (it
// must be i) and writes x = i. Tight loops, no yield. Node 0 times each round: from seeing
// x == i-1 to seeing x == i.
void token_pass(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    if (m.count() != 3) die("this figure needs 3 nodes");
    const bool one_page = str(p, "layout", "pages") == "one";
    const std::uint64_t stride = one_page ? 8 : page_bytes;
    if (m.id() == 2) {
        m.publish("token", m.alloc_local(3 * page_bytes));
        m.publish("shares", m.alloc_local(page_bytes));
    }
    const std::uint64_t base = m.lookup("token");
    const std::uint64_t shares = m.lookup("shares");
    auto* x = reinterpret_cast<volatile std::uint64_t*>(base);
    auto* y = reinterpret_cast<volatile std::uint64_t*>(base + stride);
    auto* data = reinterpret_cast<volatile std::uint64_t*>(base + 2 * stride);
    m.barrier(setup_wait_ms, "setup");

    std::uint64_t data_errors = 0;
    // Rounds [first, last]; node 0 returns each round's length in ticks.
    auto play = [&](std::uint64_t first, std::uint64_t last, std::vector<std::uint64_t>* ticks) {
        std::uint64_t t_prev = 0;
        for (std::uint64_t i = first; i <= last; ++i) {
            if (m.id() == 0) {
                spin_until(x, i - 1);
                const std::uint64_t t = clk.now();
                if (ticks != nullptr && i > first) ticks->push_back(t - t_prev);
                t_prev = t;
                *data = i;
                *y = i;
            } else if (m.id() == 1) {
                spin_until(y, i);
                if (*data != i) ++data_errors;
                *x = i;
            }
        }
        if (m.id() == 0) { // the last round ends when node 1 has written x
            spin_until(x, last);
            if (ticks != nullptr) ticks->push_back(clk.now() - t_prev);
        }
    };
    play(1, c.warmup, nullptr);
    m.barrier(c.wait_ms, "A");
    const window_start w = window_start::now(m);
    std::vector<std::uint64_t> ticks;
    ticks.reserve(c.ops);
    play(c.warmup + 1, c.warmup + c.ops, m.id() == 0 ? &ticks : nullptr);
    // The players' share ends with their last round; the home's when both are done.
    node_share mine;
    if (m.id() < 2) mine = w.share(m);
    m.barrier(c.wait_ms, "B");
    if (m.id() == 2) mine = w.share(m);
    publish_share(m, shares, mine);
    m.barrier(c.wait_ms, "C");
    if (m.id() == 1 && data_errors != 0) die("node 1 read stale data in " + std::to_string(data_errors) + " rounds");
    if (m.id() != 0) {
        m.barrier(c.wait_ms, "D"); // node 0 reads the shares while every home is still there
        return;
    }
    record r = latency_row(c.name, ticks, clk);
    const node_share total = total_share(m, shares);
    put_breakdown(r, total, c.ops);
    r.set("c_handoffs", total.handoffs); // every node's: the table's hand-offs per round
    r.set("layout", one_page ? "one page" : "separate pages");
    r.set("data_errors", data_errors);
    m.barrier(c.wait_ms, "D");
    send(r);
}

// A lock word on node 0 holds (acquisitions << 1 | held). Node k may take it when it is free and
// acquisitions % 3 == k, so the three nodes take it in turn; each acquisition and release is one
// cas_u64 at the home, and a waiter spins on cas_u64 (a failed one returns the word). Inside the
// lock each node adds one to a counter in node 1's memory by plain pointer: the final count proves
// mutual exclusion. Node 0 reports acquisitions per second over all three nodes. wait=spin (the
// default): a waiter retries at once; wait=yield: it calls sched_yield() between attempts, as a lock
// on a machine with fewer CPUs than spinning threads would.
void cas_lock(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    if (m.count() != 3) die("this figure needs 3 nodes");
    if (m.id() == 0) m.publish("lock", m.alloc_local(page_bytes));
    if (m.id() == 1) m.publish("counter", m.alloc_local(page_bytes));
    if (m.id() == 2) m.publish("shares", m.alloc_local(page_bytes));
    const std::uint64_t lock = m.lookup("lock");
    const std::uint64_t counter = m.lookup("counter");
    const std::uint64_t shares = m.lookup("shares");
    m.barrier(setup_wait_ms, "setup");
    Seraph_Aether* h = m.h();
    const std::uint64_t me = m.id();
    const bool yield = str(p, "wait", "spin") == "yield";
    auto cas = [&](std::uint64_t expected, std::uint64_t desired) {
        std::uint64_t old = 0;
        Seraph_Vbit v = seraph_aether_cas_u64(h, lock, expected, desired, &old);
        if (seraph_vbit_is_void(v)) die("cas_u64 on the lock failed" + void_text());
        return old;
    };
    // This node's turns among acquisitions [first, first + turns * 3).
    auto take_turns = [&](std::uint64_t first_seq, std::size_t turns) {
        std::uint64_t seq = first_seq + (me + 3 - first_seq % 3) % 3;
        for (std::size_t t = 0; t < turns; ++t, seq += 3) {
            while (cas(seq << 1, seq << 1 | 1) != (seq << 1)) // acquire in turn
                if (yield) sched_yield();
            auto* n = reinterpret_cast<volatile std::uint64_t*>(counter);
            *n = *n + 1;
            if (cas(seq << 1 | 1, (seq + 1) << 1) != (seq << 1 | 1)) die("the lock changed hands while held");
        }
    };
    const std::size_t warm_turns = std::max<std::size_t>(c.warmup / 3, 1);
    const std::size_t turns = std::max<std::size_t>(c.ops / 3, 1);
    take_turns(0, warm_turns);
    m.barrier(c.wait_ms, "A");
    const window_start w = window_start::now(m);
    const std::uint64_t t0 = clk.now();
    take_turns(warm_turns * 3, turns);
    // Node 0's time ends when the last acquisition (whoever's) was released.
    const std::uint64_t last_free = (warm_turns + turns) * 3 << 1;
    if (m.id() == 0)
        while (cas(last_free, last_free) != last_free) {}
    const std::uint64_t t1 = clk.now();
    const node_share mine = w.share(m);
    m.barrier(c.wait_ms, "B");
    publish_share(m, shares, mine);
    m.barrier(c.wait_ms, "C");
    if (m.id() != 0) {
        m.barrier(c.wait_ms, "D");
        return;
    }
    std::uint64_t total = 0;
    m.read(counter, &total, sizeof total);
    const std::uint64_t acquisitions = turns * 3;
    const double seconds = clk.to_ns(static_cast<double>(t1 - t0)) / 1e9;
    record r;
    r.kind = "row";
    r.set("name", c.name);
    r.set("unit", "acquisitions/s");
    r.set("value", seconds > 0 ? static_cast<double>(acquisitions) / seconds : 0.0);
    r.set("ops", acquisitions);
    r.set("ops_per_s", seconds > 0 ? static_cast<double>(acquisitions) / seconds : 0.0);
    r.set("mean_ns", seconds * 1e9 / static_cast<double>(acquisitions));
    const node_share all = total_share(m, shares);
    put_breakdown(r, all, acquisitions);
    r.set("c_handoffs", all.handoffs);
    r.set("data_errors", total == (warm_turns + turns) * 3 ? 0 : 1);
    m.barrier(c.wait_ms, "D");
    send(r);
}

} // namespace aether::bench
