// The C API contract (API.md), exercised through the public header and libaether.so only, in one
// process whose other nodes are real node servers reached over loopback TCP.
#include <catch2/catch.hpp>

#include <seraph/aether.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// A cluster of `n` in-process nodes; node 0 is this one. Short deadlines keep failure tests fast.
struct cluster {
    explicit cluster(uint16_t n, size_t bytes = 1 << 20, uint32_t timeout_ms = 400) {
        REQUIRE(seraph_aether_init(&a, 0, n) == SERAPH_VBIT_TRUE);
        for (uint16_t i = 0; i < n; ++i) REQUIRE(seraph_aether_add_sim_node(&a, i, bytes) == SERAPH_VBIT_TRUE);
        REQUIRE(seraph_aether_set_timeout_ms(&a, timeout_ms) == SERAPH_VBIT_TRUE);
    }
    ~cluster() { seraph_aether_destroy(&a); }
    Seraph_Aether a{};
};

// A fresh page on `node` whose first word holds `value`, written through the home (a write leaves
// no copy behind on this node).
uint64_t page_on(cluster& c, uint16_t node, uint64_t value) {
    uint64_t p = seraph_aether_alloc_on_node(&c.a, node, 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    REQUIRE(seraph_aether_write(&c.a, p, &value, 8).status == SERAPH_AETHER_OK);
    return p;
}

struct shared_data {
    uint64_t counter;
    char name[64];
};

// The largest node id whose addresses fall inside [BASE, END] in this build: 0x3FFF normally,
// fewer when the window is moved (ThreadSanitizer builds).
constexpr uint16_t top_node() {
    uint64_t nodes = (SERAPH_AETHER_END - SERAPH_AETHER_BASE + 1) >> SERAPH_AETHER_NODE_SHIFT;
    return static_cast<uint16_t>(nodes > 0x4000 ? 0x3FFF : nodes - 1);
}

// One line of /proc/self/maps.
struct mapping {
    uint64_t begin = 0;
    uint64_t end = 0;
    std::string name;
};

std::vector<mapping> mappings() {
    std::vector<mapping> out;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        mapping m;
        std::istringstream in(line);
        std::string range, perms, offset, dev, inode;
        in >> range >> perms >> offset >> dev >> inode;
        std::getline(in >> std::ws, m.name);
        m.begin = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
        m.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
        out.push_back(m);
    }
    return out;
}

