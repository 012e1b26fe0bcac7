// Figures of the C API (2 nodes: node 0 measures, node 1 homes): a 64-byte read that hits or
// misses, a write, a fetch_add, and the transport's own ping and page fetch. See
// docs/bench-method-notes.md.
#include "tools/aether-bench/api_roles.hpp"

#include <algorithm>

namespace aether::bench {

void api_figure(member& m, const params& p, const tick_clock& clk, api_op kind) {
    const common c = common_of(p);
    if (m.count() < 2) die("this figure needs 2 nodes");
    if (m.id() == 1) {
        std::uint64_t page = m.alloc_local(page_bytes);
        unsigned char init[64];
        for (unsigned i = 0; i < sizeof init; ++i) init[i] = static_cast<unsigned char>(i * 7 + 1);
        m.write(page, init, sizeof init);
        m.publish("page", page);
    }
    const std::uint64_t page = m.lookup("page");
    m.barrier(setup_wait_ms, "setup");
    if (m.id() != 0) {
        if (m.id() == 1) serve_measurement(m, c.wait_ms);
        return;
    }

    Seraph_Aether* h = m.h();
    unsigned char buf[64] = {};
    std::uint64_t first_add = 0;
    std::uint64_t bad = 0;
    auto read64 = [&](std::size_t) {
        auto r = seraph_aether_read(h, page, buf, sizeof buf);
        if (r.status != SERAPH_AETHER_OK) die("read failed" + void_text());
    };
    auto write64 = [&](std::size_t i) {
        std::memcpy(buf, &i, sizeof i);
        auto r = seraph_aether_write(h, page, buf, sizeof buf);
        if (r.status != SERAPH_AETHER_OK) die("write failed" + void_text());
    };
    auto add = [&](std::size_t i) {
        std::uint64_t old = 0;
        if (seraph_aether_fetch_add_u64(h, page + 64, 1, &old) != SERAPH_VBIT_TRUE) die("fetch_add failed" + void_text());
        // Each add sees the previous one: proof that every call reached the home in order.
        if (i == 0)
            first_add = old;
        else if (old != first_add + i)
            ++bad;
    };
    auto invalidate = [&](std::size_t) { seraph_aether_cache_invalidate(h, page); };
    alignas(64) static std::byte fetched[page_bytes];
    auto ping = [&](std::size_t) {
        if (!m.rt().call(1, wire::message{.type = wire::msg::ping}, {}, m.rt().op_deadline())) die("ping failed");
    };
    auto fetch = [&](std::size_t) {
        auto r = m.rt().call(1, wire::message{.type = wire::msg::read_shared, .address = page}, fetched, m.rt().op_deadline());
        if (!r || r->payload.size() != page_bytes) die("fetch failed");
        std::memcpy(buf, fetched, sizeof buf);
    };

    timed t;
    std::vector<std::uint64_t> batches;
    // Concrete lambdas, not std::function: an indirect call would be part of a hit's few nanoseconds.
    auto run = [&](auto prep, auto op) {
        for (std::size_t i = 0; i < c.warmup; ++i) {
            prep(i);
            op(i);
        }
        measure(m, c.wait_ms, [&] {
            t = timed_loop(m.rt(), clk, c.warmup, c.ops, prep, op);
            if (kind == api_op::write) {
                // Read back while the home is still there (it leaves after barrier B).
                unsigned char back[64] = {};
                m.read(page, back, sizeof back);
                std::size_t last = 0;
                std::memcpy(&last, back, sizeof last);
                if (last != c.warmup + c.ops - 1) ++bad;
            }
            if (kind == api_op::read_hit) {
                // The TSC may advance in coarse steps (about 10 ns on the project's VMs) and a reading
                // pair costs about 20 ns, so hits are also timed in batches, where neither matters.
                constexpr std::size_t batch = 1000;
                for (std::size_t b = 0; b < 21; ++b) {
                    std::uint64_t t0 = clk.now();
                    for (std::size_t i = 0; i < batch; ++i) op(i);
                    batches.push_back(clk.now() - t0);
                }
            }
        });
    };
    switch (kind) {
    case api_op::read_hit: run(no_prep, read64); break;
    case api_op::read_miss: run(invalidate, read64); break;
    case api_op::write: run(no_prep, write64); break;
    case api_op::fetch_add: run(no_prep, add); break;
    case api_op::transport_ping: run(no_prep, ping); break;
    case api_op::transport_fetch: run(no_prep, fetch); break;
    }
    record r = latency_row(c.name, t, clk);
    if (!batches.empty()) {
        std::sort(batches.begin(), batches.end());
        r.set("batched_ns_per_op", clk.to_ns(static_cast<double>(batches[batches.size() / 2])) / 1000.0);
    }
    if (kind == api_op::read_hit || kind == api_op::read_miss || kind == api_op::transport_fetch) {
        for (unsigned i = 0; i < sizeof buf; ++i)
            if (buf[i] != static_cast<unsigned char>(i * 7 + 1)) ++bad;
    }
    r.set("data_errors", bad);
    send(r);
}

} // namespace aether::bench
