// The node side of every figure: Aether nodes measuring through the C API and plain pointers, and
// the two ends of the raw TCP floor. Node 0 always measures; see docs/bench-method-notes.md.
#include "tools/aether-bench/node_roles.hpp"

#include "tools/aether-bench/record.hpp"
#include "tools/aether-bench/timing.hpp"
#include "tools/common/cluster.hpp"

#include "runtime/c_api_access.hpp"
#include "runtime/cache.hpp"
#include "runtime/home.hpp"
#include "runtime/runtime.hpp"

#include <seraph/aether.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tools/aether-bench/role_kit.hpp"
#include "tools/aether-bench/sync_roles.hpp"

namespace aether::bench {

namespace {

// ---- API figures (2 nodes: node 0 measures, node 1 homes) ---------------------------------------------

// transport_ping and transport_fetch take api_read_miss apart: the same request path without the
// directory (a ping), then a page fetched from the home without being installed here.
enum class api_op { read_hit, read_miss, write, fetch_add, transport_ping, transport_fetch };

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
        if (i == 0) first_add = old;
        else if (old != first_add + i) ++bad;
    };
    auto invalidate = [&](std::size_t) { seraph_aether_cache_invalidate(h, page); };
    alignas(64) static std::byte fetched[page_bytes];
    auto ping = [&](std::size_t) {
        if (!m.rt().call(1, wire::message{.type = wire::msg::ping}, {}, m.rt().op_deadline())) die("ping failed");
    };
    auto fetch = [&](std::size_t) {
        auto r = m.rt().call(1, wire::message{.type = wire::msg::read_shared, .address = page}, fetched, m.rt().op_deadline());
        if (!r || r->payload_size != page_bytes) die("fetch failed");
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

// ---- fault figures --------------------------------------------------------------------------------

enum class fault_op { read_remote, write_upgrade, read_local };

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

// ---- scans ------------------------------------------------------------------------------------------

std::uint64_t pattern(std::uint64_t j) { return j * 0x9E37'79B9'7F4A'7C15ull + 1; }

void resident_scan(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::size_t bytes = u64(p, "bytes", std::size_t{64} << 20);
    const std::size_t reps = u64(p, "reps", 21);
    const std::size_t words = bytes / sizeof(std::uint64_t);
    // Faulted in with plain stores: exclusive copies of this node's own pages, readable at no cost.
    auto* aether_mem = reinterpret_cast<std::uint64_t*>(m.alloc_local(bytes));
    for (std::size_t j = 0; j < words; ++j) aether_mem[j] = pattern(j);
    auto* plain = static_cast<std::uint64_t*>(std::aligned_alloc(page_bytes, bytes));
    if (plain == nullptr) die("cannot allocate the malloc'd comparison buffer");
    for (std::size_t j = 0; j < words; ++j) plain[j] = pattern(j);
    std::uint64_t expected = 0;
    for (std::size_t j = 0; j < words; ++j) expected += pattern(j);

    std::uint64_t bad = 0;
    auto scan = [&](const std::uint64_t* mem) {
        std::uint64_t t0 = clk.now();
        std::uint64_t s = sum_words(mem, words);
        std::uint64_t t1 = clk.now();
        if (s != expected) ++bad;
        return t1 - t0;
    };
    scan(aether_mem);
    scan(plain);
    std::vector<std::uint64_t> aether_ticks, plain_ticks;
    counts c0 = counts::of(m.rt());
    // Alternating, so that a slow spell of the machine lands on both sides alike.
    for (std::size_t i = 0; i < reps; ++i) {
        aether_ticks.push_back(scan(aether_mem));
        plain_ticks.push_back(scan(plain));
    }
    counts c1 = counts::of(m.rt());
    summary sa = summarize(aether_ticks, clk);
    summary sp = summarize(plain_ticks, clk);
    record r;
    r.kind = "row";
    r.set("name", c.name);
    r.set("unit", "ratio").set("value", sa.median_ns / sp.median_ns);
    r.set("median_ns", sa.median_ns).set("p99_ns", sa.p99_ns).set("ops", static_cast<std::uint64_t>(reps));
    r.set("ops_per_s", sa.total_ns > 0 ? static_cast<double>(reps) * 1e9 / sa.total_ns : 0.0);
    r.set("malloc_median_ns", sp.median_ns).set("malloc_p99_ns", sp.p99_ns);
    r.set("bytes", static_cast<std::uint64_t>(bytes));
    r.set("aether_gbps", static_cast<double>(bytes) / sa.median_ns).set("malloc_gbps", static_cast<double>(bytes) / sp.median_ns);
    r.set("data_errors", bad);
    (c1 - c0).put(r, "c_");
    std::free(plain);
    send(r);
}

void seq_scan_remote(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::size_t bytes = u64(p, "bytes", std::size_t{256} << 20);
    const std::size_t pages = bytes / page_bytes;
    const std::size_t words_per_page = page_bytes / sizeof(std::uint64_t);
    const std::size_t warm_pages = std::max<std::size_t>(c.warmup, 1);
    if (m.count() < 2) die("this figure needs 2 nodes");
    if (m.id() == 1) {
        std::uint64_t base = m.alloc_local(bytes);
        constexpr std::size_t chunk = std::size_t{1} << 20;
        std::vector<std::uint64_t> buf(chunk / sizeof(std::uint64_t));
        for (std::size_t off = 0; off < bytes; off += chunk) {
            std::size_t len = std::min(chunk, bytes - off);
            for (std::size_t k = 0; k < len / sizeof(std::uint64_t); ++k) buf[k] = pattern(off / sizeof(std::uint64_t) + k);
            m.write(base + off, buf.data(), len);
        }
        m.publish("scan", base);
        m.publish("warm", m.alloc_local(warm_pages * page_bytes));
    }
    const std::uint64_t base = m.lookup("scan");
    const std::uint64_t warm = m.lookup("warm");
    m.barrier(setup_wait_ms, "setup");
    if (m.id() != 0) {
        serve_measurement(m, c.wait_ms);
        return;
    }
    std::uint64_t expected = 0;
    for (std::size_t j = 0; j < bytes / sizeof(std::uint64_t); ++j) expected += pattern(j);
    for (std::size_t i = 0; i < warm_pages; ++i) sink_word = sum_words(reinterpret_cast<const std::uint64_t*>(warm + i * page_bytes), words_per_page);

    std::vector<std::uint64_t> ticks;
    ticks.reserve(pages);
    std::uint64_t sum = 0;
    std::uint64_t start = 0, end = 0;
    counts c0, c1;
    std::uint64_t batches0 = 0, receive0 = 0, install0 = 0, cpu0 = 0, cpu1 = 0;
    measure(m, c.wait_ms, [&] {
        c0 = counts::of(m.rt());
        batches0 = m.rt().counters().readahead_batches.load();
        receive0 = m.rt().counters().readahead_receive_ns.load();
        install0 = m.rt().counters().readahead_install_ns.load();
        cpu0 = process_cpu_ns();
        start = clk.now();
        // One clock read per page: a page's time runs from the previous page's end to its own.
        std::uint64_t t0 = start;
        for (std::size_t i = 0; i < pages; ++i) {
            sum += sum_words(reinterpret_cast<const std::uint64_t*>(base + i * page_bytes), words_per_page);
            const std::uint64_t t1 = clk.now();
            ticks.push_back(t1 - t0);
            t0 = t1;
        }
        end = clk.now();
        cpu1 = process_cpu_ns();
        c1 = counts::of(m.rt());
    });
    const double total_ns = clk.to_ns(static_cast<double>(end - start));
    record r = latency_row(c.name, ticks, clk);
    (c1 - c0).put(r, "c_");
    const double gbps = static_cast<double>(bytes) / total_ns;
    r.set("unit", "GB/s").set("value", gbps).set("gbps", gbps).set("bytes", static_cast<std::uint64_t>(bytes));
    r.set("wall_ns", total_ns).set("data_errors", static_cast<std::uint64_t>(sum == expected ? 0 : 1));
    // Where the requester's time went, per batch (the runtime's own clocks).
    node_counters& nc = m.rt().counters();
    const double batches = static_cast<double>(nc.readahead_batches.load() - batches0);
    if (batches > 0) {
        r.set("batches", batches);
        r.set("receive_us_per_batch", static_cast<double>(nc.readahead_receive_ns.load() - receive0) / batches / 1e3);
        r.set("install_us_per_batch", static_cast<double>(nc.readahead_install_ns.load() - install0) / batches / 1e3);
        r.set("wall_us_per_batch", total_ns / batches / 1e3);
        // The requester process's CPU (scanning thread, fault handler, polling): with the home's
        // (home_cpu_us_per_batch) it says how much of two CPUs' time a batch takes.
        r.set("requester_cpu_us_per_batch", static_cast<double>(cpu1 - cpu0) / batches / 1e3);
    }
    send(r);
}

// The kernel's UFFDIO_MOVE (Linux 6.8), for C library headers older than that.
#ifndef UFFDIO_MOVE
constexpr std::uint64_t UFFD_FEATURE_MOVE = 1ULL << 16;
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#endif

// A userfaultfd with `features`, and `bytes` of fresh mapping registered with it in `mode`.
struct uffd_region {
    uffd_region(std::uint64_t features, std::size_t bytes, std::uint64_t mode, int memfd = -1) : bytes(bytes) {
        uffd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
        if (uffd < 0) die("userfaultfd: " + std::string(std::strerror(errno)));
        uffdio_api api{.api = UFFD_API, .features = features, .ioctls = 0};
        if (::ioctl(uffd, UFFDIO_API, &api) != 0) die("UFFDIO_API: this kernel lacks a feature the figure needs");
        base = static_cast<std::byte*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                                              memfd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE : MAP_SHARED | MAP_NORESERVE,
                                              memfd, 0));
        if (base == MAP_FAILED) die("cannot map the install region");
        ::madvise(base, bytes, MADV_NOHUGEPAGE); // as the window
        uffdio_register reg{};
        reg.range = {reinterpret_cast<std::uint64_t>(base), bytes};
        reg.mode = mode;
        if (::ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) die("UFFDIO_REGISTER: " + std::string(std::strerror(errno)));
    }
    ~uffd_region() {
        ::munmap(base, bytes);
        ::close(uffd);
    }
    void ioctl_or_die(unsigned long request, void* arg, const char* what) const {
        if (::ioctl(uffd, request, arg) != 0) die(std::string(what) + " failed: " + std::strerror(errno));
    }
    // UFFDIO_COPY of `len` bytes to `offset`: read-only copies without a wake-up, as readahead
    // installs shared pages.
    void copy_read_only(std::size_t offset, const std::byte* src, std::size_t len) const {
        uffdio_copy cp{};
        cp.dst = reinterpret_cast<std::uint64_t>(base + offset);
        cp.src = reinterpret_cast<std::uint64_t>(src);
        cp.len = len;
        cp.mode = UFFDIO_COPY_MODE_WP | UFFDIO_COPY_MODE_DONTWAKE;
        ioctl_or_die(UFFDIO_COPY, &cp, "UFFDIO_COPY");
    }
    int uffd = -1;
    std::size_t bytes;
    std::byte* base = nullptr;
};

// The requester's share of a remote scan that no protocol can avoid: placing received bytes into
// fresh pages of a userfaultfd-registered mapping, in batches of 64 pages, over as many bytes as
// the scan. With the transport's own stream rate, it bounds what one requester thread can scan:
// 1 / (1/stream + 1/install). The receive's own copy (into a staging buffer, or straight into
// page-cache pages) is done by every method and is not timed. Methods:
//   copy:     UFFDIO_COPY from a staging buffer, read-only, as the window's readahead does;
//   continue: the mapping backed by a memfd; pages allocated through a second mapping of it
//             (MADV_POPULATE_WRITE), filled there, then mapped with UFFDIO_CONTINUE: no copy by
//             the install, the "zero-copy" install a receive into the page cache would allow;
//   move:     fresh staging pages (MADV_POPULATE_WRITE) moved into place with UFFDIO_MOVE: no copy
//             either, but the pages land writable, so it could not install shared copies anyway.
void uffd_install(member& m, const params& p, const tick_clock& clk) {
    (void)m;
    const common c = common_of(p);
    const std::size_t bytes = u64(p, "bytes", std::size_t{256} << 20);
    const std::string method = str(p, "method", "copy");
    constexpr std::size_t batch = 64 * page_bytes;
    std::vector<std::byte> source(batch, std::byte{0x5A});
    std::vector<std::uint64_t> ticks;
    std::uint64_t install_ticks = 0;
    std::uint64_t bad = 0;
    // `install_batch(off, len)` returns the ticks it spent on the receive's copy, left out.
    auto timed_batches = [&](std::byte* region, auto&& install_batch) {
        for (std::size_t off = 0; off < bytes; off += batch) {
            const std::size_t len = std::min(batch, bytes - off);
            const std::uint64_t t0 = clk.now();
            const std::uint64_t receive = install_batch(off, len);
            ticks.push_back(clk.now() - t0 - receive);
            install_ticks += ticks.back();
        }
        const auto* last = reinterpret_cast<const unsigned char*>(region) + bytes - 1;
        bad = *last == 0x5A ? 0 : 1;
    };
    auto receive_into = [&](std::byte* dst, std::size_t len) {
        const std::uint64_t t0 = clk.now();
        std::memcpy(dst, source.data(), len);
        return clk.now() - t0;
    };
    if (method == "copy") {
        uffd_region r(0, bytes, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP);
        timed_batches(r.base, [&](std::size_t off, std::size_t len) {
            r.copy_read_only(off, source.data(), len);
            return std::uint64_t{0}; // the receive went into the staging buffer before
        });
    } else if (method == "continue") {
        int memfd = ::memfd_create("aether-bench-install", MFD_CLOEXEC);
        if (memfd < 0 || ::ftruncate(memfd, static_cast<off_t>(bytes)) != 0) die("cannot create the memfd");
        uffd_region r(UFFD_FEATURE_MINOR_SHMEM, bytes, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR, memfd);
        auto* alias = static_cast<std::byte*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd, 0));
        if (alias == MAP_FAILED) die("cannot map the memfd a second time");
        timed_batches(r.base, [&](std::size_t off, std::size_t len) {
            if (::madvise(alias + off, len, MADV_POPULATE_WRITE) != 0) die("MADV_POPULATE_WRITE failed");
            const std::uint64_t receive = receive_into(alias + off, len);
            uffdio_continue ct{};
            ct.range = {reinterpret_cast<std::uint64_t>(r.base + off), len};
            ct.mode = UFFDIO_CONTINUE_MODE_DONTWAKE;
            r.ioctl_or_die(UFFDIO_CONTINUE, &ct, "UFFDIO_CONTINUE");
            return receive;
        });
        ::munmap(alias, bytes);
        ::close(memfd);
    } else if (method == "move") {
        uffd_region r(UFFD_FEATURE_MOVE, bytes, UFFDIO_REGISTER_MODE_MISSING);
        auto* staging = static_cast<std::byte*>(::mmap(nullptr, batch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (staging == MAP_FAILED) die("cannot map the staging buffer");
        ::madvise(staging, batch, MADV_NOHUGEPAGE);
        timed_batches(r.base, [&](std::size_t off, std::size_t len) {
            // The previous batch's pages moved away: the staging buffer needs new ones.
            if (::madvise(staging, len, MADV_POPULATE_WRITE) != 0) die("MADV_POPULATE_WRITE failed");
            const std::uint64_t receive = receive_into(staging, len);
            uffdio_move mv{};
            mv.dst = reinterpret_cast<std::uint64_t>(r.base + off);
            mv.src = reinterpret_cast<std::uint64_t>(staging);
            mv.len = len;
            mv.mode = UFFDIO_MOVE_MODE_DONTWAKE;
            r.ioctl_or_die(UFFDIO_MOVE, &mv, "UFFDIO_MOVE");
            return receive;
        });
        ::munmap(staging, batch);
    } else {
        die("unknown install method " + method);
    }
    const double total_ns = clk.to_ns(static_cast<double>(install_ticks));
    record r = latency_row(c.name, ticks, clk);
    const double gbps = static_cast<double>(bytes) / total_ns;
    r.set("unit", "GB/s").set("value", gbps).set("gbps", gbps).set("bytes", static_cast<std::uint64_t>(bytes));
    r.set("data_errors", bad);
    send(r);
}

// ---- invalidation of 4 sharers (6 nodes) --------------------------------------------------------------

// Node 0 writes, node 1 is the home, nodes 2.. are sharers. Each round: the sharers re-read the page
// (a miss each time: the previous write took their copy), barrier X, node 0's timed write (the home
// must invalidate every sharer before applying it), barrier Y. The other nodes' counters are taken
// just before X and just after Y; between those they only wait in the barriers.
void invalidate_sharers(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::uint32_t round_wait = static_cast<std::uint32_t>(u64(p, "round_wait_ms", 20'000));
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

// ---- scale: directory and cache cost with 1 K and 1 M pages in use ------------------------------------

std::uint64_t resident_bytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return 0;
    unsigned long size = 0, resident = 0;
    int got = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return got == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

std::string pages_label(std::size_t n) {
    if (n >= (std::size_t{1} << 20) && n % (std::size_t{1} << 20) == 0) return std::to_string(n >> 20) + "M";
    if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + "K";
    return std::to_string(n);
}

void scale(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::size_t small = u64(p, "small_pages", 1024);
    const std::size_t large = u64(p, "large_pages", std::size_t{1} << 20);
    const std::size_t samples = c.warmup + c.ops;
    Seraph_Aether* h = m.h();

    std::vector<std::uint64_t> page_addr;
    page_addr.reserve(large);
    auto grow_to = [&](std::size_t n) {
        // Allocations of at most 256 MiB, so that a home whose allocator keeps a page back still
        // reaches the count with the rest.
        while (page_addr.size() < n) {
            std::size_t want = std::min<std::size_t>(n - page_addr.size(), 65536);
            std::uint64_t a = seraph_aether_alloc(h, want * page_bytes);
            if (a == SERAPH_VOID_U64) die("cannot allocate page " + std::to_string(page_addr.size()) + " of " + std::to_string(n) + void_text());
            for (std::size_t i = 0; i < want; ++i) page_addr.push_back(a + i * page_bytes);
        }
        // Every page's directory entry in use before anything is timed.
        for (std::size_t i = 0; i < n; ++i)
            if (seraph_aether_get_generation(h, page_addr[i]) == SERAPH_VOID_U64) die("get_generation failed" + void_text());
    };
    // The same pseudo-random page sequence for every size, spread over all the pages in use.
    auto pick_indices = [&](std::size_t n) {
        std::vector<std::size_t> v(samples);
        std::uint64_t x = 0x2545F4914F6CDD1Dull;
        for (auto& i : v) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i = static_cast<std::size_t>(x % n);
        }
        return v;
    };
    auto picks = [&](std::size_t n) {
        std::vector<std::uint64_t> v;
        for (std::size_t i : pick_indices(n)) v.push_back(page_addr[i]);
        return v;
    };
    auto lookup = [&](std::uint64_t a) {
        if (seraph_aether_get_generation(h, a) == SERAPH_VOID_U64) die("get_generation failed" + void_text());
    };
    auto run = [&](const std::string& name, std::size_t n, auto op, bool pretouch, const std::string& floor = "") {
        auto at = picks(n);
        if (pretouch) {
            // A fetch_add on a page never written would time the kernel's first touch of the
            // home's memory. Backing all of it would cost 4 GiB, so only the pages about to be
            // used are written first; a pass over the whole directory afterwards leaves the CPU
            // caches as the structure in use would, not holding just those pages.
            for (std::uint64_t a : at) op(a);
            for (std::size_t i = 0; i < n; ++i) lookup(page_addr[i]);
        }
        for (std::size_t i = 0; i < c.warmup; ++i) op(at[i]);
        timed t = timed_loop(m.rt(), clk, c.warmup, c.ops, no_prep, [&](std::size_t i) { op(at[i]); });
        record r = latency_row(name, t, clk);
        r.set("pages", static_cast<std::uint64_t>(n));
        if (!floor.empty()) r.set("floor", floor);
        send(r);
    };
    auto add = [&](std::uint64_t a) {
        if (seraph_aether_fetch_add_u64(h, a, 1, nullptr) != SERAPH_VBIT_TRUE) die("fetch_add failed" + void_text());
    };
    unsigned char buf[64];
    auto hit = [&](std::uint64_t a) {
        if (seraph_aether_read(h, a, buf, sizeof buf).status != SERAPH_AETHER_OK) die("read failed" + void_text());
    };
    auto cache_range = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) hit(page_addr[i]);
    };

    // Two questions per operation. Does having 1M pages in use make it dearer? "_hot" rows repeat
    // the 1K rows' operations (the same 1K pages) with 1M pages in use. And what does spreading the
    // operations over all 1M pages cost? The plain-memory rows read 64 bytes at the same pages of
    // ordinary memory of the same size: the CPU caches and TLB charge that much to anything
    // spread over 4 GiB.
    const std::string hot = "_hot";

    // Directory: no copy of any page exists yet, so each operation completes inline at the home.
    grow_to(small);
    run("scale_dir_lookup_" + pages_label(small), small, lookup, false);
    run("scale_dir_fetch_add_" + pages_label(small), small, add, true);
    grow_to(large);
    const std::string k1 = pages_label(small), m1 = pages_label(large);
    run("scale_dir_lookup_" + m1 + hot, small, lookup, false, "scale_dir_lookup_" + k1);
    run("scale_dir_fetch_add_" + m1 + hot, small, add, true, "scale_dir_fetch_add_" + k1);
    run("scale_dir_lookup_" + m1, large, lookup, false, "scale_plain_read_" + m1);
    run("scale_dir_fetch_add_" + m1, large, add, true, "scale_plain_read_" + m1);

    // Cache: copies of `small`, then of all pages, then hits spread over them.
    cache_range(0, small);
    run("scale_read_hit_" + pages_label(small), small, hit, false);
    std::uint64_t rss0 = resident_bytes();
    std::uint64_t t0 = now_ns();
    cache_range(small, large);
    std::uint64_t fill_ns = now_ns() - t0;
    std::uint64_t rss1 = resident_bytes();
    run("scale_read_hit_" + m1 + hot, small, hit, false, "scale_read_hit_" + k1);
    run("scale_read_hit_" + m1, large, hit, false, "scale_plain_read_" + m1);

    // Plain memory of the same sizes, read at the same pages.
    {
        auto* plain = static_cast<unsigned char*>(std::aligned_alloc(page_bytes, large * page_bytes));
        if (plain == nullptr) die("cannot allocate the plain-memory comparison");
        for (std::size_t i = 0; i < large * page_bytes; i += page_bytes) plain[i] = static_cast<unsigned char>(i);
        for (std::size_t n : {small, large}) {
            std::vector<const unsigned char*> where;
            for (std::size_t i : pick_indices(n)) where.push_back(plain + i * page_bytes);
            auto read_plain = [&](std::size_t i) {
                std::memcpy(buf, where[i], sizeof buf);
                sink_word = buf[0];
            };
            for (std::size_t i = 0; i < c.warmup; ++i) read_plain(i);
            timed t = timed_loop(m.rt(), clk, c.warmup, c.ops, no_prep, read_plain);
            record r = latency_row("scale_plain_read_" + pages_label(n), t, clk);
            r.set("pages", static_cast<std::uint64_t>(n));
            send(r);
        }
        std::free(plain);
    }

    const std::size_t cached = m.rt().local_cache().present_pages();
    record r;
    r.kind = "row";
    r.set("name", "scale_metadata_bytes_per_page");
    const double resident_bit_share = 1.0 / 8.0; // one bit per page in the cache's resident bitmap
    const double cache_meta = static_cast<double>(sizeof(cache_page)) + resident_bit_share;
    r.set("unit", "B").set("value", cache_meta);
    r.set("cache_page_bytes", static_cast<std::uint64_t>(sizeof(cache_page)));
    r.set("resident_bitmap_bytes_per_page", resident_bit_share);
    r.set("cache_metadata_bytes_per_page", cache_meta);
    r.set("home_page_bytes", static_cast<std::uint64_t>(sizeof(home_page)));
    r.set("pages", static_cast<std::uint64_t>(large)).set("pages_cached", static_cast<std::uint64_t>(cached));
    if (rss1 > rss0 && large > small) {
        double per_page = static_cast<double>(rss1 - rss0) / static_cast<double>(large - small);
        r.set("rss_bytes_per_cached_page", per_page);
        r.set("rss_overhead_bytes_per_cached_page", per_page - static_cast<double>(page_bytes));
    }
    r.set("fill_ns_per_page", static_cast<double>(fill_ns) / static_cast<double>(large - small));
    send(r);
}

// ---- the message pattern of an invalidation, over raw TCP (6 processes) ------------------------------

int listen_loopback(int& port);
int connect_loopback(int port);
void no_delay(int fd);
bool send_full(int fd, const void* data, std::size_t n);
bool recv_full(int fd, void* data, std::size_t n);

// What invalidating 4 sharers costs at the least, whatever the protocol: node 0 sends 64 bytes to
// node 1, which sends 64 bytes to each of nodes 2..5 at once, waits for their 64-byte answers, and
// answers node 0. Plain blocking sockets between the same processes as invalidate_4_sharers (the
// Aether runtime only introduces them to each other), so the two compare like for like.
void tcp_fanout(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::uint16_t me = m.id();
    const std::uint16_t sharers = static_cast<std::uint16_t>(m.count() - 2);
    int listener = -1;
    if (me >= 1) {
        int port = 0;
        listener = listen_loopback(port);
        m.publish("fan_port_" + std::to_string(me), static_cast<std::uint64_t>(port));
    }
    std::vector<int> down; // node 1: its connections to the sharers
    int up = -1;           // node 0: to node 1; the others: from node 1 (or node 0)
    if (me == 0) up = connect_loopback(static_cast<int>(m.lookup("fan_port_1")));
    if (me == 1)
        for (std::uint16_t s = 2; s < m.count(); ++s) down.push_back(connect_loopback(static_cast<int>(m.lookup("fan_port_" + std::to_string(s)))));
    if (me >= 1) {
        up = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (up < 0) die(std::string("accept: ") + std::strerror(errno));
        no_delay(up);
        ::close(listener);
    }
    m.barrier(setup_wait_ms, "setup");
    char msg[64] = {};
    if (me == 1) {
        while (recv_full(up, msg, sizeof msg)) {
            for (int fd : down)
                if (!send_full(fd, msg, sizeof msg)) die("fan-out send failed");
            for (int fd : down)
                if (!recv_full(fd, msg, sizeof msg)) die("fan-out answer missing");
            if (!send_full(up, msg, sizeof msg)) break;
        }
        for (int fd : down) ::close(fd); // ends the sharers' loops
    } else if (me >= 2) {
        while (recv_full(up, msg, sizeof msg))
            if (!send_full(up, msg, sizeof msg)) break;
    } else {
        auto round_trip = [&](std::size_t) {
            if (!send_full(up, msg, sizeof msg) || !recv_full(up, msg, sizeof msg)) die("fan-out round failed");
        };
        for (std::size_t i = 0; i < c.warmup; ++i) round_trip(i);
        std::vector<std::uint64_t> ticks;
        ticks.reserve(c.ops);
        for (std::size_t i = 0; i < c.ops; ++i) {
            std::uint64_t t0 = clk.now();
            round_trip(i);
            ticks.push_back(clk.now() - t0);
        }
        record r = latency_row(c.name, ticks, clk);
        r.set("sharers", static_cast<std::uint64_t>(sharers));
        send(r);
    }
    ::close(up);
    m.barrier(setup_wait_ms, "done");
}

// ---- raw TCP floor ----------------------------------------------------------------------------------

bool send_full(int fd, const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

bool recv_full(int fd, void* data, std::size_t n) {
    auto* p = static_cast<char*>(data);
    while (n > 0) {
        ssize_t k = ::recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

void no_delay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die(std::string("TCP_NODELAY: ") + std::strerror(errno));
}

int listen_loopback(int& port) {
    std::string error;
    int fd = tools::loopback_socket(true, port, error);
    if (fd < 0) die(error);
    return fd;
}

int connect_loopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die(std::string("connect: ") + std::strerror(errno));
    no_delay(fd);
    return fd;
}

// The floor of a remote scan with no protocol at all: what this machine does when the bytes of a
// stream are received, placed into fresh pages of a userfaultfd-registered mapping (UFFDIO_COPY,
// read-only, in 256 KiB batches, as readahead does) and summed, with nothing else: no requests,
// no directory, no checksums. `threads`: 1 does all three on one thread (as Aether's handler
// thread receives and installs while the scanning thread waits); 3 runs receiving, installing
// and scanning on threads of their own, handing batches on through atomics (up to 4 received
// batches in flight), the most overlap two CPUs allow. Returns the process's CPU time.
std::uint64_t receive_install_scan(int fd, std::size_t total, std::size_t threads) {
    constexpr std::size_t batch = 64 * page_bytes;
    constexpr std::size_t slots = 4;
    const std::size_t batches = total / batch;
    uffd_region region(0, batches * batch, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP);
    std::vector<std::byte> staging(slots * batch);
    std::uint64_t sum = 0, cpu0 = 0;
    auto receive = [&](std::size_t i) {
        if (!recv_full(fd, staging.data() + (i % slots) * batch, batch)) die("stream ended early");
        if (i == 0) cpu0 = process_cpu_ns(); // from the first bytes: not the wait for them
    };
    auto install = [&](std::size_t i) { region.copy_read_only(i * batch, staging.data() + (i % slots) * batch, batch); };
    auto scan = [&](std::size_t i) {
        sum += sum_words(reinterpret_cast<const std::uint64_t*>(region.base + i * batch), batch / sizeof(std::uint64_t));
    };
    if (threads <= 1) {
        for (std::size_t i = 0; i < batches; ++i) {
            receive(i);
            install(i);
            scan(i);
        }
    } else {
        // Batches received and installed so far: each stage waits on the one before it (and the
        // receiver on the installer, for a free staging slot).
        std::atomic<std::uint64_t> received{0}, installed{0};
        auto wait_until_above = [](std::atomic<std::uint64_t>& done, std::uint64_t i) {
            for (std::uint64_t v = done.load(std::memory_order_acquire); v <= i; v = done.load(std::memory_order_acquire))
                done.wait(v, std::memory_order_acquire);
        };
        auto advance = [](std::atomic<std::uint64_t>& done) {
            done.fetch_add(1, std::memory_order_release);
            done.notify_all();
        };
        std::thread installer([&] {
            for (std::size_t i = 0; i < batches; ++i) {
                wait_until_above(received, i);
                install(i);
                advance(installed);
            }
        });
        std::thread scanner([&] {
            for (std::size_t i = 0; i < batches; ++i) {
                wait_until_above(installed, i);
                scan(i);
            }
        });
        for (std::size_t i = 0; i < batches; ++i) {
            if (i >= slots) wait_until_above(installed, i - slots); // its staging slot is free again
            receive(i);
            advance(received);
        }
        installer.join();
        scanner.join();
    }
    // The client sends 'x' bytes: every word of the scan is 0x7878787878787878.
    if (sum != batches * (batch / sizeof(std::uint64_t)) * 0x7878787878787878ULL) die("the scanned bytes are not what was sent");
    return process_cpu_ns() - cpu0;
}

int tcp_server(const params& p) {
    node_label = "tcp-server";
    const char* v = std::getenv(listen_fd_env);
    if (v == nullptr) die("no listening socket");
    int lfd = std::atoi(v);
    pollfd pfd{lfd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(setup_wait_ms)) != 1) die("no client connected");
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) die(std::string("accept: ") + std::strerror(errno));
    close(lfd);
    no_delay(fd);
    const std::string mode = str(p, "mode", "pingpong");
    if (mode == "stream" && str(p, "sink", "") == "scan") {
        const std::size_t total = u64(p, "bytes", std::size_t{256} << 20);
        const std::size_t reps = u64(p, "reps", 1);
        const std::size_t threads = u64(p, "threads", 1);
        for (std::size_t r = 0; r < reps; ++r) {
            const std::uint64_t cpu = receive_install_scan(fd, total, threads);
            if (!send_full(fd, &cpu, sizeof cpu)) die("cannot acknowledge the stream");
        }
    } else if (mode == "stream") {
        const std::size_t total = u64(p, "bytes", std::size_t{1} << 30);
        const std::size_t reps = u64(p, "reps", 1);
        std::vector<char> buf(std::size_t{1} << 20);
        for (std::size_t r = 0; r < reps; ++r) {
            std::size_t got = 0;
            std::uint64_t cpu0 = 0;
            while (got < total) {
                ssize_t k = ::recv(fd, buf.data(), std::min(buf.size(), total - got), 0);
                if (k < 0 && errno == EINTR) continue;
                if (k <= 0) die("stream ended early");
                if (got == 0) cpu0 = process_cpu_ns(); // from the first bytes: not the wait for them
                got += static_cast<std::size_t>(k);
            }
            // The acknowledgement carries the CPU time receiving took.
            const std::uint64_t cpu = process_cpu_ns() - cpu0;
            if (!send_full(fd, &cpu, sizeof cpu)) die("cannot acknowledge the stream");
        }
    } else {
        std::vector<char> buf(std::max<std::size_t>(u64(p, "size", 64), sizeof(int)));
        // Echo until the client closes. The reply carries the CPU the server ran on, so that the
        // client can tell how often the two ends were on different CPUs (free placement).
        while (recv_full(fd, buf.data(), buf.size())) {
            int cpu = sched_getcpu();
            std::memcpy(buf.data(), &cpu, sizeof cpu);
            if (!send_full(fd, buf.data(), buf.size())) break;
        }
    }
    close(fd);
    return 0;
}