// The resident set of this process in KiB (VmRSS).
long resident_kib() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// Runs `fn` with this process's stderr going to a file, and returns what it wrote there.
template <class F>
std::string stderr_of(F fn) {
    std::fflush(stderr);
    char path[] = "/tmp/aether-stderr-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    std::fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    std::string text(static_cast<std::size_t>(lseek(fd, 0, SEEK_END)), '\0');
    REQUIRE(pread(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
    close(fd);
    return text;
}

} // namespace

// ---- address encoding ---------------------------------------------------------------------------

TEST_CASE("addresses encode node and offset in a pointer", "[c_api][address]") {
    const uint16_t node = top_node() >= 0x1234 ? 0x1234 : top_node() / 2;
    uint64_t addr = seraph_aether_make_addr(node, 0x90ABCDEF);
    CHECK(seraph_aether_is_aether_addr(addr));
    CHECK(seraph_aether_get_node(addr) == node);
    CHECK(seraph_aether_get_offset(addr) == 0x90ABCDEF);
    CHECK(addr == SERAPH_AETHER_BASE + (uint64_t{node} << 32) + 0x90ABCDEF);
    // Below the user-space end on x86-64 (the deviation from the seed's base).
    CHECK(seraph_aether_make_addr(top_node(), 0xFFFFFFFF) <= 0x00007FFFFFFFFFFFull);
    CHECK(seraph_aether_make_addr(top_node(), 0xFFFFFFFF) == SERAPH_AETHER_END);
}

TEST_CASE("address boundaries", "[c_api][address]") {
    CHECK(seraph_aether_get_node(seraph_aether_make_addr(0, 0)) == 0);
    CHECK(seraph_aether_get_offset(seraph_aether_make_addr(0, 0)) == 0);
    CHECK(seraph_aether_get_node(seraph_aether_make_addr(top_node(), 0)) == top_node());
    CHECK(seraph_aether_get_offset(seraph_aether_make_addr(7, SERAPH_AETHER_OFFSET_MASK)) == SERAPH_AETHER_OFFSET_MASK);
    // The offset does not leak into the node bits, nor the node into the base.
    CHECK(seraph_aether_get_node(seraph_aether_make_addr(7, 0x1FFFFFFFFull)) == 7);
    CHECK(seraph_aether_get_node(seraph_aether_make_addr(0x7FFF, 0)) == 0x3FFF);
}

TEST_CASE("address range checks", "[c_api][address]") {
    CHECK(seraph_aether_is_aether_addr(SERAPH_AETHER_BASE));
    CHECK(seraph_aether_is_aether_addr(SERAPH_AETHER_END));
    CHECK(seraph_aether_is_aether_addr(seraph_aether_make_addr(top_node(), 50000)));
    CHECK_FALSE(seraph_aether_is_aether_addr(SERAPH_AETHER_BASE - 1));
    CHECK_FALSE(seraph_aether_is_aether_addr(0));
    CHECK_FALSE(seraph_aether_is_aether_addr(0x0000800000000000ull));
    CHECK_FALSE(seraph_aether_is_aether_addr(SERAPH_VOID_U64));
}

TEST_CASE("page alignment helpers", "[c_api][address]") {
    uint64_t addr = seraph_aether_make_addr(5, 12345);
    CHECK(seraph_aether_page_align(addr) % SERAPH_AETHER_PAGE_SIZE == 0);
    CHECK(seraph_aether_page_align(addr) == seraph_aether_make_addr(5, 12288));
    CHECK(seraph_aether_page_offset(addr) == 12345 % SERAPH_AETHER_PAGE_SIZE);
}

// ---- global generations ---------------------------------------------------------------------------

TEST_CASE("global generations pack and unpack", "[c_api][generation]") {
    uint64_t packed = seraph_aether_pack_global_gen(0x1234, 0xABCDEF012345ull);
    CHECK(packed == 0x1234ABCDEF012345ull);
    Seraph_Aether_Global_Gen g = seraph_aether_unpack_global_gen(packed);
    CHECK(g.node_id == 0x1234);
    CHECK(g.local_gen == 0xABCDEF012345ull);
}

TEST_CASE("global generation boundaries", "[c_api][generation]") {
    CHECK(seraph_aether_unpack_global_gen(seraph_aether_pack_global_gen(0xFFFF, 1)).node_id == 0xFFFF);
    CHECK(seraph_aether_unpack_global_gen(seraph_aether_pack_global_gen(0, 0xFFFFFFFFFFFFull)).local_gen == 0xFFFFFFFFFFFFull);
    // Bits above 48 of the local generation are cut, never spilled into the node id.
    CHECK(seraph_aether_unpack_global_gen(seraph_aether_pack_global_gen(3, 0xFFFF000000000001ull)).node_id == 3);
    Seraph_Aether_Global_Gen z = seraph_aether_unpack_global_gen(seraph_aether_pack_global_gen(0, 0));
    CHECK(z.node_id == 0);
    CHECK(z.local_gen == 0);
}

// ---- initialization ---------------------------------------------------------------------------------

TEST_CASE("init and destroy", "[c_api][init]") {
    Seraph_Aether a;
    std::memset(&a, 0xA5, sizeof a); // garbage before init must not matter
    REQUIRE(seraph_aether_init(&a, 0, 4) == SERAPH_VBIT_TRUE);
    CHECK(a.initialized);
    CHECK(a.local_node_id == 0);
    CHECK(a.node_count == 4);
    CHECK(seraph_aether_get_local_node_id(&a) == 0);
    CHECK(seraph_aether_get_timeout_ms(&a) == SERAPH_AETHER_TIMEOUT_MS);
    seraph_aether_destroy(&a);
    CHECK_FALSE(a.initialized);
    seraph_aether_destroy(&a); // twice is harmless
}

TEST_CASE("init_default is one node with id 0", "[c_api][init]") {
    Seraph_Aether a;
    REQUIRE(seraph_aether_init_default(&a) == SERAPH_VBIT_TRUE);
    CHECK(a.node_count == 1);
    CHECK(seraph_aether_get_local_node_id(&a) == 0);
    uint64_t p = seraph_aether_alloc(&a, 100);
    CHECK(p != SERAPH_VOID_U64);
    seraph_aether_destroy(&a);
}

TEST_CASE("init rejects bad arguments", "[c_api][init]") {
    Seraph_Aether a;
    CHECK(seraph_aether_init(nullptr, 0, 1) == SERAPH_VBIT_VOID);
    errno = 0;
    CHECK(seraph_aether_init(&a, 0, 0) == SERAPH_VBIT_FALSE);
    CHECK(errno == EINVAL);
    CHECK(seraph_aether_init(&a, 3, 3) == SERAPH_VBIT_FALSE);
    CHECK_FALSE(a.initialized);
    CHECK(seraph_aether_init_default(nullptr) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_init_from_env(nullptr) == SERAPH_VBIT_VOID);
    seraph_aether_destroy(nullptr);
}

TEST_CASE("the seed's 16384 nodes fit: their window is reserved beside this executable, nothing touched", "[c_api][init]") {
    const uint64_t window_bytes = uint64_t{SERAPH_AETHER_MAX_NODES} << SERAPH_AETHER_NODE_SHIFT; // 64 TiB
    Seraph_Aether a;
    if (SERAPH_AETHER_END - SERAPH_AETHER_BASE + 1 < window_bytes) {
        // A build that moved the window (ThreadSanitizer's) holds fewer nodes, and says so.
        CHECK(seraph_aether_init(&a, 0, SERAPH_AETHER_MAX_NODES) == SERAPH_VBIT_FALSE);
        return;
    }
    const long before_kib = resident_kib();
    REQUIRE(seraph_aether_init(&a, 0, SERAPH_AETHER_MAX_NODES) == SERAPH_VBIT_TRUE);
    CHECK(a.node_count == SERAPH_AETHER_MAX_NODES);
    bool window_found = false, executable_found = false;
    for (const mapping& m : mappings()) {
        if (m.begin == SERAPH_AETHER_BASE && m.end == SERAPH_AETHER_BASE + window_bytes) {
            window_found = true;
            continue;
        }
        INFO(std::hex << m.begin << "-" << m.end << " " << m.name);
        CHECK((m.end <= SERAPH_AETHER_BASE || m.begin >= SERAPH_AETHER_BASE + window_bytes));
        if (m.name.find("c_api_tests") != std::string::npos) executable_found = true;
    }
    CHECK(window_found);
    CHECK(executable_found);
    // Reserved, not backed: the cache's per-page records for 2^34 pages are mapped lazily too.
    CHECK(resident_kib() - before_kib < 64 * 1024);
    // The last node's memory is addressable like any other's.
    CHECK(seraph_aether_get_node(seraph_aether_make_addr(SERAPH_AETHER_MAX_NODES - 1, 0)) == SERAPH_AETHER_MAX_NODES - 1);
    seraph_aether_destroy(&a);
}

TEST_CASE("a window that something else already uses is an init error naming that mapping", "[c_api][init]") {
    // What a launcher or library mapping at a fixed address (PMIx's shared memory, say) would do.
    void* squatter = mmap(reinterpret_cast<void*>(SERAPH_AETHER_BASE + (uint64_t{3} << SERAPH_AETHER_NODE_SHIFT)), 4096,
                          PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    REQUIRE(squatter != MAP_FAILED);
    Seraph_Aether a;
    Seraph_Vbit v = SERAPH_VBIT_VOID;
    int cause = 0;
    const std::string said = stderr_of([&] {
        v = seraph_aether_init(&a, 0, 8);
        cause = errno;
    });
    munmap(squatter, 4096);
    CHECK(v == SERAPH_VBIT_FALSE);
    INFO(said);
    CHECK(cause == EEXIST);
    CHECK(said.find("cannot reserve the Aether window") != std::string::npos);
    CHECK(said.find("already in use by the mapping") != std::string::npos);
    // With the range free again, init works.
    REQUIRE(seraph_aether_init(&a, 0, 8) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
}

TEST_CASE("a bad setting or cluster file fails init with the cause in errno and one line on stderr", "[c_api][init]") {
    Seraph_Aether a;
    Seraph_Vbit v = SERAPH_VBIT_VOID;
    int cause = 0;
    auto init_with = [&](const char* name, const char* value) {
        ::setenv(name, value, 1);
        const std::string said = stderr_of([&] {
            errno = 0;
            v = seraph_aether_init(&a, 0, 1);
            cause = errno;
        });
        ::unsetenv(name);
        return said;
    };
    std::string said = init_with("AETHER_TIMEOUT_MS", "soon");
    CHECK(v == SERAPH_VBIT_FALSE);
    CHECK(cause == EINVAL);
    CHECK(said.find("aether: AETHER_TIMEOUT_MS must be a number of milliseconds") == 0);
    said = init_with("AETHER_CONFIG", "/nonexistent/aether-cluster.toml");
    CHECK(v == SERAPH_VBIT_FALSE);
    CHECK(cause == ENOENT);
    CHECK(said.find("cannot read the cluster file /nonexistent/aether-cluster.toml") != std::string::npos);
    CHECK(said.find(std::strerror(ENOENT)) != std::string::npos);
    CHECK_FALSE(a.initialized);
}

TEST_CASE("init and destroy repeat many times in one process", "[c_api][init]") {
    for (int i = 0; i < 40; ++i) {
        Seraph_Aether a;
        REQUIRE(seraph_aether_init(&a, static_cast<uint16_t>(i % 3), 3) == SERAPH_VBIT_TRUE);
        uint16_t other = static_cast<uint16_t>((i + 1) % 3);
        REQUIRE(seraph_aether_add_sim_node(&a, other, 65536) == SERAPH_VBIT_TRUE);
        uint64_t p = seraph_aether_alloc_on_node(&a, other, 64);
        REQUIRE(p != SERAPH_VOID_U64);
        uint64_t v = static_cast<uint64_t>(i);
        REQUIRE(seraph_aether_write_vbit(&a, p, &v, 8) == SERAPH_VBIT_TRUE);
        uint64_t back = 0;
        REQUIRE(seraph_aether_read_vbit(&a, p, &back, 8) == SERAPH_VBIT_TRUE);
        CHECK(back == v);
        seraph_aether_destroy(&a);
    }
}

TEST_CASE("a second live handle in one process cannot take the same window", "[c_api][init]") {
    Seraph_Aether a, b;
    REQUIRE(seraph_aether_init(&a, 0, 2) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_init(&b, 0, 2) == SERAPH_VBIT_FALSE); // reported on stderr, naming the mapping
    CHECK(errno == EEXIST);
    CHECK_FALSE(b.initialized);
    seraph_aether_destroy(&a);
    REQUIRE(seraph_aether_init(&b, 0, 2) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&b);
}

// ---- simulated nodes --------------------------------------------------------------------------------

TEST_CASE("simulated nodes: add, duplicates, limits", "[c_api][nodes]") {
    Seraph_Aether a;
    REQUIRE(seraph_aether_init(&a, 0, 4) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_add_sim_node(&a, 0, 65536) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_add_sim_node(&a, 1, 65536) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_add_sim_node(&a, 0, 65536) == SERAPH_VBIT_FALSE);
    CHECK(seraph_aether_add_sim_node(&a, 1, 65536) == SERAPH_VBIT_FALSE);
    CHECK(seraph_aether_add_sim_node(&a, 4, 65536) == SERAPH_VBIT_FALSE); // beyond node_count
    CHECK(seraph_aether_add_sim_node(&a, 2, 0) == SERAPH_VBIT_FALSE);
    CHECK(seraph_aether_add_sim_node(nullptr, 2, 65536) == SERAPH_VBIT_VOID);
    seraph_aether_destroy(&a);

    REQUIRE(seraph_aether_init(&a, 0, SERAPH_AETHER_MAX_SIM_NODES) == SERAPH_VBIT_TRUE);
    for (uint16_t i = 0; i < SERAPH_AETHER_MAX_SIM_NODES; ++i) CHECK(seraph_aether_add_sim_node(&a, i, 8192) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    REQUIRE(seraph_aether_init(&a, 0, SERAPH_AETHER_MAX_SIM_NODES + 1) == SERAPH_VBIT_TRUE);
    for (uint16_t i = 0; i < SERAPH_AETHER_MAX_SIM_NODES; ++i) CHECK(seraph_aether_add_sim_node(&a, i, 8192) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_add_sim_node(&a, SERAPH_AETHER_MAX_SIM_NODES, 8192) == SERAPH_VBIT_FALSE); // past the limit
    seraph_aether_destroy(&a);
}

TEST_CASE("a node taken offline stops answering and comes back with its memory", "[c_api][nodes]") {
    cluster c(2);
    uint64_t v = 0xC0FFEE;
    uint64_t p1 = page_on(c, 1, v);

    seraph_aether_set_node_online(&c.a, 1, false);
    CHECK(seraph_aether_alloc_on_node(&c.a, 1, 4096) == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    CHECK(seraph_aether_alloc_on_node(&c.a, 0, 4096) != SERAPH_VOID_U64);
    uint64_t back = 0;
    Seraph_Aether_Fetch_Result r = seraph_aether_read(&c.a, p1, &back, 8);
    CHECK(r.status == SERAPH_AETHER_UNREACHABLE);
    CHECK(r.reason == SERAPH_AETHER_VOID_NODE_CRASHED);

    seraph_aether_set_node_online(&c.a, 1, true);
    REQUIRE(seraph_aether_read_vbit(&c.a, p1, &back, 8) == SERAPH_VBIT_TRUE);
    CHECK(back == v);
}

TEST_CASE("is_local tells this node's addresses", "[c_api][nodes]") {
    Seraph_Aether a;
    REQUIRE(seraph_aether_init(&a, 5, 10) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_is_local(&a, seraph_aether_make_addr(5, 1000)));
    CHECK_FALSE(seraph_aether_is_local(&a, seraph_aether_make_addr(7, 1000)));
    CHECK_FALSE(seraph_aether_is_local(&a, 0x1234));
    CHECK_FALSE(seraph_aether_is_local(nullptr, seraph_aether_make_addr(5, 0)));
    seraph_aether_destroy(&a);
}

// ---- allocation -----------------------------------------------------------------------------------

TEST_CASE("allocation hands out distinct whole pages on the right node", "[c_api][alloc]") {
    cluster c(3, 65536);
    std::vector<uint64_t> got;
    for (uint16_t n = 0; n < 3; ++n) {
        uint64_t p = seraph_aether_alloc_on_node(&c.a, n, 100);
        REQUIRE(p != SERAPH_VOID_U64);
        CHECK(seraph_aether_get_node(p) == n);
        CHECK(seraph_aether_page_offset(p) == 0);
        got.push_back(p);
    }
    uint64_t a1 = seraph_aether_alloc(&c.a, 4096), a2 = seraph_aether_alloc(&c.a, 1), a3 = seraph_aether_alloc(&c.a, 4097);
    REQUIRE(a1 != SERAPH_VOID_U64);
    REQUIRE(a2 != SERAPH_VOID_U64);
    REQUIRE(a3 != SERAPH_VOID_U64);
    CHECK(a1 != a2);
    CHECK(a2 != a3);
    // Whole pages: a one-byte allocation still owns its page; a 4097-byte one owns two.
    CHECK((a2 > a1 ? a2 - a1 : a1 - a2) >= 4096);
    uint64_t a4 = seraph_aether_alloc(&c.a, 1);
    CHECK((a4 > a3 ? a4 - a3 : a3 - a4) >= 4096);
    CHECK(seraph_aether_get_node(a1) == 0);
}

TEST_CASE("out of memory, and freed pages are reused", "[c_api][alloc]") {
    cluster c(2, 8192);
    for (uint16_t n = 0; n < 2; ++n) {
        uint64_t p1 = seraph_aether_alloc_on_node(&c.a, n, 4096);
        uint64_t p2 = seraph_aether_alloc_on_node(&c.a, n, 4096);
        REQUIRE(p1 != SERAPH_VOID_U64);
        REQUIRE(p2 != SERAPH_VOID_U64);
        CHECK(seraph_aether_alloc_on_node(&c.a, n, 4096) == SERAPH_VOID_U64);
        seraph_aether_free(&c.a, p1, 4096);
        uint64_t p3 = seraph_aether_alloc_on_node(&c.a, n, 4096);
        CHECK(p3 == p1);
        // Reused memory starts zeroed, not with the previous owner's bytes.
        uint64_t v = 0;
        REQUIRE(seraph_aether_read_vbit(&c.a, p3, &v, 8) == SERAPH_VBIT_TRUE);
        CHECK(v == 0);
    }
}

TEST_CASE("zero-size and out-of-range allocations are VOID", "[c_api][alloc]") {
    cluster c(2, 65536);
    CHECK(seraph_aether_alloc(&c.a, 0) == SERAPH_VOID_U64);
    CHECK(seraph_aether_alloc_on_node(&c.a, 1, 0) == SERAPH_VOID_U64);
    CHECK(seraph_aether_alloc_on_node(&c.a, 2, 64) == SERAPH_VOID_U64);
    CHECK(seraph_aether_alloc_on_node(&c.a, 1, 1ull << 33) == SERAPH_VOID_U64);
    CHECK(seraph_aether_alloc(nullptr, 64) == SERAPH_VOID_U64);
    CHECK(seraph_aether_alloc_on_node(nullptr, 0, 64) == SERAPH_VOID_U64);
}

TEST_CASE("freed memory reads VOID with GENERATION", "[c_api][alloc]") {
    cluster c(2);
    for (uint16_t n = 0; n < 2; ++n) {
        uint64_t p = seraph_aether_alloc_on_node(&c.a, n, 8192);
        REQUIRE(p != SERAPH_VOID_U64);
        uint64_t v = 9;
        REQUIRE(seraph_aether_write_vbit(&c.a, p + 4096, &v, 8) == SERAPH_VBIT_TRUE);
        REQUIRE(seraph_aether_read_vbit(&c.a, p + 4096, &v, 8) == SERAPH_VBIT_TRUE); // cached here
        seraph_aether_free(&c.a, p, 8192);
        Seraph_Aether_Fetch_Result r = seraph_aether_read(&c.a, p + 4096, &v, 8);
        CHECK(r.status == SERAPH_AETHER_GENERATION);
        CHECK(r.reason == SERAPH_AETHER_VOID_GENERATION);
        CHECK(seraph_aether_cache_lookup(&c.a, p + 4096) == nullptr); // the free invalidated the copy
        CHECK(seraph_aether_write(&c.a, p, &v, 8).reason == SERAPH_AETHER_VOID_GENERATION);
    }
}

// ---- read / write -----------------------------------------------------------------------------------

TEST_CASE("local read and write", "[c_api][rw]") {
    cluster c(1, 65536);
    uint64_t p = seraph_aether_alloc(&c.a, 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    uint64_t w = 0xDEADBEEFCAFEBABEull, r = 0;
    Seraph_Aether_Fetch_Result wr = seraph_aether_write(&c.a, p, &w, 8);
    CHECK(wr.status == SERAPH_AETHER_OK);
    CHECK(wr.reason == SERAPH_AETHER_VOID_NONE);
    Seraph_Aether_Fetch_Result rr = seraph_aether_read(&c.a, p, &r, 8);
    CHECK(rr.status == SERAPH_AETHER_OK);
    CHECK(r == w);
    CHECK(rr.page == reinterpret_cast<void*>(p));
}

TEST_CASE("vbit read and write", "[c_api][rw]") {
    cluster c(2);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
    uint32_t w = 12345, r = 0;
    CHECK(seraph_aether_write_vbit(&c.a, p, &w, sizeof w) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_read_vbit(&c.a, p, &r, sizeof r) == SERAPH_VBIT_TRUE);
    CHECK(r == w);
    CHECK(seraph_aether_read_vbit(&c.a, 0x1234, &r, sizeof r) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_write_vbit(&c.a, p, nullptr, 4) == SERAPH_VBIT_VOID);
}

TEST_CASE("remote read and write of a struct, spanning pages", "[c_api][rw]") {
    cluster c(3);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 2, 3 * 4096);
    REQUIRE(p != SERAPH_VOID_U64);
    shared_data d{};
    d.counter = 77;
    std::strcpy(d.name, "shared counter");
    // Straddles the first page boundary.
    uint64_t at = p + 4096 - 20;
    REQUIRE(seraph_aether_write(&c.a, at, &d, sizeof d).status == SERAPH_AETHER_OK);
    shared_data back{};
    Seraph_Aether_Fetch_Result r = seraph_aether_read(&c.a, at, &back, sizeof back);
    REQUIRE(r.status == SERAPH_AETHER_OK);
    CHECK(back.counter == 77);
    CHECK(std::string(back.name) == "shared counter");
    // A large array across all three pages.
    std::vector<uint32_t> arr(3000);
    for (size_t i = 0; i < arr.size(); ++i) arr[i] = static_cast<uint32_t>(i * 7 + 1);
    REQUIRE(seraph_aether_write_vbit(&c.a, p, arr.data(), arr.size() * 4) == SERAPH_VBIT_TRUE);
    std::vector<uint32_t> out(3000);
    REQUIRE(seraph_aether_read_vbit(&c.a, p, out.data(), out.size() * 4) == SERAPH_VBIT_TRUE);
    CHECK(out == arr);
}

TEST_CASE("invalid addresses and arguments", "[c_api][rw]") {
    cluster c(2);
    uint64_t data = 0;
    CHECK(seraph_aether_read(&c.a, 0x1234, &data, 8).status == SERAPH_AETHER_INVALID_ADDR);
    CHECK(seraph_aether_read(&c.a, seraph_aether_make_addr(2, 0), &data, 8).status == SERAPH_AETHER_INVALID_ADDR);
    // Never allocated: the home refuses.
    Seraph_Aether_Fetch_Result r = seraph_aether_read(&c.a, seraph_aether_make_addr(1, 8192), &data, 8);
    CHECK(r.status == SERAPH_AETHER_INVALID_ADDR);
    CHECK(r.reason == SERAPH_AETHER_VOID_PERMISSION);
    CHECK(seraph_aether_get_void_addr() == seraph_aether_make_addr(1, 8192));
    // Beyond the home's memory.
    CHECK(seraph_aether_read(&c.a, seraph_aether_make_addr(1, 0x40000000), &data, 8).status == SERAPH_AETHER_INVALID_ADDR);
    // A range that would run past the node's 4 GiB.
    CHECK(seraph_aether_read(&c.a, seraph_aether_make_addr(1, 0xFFFFFFF0), &data, 32).status == SERAPH_AETHER_INVALID_ADDR);
    CHECK(seraph_aether_read(&c.a, SERAPH_AETHER_BASE, nullptr, 100).status != SERAPH_AETHER_OK);
    CHECK(seraph_aether_write(&c.a, SERAPH_AETHER_BASE, nullptr, 100).status != SERAPH_AETHER_OK);
    CHECK(seraph_aether_read(nullptr, SERAPH_AETHER_BASE, &data, 8).status != SERAPH_AETHER_OK);
    CHECK(seraph_aether_write(nullptr, SERAPH_AETHER_BASE, &data, 8).status != SERAPH_AETHER_OK);
}

TEST_CASE("array write and read round trip", "[c_api][rw]") {
    cluster c(1, 65536);
    uint64_t p = seraph_aether_alloc(&c.a, 4096);
    uint32_t w[4] = {100, 200, 300, 400}, r[4] = {};
    REQUIRE(seraph_aether_write(&c.a, p, w, sizeof w).status == SERAPH_AETHER_OK);
    REQUIRE(seraph_aether_read(&c.a, p, r, sizeof r).status == SERAPH_AETHER_OK);
    CHECK(std::memcmp(w, r, sizeof w) == 0);
}

// ---- cache ----------------------------------------------------------------------------------------

TEST_CASE("cache hits and misses count explicit reads", "[c_api][cache]") {
    cluster c(2);
    seraph_aether_reset_stats(&c.a);
    uint64_t p = page_on(c, 1, 42);
    uint64_t r = 0;
    CHECK(seraph_aether_cache_lookup(&c.a, p) == nullptr); // a write leaves no copy behind
    seraph_aether_read(&c.a, p, &r, 8);
    uint64_t hits = 99, misses = 99;
    seraph_aether_cache_stats(&c.a, &hits, &misses);
    CHECK(misses == 1);
    CHECK(hits == 0);
    seraph_aether_read(&c.a, p, &r, 8);
    seraph_aether_cache_stats(&c.a, &hits, &misses);
    CHECK(hits == 1);
    CHECK(misses == 1);
    CHECK(c.a.cache_hits == 1); // the public fields follow
    CHECK(c.a.cache_misses == 1);
    CHECK(r == 42);
}

TEST_CASE("cache lookup and invalidate", "[c_api][cache]") {
    cluster c(2);
    uint64_t p = page_on(c, 1, 100);
    uint64_t v = 0;
    REQUIRE(seraph_aether_read_vbit(&c.a, p + 8, &v, 8) == SERAPH_VBIT_TRUE);
    Seraph_Aether_Cache_Entry* e = seraph_aether_cache_lookup(&c.a, p + 100);
    REQUIRE(e != nullptr);
    CHECK(e->aether_addr == p);
    CHECK(e->owner_node == 1);
    CHECK(e->valid);
    CHECK(e->state == SERAPH_AETHER_PAGE_SHARED);
    CHECK_FALSE(e->dirty);
    seraph_aether_cache_invalidate(&c.a, p);
    CHECK(seraph_aether_cache_lookup(&c.a, p) == nullptr);
    // Reading again fetches a fresh copy (a miss), which the next read hits.
    uint64_t hits = 0, misses = 0, h2 = 0, m2 = 0;
    seraph_aether_cache_stats(&c.a, &hits, &misses);
    REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
    REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
    seraph_aether_cache_stats(&c.a, &h2, &m2);
    CHECK(m2 == misses + 1);
    CHECK(h2 == hits + 1);
    CHECK(v == 100);
}

TEST_CASE("cache clear drops every remote copy and keeps counters", "[c_api][cache]") {
    cluster c(2);
    std::vector<uint64_t> pages;
    for (int i = 0; i < 5; ++i) {
        uint64_t p = page_on(c, 1, static_cast<uint64_t>(i));
        uint64_t v = 0;
        seraph_aether_read(&c.a, p, &v, 8);
        REQUIRE(seraph_aether_cache_lookup(&c.a, p) != nullptr);
        pages.push_back(p);
    }
    uint64_t hits_before = 0, misses_before = 0;
    seraph_aether_cache_stats(&c.a, &hits_before, &misses_before);
    seraph_aether_cache_clear(&c.a);
    for (uint64_t p : pages) CHECK(seraph_aether_cache_lookup(&c.a, p) == nullptr);
    uint64_t hits = 0, misses = 0;
    seraph_aether_cache_stats(&c.a, &hits, &misses);
    CHECK(hits == hits_before);
    CHECK(misses == misses_before);
    CHECK(seraph_aether_cache_flush(&c.a) == 0); // nothing dirty
    CHECK(seraph_aether_cache_flush(nullptr) == 0);
}

// ---- generations and revocation ---------------------------------------------------------------------

TEST_CASE("page generation increases with every write", "[c_api][generation]") {
    cluster c(2);
    for (uint16_t n = 0; n < 2; ++n) {
        uint64_t p = seraph_aether_alloc_on_node(&c.a, n, 4096);
        uint64_t g1 = seraph_aether_get_generation(&c.a, p);
        REQUIRE(g1 != SERAPH_VOID_U64);
        uint64_t v = 42;
        Seraph_Aether_Fetch_Result w = seraph_aether_write(&c.a, p, &v, 8);
        uint64_t g2 = seraph_aether_get_generation(&c.a, p);
        CHECK(g2 > g1);
        CHECK(w.generation == g2);
        seraph_aether_write(&c.a, p, &v, 8);
        CHECK(seraph_aether_get_generation(&c.a, p) > g2);
    }
    CHECK(seraph_aether_get_generation(&c.a, seraph_aether_make_addr(1, 40960)) == SERAPH_VOID_U64);
}

TEST_CASE("revocation changes the global generation and invalidates copies", "[c_api][generation]") {
    cluster c(2);
    for (uint16_t n = 0; n < 2; ++n) {
        uint64_t p = seraph_aether_alloc_on_node(&c.a, n, 8192);
        uint64_t g1 = seraph_aether_get_global_gen(&c.a, p + 4096);
        REQUIRE(g1 != SERAPH_VOID_U64);
        CHECK(seraph_aether_unpack_global_gen(g1).node_id == n);
        CHECK(seraph_aether_get_global_gen(&c.a, p) == g1); // one generation for the whole allocation
        uint64_t v = 0;
        REQUIRE(seraph_aether_read_vbit(&c.a, p + 4096, &v, 8) == SERAPH_VBIT_TRUE);
        REQUIRE(seraph_aether_cache_lookup(&c.a, p + 4096) != nullptr);
        REQUIRE(seraph_aether_revoke(&c.a, p) == SERAPH_VBIT_TRUE);
        uint64_t g2 = seraph_aether_get_global_gen(&c.a, p);
        CHECK(g2 != g1);
        CHECK(seraph_aether_cache_lookup(&c.a, p + 4096) == nullptr);
    }
}

TEST_CASE("check_generation: TRUE current, FALSE revoked or freed", "[c_api][generation]") {
    cluster c(2);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
    uint64_t g = seraph_aether_get_global_gen(&c.a, p);
    CHECK(seraph_aether_check_generation(&c.a, p, g) == SERAPH_VBIT_TRUE);
    seraph_aether_revoke(&c.a, p);
    CHECK(seraph_aether_check_generation(&c.a, p, g) == SERAPH_VBIT_FALSE);
    uint64_t g2 = seraph_aether_get_global_gen(&c.a, p);
    CHECK(seraph_aether_check_generation(&c.a, p, g2) == SERAPH_VBIT_TRUE);
    seraph_aether_free(&c.a, p, 4096);
    CHECK(seraph_aether_check_generation(&c.a, p, g2) == SERAPH_VBIT_FALSE);
    seraph_aether_set_node_online(&c.a, 1, false);
    CHECK(seraph_aether_check_generation(&c.a, p, g2) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_check_generation(nullptr, p, g2) == SERAPH_VBIT_VOID);
}

// ---- VOID over the network --------------------------------------------------------------------------

TEST_CASE("injected TIMEOUT: the deadline fires, then it works again", "[c_api][void]") {
    cluster c(2, 1 << 20, 300);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
    seraph_aether_inject_failure(&c.a, 1, SERAPH_AETHER_VOID_TIMEOUT);
    uint64_t v = 0;
    CHECK(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_TIMEOUT);
    seraph_aether_clear_failure(&c.a, 1);
    uint64_t w = 42;
    REQUIRE(seraph_aether_write_vbit(&c.a, p, &w, 8) == SERAPH_VBIT_TRUE);
    REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
    CHECK(v == 42);
}

TEST_CASE("injected PARTITION", "[c_api][void]") {
    cluster c(2);
    uint64_t p = page_on(c, 1, 999);
    uint64_t v = 0;
    seraph_aether_inject_failure(&c.a, 1, SERAPH_AETHER_VOID_PARTITION);
    seraph_aether_cache_clear(&c.a);
    Seraph_Aether_Fetch_Result r = seraph_aether_read(&c.a, p, &v, 8);
    CHECK(r.reason == SERAPH_AETHER_VOID_PARTITION);
    CHECK(r.status == SERAPH_AETHER_UNREACHABLE);
    seraph_aether_clear_failure(&c.a, 1);
    CHECK(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
    CHECK(v == 999);
}

TEST_CASE("a node taken offline reads as NODE_CRASHED", "[c_api][void]") {
    cluster c(2);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
    seraph_aether_set_node_online(&c.a, 1, false);
    seraph_aether_cache_clear(&c.a);
    uint64_t v = 0;
    Seraph_Aether_Fetch_Result r = seraph_aether_read(&c.a, p, &v, 8);
    CHECK(r.status == SERAPH_AETHER_UNREACHABLE);
    CHECK(r.reason == SERAPH_AETHER_VOID_NODE_CRASHED);
}

TEST_CASE("the VOID context records reason and address per thread", "[c_api][void]") {
    cluster c(2);
    seraph_aether_clear_void_context();
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NONE);
    CHECK(seraph_aether_get_void_addr() == 0);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
    seraph_aether_inject_failure(&c.a, 1, SERAPH_AETHER_VOID_CORRUPTION);
    seraph_aether_cache_clear(&c.a);
    uint64_t v = 0;
    seraph_aether_read(&c.a, p + 24, &v, 8);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_CORRUPTION);
    CHECK(seraph_aether_get_void_addr() == p + 24);
    // Success does not erase it (like errno); clearing does.
    seraph_aether_clear_failure(&c.a, 1);
    REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_CORRUPTION);
    seraph_aether_clear_void_context();
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NONE);
    CHECK(std::string(seraph_aether_void_reason_name(SERAPH_AETHER_VOID_PARTITION)) == "PARTITION");
    CHECK(std::string(seraph_aether_void_reason_name(static_cast<Seraph_Aether_Void_Reason>(99))) == "UNKNOWN");
    CHECK(std::string(seraph_aether_fetch_status_name(SERAPH_AETHER_TCP_ERROR)) == "TCP_ERROR");
}

// ---- coherence --------------------------------------------------------------------------------------

TEST_CASE("home handler: read request adds the requester as a sharer", "[c_api][coherence]") {
    cluster c(3);
    uint64_t p = page_on(c, 0, 0xABCD);
    uint64_t off = seraph_aether_get_offset(p);
    Seraph_Aether_Response resp = seraph_aether_handle_read_request(&c.a, 1, off);
    REQUIRE(resp.status == SERAPH_AETHER_RESP_OK);
    REQUIRE(resp.page_data != nullptr);
    CHECK(resp.data_size == 4096);
    uint64_t in_page = 0;
    std::memcpy(&in_page, resp.page_data, 8);
    CHECK(in_page == 0xABCD);
    Seraph_Aether_Directory_Entry* e = seraph_aether_get_directory_entry(&c.a, 0, off);
    REQUIRE(e != nullptr);
    CHECK(e->state == SERAPH_AETHER_PAGE_SHARED);
    CHECK(e->sharer_count == 1);
    CHECK(e->sharers[0] == 1);
    CHECK(e->valid);
    CHECK(seraph_aether_handle_read_request(&c.a, 1, 0x100000).status == SERAPH_AETHER_RESP_NOT_FOUND);
    CHECK(seraph_aether_handle_read_request(&c.a, 7, off).status == SERAPH_AETHER_RESP_ERROR);
}

TEST_CASE("home handler: write request invalidates sharers and applies the bytes", "[c_api][coherence]") {
    cluster c(3);
    uint64_t p = page_on(c, 0, 100);
    uint64_t off = seraph_aether_get_offset(p);
    seraph_aether_handle_read_request(&c.a, 1, off); // node 1 shares the page
    uint64_t before_sent = 0;
    seraph_aether_get_stats(&c.a, nullptr, nullptr, nullptr, &before_sent, nullptr);
    uint64_t nv = 200;
    Seraph_Aether_Response resp = seraph_aether_handle_write_request(&c.a, 2, off, &nv, 8);
    REQUIRE(resp.status == SERAPH_AETHER_RESP_OK);
    uint64_t sent = 0;
    seraph_aether_get_stats(&c.a, nullptr, nullptr, nullptr, &sent, nullptr);
    CHECK(sent == before_sent + 1); // node 1 was told, over the network
    Seraph_Aether_Directory_Entry* e = seraph_aether_get_directory_entry(&c.a, 0, off);
    REQUIRE(e != nullptr);
    CHECK(e->sharer_count == 0);
    uint64_t r = 0;
    REQUIRE(seraph_aether_read_vbit(&c.a, p, &r, 8) == SERAPH_VBIT_TRUE);
    CHECK(r == 200);
}

TEST_CASE("directory entry snapshots: sharers without duplicates", "[c_api][coherence]") {
    Seraph_Aether a;
    REQUIRE(seraph_aether_init(&a, 0, 4) == SERAPH_VBIT_TRUE);
    REQUIRE(seraph_aether_add_sim_node(&a, 0, 65536) == SERAPH_VBIT_TRUE);
    uint64_t p = seraph_aether_alloc(&a, 4096);
    uint64_t off = seraph_aether_get_offset(p);
    Seraph_Aether_Directory_Entry* e = seraph_aether_get_directory_entry(&a, 0, off);
    REQUIRE(e != nullptr);
    CHECK(e->sharer_count == 0);
    seraph_aether_directory_add_sharer(e, 1);
    seraph_aether_directory_add_sharer(e, 2);
    seraph_aether_directory_add_sharer(e, 3);
    CHECK(e->sharer_count == 3);
    seraph_aether_directory_add_sharer(e, 2);
    CHECK(e->sharer_count == 3);
    seraph_aether_directory_remove_sharer(e, 2);
    CHECK(e->sharer_count == 2);
    seraph_aether_directory_remove_sharer(e, 9);
    CHECK(e->sharer_count == 2);
    seraph_aether_directory_add_sharer(nullptr, 1);
    seraph_aether_directory_remove_sharer(nullptr, 1);
    CHECK(seraph_aether_get_directory_entry(&a, 1, off) == nullptr); // not homed in this process
    CHECK(seraph_aether_get_directory_entry(&a, 0, 0x200000000ull) == nullptr);
    CHECK(seraph_aether_get_directory_entry(nullptr, 0, off) == nullptr);
    seraph_aether_destroy(&a);
}

TEST_CASE("broadcast and handle invalidation drop copies", "[c_api][coherence]") {
    cluster c(2);
    uint64_t local = seraph_aether_alloc(&c.a, 4096);
    uint64_t v = 5;
    REQUIRE(seraph_aether_read_vbit(&c.a, local, &v, 8) == SERAPH_VBIT_TRUE);
    REQUIRE(seraph_aether_cache_lookup(&c.a, local) != nullptr);
    seraph_aether_broadcast_invalidation(&c.a, seraph_aether_get_offset(local), 10);
    CHECK(seraph_aether_cache_lookup(&c.a, local) == nullptr);

    uint64_t remote = seraph_aether_alloc_on_node(&c.a, 1, 4096);
    REQUIRE(seraph_aether_read_vbit(&c.a, remote, &v, 8) == SERAPH_VBIT_TRUE);
    REQUIRE(seraph_aether_cache_lookup(&c.a, remote) != nullptr);
    uint64_t recv_before = c.a.invalidations_received;
    seraph_aether_handle_invalidate(&c.a, remote, 3);
    CHECK(seraph_aether_cache_lookup(&c.a, remote) == nullptr);
    CHECK(c.a.invalidations_received == recv_before + 1);
    seraph_aether_handle_invalidate(nullptr, remote, 3);
    seraph_aether_broadcast_invalidation(nullptr, 0, 3);
}

// ---- atomics ----------------------------------------------------------------------------------------

TEST_CASE("home-executed atomics are coherent with cached copies", "[c_api][atomic]") {
    cluster c(2);
    for (uint16_t n = 0; n < 2; ++n) {
        uint64_t p = seraph_aether_alloc_on_node(&c.a, n, 4096);
        uint64_t old = 1234, v = 0;
        REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE); // cached copy
        CHECK(seraph_aether_fetch_add_u64(&c.a, p, 5, &old) == SERAPH_VBIT_TRUE);
        CHECK(old == 0);
        CHECK(seraph_aether_fetch_add_u64(&c.a, p, 5, &old) == SERAPH_VBIT_TRUE);
        CHECK(old == 5);
        REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
        CHECK(v == 10); // the stale copy was invalidated
        CHECK(seraph_aether_cas_u64(&c.a, p, 10, 20, &old) == SERAPH_VBIT_TRUE);
        CHECK(old == 10);
        CHECK(seraph_aether_cas_u64(&c.a, p, 10, 30, &old) == SERAPH_VBIT_FALSE);
        CHECK(old == 20);
        CHECK(seraph_aether_fetch_add_u64(&c.a, p + 4, 1, &old) == SERAPH_VBIT_VOID); // misaligned
        CHECK(seraph_aether_cas_u64(&c.a, 0x1000, 0, 1, &old) == SERAPH_VBIT_VOID);
        CHECK(seraph_aether_fetch_add_u64(nullptr, p, 1, &old) == SERAPH_VBIT_VOID);
        CHECK(seraph_aether_fetch_add_u64(&c.a, p, 1, nullptr) == SERAPH_VBIT_TRUE);
    }
}

// ---- cluster coordination in one process --------------------------------------------------------

TEST_CASE("publish, lookup and barrier with in-process nodes", "[c_api][cluster]") {
    cluster c(3);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 2, 64);
    CHECK(seraph_aether_publish(&c.a, "table", p) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_lookup(&c.a, "table", 100) == p);
    CHECK(seraph_aether_lookup(&c.a, "missing", 50) == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_TIMEOUT);
    CHECK(seraph_aether_publish(&c.a, "", p) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_publish(&c.a, nullptr, p) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_publish(&c.a, std::string(300, 'x').c_str(), p) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_lookup(nullptr, "table", 10) == SERAPH_VOID_U64);
    // Simulated nodes run no program: they never wait at a barrier, so it completes at once.
    CHECK(seraph_aether_barrier(&c.a, 1000) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_barrier(nullptr, 1000) == SERAPH_VBIT_VOID);
}

