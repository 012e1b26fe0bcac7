// libaether_preload.so: makes an unmodified program a node. Loaded with LD_PRELOAD, it joins the
// cluster from the environment before main(), so the program can dereference Aether addresses it
// receives from anywhere; with AETHER_HEAP=1 its malloc family is served from this node's Aether
// memory, so objects it allocates are reachable by pointer from every node. Calls that would break
// the window (munmap, mremap, mprotect, mlock, MAP_FIXED over it) are refused with a clear
// message; madvise(MADV_DONTNEED/MADV_FREE) is emulated by dropping this node's copies.
//
// Children: a process that joined marks the environment with AETHER_JOINED_PID=<its pid>; an
// exec'd child inherits the mark and does not join (it runs as a plain program). To make a child
// a node, start it with its own node environment and without AETHER_JOINED_PID. A child made by
// fork() is never a node; with AETHER_HEAP=1 it gets a private copy of the node's heap, as with any
// heap (fork_support.hpp), and its malloc goes on serving from that copy and from private memory.
#include <seraph/aether.h>

#include "aether/internal/address.hpp"
#include "aether/internal/runtime_scope.hpp"
#include "runtime/c_api_access.hpp"
#include "runtime/launch/pmix.hpp"
#include "runtime/preload/aether_heap.hpp"
#include "runtime/preload/fork_support.hpp"
#include "runtime/runtime.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
// glibc's own allocator, for everything the Aether heap does not serve.
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

#define AETHER_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using aether::runtime_scope;

Seraph_Aether g_handle; // zero until the constructor joined
constinit aether::aether_heap g_heap;
constinit aether::fork_support g_fork;
std::atomic<bool> g_joined{false};  // this process is a node (false in a forked child)
std::atomic<bool> g_heap_on{false}; // malloc is served from Aether memory
std::uint64_t g_window_begin = 0;   // the window, once joined
std::uint64_t g_window_end = 0;
std::atomic<unsigned> g_warned{0}; // one message per kind of refused call

// Messages without stdio: stdio may allocate (from the very heap being reported on).
void say(const char* fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) [[maybe_unused]]
        auto w = ::write(2, buf, static_cast<std::size_t>(n < int(sizeof buf) ? n : int(sizeof buf) - 1));
}

void warn_once(unsigned bit, const char* fmt, std::uint64_t addr) {
    if ((g_warned.fetch_or(1u << bit) & (1u << bit)) == 0) say(fmt, static_cast<unsigned long long>(addr));
}

bool heap_serves() noexcept { return g_heap_on.load(std::memory_order_relaxed) && !aether::in_runtime(); }

// A pointer into the window this process reserved. (The Aether address range itself is larger:
// it also covers where the C library's heap, the libraries and the stack live.) The bounds stay
// set in a forked child, so that blocks it inherited are still recognised.
bool in_window(const void* p) noexcept {
    auto a = reinterpret_cast<std::uint64_t>(p);
    return a >= g_window_begin && a < g_window_end;
}

// Whether a memory-management call is the application's and touches the window. The runtime's
// own calls (it maps, protects and drops window pages itself, and binds to these very functions
// inside this library) always go straight to the kernel.
bool overlaps_window(const void* addr, std::size_t len) noexcept {
    if (!g_joined.load(std::memory_order_relaxed) || aether::in_runtime()) return false;
    auto a = reinterpret_cast<std::uint64_t>(addr);
    return a < g_window_end && a + len > g_window_begin;
}

aether::runtime* rt() noexcept { return aether::runtime_of_handle(&g_handle); }

// The heap's memory in a node: this node's own, installed here writable as it is allocated (what
// the heap hands out at once) or as it is touched (the rest, a group of pages per fault).
std::uint64_t heap_pages(std::size_t bytes, std::size_t use_now) {
    runtime_scope scope;
    aether::runtime* r = rt();
    if (r == nullptr) return 0;
    auto a = r->alloc_here(bytes, use_now);
    return a.ok() ? a.value() : 0;
}

void heap_release(std::uint64_t addr, std::size_t) {
    runtime_scope scope;
    if (aether::runtime* r = rt()) (void)r->free(addr);
}

// The heap's memory in a forked child, which is not a node: one private reservation, taken up
// as needed; spans the heap gives back are emptied and kept for reuse (up to free_spans of them).
struct child_memory {
    static constexpr std::size_t free_spans = 64;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    std::uint64_t begin = 0;
    std::uint64_t next = 0;
    std::uint64_t end = 0;
    struct span {
        std::uint64_t addr;
        std::uint64_t bytes;
    } spans[free_spans] = {};
    std::size_t span_count = 0;
};
constinit child_memory g_child;

