// Plain pointers into Aether memory, in one process whose other nodes are real node servers:
// loads and stores by pointer, coherence with the explicit API, system calls on remote buffers,
// VOID loads and SIGBUS stores. Every case runs in both fault modes.
#include <catch2/catch.hpp>

#include <seraph/aether.h>

#include "seccomp_errno.hpp"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct pointer_cluster {
    pointer_cluster(const char* mode, uint16_t n, uint32_t timeout_ms = 400, const char* store_policy = "sigbus") {
        setenv("AETHER_FAULT_MODE", mode, 1);
        setenv("AETHER_VOID_RETRY_MS", "200", 1);
        setenv("AETHER_VOID_POLICY", store_policy, 1);
        REQUIRE(seraph_aether_init(&a, 0, n) == SERAPH_VBIT_TRUE);
        unsetenv("AETHER_FAULT_MODE");
        unsetenv("AETHER_VOID_RETRY_MS");
        unsetenv("AETHER_VOID_POLICY");
        for (uint16_t i = 0; i < n; ++i) REQUIRE(seraph_aether_add_sim_node(&a, i, 4 << 20) == SERAPH_VBIT_TRUE);
        REQUIRE(seraph_aether_set_timeout_ms(&a, timeout_ms) == SERAPH_VBIT_TRUE);
    }
    ~pointer_cluster() { seraph_aether_destroy(&a); }
    Seraph_Aether a{};
};

template <class T>
T* ptr(uint64_t addr) {
    return reinterpret_cast<T*>(addr);
}

// Polls `pred` every 20 ms until it holds or `limit_ms` have passed; returns whether it held.
template <class Pred>
bool eventually(Pred pred, int limit_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= until) return false;
        usleep(20000);
    }
}

uint64_t fetches(Seraph_Aether& a) {
    uint64_t f = 0;
    seraph_aether_get_stats(&a, nullptr, nullptr, &f, nullptr, nullptr);
    return f;
}

// A store to unreachable memory raises SIGBUS; the test catches it and jumps back.
sigjmp_buf g_jump;
std::atomic<uint64_t> g_sigbus_addr{0};
void on_sigbus(int, siginfo_t* si, void*) {
    g_sigbus_addr = reinterpret_cast<uint64_t>(si->si_addr);
    siglongjmp(g_jump, 1);
}

struct sigbus_catcher {
    sigbus_catcher() {
        struct sigaction sa {};
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &old_);
    }
    ~sigbus_catcher() { sigaction(SIGBUS, &old_, nullptr); }
    struct sigaction old_ {};
};

} // namespace

TEST_CASE("loads and stores by pointer on another node's memory", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(mode) {
            pointer_cluster c(mode, 3);
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 3 * 4096);
            REQUIRE(p != SERAPH_VOID_U64);
            auto* words = ptr<uint64_t>(p);
            CHECK(words[0] == 0); // fresh memory reads zero through the fault path
            words[0] = 42;        // store: the copy becomes exclusive here
            words[600] = 7;       // second page
            CHECK(words[0] == 42);
            Seraph_Aether_Cache_Entry* e = seraph_aether_cache_lookup(&c.a, p);
            REQUIRE(e != nullptr);
            CHECK(e->state == SERAPH_AETHER_PAGE_EXCLUSIVE);
            // The explicit API sees the same memory: a read hits the copy here.
            uint64_t v = 0;
            REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
            CHECK(v == 42);
            // An explicit write goes to the home, which takes the exclusive copy back first.
            uint64_t nv = 99;
            REQUIRE(seraph_aether_write_vbit(&c.a, p + 8, &nv, 8) == SERAPH_VBIT_TRUE);
            CHECK(seraph_aether_cache_lookup(&c.a, p) == nullptr);
            CHECK(words[0] == 42); // written back, not lost
            CHECK(words[1] == 99);
            CHECK(words[600] == 7);
            // Structures: a string laid across a page boundary.
            char* text = ptr<char>(p + 4096 - 5);
            std::strcpy(text, "across the boundary");
            char back[32] = {};
            REQUIRE(seraph_aether_read_vbit(&c.a, p + 4096 - 5, back, 20) == SERAPH_VBIT_TRUE);
            CHECK(std::string(back) == "across the boundary");
        }
    }
}

