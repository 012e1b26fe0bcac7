// What every node role of aether-bench shares: joining the cluster, reporting records to the
// driver, the runtime's counters by name, timing loops and the measurement window (barriers A and
// B). The roles themselves live in one file per figure family.
#pragma once

#include "tools/aether-bench/node_roles.hpp"
#include "tools/aether-bench/record.hpp"
#include "tools/aether-bench/timing.hpp"

#include "runtime/c_api_access.hpp"
#include "runtime/runtime.hpp"

#include <seraph/aether.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace aether::bench {

using params = std::map<std::string, std::string>;

constexpr std::size_t page_bytes = SERAPH_AETHER_PAGE_SIZE;
constexpr std::uint32_t setup_wait_ms = 60'000;

inline std::string node_label = "?";

// ---- reporting --------------------------------------------------------------------------------------

inline void write_all(int fd, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::write(fd, s.data() + done, s.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

inline void send(const record& r) {
    static const int fd = [] {
        const char* v = std::getenv(result_fd_env);
        return v != nullptr ? std::atoi(v) : STDOUT_FILENO;
    }();
    write_all(fd, r.encode());
}

inline std::string void_text() {
    return std::string(" (VOID reason ") + seraph_aether_void_reason_name(seraph_aether_get_void_reason()) + ")";
}

// A node that cannot go on says why on its result pipe and ends at once: the runtime's threads are
// left running, and no destructor may wait for a peer that is itself gone.
[[noreturn]] inline void die(const std::string& why) {
    record r;
    r.kind = "fail";
    r.set("node", node_label).set("error", why);
    send(r);
    std::fprintf(stderr, "aether-bench node %s: %s\n", node_label.c_str(), why.c_str());
    std::fflush(stderr);
    _exit(1);
}

// ---- parameters -------------------------------------------------------------------------------------

inline params parse_params(int argc, char** argv) {
    params p;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto eq = a.find('=');
        if (eq == std::string::npos) die("malformed node parameter \"" + a + "\"");
        p[a.substr(0, eq)] = a.substr(eq + 1);
    }
    return p;
}

inline std::uint64_t u64(const params& p, const std::string& key, std::uint64_t fallback) {
    auto it = p.find(key);
    if (it == p.end()) return fallback;
    char* end = nullptr;
    unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
    if (end == nullptr || *end != '\0') die("parameter " + key + " is not a number: " + it->second);
    return v;
}

inline std::string str(const params& p, const std::string& key, const std::string& fallback = "") {
    auto it = p.find(key);
    return it == p.end() ? fallback : it->second;
}

// ---- counters ---------------------------------------------------------------------------------------

// The runtime's own counters of one node (never estimated), by the names the records use.
struct counter_def {
    const char* name;
    const std::atomic<std::uint64_t>& (*of)(node_counters&);
};
#define AETHER_COUNTER(name, path)                                                                                               \
    counter_def {                                                                                                                \
        name, [](node_counters& c) -> const std::atomic<std::uint64_t>& { return c.path; }                                       \
    }
constexpr counter_def counter_defs[] = {
    AETHER_COUNTER("handoffs", handoffs),
    AETHER_COUNTER("read_faults", read_faults),
    AETHER_COUNTER("write_faults", write_faults),
    AETHER_COUNTER("remote_fetches", remote_fetches),
    AETHER_COUNTER("invalidations_sent", invalidations_sent),
    AETHER_COUNTER("invalidations_received", invalidations_received),
    AETHER_COUNTER("cache_hits", cache_hits),
    AETHER_COUNTER("cache_misses", cache_misses),
    AETHER_COUNTER("readahead_pages", readahead_pages),
    AETHER_COUNTER("readahead_serve_ns", readahead_serve_ns),
    AETHER_COUNTER("fault_service_ns", fault_service_ns),
    AETHER_COUNTER("home_requests", home_requests),
    AETHER_COUNTER("home_service_ns", home_service_ns),
    AETHER_COUNTER("invalidations_held", held_invalidations),
    AETHER_COUNTER("stale_grants", stale_grants),
    AETHER_COUNTER("requests", transport.requests),
    AETHER_COUNTER("connects", transport.connects),
    AETHER_COUNTER("timeouts", transport.timeouts),
};
#undef AETHER_COUNTER
constexpr std::size_t counter_count = sizeof counter_defs / sizeof counter_defs[0];

struct counts {
    std::array<std::uint64_t, counter_count> v{};

    static counts of(runtime& rt) noexcept {
        counts s;
        for (std::size_t i = 0; i < counter_count; ++i)
            s.v[i] = counter_defs[i].of(rt.counters()).load(std::memory_order_relaxed);
        return s;
    }
    [[nodiscard]] std::uint64_t get(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < counter_count; ++i)
            if (name == counter_defs[i].name) return v[i];
        return 0;
    }
    counts operator-(const counts& o) const noexcept {
        counts d;
        for (std::size_t i = 0; i < counter_count; ++i) d.v[i] = v[i] - o.v[i];
        return d;
    }
    counts& operator+=(const counts& o) noexcept {
        for (std::size_t i = 0; i < counter_count; ++i) v[i] += o.v[i];
        return *this;
    }
    void put(record& r, const std::string& prefix) const {
        for (std::size_t i = 0; i < counter_count; ++i) r.set(prefix + counter_defs[i].name, v[i]);
        // Pages that came from a home: fetched for a fault or an access, or read ahead.
        r.set(prefix + "pages_obtained", get("remote_fetches") + get("readahead_pages"));
    }
};