std::uint64_t child_pages(std::size_t bytes, std::size_t) {
    pthread_mutex_lock(&g_child.mu);
    std::uint64_t out = 0;
    for (std::size_t i = 0; i < g_child.span_count && out == 0; ++i) {
        auto& s = g_child.spans[i];
        if (s.bytes < bytes) continue;
        out = s.addr;
        s.addr += bytes;
        s.bytes -= bytes;
        if (s.bytes == 0) s = g_child.spans[--g_child.span_count];
    }
    if (out == 0 && g_child.begin == 0) {
        long m = ::syscall(SYS_mmap, nullptr, aether::node_span, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m != -1) {
            g_child.begin = g_child.next = static_cast<std::uint64_t>(m);
            g_child.end = g_child.begin + aether::node_span;
            g_heap.set_extra_range(g_child.begin, g_child.end); // before any block from it exists
        }
    }
    if (out == 0 && g_child.begin != 0 && g_child.end - g_child.next >= bytes) {
        out = g_child.next;
        g_child.next += bytes;
    }
    pthread_mutex_unlock(&g_child.mu);
    return out;
}

void child_release(std::uint64_t addr, std::size_t bytes) {
    ::syscall(SYS_madvise, addr, bytes, MADV_DONTNEED); // zeros again, like fresh memory
    pthread_mutex_lock(&g_child.mu);
    if (g_child.span_count < child_memory::free_spans) g_child.spans[g_child.span_count++] = {addr, bytes};
    pthread_mutex_unlock(&g_child.mu);
}

// fork() with the heap on: the heap (and the child's memory source) is locked across it so the
// child finds it consistent, and the node's memory is copied into the child (fork_support).
void heap_before_fork() {
    g_heap.lock_for_fork();
    pthread_mutex_lock(&g_child.mu);
    if (g_joined.load() && !aether::in_runtime())
        if (aether::runtime* r = rt()) g_fork.prepare(*r);
}

void heap_after_fork_in_parent() {
    g_fork.in_parent();
    pthread_mutex_unlock(&g_child.mu);
    g_heap.unlock_after_fork();
}

void heap_after_fork_in_child() {
    if (g_joined.load()) {
        // Not a node: none of the runtime's threads came along. Its heap is its copy of the
        // node's heap, and new memory is its own.
        g_fork.in_child();
        g_joined.store(false);
        g_heap.set_source({child_pages, child_release});
    }
    pthread_mutex_unlock(&g_child.mu);
    g_heap.unlock_after_fork();
}

void after_fork_in_child() {
    // Without the heap the child has no window (MADV_DONTFORK) and none of the runtime's threads:
    // it is not a node. Its allocations come from the C library; Aether blocks are ignored.
    g_joined.store(false);
}

__attribute__((constructor)) void join_before_main() {
    // A node when started as one: by aether-run (AETHER_NODE_ID) or by a PMIx server (mpirun, srun).
    const char* id = std::getenv("AETHER_NODE_ID");
    if (id == nullptr && !aether::launch::use_pmix()) return; // not started as a node: stay out of the way
    if (const char* mark = std::getenv("AETHER_JOINED_PID"); mark != nullptr && std::atol(mark) != getpid())
        return; // the environment of a process that joined, inherited through exec
    runtime_scope scope;
    char pid[24];
    std::snprintf(pid, sizeof pid, "%d", getpid());
    setenv("AETHER_JOINED_PID", pid, 1); // before any runtime thread exists
    if (seraph_aether_init_from_env(&g_handle) != SERAPH_VBIT_TRUE) {
        say("aether-preload: node %s could not join the cluster (see above); exiting\n",
            id != nullptr ? id : std::getenv("PMIX_RANK"));
        std::_Exit(1);
    }
    g_window_begin = aether::window_base;
    g_window_end = aether::window_base + std::uint64_t{g_handle.node_count} * aether::node_span;
    g_joined.store(true);
    const char* heap = std::getenv("AETHER_HEAP");
    if (heap != nullptr && std::strcmp(heap, "1") == 0) {
        const std::uint64_t mine = aether::make_addr(g_handle.local_node_id, 0);
        g_heap.set_range(mine, mine + aether::node_span);
        g_heap.set_source({heap_pages, heap_release});
        // A fault on the heap's memory makes the 256 KiB around it ready, not one page.
        if (aether::runtime* r = rt()) r->set_fault_around_here(64);
        g_heap_on.store(true);
        pthread_atfork(heap_before_fork, heap_after_fork_in_parent, heap_after_fork_in_child);
    } else {
        pthread_atfork(nullptr, nullptr, after_fork_in_child);
    }
}

// munmap/mremap/mprotect/mlock on the window would unregister it, split it or pin every page.
int refuse(unsigned bit, const char* what, const void* addr) {
    warn_once(bit, what, reinterpret_cast<std::uint64_t>(addr));
    errno = EINVAL;
    return -1;
}

} // namespace

