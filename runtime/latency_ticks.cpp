#include "runtime/latency_ticks.hpp"

#include <mutex>

namespace aether {

namespace {

#if defined(__x86_64__)
// A TSC reading and the CLOCK_MONOTONIC time it was taken at: the middle of the two clock
// readings around it, from the closest of a few tries (one preempted in between is not kept).
struct paired_reading {
    std::uint64_t tsc = 0;
    std::uint64_t ns = 0;
};

paired_reading paired() noexcept {
    paired_reading best;
    std::uint64_t best_gap = UINT64_MAX;
    for (int i = 0; i < 8; ++i) {
        const std::uint64_t before = now_ns();
        const std::uint64_t tsc = __rdtsc();
        const std::uint64_t after = now_ns();
        if (after - before < best_gap) {
            best_gap = after - before;
            best = {tsc, before + (after - before) / 2};
        }
    }
    return best;
}
#endif

} // namespace

void latency_ticks::calibrate() noexcept {
#if defined(__x86_64__)
    static std::once_flag once;
    std::call_once(once, [] {
        if (!cpu_has_invariant_tsc()) return;
        // Over 2 ms, the clock's resolution and the pairing's spread (tens of ns) make the rate
        // good to about 1e-4: far inside the histograms' buckets.
        const paired_reading first = paired();
        while (now_ns() - first.ns < 2'000'000) {}
        const paired_reading last = paired();
        if (last.tsc <= first.tsc) return;
        const double rate = static_cast<double>(last.ns - first.ns) / static_cast<double>(last.tsc - first.tsc);
        // A TSC between 100 MHz and 100 GHz; anything else is not a clock to trust.
        if (rate > 0.01 && rate < 10.0)
            ns_per_tick_q32_.store(static_cast<std::uint64_t>(rate * 4294967296.0), std::memory_order_relaxed);
    });
#endif
}

} // namespace aether
