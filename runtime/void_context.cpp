// Thread-local VOID context, plus the table through which another thread can set it.
#include "runtime/void_context.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace aether {

namespace {

std::atomic<std::uint64_t> g_sequence{0};

struct local_context {
    void_context ctx;
    std::uint64_t seq = 0;
    pid_t tid = 0;
};
thread_local local_context tl;

// One slot per thread id modulo the table size; a slot remembers whose it is. Two threads whose
// ids collide overwrite each other's fault-set context (rare; explicit calls are unaffected).
struct slot {
    std::atomic<pid_t> tid{0};
    std::atomic<std::uint8_t> reason{0};
    std::atomic<std::uint64_t> addr{0};
    std::atomic<std::uint64_t> seq{0};
};
constexpr std::size_t table_size = 4096;
slot g_table[table_size];

pid_t my_tid() noexcept {
    if (tl.tid == 0) tl.tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return tl.tid;
}

} // namespace

void set_void_context(void_reason reason, std::uint64_t addr) noexcept {
    tl.ctx = {reason, addr};
    tl.seq = g_sequence.fetch_add(1, std::memory_order_relaxed) + 1;
}

void set_void_context_for(pid_t tid, void_reason reason, std::uint64_t addr) noexcept {
    slot& s = g_table[static_cast<std::size_t>(tid) % table_size];
    s.seq.store(0, std::memory_order_relaxed); // invalid while it changes
    // Release stores of the fields: a reader that sees any new field also sees the 0 above (a
    // release store orders only what precedes it, so the 0 must come before every field store).
    s.tid.store(tid, std::memory_order_release);
    s.reason.store(static_cast<std::uint8_t>(reason), std::memory_order_release);
    s.addr.store(addr, std::memory_order_release);
    s.seq.store(g_sequence.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_release);
}

void_context current_void_context() noexcept {
    const pid_t tid = my_tid();
    slot& s = g_table[static_cast<std::size_t>(tid) % table_size];
    std::uint64_t seq = s.seq.load(std::memory_order_acquire);
    if (seq > tl.seq && s.tid.load(std::memory_order_acquire) == tid) {
        // Acquire loads of the fields: the sequence is read again only after them, and a field
        // from a newer write brings that write's 0 with it, so an unchanged sequence means the
        // fields belong together.
        void_context c{static_cast<void_reason>(s.reason.load(std::memory_order_acquire)), s.addr.load(std::memory_order_acquire)};
        if (s.seq.load(std::memory_order_relaxed) == seq) return c;
    }
    return tl.ctx;
}

void clear_void_context() noexcept {
    tl.ctx = {};
    tl.seq = g_sequence.fetch_add(1, std::memory_order_relaxed) + 1; // newer than any fault-set entry
}

} // namespace aether