// ---- the malloc family ------------------------------------------------------------------------------

AETHER_EXPORT void* malloc(size_t n) {
    if (heap_serves()) {
        void* p = g_heap.allocate(n);
        if (p == nullptr) errno = ENOMEM;
        return p;
    }
    return __libc_malloc(n);
}

AETHER_EXPORT void free(void* p) {
    if (p == nullptr) return;
    if (in_window(p) || g_heap.in_range(p)) {
        if (g_heap_on.load(std::memory_order_relaxed) && !g_heap.release(p))
            warn_once(0, "aether-preload: free(%#llx): not a block of this node's heap (another node's?): ignored\n",
                      reinterpret_cast<std::uint64_t>(p));
        return;
    }
    __libc_free(p);
}

AETHER_EXPORT void* calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return nullptr;
    }
    if (heap_serves()) {
        void* p = g_heap.allocate(n * size, aether::aether_heap::min_alignment, true);
        if (p == nullptr) errno = ENOMEM;
        return p;
    }
    return __libc_calloc(n, size);
}

AETHER_EXPORT void* realloc(void* p, size_t n) {
    if (p == nullptr) return malloc(n);
    if (!in_window(p) && !g_heap.in_range(p)) return __libc_realloc(p, n);
    if (n == 0) {
        free(p);
        return nullptr;
    }
    std::size_t have = g_heap_on.load() ? g_heap.usable_size(p) : 0;
    if (have > 0 && heap_serves()) {
        void* q = g_heap.reallocate(p, n);
        if (q == nullptr) errno = ENOMEM;
        return q;
    }
    // Not a block of this heap (another node's), or a call from inside the runtime.
    if (have >= n) return p;
    void* q = heap_serves() ? g_heap.allocate(n) : __libc_malloc(n);
    if (q == nullptr) {
        errno = ENOMEM;
        return nullptr;
    }
    std::memcpy(q, p, have);
    free(p);
    return q;
}

AETHER_EXPORT void* reallocarray(void* p, size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc(p, n * size);
}

AETHER_EXPORT void* memalign(size_t alignment, size_t n) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        errno = EINVAL;
        return nullptr;
    }
    if (heap_serves()) {
        void* p = g_heap.allocate(n, alignment);
        if (p == nullptr) errno = ENOMEM;
        return p;
    }
    return __libc_memalign(alignment, n);
}

AETHER_EXPORT int posix_memalign(void** out, size_t alignment, size_t n) {
    if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
    int saved = errno;
    void* p = memalign(alignment, n);
    errno = saved;
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}

AETHER_EXPORT void* aligned_alloc(size_t alignment, size_t n) { return memalign(alignment, n); }
AETHER_EXPORT void* valloc(size_t n) { return memalign(4096, n); }
AETHER_EXPORT void* pvalloc(size_t n) { return memalign(4096, (n + 4095) & ~size_t{4095}); }

AETHER_EXPORT size_t malloc_usable_size(void* p) {
    if (p == nullptr) return 0;
    if (in_window(p) || g_heap.in_range(p)) return g_heap_on.load(std::memory_order_relaxed) ? g_heap.usable_size(p) : 0;
    using usable_fn = size_t (*)(void*);
    static usable_fn real = [] {
        runtime_scope scope; // dlsym may allocate: not from the Aether heap
        return reinterpret_cast<usable_fn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
    }();
    return real != nullptr ? real(p) : 0;
}

// ---- calls that would break the window ------------------------------------------------------------

AETHER_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    if ((flags & MAP_FIXED) && overlaps_window(addr, len)) {
        refuse(1, "aether-preload: mmap(MAP_FIXED) over Aether memory at %#llx refused: it would unmap the window\n", addr);
        return MAP_FAILED;
    }
    return reinterpret_cast<void*>(::syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}

AETHER_EXPORT int munmap(void* addr, size_t len) {
    if (overlaps_window(addr, len))
        return refuse(2, "aether-preload: munmap of Aether memory at %#llx refused: the window must stay mapped\n", addr);
    return static_cast<int>(::syscall(SYS_munmap, addr, len));
}

AETHER_EXPORT void* mremap(void* old, size_t old_len, size_t new_len, int flags, ...) {
    void* target = nullptr;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        target = va_arg(ap, void*);
        va_end(ap);
    }
    if (overlaps_window(old, old_len) || ((flags & MREMAP_FIXED) && overlaps_window(target, new_len))) {
        refuse(3, "aether-preload: mremap involving Aether memory at %#llx refused: the window must stay in place\n", old);
        return MAP_FAILED;
    }
    return reinterpret_cast<void*>(::syscall(SYS_mremap, old, old_len, new_len, flags, target));
}