TEST_CASE("this node's own memory by pointer takes part in coherence", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(mode) {
            pointer_cluster c(mode, 2, 5000); // no VOID expected: room for a sanitizer's first report in the SIGBUS handler
            uint64_t p = seraph_aether_alloc(&c.a, 4096);
            REQUIRE(p != SERAPH_VOID_U64);
            auto* w = ptr<uint64_t>(p);
            w[3] = 1234; // exclusive at home: the home's bytes are stale now
            // A request for the page (as node 1 would make) recalls the copy and sees the store.
            Seraph_Aether_Response r = seraph_aether_handle_read_request(&c.a, 1, seraph_aether_get_offset(p));
            REQUIRE(r.status == SERAPH_AETHER_RESP_OK);
            uint64_t in_page = 0;
            std::memcpy(&in_page, static_cast<char*>(r.page_data) + 24, 8);
            CHECK(in_page == 1234);
            CHECK(w[3] == 1234); // still readable here (downgraded to shared)
            w[3] = 5678;         // upgrade again: node 1's copy is invalidated first
            Seraph_Aether_Directory_Entry* d = seraph_aether_get_directory_entry(&c.a, 0, seraph_aether_get_offset(p));
            REQUIRE(d != nullptr);
            CHECK(d->state == SERAPH_AETHER_PAGE_EXCLUSIVE);
            CHECK(d->exclusive_owner == 0);
            CHECK(d->sharer_count == 0);
        }
    }
}

TEST_CASE("threads faulting on one page cause one fetch", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(mode) {
            pointer_cluster c(mode, 2, 2000);
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
            uint64_t magic = 0xABCDEF;
            REQUIRE(seraph_aether_write_vbit(&c.a, p + 64, &magic, 8) == SERAPH_VBIT_TRUE);
            uint64_t before = fetches(c.a);
            std::atomic<int> go{0}, wrong{0};
            std::vector<std::thread> ts;
            for (int i = 0; i < 8; ++i)
                ts.emplace_back([&] {
                    while (go.load() == 0) {}
                    if (*ptr<volatile uint64_t>(p + 64) != magic) ++wrong;
                });
            go = 1;
            for (auto& t : ts) t.join();
            CHECK(wrong.load() == 0);
            CHECK(fetches(c.a) - before == 1);
        }
    }
}

TEST_CASE("a sequential scan reads ahead, and what it read ahead stays coherent", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(mode) {
            pointer_cluster c(mode, 2, 2000);
            constexpr uint64_t pages = 300;
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, pages * 4096);
            REQUIRE(p != SERAPH_VOID_U64);
            for (uint64_t i = 0; i < pages; ++i) {
                uint64_t v = i * 3 + 1;
                REQUIRE(seraph_aether_write_vbit(&c.a, p + i * 4096, &v, 8) == SERAPH_VBIT_TRUE);
            }
            uint64_t before = fetches(c.a);
            int wrong = 0;
            for (uint64_t i = 0; i < pages; ++i)
                if (*ptr<volatile uint64_t>(p + i * 4096) != i * 3 + 1) ++wrong;
            CHECK(wrong == 0);
            // One fetch per page would be 300; growing windows (1, 4, 16, 64) need about a dozen.
            CHECK(fetches(c.a) - before <= pages / 8);

            // Page 200 came in a batch: the home lists this node as its sharer...
            const uint64_t ahead = p + 200 * 4096;
            Seraph_Aether_Directory_Entry* d = seraph_aether_get_directory_entry(&c.a, 1, seraph_aether_get_offset(ahead));
            REQUIRE(d != nullptr);
            CHECK(d->state == SERAPH_AETHER_PAGE_SHARED);
            REQUIRE(d->sharer_count == 1);
            CHECK(d->sharers[0] == 0);
            // ...so a write at the home takes the copy away, and the next load sees the write.
            uint64_t v = 777;
            REQUIRE(seraph_aether_write_vbit(&c.a, ahead, &v, 8) == SERAPH_VBIT_TRUE);
            CHECK(*ptr<volatile uint64_t>(ahead) == 777);
            // A store by pointer upgrades a copy that was read ahead.
            *ptr<volatile uint64_t>(ahead + 4096) = 888;
            uint64_t back = 0;
            seraph_aether_cache_invalidate(&c.a, ahead + 4096); // written back home first
            REQUIRE(seraph_aether_read_vbit(&c.a, ahead + 4096, &back, 8) == SERAPH_VBIT_TRUE);
            CHECK(back == 888);
        }
    }
}