TEST_CASE("a barrier with a node that never arrives is VOID at the deadline", "[c_api][cluster]") {
    Seraph_Aether a;
    REQUIRE(seraph_aether_init(&a, 0, 2) == SERAPH_VBIT_TRUE); // node 1 is not in this process
    CHECK(seraph_aether_barrier(&a, 200) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_TIMEOUT);
    seraph_aether_destroy(&a);
}

// ---- statistics -------------------------------------------------------------------------------------

TEST_CASE("statistics track and reset", "[c_api][stats]") {
    cluster c(2);
    seraph_aether_reset_stats(&c.a);
    uint64_t p = page_on(c, 1, 42);
    uint64_t v = 0;
    seraph_aether_read(&c.a, p, &v, 8);
    seraph_aether_read(&c.a, p, &v, 8);
    uint64_t h = 0, m = 0, f = 0, s = 0, r = 0;
    seraph_aether_get_stats(&c.a, &h, &m, &f, &s, &r);
    CHECK(h == 1);
    CHECK(m == 1);
    CHECK(f == 1);
    // A write from elsewhere sends an invalidation that this node receives.
    uint64_t nv = 7;
    REQUIRE(seraph_aether_write_vbit(&c.a, p, &nv, 8) == SERAPH_VBIT_TRUE);
    seraph_aether_get_stats(&c.a, &h, &m, &f, &s, &r);
    CHECK(r == 1);
    seraph_aether_reset_stats(&c.a);
    seraph_aether_get_stats(&c.a, &h, &m, &f, &s, &r);
    CHECK(h + m + f + s + r == 0);
    CHECK(c.a.cache_hits == 0);
    h = m = f = s = r = 99; // so the CHECKs below see what the call wrote
    seraph_aether_get_stats(nullptr, &h, &m, &f, &s, &r);
    CHECK(h == 0);
    CHECK(m == 0);
    CHECK(f == 0);
    CHECK(s == 0);
    CHECK(r == 0);
    seraph_aether_reset_stats(nullptr);
}