AETHER_EXPORT int mprotect(void* addr, size_t len, int prot) {
    if (overlaps_window(addr, len))
        return refuse(4, "aether-preload: mprotect of Aether memory at %#llx refused: the runtime guards its pages\n", addr);
    return static_cast<int>(::syscall(SYS_mprotect, addr, len, prot));
}

AETHER_EXPORT int mlock(const void* addr, size_t len) {
    if (overlaps_window(addr, len))
        return refuse(5, "aether-preload: mlock of Aether memory at %#llx refused: it would fetch and pin every page\n", addr);
    return static_cast<int>(::syscall(SYS_mlock, addr, len));
}

AETHER_EXPORT int mlock2(const void* addr, size_t len, unsigned int flags) {
    if (overlaps_window(addr, len))
        return refuse(5, "aether-preload: mlock2 of Aether memory at %#llx refused: it would fetch and pin every page\n", addr);
    return static_cast<int>(::syscall(SYS_mlock2, addr, len, flags));
}

AETHER_EXPORT int mlockall(int flags) {
    // Locking "all memory" would fetch and pin the whole window: lock the rest only, and only as
    // it is touched (MCL_ONFAULT), then release the window again.
    if (!g_joined.load() || aether::in_runtime()) return static_cast<int>(::syscall(SYS_mlockall, flags));
    long rc = ::syscall(SYS_mlockall, flags | MCL_ONFAULT);
    if (rc == 0) ::syscall(SYS_munlock, g_window_begin, g_window_end - g_window_begin);
    return static_cast<int>(rc);
}

AETHER_EXPORT int madvise(void* addr, size_t len, int advice) {
    if (!overlaps_window(addr, len)) return static_cast<int>(::syscall(SYS_madvise, addr, len, advice));
    switch (advice) {
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_REMOVE:
    case MADV_COLD:
    case MADV_PAGEOUT: {
        // "This node does not need its copy": drop it (an exclusive copy goes home first). The
        // next access fetches the page again; unlike private memory it does not read zeros.
        runtime_scope scope;
        aether::runtime* r = rt();
        const std::uint64_t begin = aether::page_floor(reinterpret_cast<std::uint64_t>(addr));
        for (std::uint64_t p = begin; p < reinterpret_cast<std::uint64_t>(addr) + len && r != nullptr; p += aether::page_size)
            if (p >= g_window_begin && p < g_window_end) (void)r->drop_copy(p);
        return 0;
    }
    case MADV_NORMAL:
    case MADV_RANDOM:
    case MADV_SEQUENTIAL:
    case MADV_WILLNEED: return 0; // hints: fine to ignore
    default:
        return refuse(
            6, "aether-preload: madvise on Aether memory at %#llx refused: the advice would change how the window behaves\n",
            addr);
    }
}

// ---- counters at exit ------------------------------------------------------------------------------

namespace {

// AETHER_PRELOAD_STATS=1 (stderr) or =PATH (appended to the file): where a program's time under the
// preload heap went, from the runtime's counters and the heap's, when it exits.
__attribute__((destructor)) void print_stats_at_exit() {
    const char* where = std::getenv("AETHER_PRELOAD_STATS");
    aether::runtime* r = g_joined.load() ? rt() : nullptr;
    if (where == nullptr || *where == '\0' || r == nullptr) return;
    int fd = std::strcmp(where, "1") == 0 ? 2 : ::open(where, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    auto& c = r->counters();
    auto h = g_heap.stats();
    char buf[512];
    int n = std::snprintf(buf, sizeof buf,
                          "aether-preload: pid %d read_faults %llu write_faults %llu handoffs %llu invalidations_received %llu"
                          " | heap chunks %llu large_spans %llu large_reused %llu spans_released %llu realloc_in_place %llu"
                          " realloc_moved %llu realloc_copied_bytes %llu\n",
                          getpid(), (unsigned long long)c.read_faults.load(), (unsigned long long)c.write_faults.load(),
                          (unsigned long long)c.handoffs.load(), (unsigned long long)c.invalidations_received.load(),
                          (unsigned long long)h.chunks, (unsigned long long)h.large_spans, (unsigned long long)h.large_reused,
                          (unsigned long long)h.spans_released, (unsigned long long)h.realloc_in_place,
                          (unsigned long long)h.realloc_moved, (unsigned long long)h.realloc_copied_bytes);
    if (n > 0) [[maybe_unused]]
        auto w = ::write(fd, buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1)));
    if (fd != 2) ::close(fd);
}

} // namespace

// ---- introspection for tests ----------------------------------------------------------------------

AETHER_EXPORT int aether_preload_joined(void) { return g_joined.load() ? 1 : 0; }
AETHER_EXPORT int aether_preload_heap_on(void) { return g_heap_on.load() ? 1 : 0; }
