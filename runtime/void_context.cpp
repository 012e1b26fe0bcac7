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

// The newest VOID page standing in the process (seq 0: none), written like a slot.
slot g_standing;

// A slot's sequence while a writer changes its fields (0: never written).
constexpr std::uint64_t busy = UINT64_MAX;

// Reads a slot's fields if they belong together, are `tid`'s, and are newer than `than`.
bool read_slot(const slot& s, pid_t tid, std::uint64_t than, void_context& out, std::uint64_t& seq_out) noexcept {
    std::uint64_t seq = s.seq.load(std::memory_order_acquire);
    if (seq == busy || seq <= than || s.tid.load(std::memory_order_acquire) != tid) return false;
    // Acquire loads of the fields: the sequence is read again only after them, and a field from a
    // newer write brings that write's `busy` with it, so an unchanged sequence means they belong
    // together.
    void_context c{static_cast<void_reason>(s.reason.load(std::memory_order_acquire)), s.addr.load(std::memory_order_acquire)};
    if (s.seq.load(std::memory_order_relaxed) != seq) return false;
    out = c;
    seq_out = seq;
    return true;
}

// Writes a slot for `tid` with sequence `seq`, unless it holds `tid`'s write of a later sequence.
// Writers take the slot by swapping its sequence for `busy` (several handler threads may write one
// thread's slot at once); the fields are stable while it is not busy.
void write_slot(slot& s, pid_t tid, void_reason reason, std::uint64_t addr, std::uint64_t seq) noexcept {
    std::uint64_t current = s.seq.load(std::memory_order_acquire);
    for (;;) {
        if (current == busy) {
            current = s.seq.load(std::memory_order_acquire);
            continue;
        }
        if (current > seq && s.tid.load(std::memory_order_relaxed) == tid) {
            if (s.seq.load(std::memory_order_acquire) == current) return; // a later fault's: keep it
            current = s.seq.load(std::memory_order_acquire);
            continue;
        }
        if (s.seq.compare_exchange_weak(current, busy, std::memory_order_acquire, std::memory_order_acquire)) break;
    }
    // Release stores of the fields: a reader that sees any new field also sees `busy` (a release
    // store orders only what precedes it, so `busy` must come before every field store).
    s.tid.store(tid, std::memory_order_release);
    s.reason.store(static_cast<std::uint8_t>(reason), std::memory_order_release);
    s.addr.store(addr, std::memory_order_release);
    s.seq.store(seq, std::memory_order_release);
}

std::uint64_t next_sequence() noexcept { return g_sequence.fetch_add(1, std::memory_order_relaxed) + 1; }

pid_t my_tid() noexcept {
    if (tl.tid == 0) tl.tid = static_cast<pid_t>(::syscall(SYS_gettid));
    return tl.tid;
}

std::atomic<std::uint64_t> g_voids[void_reason_count];

void count_void(void_reason reason) noexcept {
    const auto i = static_cast<std::size_t>(reason);
    if (reason != void_reason::none && i < void_reason_count) g_voids[i].fetch_add(1, std::memory_order_relaxed);
}

} // namespace

std::uint64_t voids_with(void_reason reason) noexcept {
    const auto i = static_cast<std::size_t>(reason);
    return i < void_reason_count ? g_voids[i].load(std::memory_order_relaxed) : 0;
}

void set_void_context(void_reason reason, std::uint64_t addr) noexcept {
    count_void(reason);
    tl.ctx = {reason, addr};
    tl.seq = next_sequence();
}

std::uint64_t void_context_ticket() noexcept { return next_sequence(); }

void set_void_context_for(pid_t tid, void_reason reason, std::uint64_t addr, std::uint64_t ticket) noexcept {
    count_void(reason);
    write_slot(g_table[static_cast<std::size_t>(tid) % table_size], tid, reason, addr, ticket);
}

void note_standing_void_page(void_reason reason, std::uint64_t addr, std::uint64_t ticket) noexcept {
    write_slot(g_standing, 0, reason, addr, ticket);
}

void clear_standing_void_pages() noexcept {
    // Not while a writer holds the slot: a second writer could take it in the middle.
    std::uint64_t current = g_standing.seq.load(std::memory_order_acquire);
    while (current != 0) {
        if (current == busy)
            current = g_standing.seq.load(std::memory_order_acquire);
        else if (g_standing.seq.compare_exchange_weak(current, 0, std::memory_order_release, std::memory_order_acquire))
            break;
    }
}

// What the thread reads becomes its own context, like errno: the standing record goes when the
// page is dropped, and a thread that read the reason must read the same address after it.
void_context current_void_context() noexcept {
    const pid_t tid = my_tid();
    const slot& s = g_table[static_cast<std::size_t>(tid) % table_size];
    void_context newer;
    std::uint64_t newer_seq = 0;
    if (read_slot(s, tid, tl.seq, newer, newer_seq)) {
        tl.ctx = newer;
        tl.seq = newer_seq;
    }
    if (read_slot(g_standing, 0, tl.seq, newer, newer_seq)) {
        tl.ctx = newer;
        tl.seq = newer_seq;
    }
    return tl.ctx;
}

void clear_void_context() noexcept {
    tl.ctx = {};
    tl.seq = next_sequence(); // newer than any fault-set entry
}

} // namespace aether