TEST_CASE("a scan whose home goes away reads what it fetched, then VOID: never stale, never a hang", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(mode) {
            pointer_cluster c(mode, 2, 300);
            constexpr uint64_t pages = 400, before_loss = 200;
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, pages * 4096);
            REQUIRE(p != SERAPH_VOID_U64);
            for (uint64_t i = 0; i < pages; ++i) {
                uint64_t v = i + 1000;
                REQUIRE(seraph_aether_write_vbit(&c.a, p + i * 4096, &v, 8) == SERAPH_VBIT_TRUE);
            }
            // Far enough for the full window: batches are asked for ahead of the scan now.
            for (uint64_t i = 0; i < before_loss; ++i) REQUIRE(*ptr<volatile uint64_t>(p + i * 4096) == i + 1000);
            seraph_aether_set_node_online(&c.a, 1, false);
            uint64_t real = 0, voided = 0, wrong = 0;
            for (uint64_t i = before_loss; i < pages; ++i) {
                uint64_t v = *ptr<volatile uint64_t>(p + i * 4096);
                if (v == i + 1000)
                    ++real; // came in a batch before the loss
                else if (v == SERAPH_VOID_U64)
                    ++voided;
                else
                    ++wrong;
            }
            CHECK(wrong == 0);
            CHECK(voided > 0);
            CHECK(real + voided == pages - before_loss);
            // Back online: every page reads its real value again (VOID pages expire after 200 ms).
            seraph_aether_set_node_online(&c.a, 1, true);
            uint64_t bad = 0;
            eventually(
                [&] {
                    bad = 0;
                    for (uint64_t i = 0; i < pages; ++i)
                        if (*ptr<volatile uint64_t>(p + i * 4096) != i + 1000) ++bad;
                    return bad == 0;
                },
                2000);
            CHECK(bad == 0);
        }
    }
}

TEST_CASE("scattered loads fetch only the pages they touch", "[pointer]") {
    pointer_cluster c("handler", 2, 2000);
    constexpr uint64_t pages = 200;
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, pages * 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    // Every third page, backwards: no load lands on the page after an earlier one.
    uint64_t before = fetches(c.a);
    uint64_t touched = 0;
    for (uint64_t i = pages; i-- > 0;)
        if (i % 3 == 0) {
            CHECK(*ptr<volatile uint64_t>(p + i * 4096) == 0);
            ++touched;
        }
    CHECK(fetches(c.a) - before == touched);
    // Nothing else came: the pages between are still absent here.
    CHECK(seraph_aether_cache_lookup(&c.a, p + 4096) == nullptr);
}

TEST_CASE("AETHER_READAHEAD_PAGES=1 turns readahead off", "[pointer]") {
    setenv("AETHER_READAHEAD_PAGES", "1", 1);
    pointer_cluster c("handler", 2, 2000);
    unsetenv("AETHER_READAHEAD_PAGES");
    constexpr uint64_t pages = 40;
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, pages * 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    uint64_t before = fetches(c.a);
    for (uint64_t i = 0; i < pages; ++i) CHECK(*ptr<volatile uint64_t>(p + i * 4096) == 0);
    CHECK(fetches(c.a) - before == pages);
}

