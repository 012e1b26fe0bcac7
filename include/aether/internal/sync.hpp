// Small synchronization primitives on plain 32-bit words (metadata arrays stay trivially copyable):
// a spinlock for short critical sections, and futex waits that always carry a deadline.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/blocking.hpp"
#include "aether/internal/clock.hpp"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>

namespace aether {

inline void cpu_relax() noexcept { __builtin_ia32_pause(); }

// A lock for short critical sections (never held across a network wait), on a plain 32-bit word:
// 0 free, 1 held, 2 held with waiters parked on the futex. A waiter spins a little, then sleeps on
// the futex instead of spinning: the runtime's threads may run real-time (thread_priority.hpp),
// and a real-time thread that spun or yielded against a holder preempted on its CPU would keep the
// holder from ever running there. Async-signal-safe (the SIGBUS fault path takes it).
class spin_guard {
public:
    explicit spin_guard(std::uint32_t& word) noexcept
        : word_(word) {
        lock(word_);
    }
    ~spin_guard() { unlock(word_); }
    spin_guard(const spin_guard&) = delete;
    spin_guard& operator=(const spin_guard&) = delete;

    static void lock(std::uint32_t& word) noexcept {
        std::atomic_ref<std::uint32_t> w(word);
        std::uint32_t expected = 0;
        if (w.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return;
        for (unsigned spins = 0; spins < 64; ++spins) {
            cpu_relax();
            expected = 0;
            if (w.load(std::memory_order_relaxed) == 0 && w.compare_exchange_strong(expected, 1, std::memory_order_acquire))
                return;
        }
        // Parked: taking the lock now marks it contended, so its holder's unlock wakes a waiter.
        while (w.exchange(2, std::memory_order_acquire) != 0)
            ::syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 2u, nullptr, nullptr, 0);
    }
    static void unlock(std::uint32_t& word) noexcept {
        if (std::atomic_ref<std::uint32_t>(word).exchange(0, std::memory_order_release) == 2)
            ::syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }

private:
    std::uint32_t& word_;
};

// Waits while `word` == `expected`, at most until `dl`. Returns false at the deadline. A wait on
// another thread: the caller's blocking observer hears of it first (blocking.hpp).
inline bool futex_wait_until(std::uint32_t& word, std::uint32_t expected, deadline dl) noexcept {
    std::atomic_ref<std::uint32_t> w(word);
    if (w.load(std::memory_order_acquire) == expected) about_to_block();
    while (w.load(std::memory_order_acquire) == expected) {
        std::uint64_t left = dl.remaining_ns();
        if (left == 0) return false;
        timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
        long rc = ::syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
        if (rc != 0 && errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT) return false;
    }
    return true;
}

inline void futex_wake_all(std::uint32_t& word) noexcept {
    ::syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

} // namespace aether
