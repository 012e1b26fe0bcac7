// latency_ticks: the clock the API's latency histograms are recorded with. A cache hit through the
// API takes tens of nanoseconds and each call is timed with two readings; clock_gettime (what
// now_ns() calls) costs about 30 ns a reading on a VM, which doubled the cost of a hit. The
// invariant TSC costs a few: where the CPU has one, readings are its ticks, and a duration is
// turned into nanoseconds with a rate measured once per process. Elsewhere (no invariant TSC,
// not x86, not calibrated yet) readings are now_ns() nanoseconds.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/clock.hpp"

#include <atomic>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace aether {

class latency_ticks {
public:
    // Measures the TSC's rate against CLOCK_MONOTONIC (about 2 ms of spinning, the first time in
    // the process; at once afterwards). Before it, and where there is no invariant TSC, readings
    // are nanoseconds. Runs before any reading it could change is taken: a runtime calls it
    // before it starts recording.
    static void calibrate() noexcept;

    // A reading, for ns_between. Not ordered with the instructions around it (no fence): it may
    // run a few cycles early or late, which the histograms' 25 % buckets do not see.
    [[nodiscard]] static std::uint64_t now() noexcept {
#if defined(__x86_64__)
        if (ns_per_tick_q32_.load(std::memory_order_relaxed) != 0) return __rdtsc();
#endif
        return now_ns();
    }
    // The nanoseconds between two readings (0 if `to` is not after `from`, as the TSCs of two CPUs
    // can have it by a few ticks). In integers: the result is the end of a dependency chain that
    // starts at the second reading, and a conversion through double made it longer.
    [[nodiscard]] static std::uint64_t ns_between(std::uint64_t from, std::uint64_t to) noexcept {
        const auto ticks = static_cast<std::int64_t>(to - from);
        if (ticks <= 0) return 0;
        const std::uint64_t rate = ns_per_tick_q32_.load(std::memory_order_relaxed);
        if (rate == 0) return static_cast<std::uint64_t>(ticks);
        __extension__ using u128 = unsigned __int128;
        return static_cast<std::uint64_t>((u128{static_cast<std::uint64_t>(ticks)} * rate) >> 32);
    }

private:
    // Nanoseconds per tick in 32.32 fixed point; 0: readings are nanoseconds.
    static inline std::atomic<std::uint64_t> ns_per_tick_q32_{0};
};

} // namespace aether