// ---- every entry point with NULL or out-of-range arguments ------------------------------------

TEST_CASE("every function survives NULL and out-of-range arguments", "[c_api][edge]") {
    Seraph_Aether dead{}; // never initialized
    uint64_t v = 0;
    CHECK(seraph_aether_get_local_node_id(nullptr) == SERAPH_VOID_U16);
    CHECK(seraph_aether_get_local_node_id(&dead) == SERAPH_VOID_U16);
    CHECK(seraph_aether_set_timeout_ms(nullptr, 10) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_timeout_ms(nullptr) == 0);
    seraph_aether_set_node_online(nullptr, 0, false);
    seraph_aether_inject_failure(nullptr, 0, SERAPH_AETHER_VOID_TIMEOUT);
    seraph_aether_clear_failure(nullptr, 0);
    seraph_aether_free(nullptr, SERAPH_AETHER_BASE, 8);
    CHECK(seraph_aether_read_vbit(&dead, SERAPH_AETHER_BASE, &v, 8) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_write_vbit(nullptr, SERAPH_AETHER_BASE, &v, 8) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_cas_u64(nullptr, SERAPH_AETHER_BASE, 0, 1, &v) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_cache_lookup(nullptr, SERAPH_AETHER_BASE) == nullptr);
    seraph_aether_cache_invalidate(nullptr, SERAPH_AETHER_BASE);
    seraph_aether_cache_clear(nullptr);
    seraph_aether_cache_stats(nullptr, nullptr, nullptr);
    CHECK(seraph_aether_get_generation(nullptr, SERAPH_AETHER_BASE) == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_global_gen(nullptr, SERAPH_AETHER_BASE) == SERAPH_VOID_U64);
    CHECK(seraph_aether_revoke(nullptr, SERAPH_AETHER_BASE) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_handle_read_request(nullptr, 0, 0).status == SERAPH_AETHER_RESP_ERROR);
    CHECK(seraph_aether_handle_write_request(nullptr, 0, 0, &v, 8).status == SERAPH_AETHER_RESP_ERROR);
    CHECK_FALSE(seraph_aether_is_local(&dead, SERAPH_AETHER_BASE));

    cluster c(2);
    uint64_t p = seraph_aether_alloc_on_node(&c.a, 1, 4096);
    CHECK(seraph_aether_set_timeout_ms(&c.a, 0) == SERAPH_VBIT_FALSE);
    seraph_aether_set_node_online(&c.a, 9, false);
    seraph_aether_inject_failure(&c.a, 9, SERAPH_AETHER_VOID_TIMEOUT);
    seraph_aether_inject_failure(&c.a, 1, static_cast<Seraph_Aether_Void_Reason>(42));
    seraph_aether_clear_failure(&c.a, 9);
    seraph_aether_free(&c.a, 0x1234, 8);
    seraph_aether_free(&c.a, p + 8, 8); // not the start of an allocation: refused, memory stays
    REQUIRE(seraph_aether_read_vbit(&c.a, p, &v, 8) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_read(&c.a, p, &v, 0).status == SERAPH_AETHER_OK);
    CHECK(seraph_aether_get_generation(&c.a, 0x1234) == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_global_gen(&c.a, seraph_aether_make_addr(5, 0)) == SERAPH_VOID_U64);
    CHECK(seraph_aether_revoke(&c.a, seraph_aether_make_addr(1, 1 << 30)) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_handle_write_request(&c.a, 0, 0, nullptr, 8).status == SERAPH_AETHER_RESP_ERROR);
    CHECK(seraph_aether_handle_write_request(&c.a, 0, 0xFFFFFFFF, &v, 8).status == SERAPH_AETHER_RESP_ERROR);
    CHECK(seraph_aether_cache_lookup(&c.a, 0x1234) == nullptr);
    seraph_aether_cache_invalidate(&c.a, 0x1234);
}