TEST_CASE("system calls read into and write from remote memory (handler mode)", "[pointer]") {
    pointer_cluster c("handler", 2);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 2 * 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    char path[] = "/tmp/aether-pointer-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    std::string text(6000, 'q');
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
    REQUIRE(::write(fd, text.data(), text.size()) == ssize_t(text.size()));
    REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);
    // The kernel writes into pages that are not present: faults raised inside read().
    REQUIRE(::read(fd, ptr<char>(p), text.size()) == ssize_t(text.size()));
    ::close(fd);
    ::unlink(path);
    std::string back(6000, '\0');
    REQUIRE(seraph_aether_read_vbit(&c.a, p, back.data(), back.size()) == SERAPH_VBIT_TRUE);
    CHECK(back == text);
    // And the kernel reads from them: write() to a pipe, after the copies were dropped.
    seraph_aether_cache_clear(&c.a);
    int pipefd[2];
    REQUIRE(::pipe(pipefd) == 0);
    std::string got(6000, '\0'); // checked after the join: Catch2 assertions are not thread-safe
    std::thread reader([&] {
        std::size_t n = 0;
        while (n < got.size()) {
            ssize_t r = ::read(pipefd[0], got.data() + n, got.size() - n);
            if (r <= 0) break;
            n += static_cast<std::size_t>(r);
        }
    });
    REQUIRE(::write(pipefd[1], ptr<char>(p), text.size()) == ssize_t(text.size()));
    reader.join();
    CHECK(got == text);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
}

namespace {

void void_and_sigbus(const char* mode) {
    {
        {
            sigbus_catcher catcher; // before init: sigbus mode chains to it
            pointer_cluster c(mode, 2, 300);
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 2 * 4096);
            uint64_t v = 5;
            REQUIRE(seraph_aether_write_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
            seraph_aether_set_node_online(&c.a, 1, false);
            seraph_aether_clear_void_context();

            CHECK(*ptr<volatile uint64_t>(p) == SERAPH_VOID_U64);
            CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
            CHECK(seraph_aether_get_void_addr() == p);
            unsigned char bytes[16];
            std::memcpy(bytes, ptr<void>(p + 4096), sizeof bytes);
            for (unsigned char b : bytes) CHECK(b == 0xFF);

            g_sigbus_addr = 0;
            if (sigsetjmp(g_jump, 1) == 0) {         // NOLINT: the jump lands here
                *ptr<volatile uint64_t>(p + 16) = 1; // must never be silently dropped
                FAIL("the store to unreachable memory returned");
            }
            CHECK(g_sigbus_addr.load() == p + 16);

            // The node comes back: the VOID copy goes and the real bytes come back.
            seraph_aether_set_node_online(&c.a, 1, true);
            bool back = eventually([&] { return *ptr<volatile uint64_t>(p) == 5; }, 2000);
            CHECK(back);
            *ptr<volatile uint64_t>(p + 16) = 1; // and stores work again
            uint64_t r = 0;
            REQUIRE(seraph_aether_read_vbit(&c.a, p + 16, &r, 8) == SERAPH_VBIT_TRUE);
            CHECK(r == 1);
        }
    }
}

} // namespace

TEST_CASE("a load from unreachable memory reads VOID; a store raises SIGBUS", "[pointer]") {
    SECTION("handler") { void_and_sigbus("handler"); }
    SECTION("sigbus") { void_and_sigbus("sigbus"); }
}

TEST_CASE("with the block policy a store to unreachable memory waits and then lands", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(mode) {
            pointer_cluster c(mode, 2, 300, "block");
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
            REQUIRE(p != SERAPH_VOID_U64);
            seraph_aether_set_node_online(&c.a, 1, false);
            std::atomic<bool> stored{false};
            std::thread writer([&] {
                *ptr<volatile uint64_t>(p + 40) = 77; // neither dropped nor SIGBUS: it waits
                stored = true;
            });
            usleep(700 * 1000); // several deadlines and retry intervals
            CHECK_FALSE(stored.load());
            seraph_aether_set_node_online(&c.a, 1, true);
            writer.join();
            CHECK(stored.load());
            uint64_t v = 0;
            REQUIRE(seraph_aether_read_vbit(&c.a, p + 40, &v, 8) == SERAPH_VBIT_TRUE);
            CHECK(v == 77);
        }
    }
}