int tcp_client(const params& p, const tick_clock& clk) {
    node_label = "tcp-client";
    const common c = common_of(p);
    int fd = connect_loopback(static_cast<int>(u64(p, "port", 0)));
    const std::string mode = str(p, "mode", "pingpong");
    if (mode == "stream") {
        const std::size_t total = u64(p, "bytes", std::size_t{1} << 30);
        const std::size_t reps = u64(p, "reps", 1);
        std::vector<char> buf(std::size_t{1} << 20, 'x');
        std::vector<double> gbps;
        std::uint64_t sender_cpu = 0, receiver_cpu = 0;
        for (std::size_t r = 0; r < reps; ++r) {
            std::uint64_t t0 = now_ns();
            const std::uint64_t cpu0 = process_cpu_ns();
            for (std::size_t sent = 0; sent < total;) {
                std::size_t len = std::min(buf.size(), total - sent);
                if (!send_full(fd, buf.data(), len)) die("stream send failed");
                sent += len;
            }
            sender_cpu += process_cpu_ns() - cpu0;
            std::uint64_t receiver = 0;
            if (!recv_full(fd, &receiver, sizeof receiver)) die("no acknowledgement of the stream");
            receiver_cpu += receiver;
            gbps.push_back(static_cast<double>(total) / static_cast<double>(now_ns() - t0));
        }
        std::sort(gbps.begin(), gbps.end());
        record r;
        r.kind = "row";
        r.set("name", c.name).set("unit", "GB/s").set("value", gbps[gbps.size() / 2]).set("gbps", gbps[gbps.size() / 2]);
        r.set("gbps_min", gbps.front()).set("gbps_max", gbps.back());
        r.set("bytes", static_cast<std::uint64_t>(total)).set("reps", static_cast<std::uint64_t>(reps));
        // CPU per 256 KiB (a readahead batch's payload) on each side: what moving the bytes costs
        // the machine, against which seq_scan_remote_GBps's CPU per batch compares.
        const double batches = static_cast<double>(total) * static_cast<double>(reps) / (256.0 * 1024.0);
        r.set("sender_cpu_us_per_256KiB", static_cast<double>(sender_cpu) / batches / 1e3);
        r.set("receiver_cpu_us_per_256KiB", static_cast<double>(receiver_cpu) / batches / 1e3);
        r.set("median_ns", 0.0).set("p99_ns", 0.0).set("ops", static_cast<std::uint64_t>(reps)).set("ops_per_s", 0.0);
        send(r);
    } else {
        const std::size_t size = std::max<std::size_t>(u64(p, "size", 64), sizeof(int));
        std::vector<char> out(size, 'q'), in(size);
        auto round_trip = [&](std::size_t) {
            if (!send_full(fd, out.data(), size) || !recv_full(fd, in.data(), size)) die("ping-pong failed");
        };
        for (std::size_t i = 0; i < c.warmup; ++i) round_trip(i);
        std::vector<std::uint64_t> ticks;
        ticks.reserve(c.ops);
        std::uint64_t cross_cpu = 0;
        for (std::size_t i = 0; i < c.ops; ++i) {
            std::uint64_t t0 = clk.now();
            round_trip(i);
            ticks.push_back(clk.now() - t0);
            int server_cpu = 0;
            std::memcpy(&server_cpu, in.data(), sizeof server_cpu);
            if (server_cpu != sched_getcpu()) ++cross_cpu;
        }
        record r = latency_row(c.name, ticks, clk);
        r.set("size", static_cast<std::uint64_t>(size));
        r.set("cross_cpu_fraction", static_cast<double>(cross_cpu) / static_cast<double>(c.ops));
        send(r);
    }
    close(fd);
    return 0;
}

} // namespace

