// latency_histogram: how long something took, in log-linear buckets of nanoseconds (four per power
// of two: at most 25 % between a value and its bucket's bounds), recorded from any thread with one
// relaxed atomic add and read without stopping the writers. Like HdrHistogram with two significant
// bits; enough for the percentiles an operator asks for (p50 .. p99.9) and for Prometheus buckets.
#pragma once
#include "aether/internal/guard.hpp"

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace aether {

class latency_histogram {
public:
    // Values 0..7 have a bucket each; above, four buckets per power of two up to 2^64.
    static constexpr unsigned bucket_count = 8 + 61 * 4;

    static constexpr unsigned index_of(std::uint64_t ns) noexcept {
        if (ns < 8) return static_cast<unsigned>(ns);
        const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(ns)); // >= 3
        return 8 + (msb - 3) * 4 + static_cast<unsigned>((ns >> (msb - 2)) & 3);
    }
    // The largest value bucket `i` holds.
    static constexpr std::uint64_t upper_bound(unsigned i) noexcept {
        if (i < 8) return i;
        const unsigned msb = (i - 8) / 4 + 3;
        const std::uint64_t sub = (i - 8) % 4;
        const std::uint64_t lower = (4 + sub) << (msb - 2);
        return lower + ((std::uint64_t{1} << (msb - 2)) - 1);
    }

    // `weight`: how many events this one value stands for (a sample of one in `weight`).
    void record(std::uint64_t ns, std::uint64_t weight = 1) noexcept {
        counts_[index_of(ns)].fetch_add(weight, std::memory_order_relaxed);
        sum_ns_.fetch_add(ns * weight, std::memory_order_relaxed);
    }
    void reset() noexcept {
        for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
        sum_ns_.store(0, std::memory_order_relaxed);
    }

    // A copy of the counts, taken bucket by bucket (not one instant: writers go on).
    struct snapshot {
        std::array<std::uint64_t, bucket_count> counts{};
        std::uint64_t total = 0;
        std::uint64_t sum_ns = 0;
        // The upper bound of the bucket that holds the q-th quantile (0 < q <= 1); 0 when empty.
        [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
            if (total == 0) return 0;
            auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total) + 0.999999);
            if (rank == 0) rank = 1;
            std::uint64_t seen = 0;
            for (unsigned i = 0; i < bucket_count; ++i) {
                seen += counts[i];
                if (seen >= rank) return upper_bound(i);
            }
            return upper_bound(bucket_count - 1);
        }
    };
    [[nodiscard]] snapshot read() const noexcept {
        snapshot s;
        for (unsigned i = 0; i < bucket_count; ++i) {
            s.counts[i] = counts_[i].load(std::memory_order_relaxed);
            s.total += s.counts[i];
        }
        s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
        return s;
    }

private:
    std::array<std::atomic<std::uint64_t>, bucket_count> counts_{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

} // namespace aether