TEST_CASE("a write-back that failed keeps its bytes: a later store builds on them, never on the home's older ones",
          "[pointer][coherence]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(mode) {
            pointer_cluster c(mode, 2);
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
            REQUIRE(p != SERAPH_VOID_U64);
            auto* w = ptr<volatile uint64_t>(p);
            w[0] = 111; // exclusive here; the home still holds zeros
            // Dropping the copy must send it home first; the partition fails that write-back, so
            // the copy stays here, read-only, holding the only current bytes.
            seraph_aether_inject_failure(&c.a, 1, SERAPH_AETHER_VOID_PARTITION);
            seraph_aether_cache_invalidate(&c.a, p);
            CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_PARTITION);
            seraph_aether_clear_failure(&c.a, 1);
            CHECK(w[0] == 111);
            // A store needs the page exclusive again: it must keep word 0.
            w[1] = 222;
            CHECK(w[0] == 111);
            CHECK(w[1] == 222);
            // And the home ends up with both once the copy goes home.
            seraph_aether_cache_invalidate(&c.a, p);
            CHECK(seraph_aether_cache_lookup(&c.a, p) == nullptr);
            uint64_t back[2] = {};
            REQUIRE(seraph_aether_read_vbit(&c.a, p, back, sizeof back) == SERAPH_VBIT_TRUE);
            CHECK(back[0] == 111);
            CHECK(back[1] == 222);
        }
    }
}

namespace {

// The scheduling policy of every runtime thread of this process (named aether-*), by name.
std::vector<std::pair<std::string, int>> runtime_thread_policies() {
    std::vector<std::pair<std::string, int>> out;
    DIR* d = opendir("/proc/self/task");
    REQUIRE(d != nullptr);
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string comm_path = std::string("/proc/self/task/") + e->d_name + "/comm";
        FILE* f = fopen(comm_path.c_str(), "r");
        if (f == nullptr) continue;
        char name[32] = {};
        if (fgets(name, sizeof name, f) != nullptr && strncmp(name, "aether-", 7) == 0) {
            name[strcspn(name, "\n")] = 0;
            out.emplace_back(name, sched_getscheduler(atoi(e->d_name)));
        }
        fclose(f);
    }
    closedir(d);
    return out;
}

} // namespace

TEST_CASE("the runtime's threads run real-time where the process may, so spinning threads cannot starve them", "[pointer]") {
    const char* outer = getenv("AETHER_THREAD_PRIORITY");
    const std::string saved = outer != nullptr ? outer : "";
    for (const char* setting : {"auto", "normal"}) {
        setenv("AETHER_THREAD_PRIORITY", setting, 1);
        {
            pointer_cluster c("handler", 2);
            if (outer != nullptr)
                setenv("AETHER_THREAD_PRIORITY", saved.c_str(), 1);
            else
                unsetenv("AETHER_THREAD_PRIORITY");
            auto threads = runtime_thread_policies();
            // The local node's and the simulated node's service threads, and the fault handler.
            CHECK(threads.size() >= 3);
            const bool realtime = std::string(setting) == "auto" && geteuid() == 0; // root has CAP_SYS_NICE
            for (auto& [name, policy] : threads) {
                INFO(name << " with AETHER_THREAD_PRIORITY=\"" << setting << "\"");
                CHECK(policy == (realtime ? SCHED_FIFO : SCHED_OTHER));
            }
        }
    }
}

