// The figure of a write to a page that other nodes hold shared: invalidate_4_sharers (6 nodes). Its
// message pattern over raw TCP, tcp_fanout_4_64B, is in floor_roles.cpp. See
// docs/bench-method-notes.md.
#include "tools/aether-bench/invalidate_roles.hpp"

#include <chrono>
#include <cstring>
#include <thread>

namespace aether::bench {

// Node 0 writes, node 1 is the home, nodes 2.. are sharers. Each round: the sharers re-read the page
// (a miss each time: the previous write took their copy), barrier X, node 0's timed write (the home
// must invalidate every sharer before applying it), barrier Y. The other nodes' counters are taken
// just before X and just after Y; between those they only wait in the barriers.
void invalidate_sharers(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::uint32_t round_wait = static_cast<std::uint32_t>(u64(p, "round_wait_ms", 20'000));
    const std::uint64_t settle_us = u64(p, "settle_us", 2'000);
    if (m.count() < 3) die("this figure needs a writer, a home and sharers");
    if (m.id() == 1) {
        std::uint64_t page = m.alloc_local(page_bytes);
        unsigned char init[64] = {1};
        m.write(page, init, sizeof init);
        m.publish("shared_page", page);
    }
    const std::uint64_t page = m.lookup("shared_page");
    m.barrier(setup_wait_ms, "setup");

    Seraph_Aether* h = m.h();
    const bool sharer = m.id() >= 2;
    counts acc;
    std::uint64_t refetches = 0;
    timed t;
    t.ticks.reserve(c.ops);
    unsigned char buf[64] = {};
    for (std::size_t round = 0; round < c.warmup + c.ops; ++round) {
        const bool counted = round >= c.warmup;
        if (sharer) {
            counts r0 = counts::of(m.rt());
            m.read(page, buf, sizeof buf);
            counts r1 = counts::of(m.rt());
            if (counted) refetches += (r1 - r0).get("remote_fetches");
        }
        counts a = counts::of(m.rt());
        m.barrier(round_wait, "X");
        if (m.id() == 0) {
            // The write is timed on a quiet cluster: a barrier ends at each node when that node has
            // heard every other, while the others may still be handling each other's messages,
            // and those would share the home's and the sharers' CPUs with the invalidations.
            std::this_thread::sleep_for(std::chrono::microseconds(settle_us));
            std::memcpy(buf, &round, sizeof round);
            counts c0 = counts::of(m.rt());
            std::uint64_t t0 = clk.now();
            auto r = seraph_aether_write(h, page, buf, sizeof buf);
            std::uint64_t t1 = clk.now();
            counts c1 = counts::of(m.rt());
            if (r.status != SERAPH_AETHER_OK) die("write failed" + void_text());
            if (counted) {
                t.ticks.push_back(t1 - t0);
                t.delta += c1 - c0;
            }
        }
        m.barrier(round_wait, "Y");
        if (m.id() != 0 && counted) acc += counts::of(m.rt()) - a;
    }
    if (m.id() != 0) {
        record r;
        r.kind = "counters";
        r.set("node", static_cast<std::uint64_t>(m.id()));
        acc.put(r, "");
        r.set("refetches", refetches);
        send(r);
        return;
    }
    record r = latency_row(c.name, t, clk);
    r.set("sharers", static_cast<std::uint64_t>(m.count() - 2));
    send(r);
}

} // namespace aether::bench
