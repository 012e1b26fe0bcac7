// Figures of a scan by plain pointers: over memory this node already holds (resident_scan_ratio),
// over memory homed on another node (seq_scan_remote_GBps), and the rate of the userfaultfd
// install that bounds the latter (uffd_install_*_GBps). See docs/bench-method-notes.md.
#include "tools/aether-bench/scan_roles.hpp"

#include <algorithm>

namespace aether::bench {

namespace {

std::uint64_t pattern(std::uint64_t j) { return j * 0x9E37'79B9'7F4A'7C15ull + 1; }

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

} // namespace

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
    for (std::size_t i = 0; i < warm_pages; ++i)
        sink_word = sum_words(reinterpret_cast<const std::uint64_t*>(warm + i * page_bytes), words_per_page);

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
        auto* alias =
            static_cast<std::byte*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd, 0));
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
        auto* staging =
            static_cast<std::byte*>(::mmap(nullptr, batch, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
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

} // namespace aether::bench