namespace {

// Six threads load from a node that is down, at once, each from `pages` distinct pages of it
// (round robin), then read their own VOID context: every one must name the reason.
void six_threads_read_the_reason(const char* mode, int pages) {
    pointer_cluster c(mode, 2, 300);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 8 * 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    seraph_aether_set_node_online(&c.a, 1, false);
    constexpr int threads = 6;
    std::atomic<int> ready{0};
    uint64_t value[threads] = {};
    Seraph_Aether_Void_Reason reason[threads] = {};
    uint64_t where[threads] = {};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            const uint64_t addr = p + static_cast<uint64_t>(t % pages) * 4096 + 8 * static_cast<uint64_t>(t);
            ready.fetch_add(1);
            while (ready.load() < threads) {} // every thread loads at the same moment
            value[t] = *ptr<volatile uint64_t>(addr);
            reason[t] = seraph_aether_get_void_reason();
            where[t] = seraph_aether_get_void_addr();
        });
    }
    for (auto& t : ts) t.join();
    for (int t = 0; t < threads; ++t) {
        INFO("thread " << t << " of " << threads << ", " << pages << " page(s), " << mode << " mode");
        CHECK(value[t] == SERAPH_VOID_U64);
        CHECK(reason[t] == SERAPH_AETHER_VOID_NODE_CRASHED);
        CHECK(where[t] >= p);
        CHECK(where[t] < p + 8 * 4096);
    }
    // A thread that comes later loads the VOID page while it stands, without faulting: it too
    // reads the reason.
    Seraph_Aether_Void_Reason late = SERAPH_AETHER_VOID_NONE;
    uint64_t late_value = 0;
    std::thread([&] {
        late_value = *ptr<volatile uint64_t>(p);
        late = seraph_aether_get_void_reason();
    }).join();
    CHECK(late_value == SERAPH_VOID_U64);
    CHECK(late == SERAPH_AETHER_VOID_NODE_CRASHED);
}

} // namespace

TEST_CASE("every thread whose load ends on a VOID page reads the reason", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        SECTION(std::string(mode) + ", one page") { six_threads_read_the_reason(mode, 1); }
        SECTION(std::string(mode) + ", six pages") { six_threads_read_the_reason(mode, 6); }
    }
}

// A thread that loads a VOID page another thread's fault installed learns the reason from the
// process-wide record of the newest standing VOID page. Once it has read it, it is that thread's
// context like errno: the page being dropped meanwhile (here: its node answers again) must not take
// it back between the thread's reading of the reason and of the address.
TEST_CASE("a VOID context read from a standing VOID page stays when the page is dropped", "[pointer]") {
    for (const char* mode : {"handler", "sigbus"}) {
        DYNAMIC_SECTION(mode << " mode") {
            pointer_cluster c(mode, 2, 300);
            uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 2 * 4096);
            REQUIRE(p != SERAPH_VOID_U64);
            seraph_aether_set_node_online(&c.a, 1, false);
            uint64_t faulted = 0;
            std::thread([&] { faulted = *ptr<volatile uint64_t>(p); }).join(); // installs the VOID page
            REQUIRE(faulted == SERAPH_VOID_U64);
            std::thread([&] {
                CHECK(*ptr<volatile uint64_t>(p + 8) == SERAPH_VOID_U64); // no fault: the page stands
                CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
                // The node answers again: the next load of its memory drops its VOID pages.
                seraph_aether_set_node_online(&c.a, 1, true);
                CHECK(eventually([&] { return *ptr<volatile uint64_t>(p + 4096) == 0; }, 3000));
                CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
                CHECK(seraph_aether_get_void_addr() == p);
            }).join();
        }
    }
}