// ---- cluster membership -----------------------------------------------------------------------------

class member {
public:
    member() {
        if (const char* id = std::getenv("AETHER_NODE_ID")) node_label = id;
        std::memset(&a_, 0, sizeof a_);
        if (seraph_aether_init_from_env(&a_) != SERAPH_VBIT_TRUE) die("seraph_aether_init_from_env failed" + void_text());
        rt_ = runtime_of_handle(&a_);
        if (rt_ == nullptr) die("no runtime behind the handle");
        node_label = std::to_string(a_.local_node_id);
    }
    member(const member&) = delete;
    member& operator=(const member&) = delete;

    Seraph_Aether* h() noexcept { return &a_; }
    runtime& rt() noexcept { return *rt_; }
    [[nodiscard]] std::uint16_t id() const noexcept { return a_.local_node_id; }
    [[nodiscard]] std::uint16_t count() const noexcept { return a_.node_count; }

    void barrier(std::uint32_t wait_ms, const char* what) {
        if (seraph_aether_barrier(&a_, wait_ms) != SERAPH_VBIT_TRUE)
            die(std::string("barrier ") + what + " failed" + void_text());
    }
    std::uint64_t alloc_local(std::size_t bytes) {
        std::uint64_t a = seraph_aether_alloc(&a_, bytes);
        if (a == SERAPH_VOID_U64) die("cannot allocate " + std::to_string(bytes) + " bytes locally" + void_text());
        return a;
    }
    void publish(const std::string& name, std::uint64_t addr) {
        if (seraph_aether_publish(&a_, name.c_str(), addr) != SERAPH_VBIT_TRUE) die("cannot publish " + name + void_text());
    }
    std::uint64_t lookup(const std::string& name) {
        std::uint64_t a = seraph_aether_lookup(&a_, name.c_str(), setup_wait_ms);
        if (a == SERAPH_VOID_U64) die("cannot look up " + name + void_text());
        return a;
    }
    void write(std::uint64_t addr, const void* src, std::size_t size) {
        auto r = seraph_aether_write(&a_, addr, src, size);
        if (r.status != SERAPH_AETHER_OK)
            die(std::string("write failed: ") + seraph_aether_fetch_status_name(r.status) + void_text());
    }
    void read(std::uint64_t addr, void* dst, std::size_t size) {
        auto r = seraph_aether_read(&a_, addr, dst, size);
        if (r.status != SERAPH_AETHER_OK)
            die(std::string("read failed: ") + seraph_aether_fetch_status_name(r.status) + void_text());
    }

private:
    Seraph_Aether a_;
    runtime* rt_ = nullptr;
};

// CPU time of every thread of this process so far (user and kernel).
inline std::uint64_t process_cpu_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Time every thread of this process has spent runnable but waiting for a CPU so far
// (/proc/self/task/*/schedstat, second field): the scheduler's share of a figure.
inline std::uint64_t run_queue_wait_ns() {
    std::uint64_t total = 0;
    if (DIR* d = opendir("/proc/self/task")) {
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            std::string path = std::string("/proc/self/task/") + e->d_name + "/schedstat";
            if (FILE* f = std::fopen(path.c_str(), "r")) {
                unsigned long long run = 0, wait = 0;
                if (std::fscanf(f, "%llu %llu", &run, &wait) == 2) total += wait;
                std::fclose(f);
            }
        }
        closedir(d);
    }
    return total;
}