int run_node_role(int argc, char** argv) {
    if (argc < 1) die("no role");
    const std::string role = argv[0];
    const params p = parse_params(argc, argv);
    // The driver kills a figure at its deadline; this is the backstop if the driver itself is gone.
    if (auto s = u64(p, "deadline_s", 0); s > 0) alarm(static_cast<unsigned>(s));

    if (role == "tcp_server") return tcp_server(p);
    const tick_clock clk = tick_clock::calibrate();
    if (role == "tcp_client") return tcp_client(p, clk);

    member m;
    m.barrier(setup_wait_ms, "join");
    if (role == "api_read_hit") api_figure(m, p, clk, api_op::read_hit);
    else if (role == "api_read_miss") api_figure(m, p, clk, api_op::read_miss);
    else if (role == "api_write") api_figure(m, p, clk, api_op::write);
    else if (role == "atomic_fetch_add") api_figure(m, p, clk, api_op::fetch_add);
    else if (role == "transport_ping") api_figure(m, p, clk, api_op::transport_ping);
    else if (role == "transport_fetch") api_figure(m, p, clk, api_op::transport_fetch);
    else if (role == "fault_read_remote") fault_figure(m, p, clk, fault_op::read_remote);
    else if (role == "fault_write_upgrade") fault_figure(m, p, clk, fault_op::write_upgrade);
    else if (role == "fault_read_local") fault_figure(m, p, clk, fault_op::read_local);
    else if (role == "resident_scan") resident_scan(m, p, clk);
    else if (role == "seq_scan_remote") seq_scan_remote(m, p, clk);
    else if (role == "uffd_install") uffd_install(m, p, clk);
    else if (role == "invalidate_sharers") invalidate_sharers(m, p, clk);
    else if (role == "tcp_fanout") tcp_fanout(m, p, clk);
    else if (role == "scale") scale(m, p, clk);
    else if (role == "token_pass") token_pass(m, p, clk);
    else if (role == "cas_lock") cas_lock(m, p, clk);
    else die("unknown role " + role);

    std::fflush(stdout);
    std::fflush(stderr);
    // Node 0 lingers so that its service thread delivers the last barrier's replies to the other
    // nodes before the process (and its connections) go away.
    if (m.id() == 0 && m.count() > 1) sleep_ms(200);
    // No destructors: the runtime's threads may still be waiting on peers that already left.
    _exit(0);
}

} // namespace aether::bench
