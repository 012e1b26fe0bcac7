// Figures of a page fault on a plain pointer: the first load of a remote page, the store that
// upgrades a Shared copy, the first load of a page homed on the node itself. See
// docs/bench-method-notes.md.
#include "tools/aether-bench/fault_roles.hpp"

#include <algorithm>
#include <random>

namespace aether::bench {

void fault_figure(member& m, const params& p, const tick_clock& clk, fault_op kind) {
    const common c = common_of(p);
    const std::size_t pages = c.warmup + c.ops;
    const bool local = kind == fault_op::read_local;
    const std::uint16_t home = local ? 0 : 1;
    if (!local && m.count() < 2) die("this figure needs 2 nodes");
    // Each access must be a lone cold page, as in a pointer chase, not part of a scan that
    // readahead serves (seq_scan_remote_GBps measures that): every other page, in shuffled order,
    // so that no access lands on the page after an earlier one.
    constexpr std::size_t spacing = 2;
    std::vector<std::size_t> order(pages);
    for (std::size_t i = 0; i < pages; ++i) order[i] = i * spacing;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(pages));
    if (m.id() == home) {
        // The markers go in through the API, which writes the home's bytes without leaving a copy
        // anywhere: every page node 0 touches is cold at node 0 and unowned at the home.
        std::uint64_t base = m.alloc_local(pages * spacing * page_bytes);
        for (std::size_t i = 0; i < pages; ++i) {
            std::uint64_t v = marker(order[i]);
            m.write(base + order[i] * page_bytes, &v, sizeof v);
        }
        m.publish("pages", base);
    }
    const std::uint64_t base = m.lookup("pages");
    m.barrier(setup_wait_ms, "setup");
    if (m.id() != 0) {
        serve_measurement(m, c.wait_ms);
        return;
    }
    std::uint64_t bad = 0;
    auto load = [&](std::size_t i) {
        const std::size_t pg = order[i];
        if (load_word(base + pg * page_bytes) != marker(pg)) ++bad;
    };
    auto store = [&](std::size_t i) { store_word(base + order[i] * page_bytes + 8, i); };
    for (std::size_t i = 0; i < c.warmup; ++i) {
        load(i);
        if (kind == fault_op::write_upgrade) store(i);
    }
    timed t;
    measure(m, c.wait_ms, [&] {
        if (kind == fault_op::write_upgrade)
            t = timed_loop(m.rt(), clk, c.warmup, c.ops, load, store);
        else
            t = timed_loop(m.rt(), clk, c.warmup, c.ops, no_prep, load);
    });
    if (kind == fault_op::write_upgrade) {
        for (std::size_t i = c.warmup; i < pages; ++i)
            if (load_word(base + order[i] * page_bytes + 8) != i) ++bad;
    }
    record r = latency_row(c.name, t, clk);
    r.set("data_errors", bad);
    send(r);
}

} // namespace aether::bench