inline void sleep_ms(unsigned ms) {
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

// Every node but 0 while node 0 measures. Its counters are read right after barrier A and right
// after barrier B; in between it only waits in barrier B, which is a plain remote call on a node
// that is not the coordinator (no hand-off of its own), so the delta is exactly what serving node
// 0's operations cost this node.
inline void serve_measurement(member& m, std::uint32_t wait_ms) {
    m.barrier(wait_ms, "A");
    counts c0 = counts::of(m.rt());
    const std::uint64_t cpu0 = process_cpu_ns();
    m.barrier(wait_ms, "B");
    const std::uint64_t cpu1 = process_cpu_ns();
    counts c1 = counts::of(m.rt());
    record r;
    r.kind = "counters";
    r.set("node", static_cast<std::uint64_t>(m.id()));
    (c1 - c0).put(r, "");
    r.set("cpu_ns", cpu1 - cpu0); // every thread of this node's process, polling included
    send(r);
}

// Node 0: after barrier A it pauses so that the other nodes' arrival at barrier B (a request to this
// node's service thread) lands before the timed operations, not among them.
template <class Fn>
inline void measure(member& m, std::uint32_t wait_ms, Fn&& fn) {
    m.barrier(wait_ms, "A");
    sleep_ms(50);
    fn();
    m.barrier(wait_ms, "B");
}

struct timed {
    std::vector<std::uint64_t> ticks;
    counts delta; // node 0's counters over the timed operations only
};

// Runs op(i) for i in [first, first + n), timing each; prep(i) runs before, untimed and outside the
// counter window.
template <class Prep, class Op>
timed timed_loop(runtime& rt, const tick_clock& clk, std::size_t first, std::size_t n, Prep&& prep, Op&& op) {
    timed t;
    t.ticks.reserve(n);
    for (std::size_t i = first; i < first + n; ++i) {
        prep(i);
        counts c0 = counts::of(rt);
        std::uint64_t t0 = clk.now();
        op(i);
        std::uint64_t t1 = clk.now();
        counts c1 = counts::of(rt);
        t.ticks.push_back(t1 - t0);
        t.delta += c1 - c0;
    }
    return t;
}

constexpr auto no_prep = [](std::size_t) {};

inline record latency_row(const std::string& name, std::vector<std::uint64_t>& ticks, const tick_clock& clk) {
    summary s = summarize(ticks, clk);
    record r;
    r.kind = "row";
    r.set("name", name);
    r.set("median_ns", s.median_ns).set("p99_ns", s.p99_ns).set("mean_ns", s.mean_ns);
    r.set("ops", static_cast<std::uint64_t>(s.count));
    r.set("ops_per_s", s.total_ns > 0 ? static_cast<double>(s.count) * 1e9 / s.total_ns : 0.0);
    r.set("timer", clk.uses_tsc() ? "tsc" : "clock_gettime").set("timer_overhead_ns", clk.overhead_ns());
    return r;
}

inline record latency_row(const std::string& name, timed& t, const tick_clock& clk) {
    record r = latency_row(name, t.ticks, clk);
    t.delta.put(r, "c_");
    return r;
}

inline std::uint64_t marker(std::size_t i) { return 0x5EED'0000'0000'0000ull | i; }

inline volatile std::uint64_t sink_word;

inline std::uint64_t load_word(std::uint64_t addr) { return *reinterpret_cast<volatile const std::uint64_t*>(addr); }
inline void store_word(std::uint64_t addr, std::uint64_t v) { *reinterpret_cast<volatile std::uint64_t*>(addr) = v; }

[[gnu::noinline]] inline std::uint64_t sum_words(const std::uint64_t* p, std::size_t n) {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < n; ++i) s += p[i];
    return s;
}

// ---- userfaultfd --------------------------------------------------------------------------------

// A userfaultfd with `features`, and `bytes` of fresh mapping registered with it in `mode`: where
// uffd_install (scan_roles.cpp) and the scan floor's server (floor_roles.cpp) install pages.
struct uffd_region {
    uffd_region(std::uint64_t features, std::size_t bytes, std::uint64_t mode, int memfd = -1)
        : bytes(bytes) {
        uffd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
        if (uffd < 0) die("userfaultfd: " + std::string(std::strerror(errno)));
        uffdio_api api{.api = UFFD_API, .features = features, .ioctls = 0};
        if (::ioctl(uffd, UFFDIO_API, &api) != 0) die("UFFDIO_API: this kernel lacks a feature the figure needs");
        base = static_cast<std::byte*>(
            ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   memfd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE : MAP_SHARED | MAP_NORESERVE, memfd, 0));
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

struct common {
    std::string name;
    std::size_t ops;
    std::size_t warmup;
    std::uint32_t wait_ms;
};

inline common common_of(const params& p) {
    common c;
    c.name = str(p, "name");
    c.ops = u64(p, "ops", 20'000);
    c.warmup = u64(p, "warmup", 1'000);
    c.wait_ms = static_cast<std::uint32_t>(u64(p, "wait_ms", 300'000));
    return c;
}

} // namespace aether::bench
