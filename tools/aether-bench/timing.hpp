// Per-operation timing for aether-bench: a calibrated cycle counter (or CLOCK_MONOTONIC) and the
// order statistics every latency figure reports.
#pragma once

#include "aether/internal/clock.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace aether::bench {

// The invariant TSC costs a few nanoseconds to read where clock_gettime costs about twenty, which
// matters for figures of tens of nanoseconds (a cache hit). Without an invariant TSC (or off x86)
// the ticks are CLOCK_MONOTONIC nanoseconds (aether::now_ns).
class tick_clock {
public:
    // Measures the TSC rate against CLOCK_MONOTONIC (about 50 ms).
    static tick_clock calibrate() noexcept;

    [[nodiscard]] std::uint64_t now() const noexcept {
#if defined(__x86_64__)
        if (use_tsc_) {
            // The fences keep the read from moving across the timed operation in either direction.
            _mm_lfence();
            std::uint64_t t = __rdtsc();
            _mm_lfence();
            return t;
        }
#endif
        return now_ns();
    }
    [[nodiscard]] double to_ns(double ticks) const noexcept { return ticks * ns_per_tick_; }
    [[nodiscard]] bool uses_tsc() const noexcept { return use_tsc_; }
    // Median cost of one now() pair with nothing between, in ns: what every sample carries extra.
    [[nodiscard]] double overhead_ns() const noexcept { return overhead_ns_; }

private:
    bool use_tsc_ = false;
    double ns_per_tick_ = 1.0;
    double overhead_ns_ = 0.0;
};

struct summary {
    std::size_t count = 0;
    double median_ns = 0;
    double p99_ns = 0;
    double mean_ns = 0;
    double total_ns = 0;
};

// Sorts `ticks` in place.
summary summarize(std::vector<std::uint64_t>& ticks, const tick_clock& clock);

} // namespace aether::bench