namespace {

// The seed's failure semantics by pointer: once a node is offline, every access to its memory is
// VOID with the reason, cached copies included (a shared copy and one this node holds exclusive);
// back online, everything works again and nothing written before is lost.
void offline_memory_is_void(const char* mode) {
    sigbus_catcher catcher; // before init: sigbus mode chains to it
    pointer_cluster c(mode, 2, 300);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 2 * 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    uint64_t v = 42;
    REQUIRE(seraph_aether_write_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
    CHECK(*ptr<volatile uint64_t>(p) == 42); // a shared copy is cached here
    *ptr<volatile uint64_t>(p + 4096) = 77;  // and the second page is held exclusive here
    CHECK(*ptr<volatile uint64_t>(p + 4096) == 77);

    seraph_aether_set_node_online(&c.a, 1, false);
    seraph_aether_clear_void_context();
    CHECK(*ptr<volatile uint64_t>(p) == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    seraph_aether_clear_void_context();
    CHECK(*ptr<volatile uint64_t>(p + 4096) == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    uint64_t r = 0;
    CHECK(seraph_aether_read_vbit(&c.a, p, &r, 8) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_read_vbit(&c.a, p + 4096, &r, 8) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    g_sigbus_addr = 0;
    if (sigsetjmp(g_jump, 1) == 0) {               // NOLINT: the jump lands here
        *ptr<volatile uint64_t>(p + 4096 + 8) = 1; // the exclusive copy is not writable either
        FAIL("the store to an offline node's memory returned");
    }
    CHECK(g_sigbus_addr.load() == p + 4096 + 8);

    seraph_aether_set_node_online(&c.a, 1, true);
    CHECK(eventually([&] { return *ptr<volatile uint64_t>(p) == 42; }, 3000));
    CHECK(eventually([&] { return *ptr<volatile uint64_t>(p + 4096) == 77; }, 3000)); // kept, not lost
    REQUIRE(seraph_aether_read_vbit(&c.a, p + 4096, &r, 8) == SERAPH_VBIT_TRUE);
    CHECK(r == 77);
    *ptr<volatile uint64_t>(p + 4096 + 8) = 5; // stores work again
    REQUIRE(seraph_aether_read_vbit(&c.a, p + 4096 + 8, &r, 8) == SERAPH_VBIT_TRUE);
    CHECK(r == 5);
}

} // namespace

TEST_CASE("an offline node's memory is VOID here, cached copies included, until it is back", "[pointer]") {
    SECTION("handler") { offline_memory_is_void("handler"); }
    SECTION("sigbus") { offline_memory_is_void("sigbus"); }
}

namespace {

// The kernel refuses every UFFDIO_COPY of the runtime's threads and of the loading thread (as it
// does with ENOMEM in a cgroup out of memory): no copy and no VOID page can be mapped. The load
// must end, with SIGBUS at its address, at once; before, it faulted, fetched the page again and
// failed to map it some 25,000 times a second, for ever.
void refused_copy_raises_sigbus(const char* mode) {
    bool filtered = false, raised = false;
    std::uint64_t addr = 0, took_ms = 0;
    std::thread t([&] {
        // On this thread and the threads it starts from now on: the runtime's, made below.
        filtered =
            aether::test::fail_syscalls_with({__NR_ioctl}, ENOMEM, 1 /* request */, static_cast<std::uint32_t>(UFFDIO_COPY));
        if (!filtered) return;
        sigbus_catcher catcher; // before init: sigbus mode chains to it
        pointer_cluster c(mode, 2);
        addr = seraph_aether_alloc_on_node(&c.a, 1, 4096);
        if (addr == SERAPH_VOID_U64) return;
        g_sigbus_addr = 0;
        const auto t0 = std::chrono::steady_clock::now();
        if (sigsetjmp(g_jump, 1) == 0) { // NOLINT: the jump lands here
            (void)*ptr<volatile uint64_t>(addr + 8);
        } else {
            raised = true;
        }
        took_ms = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    });
    t.join();
    REQUIRE(filtered);
    REQUIRE(addr != SERAPH_VOID_U64);
    CHECK(raised);
    CHECK(g_sigbus_addr.load() == addr + 8);
    CHECK(took_ms < 1000);
}

} // namespace

TEST_CASE("a load the kernel cannot map a page for raises SIGBUS at once, not a fault loop", "[pointer]") {
    SECTION("handler") { refused_copy_raises_sigbus("handler"); }
    SECTION("sigbus") { refused_copy_raises_sigbus("sigbus"); }
}
